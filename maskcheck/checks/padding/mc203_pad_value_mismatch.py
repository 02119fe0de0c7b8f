"""MC203 pad-value-mismatch: the constant vector filling the sequence ends differs from mask_value."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, pad_literal, uniform_pad, where
from maskcheck.facts.context import AuditContext
from maskcheck.facts.layout import vector_repr
from maskcheck.report import Finding, Severity


class PadValueMismatch(DataCheck):
    """## What it does
    Finds the constant vector that fills the sequence ends (the real pad vector) and compares it
    with the mask value: padding with -1 under `Masking(0.)`, NaN padding (NaN never equals
    anything), padding that a scaler fitted on the padded array turned into `(0 - mean) / std`
    per feature, or token padding other than 0 under `Embedding(mask_zero=True)`.

    ## Why is this bad?
    The mask never matches the padding, so padded steps are treated as data.

    ## Known problems
    The pad vector is whatever the layout pass (`maskcheck/facts/layout.py`) finds on the first
    batch of X: the most common vector at the last (or first) step, if at least `PAD_MIN_SUPPORT`
    (5%) of the sequences end in it, its runs there have different lengths, and at least
    `PAD_MIN_CONCENTRATION` (90%) of the steps equal to it lie in those runs. An end-of-sequence
    token or a value that data often settle on can pass these tests and be reported as padding
    that the mask misses. When the padding is scattered inside steps (MC201) this check stays
    quiet. No thresholds of its own.

    ## Example
    ```python
    X = pad_sequences(seqs, padding="post", dtype="float32")
    X = StandardScaler().fit_transform(X.reshape(-1, 5)).reshape(X.shape)  # pad is now -mean/std
    ```

    ## Use instead
    ```python
    scaled = [scaler.transform(s) for s in seqs]        # fit the scaler on real steps only
    X = pad_sequences(scaled, padding="post", dtype="float32", value=0.0)
    ```
    """

    code = "MC203"
    name = "pad-value-mismatch"
    severity = Severity.ERROR
    summary = "the constant vector filling the sequence ends differs from mask_value"

    INVALID = (
        Invalid(
            "padded with -1, Masking(0.)", lambda t: t.padding.tagger_on(t.padded_floats(n=32, pad=-1.0))
        ),
        Invalid(
            "StandardScaler fitted on the padded array",
            lambda t: t.padding.tagger_on(t.padding.scaled_padding()),
        ),
        Invalid("NaN padding", lambda t: t.padding.tagger_on(t.padded_floats(n=32, pad=float("nan")))),
        Invalid(
            "token ids padded with 29 under Embedding(mask_zero=True)",
            lambda t: t.padding.ids_tagger(t.padding.ids_padded_with(29), input_dim=30),
        ),
    )
    VALID = (
        Valid("padded with 0, Masking(0.)", lambda t: t.padding.tagger_on(t.padded_floats(n=32))),
        Valid(
            "padded with -1, Masking(-1.)",
            lambda t: t.padding.tagger_on(t.padded_floats(n=32, pad=-1.0), mask_value=-1.0),
        ),
        Valid(
            "token ids padded with 0",
            lambda t: t.padding.ids_tagger(t.padding.ids_padded_with(0), input_dim=30),
        ),
        Valid(
            "float32 data padded with -99999.99, Masking(-99999.99): Keras compares in float32",
            lambda t: t.padding.tagger_on(t.padded_floats(n=32, pad=-99999.99), mask_value=-99999.99),
        ),
        Valid(
            "float64 data padded with -99999.99, Masking(-99999.99): the float32 model rounds both",
            lambda t: t.padding.tagger_on(
                t.padded_floats(n=32, pad=-99999.99).astype("float64").round(2), mask_value=-99999.99
            ),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            if lay.pad is None or lay.mask_value is None or lay.by_pad is None or lay.pad_matches_mask:
                continue
            if lay.transform is not None:
                continue  # MC201 explains it: the pad is scattered, not different
            st = lay.by_pad
            pad = np.asarray(lay.pad, dtype="float64").ravel()
            uniform = uniform_pad(lay)
            if lay.mask_source == "Embedding":
                fix = (
                    f"pad with 0 (`pad_sequences(seqs, value=0)`) and keep real ids >= 1, or map the pad id "
                    f"{pad_literal(lay)} to 0 before the model"
                )
            elif uniform and np.isnan(pad[0]):
                fix = "replace NaN padding: `X = np.nan_to_num(X, nan=0.0)` with `layers.Masking(0.0)` (NaN never equals NaN)"
            elif uniform:
                fix = f"`layers.Masking(mask_value={pad_literal(lay)})`, or pad with the mask value"
            else:
                fix = (
                    "the padding was transformed per feature (a scaler fitted on the padded array): scale "
                    "the real steps only, then pad, e.g. `X[pad_steps] = 0.0` after scaling with "
                    "`pad_steps = np.all(X == pad_vector, axis=-1)`"
                )
            mv = vector_repr(lay.mask_value)
            yield self.finding(
                f"{where(lay, self.multi(ctx))}: {st.padded_samples} of {st.samples} sequences are padded "
                f"({lay.pad_side}) with {lay.pad_repr()}, but the mask value is {mv}; the mask "
                f"covers {lay.by_mask.full_steps if lay.by_mask else 0} of the {st.full_steps} padded steps.",
                fix,
                layer=lay.mask_source_name,
                pad_vector=[float(v) for v in pad[:64]],
                samples=st.fully_idx or st.not_right_idx,
            )
