"""MC202 mask-covers-nothing: the Masking layer's mask_value matches (almost) no complete step, yet X is padded."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck.checks.base import Invalid, Threshold, Valid
from maskcheck.checks.padding._common import DataCheck, pad_literal, uniform_pad, where
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class MaskCoversNothing(DataCheck):
    """## What it does
    Finds a `Masking` layer whose `mask_value` matches no (or almost no) complete timestep while
    the data clearly hold padding: constant runs at the sequence ends, or steps that are part
    pad. (Padded data with no mask at all are MC211's.)

    ## Why is this bad?
    The model trains and predicts on padding as if it were data; masking "does nothing", which
    is exactly what users observe when accuracy is the same with and without `Masking`.

    ## Known problems
    "Almost no step" means at most `MAX_COVERED_SHARE` (1%) of all steps; a mask that covers a
    little more of the padding, but far from all of it, is left to MC203. The padding itself is found by the
    layout pass (`maskcheck/facts/steps.py`, `PAD_MIN_SUPPORT` and `PAD_MIN_CONCENTRATION`): a
    constant that fills runs of different lengths at the ends of the sequences and hardly occurs
    elsewhere. Data where every sequence has the same amount of padding are not seen as padded.

    ## Example
    ```python
    X = pad_sequences(seqs, padding="post", value=-1.0, dtype="float32")
    model = keras.Sequential([keras.Input((20, 5)), layers.Masking(0.0), ...])
    ```

    ## Use instead
    ```python
    model = keras.Sequential([keras.Input((20, 5)), layers.Masking(-1.0), ...])
    ```
    """

    code = "MC202"
    name = "mask-covers-nothing"
    severity = Severity.ERROR
    summary = "the Masking layer's mask_value matches (almost) no complete step, yet X is padded"

    MAX_COVERED_SHARE = Threshold(
        0.01,
        "the share of all steps the Masking layer may cover and still count as covering nothing. "
        "Higher also reports masks that catch a few chance steps of data; lower misses a mask that "
        "covers the odd fully padded step",
    )
    INVALID = (
        Invalid(
            "padded with -1, Masking(0.)",
            lambda t: t.padding.tagger_on(t.padded_floats(n=32, pad=-1.0), mask_value=0.0),
        ),
    )
    VALID = (
        Valid(
            "padded with -1, Masking(-1.)",
            lambda t: t.padding.tagger_on(t.padded_floats(n=32, pad=-1.0), mask_value=-1.0),
        ),
        Valid("padded with 0, Masking(0.)", lambda t: t.padding.tagger_on(t.padded_floats(n=32))),
        Valid(
            "float32 data padded with -99999.99, Masking(-99999.99): Keras compares in float32",
            lambda t: t.padding.tagger_on(t.padded_floats(n=32, pad=-99999.99), mask_value=-99999.99),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            if lay.mask_source == "Masking" and lay.by_mask is not None:
                st = lay.by_mask
                evidence = []
                if lay.by_pad is not None and not lay.pad_matches_mask and lay.by_pad.padded_samples:
                    evidence.append(
                        f"{lay.by_pad.padded_samples} sequences end in runs of the constant vector "
                        f"{lay.pad_repr()}"
                    )
                if lay.transform is not None and lay.by_pad is not None:
                    evidence.append(
                        f"{lay.by_pad.partial_samples} sequences have steps that are part padding"
                    )
                if not evidence or st.full_share > self.MAX_COVERED_SHARE:
                    continue
                mv = float(np.asarray(lay.mask_value).ravel()[0]) if lay.mask_value is not None else 0.0
                yield self.finding(
                    f"{where(lay, self.multi(ctx))}: Masking(mask_value={mv:g}) matches {st.full_steps} of "
                    f"{st.steps} steps ({st.full_share:.1%}), yet {'; '.join(evidence)}. The mask covers "
                    "nothing and the model trains on padding.",
                    "fix the layout first (see MC201), then check that padded steps equal mask_value"
                    if lay.transform
                    else f"make mask_value equal the padding: `layers.Masking(mask_value={pad_literal(lay)})`"
                    if uniform_pad(lay)
                    else "pad after scaling, with the mask value (see MC203)",
                    layer=lay.mask_source_name,
                )
