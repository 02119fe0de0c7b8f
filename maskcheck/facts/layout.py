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

MAX_LISTED = 20

# detect_pad: the share of sequences that must end in the candidate vector. Lower finds padding
# in data where few sequences are short, but takes a common end value (an end token) for padding.
PAD_MIN_SUPPORT = 0.05
# detect_pad: the share of the candidate's occurrences that must lie in the runs at the sequence
# ends. Lower accepts a value that also occurs inside the data; higher misses padding with holes.
PAD_MIN_CONCENTRATION = 0.9
# The axis-swap probe (MC201): the share of sequences with part-pad steps before it runs (lower
# costs time on data with a few chance pad entries, higher misses a mostly correct array) ...
TRANSFORM_MIN_PARTIAL = 0.05
# ... and, read as (features, time), the shares of sequences without part-pad steps and with one
# block of padding at an end. Lower proposes a swap that leaves the padding a mess, higher misses a
# misreshape in data that also has holes or many unpadded sequences.
TRANSFORM_NO_PARTIAL = 0.9
TRANSFORM_CLEAN = 0.8
# A stream whose first batches show no padding (sorted or bucketed data: a batch of equal
# lengths) is held back until a batch reveals the pad vector, for at most this many sequences;
# then every held batch is counted with it. Higher finds padding later in the stream and holds
# more memory; lower judges the whole stream by a batch without padding.
PAD_SEARCH_SAMPLES = 4096


@dataclass
class StepStats:
    """Counters for one candidate pad vector."""

    samples: int = 0
    steps: int = 0
    full_steps: int = 0
    post: int = 0
    pre: int = 0
    mixed: int = 0
    holes: int = 0
    fully_padded: int = 0
    partial_samples: int = 0
    partial_steps: int = 0
    hole_idx: list[int] = field(default_factory=list)
    fully_idx: list[int] = field(default_factory=list)
    partial_idx: list[int] = field(default_factory=list)
    not_right_idx: list[int] = field(default_factory=list)
    length_min: int | None = None
    length_max: int | None = None
    pad_entries_in_real: int = 0
    entries_in_real: int = 0

    @property
    def padded_samples(self) -> int:
        return self.post + self.pre + self.mixed + self.fully_padded

    @property
    def full_share(self) -> float:
        return self.full_steps / self.steps if self.steps else 0.0


def _add(idx: list[int], values: np.ndarray, offset: int) -> None:
    room = MAX_LISTED - len(idx)
    if room > 0 and values.size:
        idx.extend(int(v) + offset for v in values[:room])


