"""MC211 padding-never-masked: padded data, no mask source of any kind, outputs depend on the padding."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Threshold, Valid
from maskcheck.checks.padding._common import DataCheck, listed, pad_literal, where
from maskcheck.facts.context import AuditContext
from maskcheck.facts.sources import probe_input
from maskcheck.report import Finding, Severity


class PaddingNeverMasked(DataCheck):
    """## What it does
    Finds an input whose data hold padding (a constant vector filling runs at the sequence ends)
    while nothing masks it: no `Masking` or `Embedding` reads it, no explicit padding-mask input
    goes with it, and no mask the model computes marks its padded steps. Then it changes that
    input at its padded steps only (noise for floats, other real ids for ids) and runs the model
    again: when the outputs at real steps (or outputs without a time axis) change, the padding is
    read as data. A warning; an error when the model masks some other input, so masking was
    clearly intended.

    ## Why is this bad?
    The model learns from the padding and its predictions change with the amount of padding:
    several official keras-io text examples pad with 0 (or a space character) and mask nothing.

    ## Known problems
    Needs at least `MIN_PADDED_SHARE` of the sequences (and at least one) to end in the pad
    vector; the padding is found by the layout pass (`maskcheck/facts/layout.py`), so data where
    every sequence has the same amount of padding are not seen as padded. An input read by an
    `Embedding(mask_zero=False)` is MC207's (`mask_zero=True` is the fix there). Skipped with
    `perturb=False`.

    ## Example
    ```python
    X = pad_sequences(seqs, padding="post", dtype="float32")   # (samples, steps, features)
    model = keras.Sequential([keras.Input((None, 5)), layers.LSTM(32), layers.Dense(1)])
    ```

    ## Use instead
    ```python
    model = keras.Sequential([keras.Input((None, 5)), layers.Masking(0.0), layers.LSTM(32), layers.Dense(1)])
    ```
    """

    code = "MC211"
    name = "padding-never-masked"
    severity = Severity.WARNING
    summary = "padded data, no mask source of any kind, and the outputs depend on the padding"

    MIN_PADDED_SHARE = Threshold(
        0.05,
        "the share of sequences that must end in padding before an unmasked input is probed. Lower "
        "probes data where a few sequences happen to end in a constant; higher misses data where "
        "few sequences are shorter than the rest",
    )

    INVALID = (
        Invalid("zero-padded floats, no Masking, LSTM", lambda t: t.padding.unmasked_floats()),
        Invalid(
            "zero-padded floats unmasked beside a masked id input (error)",
            lambda t: t.padding.unmasked_floats(masked_other=True),
        ),
    )
    VALID = (
        Valid("zero-padded floats, Masking(0.)", lambda t: t.padding.tagger_on(t.padded_floats(n=32))),
        Valid(
            "zero-padded floats, no mask, but each step is read on its own",
            lambda t: t.padding.unmasked_floats(per_step_only=True),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if not ctx.options.perturb or ctx.synthesized:
            return
        mask_inputs = {m.index for m in ctx.explicit_masks}
        intended = ctx.masked_anywhere or bool(mask_inputs)
        for lay in self.layouts(ctx):
            st = lay.by_pad
            if lay.mask_source is not None or st is None or lay.index in mask_inputs:
                continue
            if st.padded_samples < max(1, self.MIN_PADDED_SHARE * st.samples) or ctx.padding_masked(lay):
                continue
            pads = ctx.padded_steps(lay)
            if pads is None or not pads.any():
                continue
            res = probe_input(
                ctx.model, ctx.inputs, ctx.structured, ctx.trace, lay.index, pads, lay.kind, ctx.options.seed
            )
            if res.error is not None or not res.changed_outputs:
                continue
            fix = (
                f"add `layers.Masking(mask_value={pad_literal(lay)})` right after the input"
                if lay.kind == "floats"
                else "feed the ids to `layers.Embedding(..., mask_zero=True)` (pad with 0, real ids from 1), "
                "or pass a padding mask on"
            )
            yield self.finding(
                f"{where(lay, self.multi(ctx))}: {st.padded_samples} of {st.samples} sequences end in runs of "
                f"{lay.pad_repr()} (padding) and nothing masks them; changing only the padded steps changes "
                f"{len(res.changed_outputs)} output(s) at real steps (by up to {max(res.max_change):.3g}), "
                f"e.g. samples {listed(res.samples[:8], len(res.samples))}.",
                fix,
                severity=Severity.ERROR if intended else Severity.WARNING,
                samples=res.samples,
                outputs=res.changed_outputs,
            )
