"""MC207 embedding-unmasked-padding: Embedding(mask_zero=False) fed zero-padded ids and nothing masks them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, where
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class EmbeddingUnmaskedPadding(DataCheck):
    """## What it does
    Finds `Embedding(mask_zero=False)` fed ids with runs of 0 at the sequence ends while no
    other layer makes a mask.

    ## Why is this bad?
    Padding id 0 gets a trained embedding vector like any word; RNNs, pooling and the loss all
    see the padding.

    ## Known problems
    It stays quiet as soon as any layer of the model makes or receives a mask, even one that
    does not cover this input's padding, and when the ids are padded with something other than 0.
    A model that keeps the padding out of the loss without any mask (a `sample_weight` of
    `ids != 0`) is reported all the same. The padding is found by the layout pass (`maskcheck/facts/layout.py`). No named thresholds.

    ## Example
    ```python
    layers.Embedding(vocab_size, 32)              # mask_zero defaults to False
    ```

    ## Use instead
    ```python
    layers.Embedding(vocab_size, 32, mask_zero=True)   # real ids must start at 1
    ```
    """

    code = "MC207"
    name = "embedding-unmasked-padding"
    severity = Severity.ERROR
    summary = "Embedding(mask_zero=False) fed zero-padded ids and nothing masks them"

    INVALID = (
        Invalid(
            "zero-padded ids, Embedding(mask_zero=False)",
            lambda t: t.padding.ids_tagger(t.padded_ids(n=32), mask_zero=False),
        ),
    )
    VALID = (
        Valid(
            "zero-padded ids, Embedding(mask_zero=True)", lambda t: t.padding.ids_tagger(t.padded_ids(n=32))
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if ctx.masked_anywhere:
            return
        for lay in self.layouts(ctx):
            if lay.mask_source != "Embedding" or lay.mask_zero or lay.by_pad is None or lay.pad is None:
                continue
            if float(np.asarray(lay.pad).ravel()[0]) != 0.0:
                continue
            st = lay.by_pad
            yield self.finding(
                f"{where(lay, self.multi(ctx))}: {st.padded_samples} of {st.samples} sequences end in runs of "
                f"id 0 ({lay.pad_side}-padded), but '{lay.mask_source_name}' has mask_zero=False and no "
                "layer makes a mask.",
                f"`layers.Embedding({lay.input_dim}, ..., mask_zero=True)` (ids of real tokens must start at 1)",
                layer=lay.mask_source_name,
                samples=st.not_right_idx or st.fully_idx,
            )