def steps_equal(x: np.ndarray, pad: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(full, partial, count): per (sample, step), whether every / only some feature equals
    `pad`, and how many do."""
    if x.ndim == 2:
        p = np.asarray(pad).ravel()[0]
        eq = np.isnan(x) if np.isnan(p) else x == p
        return eq, None, None
    flat = x.reshape(x.shape[0], x.shape[1], -1)  # a step is everything after the time axis
    pad = np.asarray(pad).ravel()
    nan = np.isnan(pad)
    eq = np.where(nan, np.isnan(flat), flat == np.where(nan, 0, pad)) if nan.any() else flat == pad
    f = flat.shape[-1]
    count = eq.sum(axis=-1, dtype=np.uint16 if f < 65535 else np.int64)
    full = count == f
    partial = (count > 0) & ~full
    return full, partial, count


def update_stats(
    st: StepStats,
    full: np.ndarray,
    partial: np.ndarray | None,
    offset: int,
    count: np.ndarray | None = None,
    features: int = 1,
) -> None:
    n, t = full.shape
    real = ~full
    any_real = real.any(axis=1)
    first = np.argmax(real, axis=1)
    last = t - 1 - np.argmax(real[:, ::-1], axis=1)
    n_full = full.sum(axis=1)
    lead = np.where(any_real, first, t)
    trail = np.where(any_real, t - 1 - last, 0)
    holes = np.where(any_real, n_full - lead - trail, 0)
    st.samples += n
    st.steps += n * t
    st.full_steps += int(n_full.sum())
    fully = ~any_real
    has_holes = holes > 0
    post = any_real & ~has_holes & (lead == 0) & (trail > 0)
    pre = any_real & ~has_holes & (lead > 0) & (trail == 0)
    both = any_real & ((lead > 0) & (trail > 0) | has_holes & ((lead > 0) | (trail > 0)))
    st.post += int(post.sum())
    st.pre += int(pre.sum())
    st.mixed += int(both.sum())
    st.holes += int(has_holes.sum())
    st.fully_padded += int(fully.sum())
    _add(st.hole_idx, np.flatnonzero(has_holes), offset)
    _add(st.fully_idx, np.flatnonzero(fully), offset)
    _add(st.not_right_idx, np.flatnonzero(any_real & ((lead > 0) | has_holes)), offset)
    lengths = t - n_full
    if n:
        lo, hi = int(lengths.min()), int(lengths.max())
        st.length_min = lo if st.length_min is None else min(st.length_min, lo)
        st.length_max = hi if st.length_max is None else max(st.length_max, hi)
    real_steps = int(real.sum())
    st.entries_in_real += real_steps * features
    if count is not None:
        st.pad_entries_in_real += int(count[real].sum())
    if partial is not None:
        p = partial.sum(axis=1)
        st.partial_steps += int(p.sum())
        st.partial_samples += int((p > 0).sum())
        _add(st.partial_idx, np.flatnonzero(p > 0), offset)


def _rows_as_keys(v: np.ndarray) -> np.ndarray:
    v = np.ascontiguousarray(v.reshape(v.shape[0], -1))
    v = np.where(np.isnan(v), np.nan, v) if v.dtype.kind == "f" else v  # one NaN bit pattern
    return v.view(np.dtype((np.void, v.dtype.itemsize * v.shape[1]))).ravel()


def _end_runs(full: np.ndarray, side: str) -> np.ndarray:
    """Length of the run of pad steps at the end (post) or start (pre) of each sample."""
    f = full[:, ::-1] if side == "post" else full
    not_pad = ~f
    return np.where(not_pad.any(axis=1), np.argmax(not_pad, axis=1), f.shape[1])


def end_padding(full: np.ndarray, side: str) -> np.ndarray:
    """(samples, steps) bool: the steps in the run of `full` at the end (post) or start (pre)."""
    runs = _end_runs(full, side)
    idx = np.arange(full.shape[1])[None, :]
    return idx >= full.shape[1] - runs[:, None] if side == "post" else idx < runs[:, None]


def is_uniform(v: np.ndarray) -> bool:
    """Every entry equal (NaN counts as equal to NaN)."""
    flat = np.asarray(v, dtype="float64").ravel()
    return bool(flat.size) and bool(np.all((flat == flat[0]) | (np.isnan(flat) & np.isnan(flat[0]))))


def detect_pad(x: np.ndarray) -> tuple[np.ndarray | None, str | None, float]:
    """A constant vector that fills runs at the sequence ends, or (None, None, 0).

    A pad vector ends some sequences and not others (variable lengths), repeats in runs of
    varying length, and (almost) never occurs away from the ends; a frequent data value or an
    end-of-sequence token fails one of these.
    """
    n, t = x.shape[0], x.shape[1]
    if n < 2 or t < 2:
        return None, None, 0.0
    best: tuple[np.ndarray | None, str | None, float] = (None, None, 0.0)
    for side, end in (("post", x[:, -1]), ("pre", x[:, 0])):
        keys = _rows_as_keys(end)
        _uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        k = int(np.argmax(counts))
        support = counts[k] / n
        if counts[k] < 2 or support < PAD_MIN_SUPPORT:
            continue
        vec = np.array(end[int(np.flatnonzero(inverse == k)[0])], copy=True)
        full = steps_equal(x, vec.reshape(-1) if x.ndim > 2 else vec.reshape(1))[0]
        runs = _end_runs(full, side)
        occurrences = int(full.sum())
        concentrated = runs.sum() / occurrences if occurrences else 0.0
        if concentrated < PAD_MIN_CONCENTRATION or len(np.unique(runs)) < 2:
            continue
        if support > best[2]:
            best = (vec, side, float(support))
    return best


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

    @property
    def layout(self) -> InputLayout | None:
        """What the pass learned (None before any batch with a time axis)."""
        self.finish()
        return self._layout

    def _start(self, x: np.ndarray) -> None:
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
        pad, side, _support = detect_pad(xf)
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
        _full, partial, _ = steps_equal(x, pad)
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
        if self._started:
            self._update(x, offset)
            return
        self._held.append((np.array(x, copy=True), offset))  # a generator may reuse its buffer
        if detect_pad(x if x.dtype.kind == "f" else x.astype("float64"))[0] is not None:
            self._start(x)
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
                _add(lay.out_of_range_idx, np.flatnonzero(bad), offset)
        elif x.dtype.kind == "f" and not np.isfinite(np.add.reduce(x, axis=None)):
            # one read pass without allocation; only a NaN/Inf (or overflow) pays for the full check
            finite = np.isfinite(x)
            if not finite.all():
                pad_nan = lay.pad is not None and bool(np.isnan(lay.pad).any())
                bad = ~finite if not pad_nan else np.isinf(x)
                rows = bad.reshape(x.shape[0], -1).any(axis=1)
                lay.nonfinite += int(rows.sum())
                _add(lay.nonfinite_idx, np.flatnonzero(rows), offset)
        feats = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
        if lay.by_pad is not None and lay.pad is not None:
            full, partial, count = steps_equal(x, lay.pad)
            update_stats(lay.by_pad, full, partial, offset, count, feats)
            if lay.by_mask is not None and lay.pad_matches_mask:
                update_stats(lay.by_mask, full, partial, offset, count, feats)
        if (
            lay.by_mask is not None
            and lay.mask_value is not None
            and not (lay.by_pad is not None and lay.pad_matches_mask)
        ):
            full, partial, count = steps_equal(x, lay.mask_value)
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
