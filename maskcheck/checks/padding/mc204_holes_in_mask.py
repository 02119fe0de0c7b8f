"""MC204 holes-in-mask: masked steps between real steps (genuine all-pad data or id 0 used as a real token)."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, listed, where
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class HolesInMask(DataCheck):
    """## What it does
    Finds masked steps between real steps: data steps that happen to equal `mask_value` in
    every feature, or the id 0 used for a real token under `Embedding(mask_zero=True)`.

    ## Why is this bad?
    Those steps are silently skipped by RNNs, attention and the loss. With token ids it usually
    means the vocabulary starts at 0, so one real word is treated as padding everywhere.

    ## Known problems
    Every masked step with a real step on each side counts, so data that are meant to have gaps
    (a sensor that reads exactly `mask_value` when switched off, deliberately masked steps) are
    reported as well; silence it for such data. Masked steps at both ends of a sequence count as
    padding, not as holes. When the padding is scattered inside steps (MC201) it stays quiet. No
    named thresholds.

    ## Example
    ```python
    ids = tokenizer(texts)        # ids 0..V-1, 0 is a real word
    layers.Embedding(V, 32, mask_zero=True)
    ```

    ## Use instead
    ```python
    ids = tokenizer(texts) + 1    # 0 is reserved for padding
    layers.Embedding(V + 1, 32, mask_zero=True)
    ```
    """

    code = "MC204"
    name = "holes-in-mask"
    severity = Severity.WARNING
    summary = "masked steps between real steps (genuine all-pad data or id 0 used as a real token)"

    INVALID = (
        Invalid("all-zero steps inside two sequences", lambda t: t.padding.tagger_on(t.padding.with_holes())),
        Invalid(
            "id 0 used for a real token", lambda t: t.padding.ids_tagger(t.padding.ids_with_zero_tokens())
        ),
    )
    VALID = (Valid("clean post padding", lambda t: t.padding.tagger_on(t.padded_floats(n=32))),)

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            st = lay.by_mask
            if st is None or not st.holes or lay.transform is not None:
                continue
            if lay.mask_source == "Embedding":
                fix = "reserve id 0 for padding: shift real ids by one (`ids + 1`) and use `input_dim = vocab_size + 1`"
            else:
                fix = (
                    "make sure real steps never equal mask_value in every feature, e.g. pad with a value "
                    "that cannot occur (`pad_sequences(..., value=-10.0)` and `layers.Masking(-10.0)`)"
                )
            yield self.finding(
                f"{where(lay, self.multi(ctx))}: {st.holes} of {st.samples} sequences have masked steps "
                f"between real steps, e.g. samples {listed(st.hole_idx[:8], st.holes)}; the model skips them.",
                fix,
                layer=lay.mask_source_name,
                samples=st.hole_idx,
                count=st.holes,
            )
