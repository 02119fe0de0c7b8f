"""MC205 fully-masked-samples: samples with no real step at all."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, listed, where
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class FullyMaskedSamples(DataCheck):
    """## What it does
    Counts and lists samples with no real step at all: every step equals the mask value.

    ## Why is this bad?
    Masked means over such a sample divide by zero (NaN losses), pooled outputs are meaningless,
    and cuDNN RNN kernels on the TensorFlow backend refuse fully masked sequences.

    ## Known problems
    It compares X with the mask value of the `Masking` or `Embedding(mask_zero=True)` layer that
    reads the input; a mask made any other way (computed by hand, a custom layer) is not looked
    at. One empty sample is reported like a thousand; the message lists the first indices. No
    named thresholds.

    ## Example
    ```python
    X = pad_sequences([[], [3, 4], [5]], maxlen=20)   # the first sequence is empty
    ```

    ## Use instead
    ```python
    seqs = [s for s in seqs if len(s) > 0]            # drop empty sequences before padding
    ```
    """

    code = "MC205"
    name = "fully-masked-samples"
    severity = Severity.WARNING
    summary = "samples with no real step at all"

    INVALID = (Invalid("two empty sequences", lambda t: t.padding.tagger_on(t.padding.with_empty())),)
    VALID = (Valid("every sequence has real steps", lambda t: t.padding.tagger_on(t.padded_floats(n=32))),)

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            st = lay.by_mask
            if st is None or not st.fully_padded:
                continue
            yield self.finding(
                f"{where(lay, self.multi(ctx))}: {st.fully_padded} of {st.samples} sequences are padding "
                f"only, indices {listed(st.fully_idx, st.fully_padded)}.",
                "drop empty sequences before padding: `keep = np.any(X != pad_value, axis=(1, 2))`, "
                "`X, y = X[keep], y[keep]`",
                layer=lay.mask_source_name,
                samples=st.fully_idx,
                count=st.fully_padded,
            )
