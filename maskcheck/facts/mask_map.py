"""The mask map: the state of every step of (up to 64) traced samples, computed during an audit.

The renderers draw it (`maskcheck.render.svg`); the states are `maskcheck.report.MaskState`.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from maskcheck import bridge as kb
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import creators
from maskcheck.facts.steps import steps_equal
from maskcheck.report import MaskState

MAX_ROWS = 64


def mask_map(ctx: AuditContext, max_rows: int = MAX_ROWS, *, strict: bool = False) -> list[list[int]]:
    """Per-step states of the first `max_rows` traced samples of the masked input.

    0 real, 1 padded and masked, 2 padded but NOT masked, 3 hole (masked between real steps),
    4 part pad, part data (only when the padding was found scattered by a reshape, MC201).
    The mask is the runtime mask of the first mask-creating layer (or, without one, an explicit
    padding-mask input such as keras-hub's `padding_mask`, drawn over its ids input, or the first
    mask passed to a `call()`); padding is the pad vector the layout pass detected (or the mask
    value). Returns `[]` when there is no sequence input to draw. A picture never fails an
    audit: errors give `[]` (with `strict`, the audit's option, they raise, as checks do).
    """
    try:
        return _mask_map(ctx, max_rows)
    except Exception:
        if strict:
            raise
        return []


def _steps(mask: Any, rows: int | None = None) -> np.ndarray | None:
    """A (samples, steps) boolean mask (True = real), or None when it has no time axis."""
    arr = np.asarray(kb.to_numpy(mask)).astype(bool)
    if arr.ndim < 2:
        return None
    steps = np.asarray(arr.reshape(arr.shape[0], arr.shape[1], -1).any(axis=-1))
    if rows is not None and steps.shape[0] != rows:
        return None
    return steps


def _first_mask(ctx: AuditContext) -> tuple[np.ndarray | None, str | None]:
    rows = int(ctx.inputs[0].shape[0]) if ctx.inputs and np.ndim(ctx.inputs[0]) else None
    for ev in creators(ctx.trace):
        for m in ev.output_masks:
            if m is not None and (arr := _steps(m, rows)) is not None:
                return arr, ev.name
    for explicit in ctx.explicit_masks:  # keras-hub's padding_mask: the mask of its ids input
        if rows is None or explicit.real.shape[0] == rows:
            lay = next((lay for lay in ctx.layouts if lay.index == explicit.ids_index), None)
            return explicit.real, lay.mask_source_name if lay is not None else None
    for ev in ctx.events:
        for m in ev.received_masks:
            if m is not None and (arr := _steps(m, rows)) is not None:
                return arr, None
    return None, None


def _layout_for(ctx: AuditContext, source: str | None, mask: np.ndarray | None) -> Any:
    layouts = [lay for lay in ctx.layouts if 0 <= lay.index < len(ctx.inputs)]
    if source is not None:
        for lay in layouts:
            if lay.mask_source_name == source:
                return lay
    if mask is not None:
        layouts = [lay for lay in layouts if np.shape(ctx.inputs[lay.index])[1:2] == mask.shape[1:2]]
    for lay in layouts:
        if lay.pad is not None or lay.mask_value is not None:
            return lay
    return layouts[0] if layouts else None


def _pad_steps(x: np.ndarray, layout: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(full, partial) pad steps of x under the layout's pad vector (or mask value)."""
    if layout is None or x.dtype.kind not in "iufb":
        return None, None
    pad = layout.pad if layout.pad is not None else layout.mask_value
    if pad is None:
        return None, None
    pad = np.asarray(pad, dtype="float64").ravel()
    feats = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
    if pad.size == 1 and feats > 1:
        pad = np.full(feats, pad[0])
    if pad.size != feats:
        return None, None
    xf = x if x.dtype.kind == "f" else x.astype("float64")
    full, partial, _count = steps_equal(xf, pad)
    if layout.transform is None:
        partial = None  # part-pad steps are ordinary data unless the padding was found scattered
    return full, partial


def _mask_map(ctx: AuditContext, max_rows: int) -> list[list[int]]:
    if not ctx.inputs:
        return []
    mask, source = _first_mask(ctx)
    layout = _layout_for(ctx, source, mask)
    x = np.asarray(ctx.inputs[layout.index if layout is not None else 0])[:max_rows]
    full = partial = None
    if x.ndim >= 2 and (mask is None or mask.shape[1] == x.shape[1]):
        full, partial = _pad_steps(x, layout)
    if mask is not None:
        real = mask[:max_rows]
    elif full is not None:
        real = np.ones(full.shape, dtype=bool)  # no mask anywhere: every step counts as real
    else:
        return []
    if full is not None and full.shape != real.shape:
        full = partial = None
    if real.size == 0:
        return []
    state = np.full(real.shape, MaskState.REAL, dtype=np.int8)
    before = np.logical_or.accumulate(real, axis=1)
    after = np.logical_or.accumulate(real[:, ::-1], axis=1)[:, ::-1]
    state[~real] = MaskState.PADDED
    state[~real & before & after] = MaskState.HOLE
    if full is not None:
        state[real & full] = MaskState.UNMASKED_PAD
        if partial is not None:
            state[real & partial & ~full] = MaskState.PARTIAL
    return cast(list[list[int]], state.tolist())
