"""Padding layout inference, streamed over all of X with bounded memory.

For each model input this finds the pad vector (any constant vector: 0, -1, NaN, a scaler's
per-feature `-mean/std`), the padding side, per-sample lengths, holes, fully padded samples,
steps that are part pad and part data, and whether an axis swap would make the padding clean
(the misreshaped (features, time) layout). Each batch is looked at once; nothing of size N is
kept except per-sample counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import kinds
from maskcheck.bridge.graph import all_layers, inbound_nodes, node_inputs, node_outputs
from maskcheck.bridge.kinds import is_kind, source_kind
from maskcheck.facts.steps import (
    PAD_SEARCH_SAMPLES,
    TRANSFORM_CLEAN,
    TRANSFORM_MIN_PARTIAL,
    TRANSFORM_NO_PARTIAL,
    StepStats,
    add_indices,
    detect_pad,
    is_uniform,
    steps_equal,
    update_stats,
)


@dataclass
class InputLayout:
    """What the streamed pass learned about one model input."""

    index: int
    name: str
    kind: str  # "ids", "floats"
    dtype: str
    shape: tuple[int, ...]
    samples: int = 0
    pad: np.ndarray | None = None
    pad_side: str | None = None
    mask_value: np.ndarray | None = None
    mask_source: str | None = None  # "Masking", "Embedding" or None
    mask_source_name: str | None = None
    mask_zero: bool | None = None
    input_dim: int | None = None
    by_pad: StepStats | None = None
    by_mask: StepStats | None = None
    transform: str | None = None
    transform_clean: float = 0.0
    after_fix: StepStats | None = None
    id_min: int | None = None
    id_max: int | None = None
    out_of_range: int = 0
    out_of_range_idx: list[int] = field(default_factory=list)
    nonfinite: int = 0
    nonfinite_idx: list[int] = field(default_factory=list)

    @property
    def pad_matches_mask(self) -> bool:
        if self.pad is None or self.mask_value is None:
            return True
        return bool(
            np.array_equal(
                _as_vec(self.pad, self.pad.size), _as_vec(self.mask_value, self.pad.size), equal_nan=True
            )
        )

    def pad_repr(self) -> str:
        return vector_repr(self.pad)


def vector_repr(v: np.ndarray | None, limit: int = 6) -> str:
    if v is None:
        return "none"
    flat = np.asarray(v).ravel()
    if is_uniform(flat):
        return f"{_num(flat[0])} in every feature"
    shown = ", ".join(_num(e) for e in flat[:limit])
    return f"[{shown}{', ...' if flat.size > limit else ''}]"


def _num(e: Any) -> str:
    f = float(e)
    if np.isnan(f):
        return "nan"
    return f"{int(f)}" if f.is_integer() else f"{f:.4g}"


def _as_vec(v: np.ndarray, size: int) -> np.ndarray:
    v = np.asarray(v, dtype="float64").ravel()
    return np.broadcast_to(v, (size,)) if v.size == 1 else v


def keras_mask_value(layer: Any, data_dtype: np.dtype) -> np.floating[Any]:
    """`Masking.mask_value` as the layer compares it with data of `data_dtype` (exactly).

    Keras 3 converts a Python number to a tensor of `floatx` (float32) before comparing, so
    `Masking(-99999.99)` matches float32 data padded with -99999.99 (and float64 data only after
    the model has cast them to float32); tf_keras converts it to the input's dtype."""
    mv = layer.mask_value
    if type(mv) in (int, float) and not kb.is_legacy(layer):
        dt = np.dtype(kb.keras.config.floatx())
    elif type(mv) in (int, float):
        dt = data_dtype if data_dtype.kind == "f" else np.dtype("float32")
    else:
        dt = np.asarray(mv).dtype if np.asarray(mv).dtype.kind == "f" else np.dtype("float32")
    value: np.floating[Any] = dt.type(float(np.asarray(mv).ravel()[0]))
    return value


