"""MC106 merge-drops-mask: a merge of a masked and an unmasked branch loses the mask or makes it all-True."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.checks.base import CaseInput, Check, Invalid, Kit, Valid
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import first_harm, is_merge, masked_samples, time_len
from maskcheck.report import Finding, Severity
from maskcheck.trace import CallEvent


def _merge(t: Kit, merge: Any, masked_skip: bool = False) -> CaseInput:
    """Masking -> `merge` of the masked tensor and a Dense skip branch -> LSTM(return_sequences).
    The skip branch starts from the masked tensor when `masked_skip`, else from the raw input."""
    inp = t.seq_input()
    x = t.layers.Masking(0.0)(inp)
    skip = t.layers.Dense(3)(x if masked_skip else inp)
    y = merge([x, skip])
    out = t.layers.LSTM(3, return_sequences=True)(y)
    return CaseInput(t.keras.Model(inp, out), t.padded_floats())


class MergeDropsMask(Check):
    """## What it does
    Finds a merge layer with one masked and one unmasked input. `Add`, `Subtract`, `Multiply`,
    `Average`, `Maximum` and `Minimum` then return no mask at all; `Concatenate(axis=-1)` returns
    an all-True mask, so padding becomes "real".

    ## Why is this bad?
    Keras gives no warning. Every layer after the merge, and the loss, treat padded steps as
    data.

    ## Known problems
    Merge layers are recognised by kind (Keras' merge layers and their subclasses); a custom
    layer that merges its inputs is not. A merge that returns no mask is reported only when
    something downstream needed the mask, as in MC101. A merge that returns a mask is compared
    with the first masked input's mask only, and only when both have the same shape (a
    concatenation along time is MC105's). An input whose mask was removed at run time (by
    MultiHeadAttention, say) counts as unmasked, and the fix then suggests masking the loss
    instead. No named thresholds.

    ## Example
    ```python
    x = layers.Masking(0.0)(inp)
    skip = layers.Dense(5)(inp)              # no mask on this branch
    x = layers.Add()([x, skip])              # output has no mask
    ```

    ## Use instead
    ```python
    x = layers.Masking(0.0)(inp)
    skip = layers.Dense(5)(x)                # branch from the masked tensor
    x = layers.Add()([x, skip])              # both inputs masked: mask kept
    ```
    """

    code = "MC106"
    name = "merge-drops-mask"
    severity = Severity.ERROR
    family = "propagation"
    summary = "a merge of a masked and an unmasked branch loses the mask or makes it all-True"

    INVALID = (
        Invalid("Add of a masked and an unmasked branch", lambda t: _merge(t, t.layers.Add())),
        Invalid(
            "Concatenate(axis=-1) of a masked and an unmasked branch",
            lambda t: _merge(t, t.layers.Concatenate()),
        ),
    )
    VALID = (
        Valid("Add of two masked branches", lambda t: _merge(t, t.layers.Add(), masked_skip=True)),
        Valid(
            "Concatenate of two masked branches",
            lambda t: _merge(t, t.layers.Concatenate(), masked_skip=True),
        ),
        Valid(
            "Transformer block: MHA + Add + LayerNorm + GlobalAveragePooling1D",
            lambda t: t.propagation.transformer(),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        trace = ctx.trace
        for ev in ctx.events:
            if not is_merge(ev):
                continue
            masks = ev.input_masks
            masked = [i for i, m in enumerate(masks) if m is not None]
            unmasked = [i for i, m in enumerate(masks) if m is None]
            if not masked or not unmasked:
                continue
            mask = masks[masked[0]]
            t_len = time_len(mask)
            names = [self._name(trace, ev.inputs[i]) for i in unmasked]
            clearers = [self._cleared_by(trace, ev, ev.inputs[i]) for i in unmasked]
            cleared = [c for c in clearers if c is not None]
            fix = (
                f"branch {', '.join(names)} from the masked tensor instead of the raw input, or put a "
                "mask on it (`layers.Masking(...)`) before the merge"
            )
            if cleared:
                names = [
                    f"{n} (its mask was removed at run time by '{c.path}' ({c.class_name}), which "
                    "clears the masks of its inputs during the call)"
                    if c
                    else n
                    for n, c in zip(names, clearers, strict=True)
                ]
                fix = (
                    "Keras itself removes the mask here, so mask the loss explicitly: "
                    "`model.fit(X, y, sample_weight=np.not_equal(ids, 0).astype('float32'))`, or "
                    "pool with `layers.GlobalAveragePooling1D()` (it receives the graph's mask)"
                )
            if not ev.has_output_mask:
                harm = first_harm(trace, ev, t_len, ctx.model)
                if harm is None:
                    continue
                yield self.finding(
                    f"'{ev.path}' ({ev.class_name}) merges a masked input with unmasked "
                    f"{', '.join(names)} and returns no mask; {harm.text}.",
                    fix,
                    layer=ev.path,
                    unmasked_inputs=names,
                )
                continue
            out = np.asarray(kb.to_numpy(ev.output_masks[0]), dtype=bool)
            src = np.asarray(kb.to_numpy(mask), dtype=bool)
            if out.shape == src.shape and bool(np.any(out & ~src)):
                yield self.finding(
                    f"'{ev.path}' ({ev.class_name}) merges a masked input with unmasked "
                    f"{', '.join(names)}: the output mask is True at {int(np.sum(out & ~src))} padded "
                    "step(s), so padding is treated as real data from here on.",
                    fix,
                    layer=ev.path,
                    unmasked_inputs=names,
                    samples=masked_samples(mask),
                )

    @staticmethod
    def _cleared_by(trace: Any, merge: CallEvent, tensor: Any) -> CallEvent | None:
        """The layer that removed the mask from `tensor` after it was produced with one."""
        prod = trace.producer.get(id(tensor))
        if prod is None:
            return None
        k = next((j for j, t in enumerate(prod.outputs) if t is tensor), None)
        if k is None or prod.output_masks[k] is None:
            return None
        for e in trace.events:
            if prod.index < e.index < merge.index and any(t is tensor for t in e.inputs):
                return e
        return None

    @staticmethod
    def _name(trace: Any, tensor: Any) -> str:
        prod = trace.producer.get(id(tensor))
        return f"'{prod.path}'" if prod is not None and prod.path else "the model input"
