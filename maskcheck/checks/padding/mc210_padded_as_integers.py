"""MC210 padded-as-integers: float features stored in an integer array (pad_sequences' default dtype)."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Threshold, Valid
from maskcheck.checks.padding._common import DataCheck, where
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class PaddedAsIntegers(DataCheck):
    """## What it does
    Finds float features stored in an integer array feeding a float input, typically from
    `keras.utils.pad_sequences`, whose default `dtype` is `"int32"`.

    ## Why is this bad?
    The real values were truncated towards zero: features in (-1, 1) became 0 and now equal the
    pad value, so whole real steps are masked and the rest lost their fractional part.

    ## Known problems
    Integer data are only suspicious when the truncation shows: masked holes, sequences that
    are padding only, or at least `MIN_PAD_SHARE_IN_REAL` (25%) of the values in real steps equal
    to the pad value. Genuine integer features (counts, categories) that are often 0 are reported
    too, and large float features truncated to integers are not. Only inputs of rank 3 or more
    are looked at.

    ## Example
    ```python
    X = pad_sequences(float_seqs, padding="post")                  # dtype="int32"
    ```

    ## Use instead
    ```python
    X = pad_sequences(float_seqs, padding="post", dtype="float32")
    ```
    """

    code = "MC210"
    name = "padded-as-integers"
    severity = Severity.ERROR
    summary = "float features stored in an integer array (pad_sequences' default dtype)"

    MIN_PAD_SHARE_IN_REAL = Threshold(
        0.25,
        "the share of the values in real steps that must equal the pad value for an integer array "
        "to count as truncated floats. Lower reports integer features that are often 0 (counts); "
        "higher misses features that were only partly in (-1, 1)",
    )

    INVALID = (
        Invalid(
            "standardised floats through pad_sequences(dtype='int32')", lambda t: t.padding.int_padded(True)
        ),
    )
    VALID = (
        Valid("integer counts far from the pad value", lambda t: t.padding.int_padded(False)),
        Valid("float32 features", lambda t: t.padding.tagger_on(t.padded_floats(n=32))),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in ctx.layouts:
            arr = ctx.inputs[lay.index]
            if lay.kind != "floats" or arr.dtype.kind not in "iu" or arr.ndim < 3:
                continue
            st = lay.by_mask or lay.by_pad
            zero_share = st.pad_entries_in_real / st.entries_in_real if st and st.entries_in_real else 0.0
            suspicious = st is not None and (
                st.holes or st.fully_padded or zero_share >= self.MIN_PAD_SHARE_IN_REAL
            )
            if not suspicious:
                continue
            yield self.finding(
                f"{where(lay, self.multi(ctx))} is {lay.dtype} but feeds a float input"
                + (f" ({zero_share:.0%} of the values in real steps equal the pad value" if st else "")
                + (f", {st.holes} sequences have masked holes" if st and st.holes else "")
                + "): float features were truncated to integers.",
                '`pad_sequences(seqs, padding="post", dtype="float32")`',
                layer=lay.mask_source_name,
            )