class LayoutAccumulator:
    """Streaming consumer for one input: `update(batch, offset)` per batch, then `.layout`."""

    def __init__(
        self,
        index: int,
        name: str,
        source: Any = None,
        spec_dtype: str = "float32",
    ) -> None:
        self.index = index
        self.name = name
        self.source = source
        self.spec_dtype = spec_dtype
        self._layout: InputLayout | None = None
        self._started = False
        self._held: list[tuple[np.ndarray, int]] = []
        # Pad steps of the batch being read, by pad vector: the pad search, the layout probe and
        # the statistics compare the same batch with the same vector (emptied after each batch,
        # as a generator may refill its buffer).
        self._memo: dict[tuple[str, bytes], tuple[Any, Any, Any]] = {}
        self._memo_x: np.ndarray | None = None

    def _steps_equal(self, x: np.ndarray, pad: Any) -> tuple[Any, Any, Any]:
        if x is not self._memo_x:
            return steps_equal(x, pad)
        arr = np.asarray(pad)
        key = (arr.dtype.str, arr.tobytes())
        if key not in self._memo:
            self._memo[key] = steps_equal(x, pad)
        return self._memo[key]

    @property
    def layout(self) -> InputLayout | None:
        """What the pass learned (None before any batch with a time axis)."""
        self.finish()
        return self._layout

    def _start(self, x: np.ndarray, found: tuple[Any, Any, float] | None = None) -> None:
        cls = source_kind(self.source) if self.source is not None else None
        ids = cls == "Embedding" or (x.ndim == 2 and x.dtype.kind in "iu" and "int" in self.spec_dtype)
        lay = InputLayout(
            index=self.index,
            name=self.name,
            kind="ids" if ids else "floats",
            dtype=str(x.dtype),
            shape=tuple(int(d) for d in x.shape[1:]),
            mask_source=cls,
            mask_source_name=getattr(self.source, "name", None),
        )
        feat = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
        if cls == "Masking":
            lay.mask_value = np.full(feat, keras_mask_value(self.source, x.dtype))
        elif cls == "Embedding":
            lay.mask_zero = bool(getattr(self.source, "mask_zero", False))
            lay.input_dim = int(self.source.input_dim)
            if lay.mask_zero:
                lay.mask_value = np.zeros(1)
        xf = x if x.dtype.kind == "f" else x.astype("float64")
        pad, side, _support = found if found is not None else detect_pad(xf)
        lay.pad, lay.pad_side = pad, side
        if pad is not None:
            lay.by_pad = StepStats()
        if lay.mask_value is not None:
            lay.by_mask = StepStats()
        self._layout = lay
        self._started = True
        self._probe_transform(xf)

    def _probe_transform(self, x: np.ndarray) -> None:
        """Would reading the array as (features, time) make the padding clean?"""
        lay = self._layout
        assert lay is not None
        if x.ndim != 3 or lay.kind != "floats":
            return
        pad = lay.pad if lay.pad is not None else lay.mask_value
        if pad is None:
            pad = np.zeros(int(np.prod(x.shape[2:])))  # zero padding scattered too much to be detected
        if not np.all((pad == pad.flat[0]) | np.isnan(pad)):
            return
        partial = self._steps_equal(x, pad)[1]
        assert partial is not None
        has_partial = partial.any(axis=1)
        if has_partial.sum() < max(2, TRANSFORM_MIN_PARTIAL * x.shape[0]):
            return
        sub = x[has_partial][:512]
        n, t, f = sub.shape
        candidates = [("reshape", sub.reshape(n, f, t).transpose(0, 2, 1))]
        if t == f:
            candidates.append(("swap", sub.transpose(0, 2, 1)))
        for name, arr in candidates:
            full_a, partial_a, _ = steps_equal(arr, pad)
            assert partial_a is not None
            st = StepStats()
            update_stats(st, full_a, partial_a, 0)
            clean = (st.post + st.pre) / n
            no_partial = 1.0 - st.partial_samples / n
            if no_partial >= TRANSFORM_NO_PARTIAL and clean >= TRANSFORM_CLEAN:
                lay.transform, lay.transform_clean = name, clean
                lay.after_fix = StepStats()
                if lay.pad is None:
                    lay.pad, lay.pad_side, lay.by_pad = np.array(pad, copy=True), "scattered", StepStats()
                return

    def _model_dtype(self, x: np.ndarray) -> np.dtype | None:
        """The narrower float dtype the mask source sees, when `x` holds wider floats (or None).

        Keras casts float data to the model input's dtype, and a layer casts its float inputs to
        its compute dtype: float64 data padded with -99999.99 reach a float32 `Masking` rounded."""
        if x.dtype.kind != "f":
            return None
        found = [x.dtype]
        for name in (self.spec_dtype, getattr(self.source, "compute_dtype", None)):
            try:
                dt = np.dtype(name)
            except TypeError:
                continue
            if dt.kind == "f":
                found.append(dt)
        narrow = min(found, key=lambda d: d.itemsize)
        return narrow if narrow.itemsize < x.dtype.itemsize else None

    def update(self, batch: Any, offset: int) -> None:
        x = batch.xs[self.index]
        if x.ndim < 2 or x.dtype.kind not in "iufb":
            return
        narrow = self._model_dtype(x)
        if narrow is not None:
            x = x.astype(narrow)  # what the model sees: Keras casts the input, then compares
        self._memo_x = x
        try:
            self._read(x, offset)
        finally:
            self._memo_x, self._memo = None, {}

    def _read(self, x: np.ndarray, offset: int) -> None:
        if self._started:
            self._update(x, offset)
            return
        found = detect_pad(x if x.dtype.kind == "f" else x.astype("float64"), self._steps_equal)
        if found[0] is not None and not self._held:  # the common case: the first batch shows the pad
            self._start(x, found)
            self._update(x, offset)
            return
        self._held.append((np.array(x, copy=True), offset))  # a generator may reuse its buffer
        if found[0] is not None:
            self._start(x, found)
        elif sum(h.shape[0] for h, _ in self._held) < PAD_SEARCH_SAMPLES:
            return
        self.finish()

    def finish(self) -> None:
        """Count the batches held back while looking for the pad vector (at the end of the stream,
        or once a batch showed it)."""
        if not self._held:
            return
        if not self._started:
            self._start(self._held[0][0])
        held, self._held = self._held, []
        for x, offset in held:
            self._update(x, offset)

    def _update(self, x: np.ndarray, offset: int) -> None:
        lay = self._layout
        assert lay is not None
        lay.samples += x.shape[0]
        if lay.kind == "ids":
            lo, hi = int(x.min()), int(x.max())
            lay.id_min = lo if lay.id_min is None else min(lay.id_min, lo)
            lay.id_max = hi if lay.id_max is None else max(lay.id_max, hi)
            if lay.input_dim is not None and (lo < 0 or hi >= lay.input_dim):
                bad = ((x < 0) | (x >= lay.input_dim)).reshape(x.shape[0], -1).any(axis=1)
                lay.out_of_range += int(bad.sum())
                add_indices(lay.out_of_range_idx, np.flatnonzero(bad), offset)
        elif x.dtype.kind == "f" and not np.isfinite(np.add.reduce(x, axis=None)):
            # one read pass without allocation; only a NaN/Inf (or overflow) pays for the full check
            finite = np.isfinite(x)
            if not finite.all():
                pad_nan = lay.pad is not None and bool(np.isnan(lay.pad).any())
                bad = ~finite if not pad_nan else np.isinf(x)
                rows = bad.reshape(x.shape[0], -1).any(axis=1)
                lay.nonfinite += int(rows.sum())
                add_indices(lay.nonfinite_idx, np.flatnonzero(rows), offset)
        feats = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
        if lay.by_pad is not None and lay.pad is not None:
            full, partial, count = self._steps_equal(x, lay.pad)
            update_stats(lay.by_pad, full, partial, offset, count, feats)
            if lay.by_mask is not None and lay.pad_matches_mask:
                update_stats(lay.by_mask, full, partial, offset, count, feats)
        if (
            lay.by_mask is not None
            and lay.mask_value is not None
            and not (lay.by_pad is not None and lay.pad_matches_mask)
        ):
            full, partial, count = self._steps_equal(x, lay.mask_value)
            update_stats(lay.by_mask, full, partial, offset, count, feats)
        if lay.after_fix is not None and x.ndim == 3:
            n, t, f = x.shape
            fixed = (
                x.reshape(n, f, t).transpose(0, 2, 1) if lay.transform == "reshape" else x.transpose(0, 2, 1)
            )
            value = lay.mask_value if lay.mask_value is not None else lay.pad
            if value is None:
                value = np.zeros(f)
            full, partial, count = steps_equal(fixed, value)
            update_stats(lay.after_fix, full, partial, offset, count, feats)


