"""The traced sample: up to `max_samples` sequences collected while the data pass streams, re-padded
to one length when batches differ, and the progress shown meanwhile."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.data.source import DataSource
from maskcheck.data.types import Sample
from maskcheck.errors import MaskcheckError


def _repad(parts: list[np.ndarray], value: Any, side: str) -> np.ndarray:
    """Batches padded each to its own length (`padded_batch`, bucketing), padded again along the
    time axis to the longest with `value` (a step vector or a scalar) on `side`."""
    t = max(p.shape[1] for p in parts)
    out = []
    for p in parts:
        if p.shape[1] == t:
            out.append(p)
            continue
        fill = np.empty((p.shape[0], t - p.shape[1], *p.shape[2:]), dtype=p.dtype)
        fill[...] = np.asarray(value, dtype=p.dtype).reshape(p.shape[2:]) if np.size(value) > 1 else value
        out.append(np.concatenate([p, fill] if side == "post" else [fill, p], axis=1))
    return np.concatenate(out)


def _pad_of(consumers: list[Any] | None, index: int, x: np.ndarray) -> tuple[Any, str]:
    """The pad vector and side the layout pass found for input `index`, else the mask value,
    else 0 at the end."""
    for c in consumers or ():
        lay = getattr(c, "layout", None)
        if getattr(c, "index", None) != index or lay is None:
            continue
        if lay.pad is not None and lay.pad_side in ("post", "pre"):
            return lay.pad, lay.pad_side
        if lay.mask_value is not None:
            return lay.mask_value, lay.pad_side if lay.pad_side in ("post", "pre") else "post"
    return 0, "post"


def _label_pad(parts: list[np.ndarray], side: str) -> Any:
    """The label padded steps carry: the commonest value in the end column of per-step labels."""
    if parts[0].ndim != 2:
        return 0
    ends = np.concatenate([p[:, -1] if side == "post" else p[:, 0] for p in parts])
    values, counts = np.unique(ends, return_counts=True)
    return values[int(np.argmax(counts))]


def _join(parts: list[np.ndarray], value: Any, side: str, what: str) -> np.ndarray:
    if len({p.shape[1:] for p in parts}) <= 1:
        return np.concatenate(parts)
    if parts[0].ndim < 2 or len({p.shape[2:] for p in parts}) > 1:
        raise MaskcheckError(
            what,
            "batches that differ at most in length (axis 1)",
            f"shapes {sorted({p.shape for p in parts})[:4]}",
        )
    return _repad(parts, value, side)


def collect(
    source: DataSource, max_samples: int, consumers: list[Any] | None = None, *, progress: bool = False
) -> Sample:
    """Stream every batch to `consumers` (data checks) and keep the first `max_samples` rows.

    With `progress`, a `keras.utils.Progbar` counts the sequences scanned, on stderr."""
    xs_parts: list[list[np.ndarray]] = []
    y_parts: list[list[np.ndarray]] = []
    w_parts: list[np.ndarray] = []
    w_out_parts: list[list[np.ndarray | None]] = []
    kept = total = batches = 0
    bar = _ProgressBar(source.length()) if progress else None
    try:
        for batch in source.batches():
            batches += 1
            n = batch.xs[0].shape[0]
            for c in consumers or ():
                c.update(batch, total)
            if kept < max_samples:
                take = min(n, max_samples - kept)
                xs_parts.append([a[:take].copy() for a in batch.xs])
                if batch.y is not None:
                    y_parts.append([a[:take].copy() for a in batch.y])
                if batch.w is not None:
                    w_parts.append(batch.w[:take].copy())
                if batch.w_out is not None:
                    w_out_parts.append([None if v is None else v[:take].copy() for v in batch.w_out])
                kept += take
            total += n
            if bar is not None:
                bar.update(total)
    finally:
        if bar is not None:
            bar.close(total)
    if batches == 0:
        raise MaskcheckError("X", "at least one batch", "an empty or exhausted dataset/generator")
    notes = []
    xs = []
    for i in range(len(xs_parts[0])):
        parts = [p[i] for p in xs_parts]
        pad, side = _pad_of(consumers, i, parts[0])
        xs.append(_join(parts, pad, side, "X" if len(xs_parts[0]) == 1 else f"X[{source.names[i]!r}]"))
        lengths = sorted({p.shape[1] for p in parts if p.ndim > 1})
        if len(lengths) > 1:
            name = "" if len(xs_parts[0]) == 1 else f" of input {source.names[i]!r}"
            notes.append(
                f"batches{name} differ in length ({lengths[0]} to {lengths[-1]} steps, as "
                f"padded_batch or bucketing make them): the traced sample was padded to "
                f"{lengths[-1]} steps with the data's pad value ({_short(pad)}, {side})."
            )
    side = _pad_of(consumers, 0, xs_parts[0][0])[1]
    ys = (
        [
            _join(parts, _label_pad(parts, side), side, "y")
            for parts in ([p[i] for p in y_parts] for i in range(len(y_parts[0])))
        ]
        if y_parts and len(y_parts) == len(xs_parts)
        else None
    )
    w = _join(w_parts, 0, side, "sample_weight") if w_parts and len(w_parts) == len(xs_parts) else None
    w_out = _join_per_output(w_out_parts, side) if w_out_parts and len(w_out_parts) == len(xs_parts) else None
    bound = source.bound_note(total)
    if bound:
        notes.append(bound)
    return Sample(xs, ys, w, source.structure, source.names, total_seen=total, notes=notes, w_out=w_out)


def _join_per_output(parts: list[list[np.ndarray | None]], side: str) -> list[np.ndarray | None]:
    """Per-output sample weights of every kept batch, joined output by output (an output without
    weights in some batch has none)."""
    out: list[np.ndarray | None] = []
    for i in range(len(parts[0])):
        pieces = [p[i] for p in parts]
        arrays = [a for a in pieces if a is not None]
        out.append(_join(arrays, 0, side, f"sample_weight[{i}]") if len(arrays) == len(pieces) else None)
    return out


def _short(v: Any) -> str:
    flat = np.asarray(v).ravel()
    if flat.size and np.all((flat == flat[0]) | (np.isnan(flat) & np.isnan(flat[0]))):
        return str(flat[0].item())
    return "[" + ", ".join(str(e.item()) for e in flat[:4]) + (", ...]" if flat.size > 4 else "]")


class _ProgressBar:
    """`keras.utils.Progbar` drawn on stderr. Progbar prints to sys.stdout, which carries the
    report itself (`maskcheck audit --format json > report.json`), so each draw is redirected."""

    def __init__(self, total: int | None) -> None:
        print("maskcheck: scanning X", file=sys.stderr)
        with contextlib.redirect_stdout(sys.stderr):  # Progbar decides how to draw by isatty()
            self._bar = kb.keras.utils.Progbar(total, unit_name="sequence")
        self._done = False

    def update(self, seen: int) -> None:
        with contextlib.redirect_stdout(sys.stderr):
            self._bar.update(seen)
            self._done = self._bar.target is not None and seen >= self._bar.target

    def close(self, seen: int) -> None:
        """End the line (Progbar does it by itself only on reaching a known total)."""
        if not self._done:
            with contextlib.redirect_stdout(sys.stderr):
                self._bar.update(seen, finalize=True)
        self._done = True


class Progress:
    """A `keras.utils.Progbar` over the model part of an audit that appears only once it has
    taken `delay` seconds (short audits stay quiet), drawn on stderr like `_ProgressBar`."""

    def __init__(self, total: int, enabled: bool, delay: float = 2.0) -> None:
        self.total, self.enabled, self.delay = total, enabled, delay
        self.start = time.monotonic()
        self._bar: Any = None
        self.done = 0

    def step(self, label: str = "") -> None:
        self.done += 1
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self.start < self.delay:
                return
            print("maskcheck: auditing the model", file=sys.stderr)
            with contextlib.redirect_stdout(sys.stderr):
                self._bar = kb.keras.utils.Progbar(self.total, unit_name="step")
        with contextlib.redirect_stdout(sys.stderr):
            self._bar.update(min(self.done, self.total), finalize=self.done >= self.total)
