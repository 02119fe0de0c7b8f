"""MC207 embedding-unmasked-padding: Embedding(mask_zero=False) fed zero-padded ids and nothing masks them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from maskcheck.bridge import kinds
from maskcheck.bridge.kinds import is_kind
from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, where
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import shape
from maskcheck.facts.layout import InputLayout
from maskcheck.facts.sources import masks_seen, padded_words, probe_layer_output, probe_nested_ids
from maskcheck.report import Finding, Severity


class EmbeddingUnmaskedPadding(DataCheck):
    """## What it does
    Finds `Embedding(mask_zero=False)` (a subclass such as keras-hub's `ReversibleEmbedding`, or
    one nested inside a custom layer such as keras-io's `PositionalEmbedding`) fed ids with runs
    of 0 at the sequence ends, while nothing masks those steps: no explicit padding-mask input
    goes with the ids, and no mask the model computes (a Keras mask, `mask=`, an attention mask
    built from the ids) marks them as padding, and, when no output keeps the time axis, changing the
    ids at the padded steps changes the outputs (a mask computed by hand inside a custom layer's
    `call`, like the fixed keras-io FNet example, is seen this way). Each id input is judged on its own: a masked
    encoder does not excuse the decoder's Embedding.

    ## Why is this bad?
    Padding id 0 gets a trained embedding vector like any word; RNNs, pooling and the loss all
    see the padding.

    ## Known problems
    It stays quiet when the ids are padded with something other than 0. For (documents,
    sentences, words) ids read by an Embedding inside a `TimeDistributed` sentence encoder, the
    padded words are looked for in the traced sample only (the streamed pass over all of X reads
    the padded sentences), and reported only where changing the Embedding's output at them
    changes an output. Inside a custom layer
    holding several Embeddings, the one with the largest `input_dim` is taken for the token table.
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
        Invalid(
            "an Embedding nested in a custom token+position layer, no mask",
            lambda t: t.padding.nested_embedding(masked=False),
        ),
        Invalid(
            "masked encoder, decoder Embedding(mask_zero=False)",
            lambda t: t.padding.encoder_decoder_ids(decoder_mask_zero=False),
        ),
        Invalid(
            "a sentence encoder under TimeDistributed reads padded words, Embedding(mask_zero=False)",
            lambda t: t.padding.sentence_encoder(mask_zero=False),
        ),
    )
    VALID = (
        Valid(
            "zero-padded ids, Embedding(mask_zero=True)", lambda t: t.padding.ids_tagger(t.padded_ids(n=32))
        ),
        Valid(
            "the custom token+position layer passes ids != 0 on as the mask",
            lambda t: t.padding.nested_embedding(masked=True),
        ),
        Valid("masked encoder and decoder", lambda t: t.padding.encoder_decoder_ids(decoder_mask_zero=True)),
        Valid(
            "attention_mask built from the ids, no Keras mask", lambda t: t.padding.ids_with_attention_mask()
        ),
        Valid("an explicit padding_mask input beside the ids", lambda t: t.padding.ids_and_padding_mask()),
        Valid("pooled by hand over ids != 0 inside a custom layer", lambda t: t.padding.ids_mean_by_hand()),
        Valid(
            "a sentence encoder under TimeDistributed, Embedding(mask_zero=True)",
            lambda t: t.padding.sentence_encoder(mask_zero=True),
        ),
        Valid(
            "a sentence encoder under TimeDistributed pooling over ids != 0 by hand",
            lambda t: t.padding.sentence_encoder(mask_zero=False, by_hand=True),
        ),
        Valid(
            "a sentence encoder: Embedding with a zero row 0, then a mask read from its values",
            lambda t: t.padding.sentence_encoder(mask_zero=False, value_mask=True),
        ),
        Valid(
            "sentences opening with token 0, padded with id 1, masked by ids != 1",
            lambda t: t.padding.sentence_encoder(mask_zero=False, start_token=True),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            if lay.mask_source != "Embedding" or lay.mask_zero:
                continue
            found = self._padded_steps(ctx, lay)
            if found is None:
                found = self._padded_words(ctx, lay)
            if found is not None:
                yield found

    def _padded_steps(self, ctx: AuditContext, lay: InputLayout) -> Finding | None:
        if lay.by_pad is None or _pad_id(lay) != 0 or ctx.padding_masked(lay):
            return None
        if self._handled_by_hand(ctx, lay):
            return None
        st = lay.by_pad
        return self.finding(
            f"{where(lay, self.multi(ctx))}: {st.padded_samples} of {st.samples} sequences end in runs of "
            f"id 0 ({lay.pad_side}-padded), but '{lay.mask_source_name}' has mask_zero=False and nothing "
            "masks these steps.",
            f"`layers.Embedding({lay.input_dim}, ..., mask_zero=True)` (ids of real tokens must start at 1)",
            layer=lay.mask_source_name,
            samples=st.not_right_idx or st.fully_idx,
        )

    def _padded_words(self, ctx: AuditContext, lay: InputLayout) -> Finding | None:
        """(documents, sentences, words) ids read by an Embedding under a TimeDistributed (a
        hierarchical model's sentence encoder): the layout pass sees the padded sentences; the
        padded words inside the sentences are found here, on the traced sample, and judged by
        changing the Embedding's output at them."""
        if lay.index >= len(ctx.inputs) or not ctx.options.perturb:
            return None
        ids = np.asarray(ctx.inputs[lay.index])
        if ids.ndim != 3 or ids.dtype.kind not in "iu":
            return None
        if _pad_id(lay) not in (None, 0):
            return None  # padded sentences hold another id: 0 is a token
        event = self._event(ctx, lay)
        wrapper = _time_distributed_above(event)
        if event is None or wrapper is None:
            return None
        words = padded_words(ids)
        if not words.any() or _words_masked(ctx, ids):
            return None
        res = probe_nested_ids(
            ctx.model, ctx.inputs, ctx.structured, ctx.trace, event.layer, wrapper.layer, lay.index, ctx.options.seed
        )
        if res.error is not None or not res.changed_outputs:
            return None
        docs = np.flatnonzero(words.any(axis=1))
        sentences = (
            ""
            if ctx.padding_masked(lay)
            else "; the padded sentences need a mask of their own at the document level, e.g. "
            "`keras.ops.any(doc != 0, axis=-1)` passed as `mask=`"
        )
        return self.finding(
            f"{where(lay, self.multi(ctx))}: {int(words.sum())} of {int(ids.any(axis=-1).sum())} sentences in "
            f"the {len(ids)} traced documents end in runs of id 0 (documents {docs[:10].tolist()}"
            f"{', ...' if docs.size > 10 else ''}), and '{event.path}' under TimeDistributed "
            f"'{wrapper.path}' reads them: it has mask_zero=False and nothing masks these words (changing "
            f"its output at them changed model output(s) {res.changed_outputs}).",
            f"`layers.Embedding({lay.input_dim}, ..., mask_zero=True)` inside the sentence encoder (ids of real "
            f"tokens must start at 1){sentences}",
            layer=event.path,
            samples=res.samples or docs[:10].tolist(),
        )

    def _handled_by_hand(self, ctx: AuditContext, lay: InputLayout) -> bool:
        """No output keeps the time axis (so no loss can count padded steps), and changing the ids at
        the padded steps (the Embedding's output there, not the ids) changes no output: the padding
        is masked by hand, inside some `call`."""
        pads = ctx.padded_steps(lay)
        if pads is None or not ctx.options.perturb:
            return False
        t = pads.shape[1]
        if any(len(s) >= 2 and s[1] == t for s in (shape(o) for o in ctx.trace.outputs)):
            return False
        layer = self._layer(ctx, lay)
        if layer is None:
            return False
        ids = ctx.inputs[lay.index]
        res = probe_layer_output(
            ctx.model, ctx.inputs, ctx.structured, ctx.trace, layer, ids, pads, ctx.options.seed
        )
        return res.error is None and not res.changed_outputs

    @staticmethod
    def _event(ctx: AuditContext, lay: InputLayout) -> Any:
        """The call of the Embedding the layout pass found for this input (by its name, anywhere
        in the tree)."""
        for e in ctx.events:
            if e.name == lay.mask_source_name and is_kind(e.layer, kinds.EMBEDDING):
                return e
        return None

    @classmethod
    def _layer(cls, ctx: AuditContext, lay: InputLayout) -> Any:
        event = cls._event(ctx, lay)
        return None if event is None else event.layer


def _pad_id(lay: InputLayout) -> float | None:
    """The id the layout pass found padding the sequences (None: no padding found)."""
    return None if lay.pad is None else float(np.asarray(lay.pad).ravel()[0])


def _words_masked(ctx: AuditContext, ids: np.ndarray) -> bool:
    """Some mask the model computed marks the first sentence's padded words as padding (the record
    inside a TimeDistributed is its first step): a `Masking` after the Embedding, a mask made by
    hand and passed as `mask=`. The probe would change the values such a mask is read from."""
    first = ids[:, 0]
    has = np.asarray(first.any(axis=-1), dtype=bool)
    if not (has[:, None] & (first == 0)).any():
        return False
    want = first != 0
    return any(np.array_equal(m[has], want[has]) for m in masks_seen(ctx.trace, *want.shape))


def _time_distributed_above(event: Any) -> Any:
    """The TimeDistributed call that `event` runs inside, or None."""
    parent = None if event is None else event.parent
    while parent is not None:
        if is_kind(parent.layer, kinds.TIME_DISTRIBUTED):
            return parent
        parent = parent.parent
    return None
