"""Metamorphic probe: change what the model sees at padded steps, keep the mask, compare outputs.

The change is made to the *outputs* of the layers that create masks (Masking, Embedding with
`mask_zero=True`, custom mask sources) during a second traced inference call, so no weight,
variable or input array is ever modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.facts.flow import creators, shape, time_aligned, top_level
from maskcheck.trace import CallEvent, Trace, run_traced

ops = kb.keras.ops


@dataclass
class LeakResult:
    """Outcome of the padding perturbation."""

    leaked_outputs: list[int] = field(default_factory=list)
    max_change: list[float] = field(default_factory=list)
    first_layer: str | None = None
    first_class: str | None = None
    samples: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    error: str | None = None


def _real_positions(mask: Any) -> np.ndarray:
    """(samples, steps) bool: the real steps of a mask. A step is everything after the time axis:
    a Masking mask over video frames (batch, time, height, width) marks a step real if any of it is."""
    arr = np.asarray(kb.to_numpy(mask), dtype=bool)
    if arr.ndim > 2:
        return np.asarray(arr.reshape(arr.shape[0], arr.shape[1], -1).any(axis=-1))
    return arr


def _change(a: Any, b: Any, real: np.ndarray | None) -> tuple[float, np.ndarray]:
    """Relative max change and per-sample changed flags, at real steps where `real` applies."""
    x = np.asarray(kb.to_numpy(a), dtype="float64")
    z = np.asarray(kb.to_numpy(b), dtype="float64")
    if x.shape != z.shape:
        return float("inf"), np.ones(x.shape[:1], dtype=bool)
    d = np.where(np.isnan(x) & np.isnan(z), 0.0, np.abs(x - z))
    if real is not None and x.ndim >= 2 and real.shape == x.shape[:2]:
        sel = real.reshape(real.shape + (1,) * (x.ndim - 2))
        d = np.where(sel, d, 0.0)
    scale = float(np.nanmax(np.abs(x))) if x.size else 0.0
    tol = 1e-5 + 1e-4 * scale
    per_sample = np.asarray((np.nan_to_num(d, nan=np.inf) > tol).reshape(d.shape[0], -1).any(axis=1))
    return float(np.nanmax(d)) if d.size else 0.0, per_sample


def probe(model: Any, inputs: Any, trace: Trace, seed: int = 0) -> LeakResult:
    """Run the model again with noise at padded steps; report outputs whose real steps changed."""
    sources = creators(trace)
    result = LeakResult(sources=[e.path for e in sources])
    if not sources:
        return result
    source_ids = {id(e.layer) for e in sources}
    masks = {id(e.layer): e.output_masks[0] for e in sources}
    rng = np.random.default_rng(seed)

    def perturb(ev: CallEvent, args: Any, out: Any) -> Any:
        if id(ev.layer) not in source_ids or not kb.is_tensor(out):
            return out
        mask = kb.get_mask(out)
        if mask is None and args:
            try:
                mask = ev.layer.compute_mask(args[0], None)
            except Exception:
                return out
        if mask is None or len(shape(out)) != len(shape(mask)) + 1:
            return out
        arr = kb.to_numpy(out)
        scale = float(np.std(arr)) * 3.0 + 1.0
        noise = (rng.standard_normal(arr.shape) * scale).astype(arr.dtype)
        new = ops.where(ops.expand_dims(mask, -1), out, ops.convert_to_tensor(noise))
        if kb.get_mask(out) is not None:
            kb.set_mask(new, mask)
        return new

    second = run_traced(model, inputs, perturb=perturb)
    if second.error is not None:
        result.error = f"{type(second.error).__name__}: {second.error}"
        return result

    t_lens = {shape(m)[1]: _real_positions(m) for m in masks.values() if len(shape(m)) >= 2}
    changed_samples = np.zeros(0, dtype=bool)
    for i, (a, b) in enumerate(zip(trace.outputs, second.outputs, strict=False)):
        s = shape(a)
        real = t_lens.get(s[1]) if len(s) >= 2 and time_aligned(a, s[1]) else None
        amount, per_sample = _change(a, b, real)
        if per_sample.any():
            result.leaked_outputs.append(i)
            result.max_change.append(amount)
            changed_samples = per_sample if changed_samples.size == 0 else changed_samples | per_sample
    result.samples = [int(i) for i in np.flatnonzero(changed_samples)[:10]]
    if result.leaked_outputs:
        _locate(trace, second, t_lens, source_ids, result)
    return result


def _locate(
    first: Trace, second: Trace, t_lens: dict[Any, np.ndarray], source_ids: set[int], result: LeakResult
) -> None:
    """The first model-level layer whose outputs at real steps changed."""
    by_key = {(id(e.layer), n): e for n, e in _numbered(second)}
    for n, e in _numbered(first):
        if e is first.root or id(e.layer) in source_ids or not top_level(first, e):
            continue
        other = by_key.get((id(e.layer), n))
        if other is None:
            continue
        for a, b in zip(e.outputs, other.outputs, strict=False):
            s = shape(a)
            real = t_lens.get(s[1]) if len(s) >= 3 else None
            if _change(a, b, real)[1].any():
                result.first_layer = e.path
                result.first_class = e.class_name
                return


def _numbered(trace: Trace) -> list[tuple[int, CallEvent]]:
    counts: dict[int, int] = {}
    out = []
    for e in trace.events:
        n = counts.get(id(e.layer), 0)
        counts[id(e.layer)] = n + 1
        out.append((n, e))
    return out
