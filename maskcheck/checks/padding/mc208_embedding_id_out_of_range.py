"""MC208 embedding-id-out-of-range: token ids < 0 or >= the Embedding's input_dim."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, listed, where
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class EmbeddingIdOutOfRange(DataCheck):
    """## What it does
    Finds token ids < 0 or >= `input_dim` of the Embedding that reads them, over all of X,
    before the model runs (so the lookup cannot crash the audit). With `mask_zero=True` real
    ids start at 1, so a vocabulary of V words needs `input_dim = V + 1`.

    ## Why is this bad?
    On CPU TensorFlow raises an error deep inside `fit`; on GPU out-of-range lookups silently
    return zeros.

    ## Known problems
    Only an `Embedding` (or subclass) that reads a model input directly, through layers that
    keep the values (such as `Dropout`), or nested inside the first layer that consumes the
    input (keras-io's `TokenAndPositionEmbedding`; the nested Embedding with the largest
    `input_dim` is taken for the token table) is checked; ids that pass through other layers
    first are not. No named thresholds.

    ## Example
    ```python
    layers.Embedding(vocab_size, 32, mask_zero=True)    # ids go up to vocab_size
    ```

    ## Use instead
    ```python
    layers.Embedding(vocab_size + 1, 32, mask_zero=True)
    ```
    """

    code = "MC208"
    name = "embedding-id-out-of-range"
    severity = Severity.ERROR
    summary = "token ids < 0 or >= the Embedding's input_dim"

    INVALID = (
        Invalid(
            "ids up to 20 with input_dim=20",
            lambda t: t.padding.ids_tagger(t.padding.ids_up_to(20), per_step=False),
        ),
    )
    VALID = (
        Valid(
            "ids up to 19 with input_dim=20",
            lambda t: t.padding.ids_tagger(t.padding.ids_up_to(19), per_step=False),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            if lay.mask_source != "Embedding" or not lay.out_of_range or lay.input_dim is None:
                continue
            need = (lay.id_max or 0) + 1
            yield self.finding(
                f"{where(lay, self.multi(ctx))}: {lay.out_of_range} of {lay.samples} sequences hold ids outside "
                f"[0, {lay.input_dim}) of '{lay.mask_source_name}' (min {lay.id_min}, max {lay.id_max}), e.g. "
                f"samples {listed(lay.out_of_range_idx[:8], lay.out_of_range)}. The audit clipped them to trace the model.",
                f"`layers.Embedding(input_dim={need}, ...)` (max id + 1)"
                + ("; negative ids must be remapped" if (lay.id_min or 0) < 0 else ""),
                layer=lay.mask_source_name,
                samples=lay.out_of_range_idx,
                id_min=lay.id_min,
                id_max=lay.id_max,
            )