class _InputSpec(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dtype(self) -> str: ...


class _HasSpecs(Protocol):
    @property
    def specs(self) -> Sequence[_InputSpec] | None: ...


def data_consumers(model: Any, source: _HasSpecs) -> list[LayoutAccumulator]:
    """One streaming layout accumulator per model input (fed by `maskcheck.data.collect`)."""
    sources = mask_sources(model)
    specs = source.specs or []
    n = len(specs) if specs else 1
    accs = []
    for i in range(n):
        src = sources[i] if i < len(sources) else None
        dtype = specs[i].dtype if specs else "float32"
        name = specs[i].name if specs else "X"
        accs.append(LayoutAccumulator(i, name, src, dtype))
    return accs


def mask_sources(model: Any, through_any_layer: bool = False) -> list[Any]:
    """For each model input, the Masking/Embedding layer that reads it (or None): at the top level
    or nested inside the first layer that consumes the input (a custom layer, a nested model).

    By default the search only passes through layers that keep the values of padded steps as
    they are (so the data's pad vector is what the mask source compares); `through_any_layer`
    follows every layer, which is what synthesizing a probe batch wants."""
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if inputs and hasattr(model, "layers"):
        return [_source_in_graph(model, target, through_any_layer) for target in inputs]
    return [nested_source(model)]


def nested_source(layer: Any) -> Any:
    """A mask source anywhere inside `layer` (a custom layer, a subclassed or nested model).

    A Masking layer if there is one; else the Embedding (or subclass, such as keras-hub's
    `ReversibleEmbedding`) with the largest `input_dim`: the token table, not a position table
    such as the one keras-io's `PositionalEmbedding` holds beside it."""
    found = [sub for sub in all_layers(layer)[1:] if source_kind(sub) is not None]
    masking = [sub for sub in found if source_kind(sub) == "Masking"]
    if masking:
        return masking[0]
    if not found:
        return None
    return max(found, key=lambda sub: int(getattr(sub, "input_dim", 0) or 0))


def _source_in_graph(model: Any, target: Any, through_any_layer: bool = False) -> Any:
    frontier = {id(target)}
    for layer in model.layers:
        for node in inbound_nodes(layer):
            if not any(id(t) in frontier for t in node_inputs(node)):
                continue
            if source_kind(layer) is not None:
                return layer
            inner = None if is_kind(layer, kinds.VALUE_PRESERVING) else nested_source(layer)
            if inner is not None:
                return inner
            if through_any_layer or is_kind(layer, kinds.VALUE_PRESERVING):
                frontier.update(id(t) for t in node_outputs(node))
    return None
