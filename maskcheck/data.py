"""Turn whatever the user passed as X / y / sample_weight into NumPy batches, streamed once.

Supported: NumPy arrays (and array-likes), lists/tuples/dicts of arrays for multi-input models,
`tf.data.Dataset`, generators and other iterators, and `keras.utils.PyDataset`. Dataset-like
sources may yield `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)` (a list counts as a tuple, as
in `fit`), batches of different lengths (`padded_batch`, bucketing), and need not end: a source
of unknown length is read for at most `DEFAULT_MAX_BATCHES` batches (or `steps`). Raw inputs
(strings, raw integers) go through the model's own preprocessing layers or a keras-hub task's
preprocessor first (`Front`), so the data checks see the ids the mask source sees.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import kinds
from maskcheck.bridge.graph import graph_nodes, node_inputs, node_operation, node_outputs
from maskcheck.errors import MaskcheckError

CHUNK = 4096
# The batches read from a source of unknown length (a repeated dataset, a generator, a PyDataset
# without `num_batches`) when `steps` is not given: `fit` needs `steps_per_epoch` there, the audit
# a bound. Higher sees more of an endless source and costs time; lower misses rare layouts.
DEFAULT_MAX_BATCHES = 1000
RAGGED_HINT = (
    "a rectangular numeric array (samples, time[, features]); pad ragged sequences first, e.g. "
    "`keras.utils.pad_sequences(seqs, padding='post', dtype='float32')`"
)


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...]
    dtype: str


@dataclass
class Batch:
    xs: list[np.ndarray]
    y: list[np.ndarray] | None = None
    w: np.ndarray | None = None


@dataclass
class Sample:
    """The bounded sample that goes through the model."""

    xs: list[np.ndarray]
    y: list[np.ndarray] | None
    w: np.ndarray | None
    structure: str  # "single", "list" or "dict"
    names: list[str]
    total_seen: int = 0
    synthesized: bool = False
    notes: list[str] = field(default_factory=list)

    def model_inputs(self) -> Any:
        if self.structure == "single":
            return self.xs[0]
        if self.structure == "dict":
            return dict(zip(self.names, self.xs, strict=True))
        return list(self.xs)


def input_specs(model: Any) -> list[InputSpec] | None:
    """The model's declared inputs, or None for a subclassed model without them."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    specs = []
    for i, t in enumerate(inputs):
        name = str(getattr(t, "name", f"input_{i}"))
        specs.append(InputSpec(name, kb.shape_of(t), str(getattr(t, "dtype", "float32"))))
    return specs


def _np_dtype(name: str) -> str:
    """A Keras dtype name as NumPy understands it ("int32", "float32"; anything else: float32)."""
    m = re.search(r"(u?int\d+|float\d+|bool)", name)
    return m.group(1) if m else "float32"


def _to_array(value: Any, argument: str, strings: bool = False) -> np.ndarray:
    if isinstance(value, np.ndarray):
        arr = value
    elif kb.is_tensor(value):
        try:
            arr = kb.to_numpy(value)
        except Exception as exc:
            raise MaskcheckError(argument, RAGGED_HINT, f"a tensor that could not be read ({exc})") from None
    else:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            raise MaskcheckError(argument, RAGGED_HINT, "a ragged sequence") from None
    if strings and (arr.dtype.kind in "USO"):
        return arr
    if arr.dtype == object:
        raise MaskcheckError(argument, RAGGED_HINT, "an object array (ragged or mixed types)")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise MaskcheckError(argument, "numeric values", f"dtype {arr.dtype}")
    return arr


def _split_element(el: Any, argument: str) -> tuple[Any, Any, Any]:
    if isinstance(el, list) and 1 <= len(el) <= 3:
        el = tuple(el)  # as `keras.utils.unpack_x_y_sample_weight` reads what `fit` gets
    if isinstance(el, tuple):
        if len(el) == 1:
            return el[0], None, None
        if len(el) == 2:
            return el[0], el[1], None
        if len(el) == 3:
            return el[0], el[1], el[2]
        raise MaskcheckError(
            argument, "elements x, (x,), (x, y) or (x, y, sample_weight)", f"a tuple of {len(el)}"
        )
    return el, None, None


class DataSource:
    """One pass over X (plus y and sample_weight) in NumPy batches."""

    def __init__(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        specs: list[InputSpec] | None,
        n_outputs: int = 1,
        output_names: list[str] | None = None,
        *,
        steps: int | None = None,
        prepare: Callable[[Any], Any] | None = None,
    ) -> None:
        self.X, self.y, self.w, self.specs = X, y, sample_weight, specs
        self.n_outputs = n_outputs
        self.output_names = output_names  # y given as a dict is ordered by these, as `fit` pairs it
        self.steps = steps
        self.prepare = prepare  # raw x -> the x the model sees (its preprocessing, run outside it)
        self.batches_read = 0
        self.cut_short = False  # stopped at the bound with more batches (maybe) left
        self.kind = self._kind(X)
        self.structure = "single"
        self.names: list[str] = [s.name for s in specs] if specs else ["input"]
        self.cast: dict[str, bool] = {}  # input name -> some ids were fractional (cast like the Input)
        if self.kind != "arrays" and (y is not None or sample_weight is not None):
            raise MaskcheckError(
                "y",
                "None when X is a dataset or generator (yield (x, y) or (x, y, sample_weight) instead)",
                type(y if y is not None else sample_weight).__name__,
            )

    @staticmethod
    def _kind(X: Any) -> str:
        if X is None:
            raise MaskcheckError("X", "data (arrays, a dataset or a generator)", "None")
        if isinstance(X, (str, bytes)):
            raise MaskcheckError(
                "X", "arrays, a tf.data.Dataset, a generator or a keras.utils.PyDataset", type(X).__name__
            )
        if isinstance(X, kb.keras.utils.PyDataset):
            return "pydataset"
        mod = type(X).__module__
        if mod.startswith("tensorflow") and hasattr(X, "as_numpy_iterator"):
            return "dataset"
        if isinstance(X, (np.ndarray, list, tuple, dict)) or kb.is_tensor(X):
            return "arrays"
        if inspect.isgenerator(X) or hasattr(X, "__next__"):
            return "generator"
        if hasattr(X, "__iter__"):
            return "generator"
        raise MaskcheckError(
            "X", "arrays, a tf.data.Dataset, a generator or a keras.utils.PyDataset", type(X).__name__
        )

    # ---- structure -------------------------------------------------------------------------

    def _xs(self, x: Any, argument: str = "X") -> list[np.ndarray]:
        n_inputs = len(self.specs) if self.specs else None
        if isinstance(x, dict):
            self.structure = "dict"
            if self.specs:
                missing = [s.name for s in self.specs if s.name not in x]
                if missing:
                    raise MaskcheckError(
                        argument,
                        f"a dict with the model's input names {self.names}",
                        f"keys {sorted(x)} (missing {missing})",
                    )
                return [_to_array(x[s.name], f"{argument}[{s.name!r}]") for s in self.specs]
            self.names = list(x)
            return [_to_array(v, f"{argument}[{k!r}]") for k, v in x.items()]
        if (
            isinstance(x, (list, tuple))
            and (n_inputs is None or n_inputs > 1)
            and x
            and all(isinstance(v, np.ndarray) or kb.is_tensor(v) for v in x)
        ):
            if n_inputs is not None and len(x) != n_inputs:
                raise MaskcheckError(
                    argument, f"{n_inputs} arrays, one per model input {self.names}", f"{len(x)}"
                )
            self.structure = "list"
            if n_inputs is None:
                self.names = [f"input_{i}" for i in range(len(x))]
            return [_to_array(v, f"{argument}[{i}]") for i, v in enumerate(x)]
        if n_inputs is not None and n_inputs > 1:
            raise MaskcheckError(
                argument, f"a list or dict of {n_inputs} arrays for inputs {self.names}", type(x).__name__
            )
        return [_to_array(x, argument)]

    def _as_input_dtype(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Float values given to an integer Input, cast as Keras casts them at the Input (toward
        zero), so the data checks see the ids the model sees. Non-finite values are left for the
        NaN/Inf check."""
        if not self.specs or len(self.specs) != len(xs):
            return xs
        out = []
        for spec, arr in zip(self.specs, xs, strict=True):
            if (
                arr.dtype.kind == "f"
                and np.dtype(_np_dtype(spec.dtype)).kind in "iu"
                and np.isfinite(arr).all()
            ):
                cast = arr.astype(_np_dtype(spec.dtype))
                if not np.array_equal(cast, arr):
                    self.cast[spec.name] = True
                arr = cast
            out.append(arr)
        return out

    def cast_notes(self) -> list[str]:
        """A note per input whose fractional values were cast to the Input's integer dtype."""
        dtypes = {s.name: s.dtype for s in self.specs or []}
        return [
            f"input '{name}' holds fractional values but the model's Input is {dtypes.get(name)}: Keras casts them "
            "toward zero (0.4 becomes id 0), and the data checks looked at the cast ids, as the model sees them."
            for name in self.cast
        ]

    def _unbatched(self, label: str, arr: np.ndarray, rank: int) -> None:
        """A dataset or generator of single samples: name the fix, not just the rank."""
        if self.kind == "arrays" or arr.ndim != rank - 1:
            return
        fix = (
            "call `.batch(batch_size)` (or `.padded_batch(batch_size)`) on the dataset"
            if self.kind == "dataset"
            else "yield or return whole batches (samples, time[, features])"
        )
        raise MaskcheckError(
            label, f"batches of rank {rank}: {fix}", f"unbatched elements of shape {arr.shape}"
        )

    def _validate(self, xs: list[np.ndarray], argument: str = "X") -> None:
        n = xs[0].shape[0] if xs[0].ndim else 0
        for i, arr in enumerate(xs):
            label = argument if len(xs) == 1 else f"{argument}[{self.names[i]!r}]"
            self._unbatched(label, arr, len(self.specs[i].shape) if self.specs else 2)
            if arr.ndim < 2:
                raise MaskcheckError(
                    label, "at least 2 dimensions (samples, time[, features])", f"shape {arr.shape}"
                )
            if arr.shape[0] == 0:
                raise MaskcheckError(label, "at least one sample", f"shape {arr.shape}")
            if arr.shape[0] != n:
                raise MaskcheckError(
                    argument, "the same number of samples in every input", f"{[a.shape[0] for a in xs]}"
                )
            if self.specs:
                spec = self.specs[i]
                if len(spec.shape) != arr.ndim:
                    raise MaskcheckError(
                        label,
                        f"rank {len(spec.shape)} like the model input {spec.name!r} {spec.shape}",
                        f"shape {arr.shape}",
                    )
                for d, (want, got) in enumerate(zip(spec.shape[1:], arr.shape[1:], strict=True), start=1):
                    if want is not None and want != got:
                        raise MaskcheckError(
                            label,
                            f"shape {spec.shape} like the model input {spec.name!r}",
                            f"shape {arr.shape} (axis {d})",
                        )

    def _ys(self, y: Any, n: int, argument: str) -> list[np.ndarray] | None:
        if y is None:
            return None
        if isinstance(y, dict):
            ys = [_to_array(y[k], f"{argument}[{k!r}]") for k in self._y_keys(y, argument)]
        elif isinstance(y, (list, tuple)) and self.n_outputs > 1:
            if len(y) != self.n_outputs:
                raise MaskcheckError(argument, f"{self.n_outputs} arrays, one per model output", f"{len(y)}")
            ys = [_to_array(v, f"{argument}[{i}]") for i, v in enumerate(y)]
        else:
            ys = [_to_array(y, argument)]
        for arr in ys:
            if arr.ndim == 0 or arr.shape[0] != n:
                raise MaskcheckError(argument, f"{n} rows, one per sample of X", f"shape {arr.shape}")
        for k, arr in enumerate(ys):
            if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
                bad = np.flatnonzero(~np.isfinite(arr).reshape(len(arr), -1).all(axis=1))
                raise MaskcheckError(
                    argument if len(ys) == 1 else f"{argument}[{k}]",
                    "finite labels (a masked loss still multiplies NaN by the mask: the loss becomes NaN); "
                    "pad y with a valid label instead",
                    f"NaN or Inf in {len(bad)} samples, e.g. samples {bad[:5].tolist()}",
                )
        return ys

    def _y_keys(self, y: dict[Any, Any], argument: str) -> list[Any]:
        """The keys of y in the order of the model's outputs: `fit` pairs a dict of labels with
        the outputs by name, not by the order the dict was written in."""
        names = self.output_names
        if names and set(y) == set(names):
            return list(names)
        if names and self.n_outputs > 1:
            raise MaskcheckError(
                argument, f"a dict with one entry per model output, keyed {names}", f"keys {list(y)}"
            )
        return sorted(y, key=str)  # the order Keras flattens a dict of outputs in

    # ---- iteration -------------------------------------------------------------------------

    def length(self) -> int | None:
        """Number of sequences when known up front (arrays), else None."""
        if self.kind != "arrays":
            return None
        first = self.X
        if isinstance(first, dict):
            first = next(iter(first.values()), None)
        elif (
            isinstance(first, (list, tuple))
            and first
            and (isinstance(first[0], np.ndarray) or kb.is_tensor(first[0]))
        ):
            first = first[0]
        shape = getattr(first, "shape", None)
        return int(shape[0]) if shape else None

    def bound(self) -> tuple[int | None, int | None]:
        """(the most batches to read, the number of batches when the source knows it)."""
        known: int | None = None
        if self.kind == "dataset":
            with contextlib.suppress(Exception):
                card = int(self.X.cardinality())
                known = card if card >= 0 else None  # -1 infinite (repeat()), -2 unknown
        elif self.kind == "pydataset":
            known = _num_batches(self.X)
        elif self.kind == "generator" and hasattr(self.X, "__len__") and not hasattr(self.X, "__next__"):
            with contextlib.suppress(Exception):
                known = len(self.X)
        if self.steps is not None:
            return self.steps, known
        return (DEFAULT_MAX_BATCHES if known is None else None), known

    def bound_note(self, seen: int) -> str | None:
        """What the report says when the data pass stopped before the end of X."""
        if not self.cut_short:
            return None
        _limit, known = self.bound()
        of = f" of {known}" if known is not None else ""
        read = f"the first {self.batches_read}{of} batches of X ({seen} sequences)"
        if self.steps is not None:
            return f"the data checks read {read}: steps={self.steps}."
        return (
            f"X has no known length (a repeated dataset, a generator or a PyDataset without "
            f"num_batches): the data checks read {read} and stopped; pass `steps=` to read more "
            "or fewer."
        )

    def _raw_elements(self) -> Iterator[Any]:
        """The source's elements, at most `bound()` of them."""
        limit, known = self.bound()
        if self.kind == "dataset":
            iterator: Any = self.X.as_numpy_iterator()
        elif self.kind == "pydataset":
            iterator = _pydataset_batches(self.X, known)
        else:
            iterator = self.X if hasattr(self.X, "__next__") else iter(self.X)
        for el in iterator:
            if limit is not None and self.batches_read >= limit:
                self.cut_short = True
                return
            self.batches_read += 1
            yield el
            if limit is not None and self.batches_read >= limit:
                # stop without pulling one more element: an endless source may block or raise
                self.cut_short = known is None or known > limit
                return

    def _prepared_arrays(self) -> Iterator[Batch]:
        """Raw arrays (strings, say) in chunks through `prepare`, then as any other arrays."""
        assert self.prepare is not None
        n = _rows(self.X)
        ys = None if self.y is None else self._ys(self.y, n, "y")
        w = None if self.w is None else _to_array(self.w, "sample_weight")
        if w is not None and (w.ndim == 0 or w.shape[0] != n):
            raise MaskcheckError("sample_weight", f"{n} rows, one per sample of X", f"shape {w.shape}")
        for start in range(0, n, CHUNK):
            sl = slice(start, start + CHUNK)
            x, made_y, made_w = _unpack(self.prepare(_take(self.X, sl)), None, None)
            xs = self._as_input_dtype(self._xs(x))
            self._validate(xs)
            m = xs[0].shape[0]
            yield Batch(
                xs,
                [a[sl] for a in ys] if ys is not None else self._ys(made_y, m, "y (from the preprocessor)"),
                w[sl] if w is not None else None if made_w is None else _to_array(made_w, "sample_weight"),
            )

    def batches(self) -> Iterator[Batch]:
        if self.kind == "arrays" and self.prepare is not None:
            yield from self._prepared_arrays()
            return
        if self.kind == "arrays":
            xs = self._as_input_dtype(self._xs(self.X))
            self._validate(xs)
            n = xs[0].shape[0]
            ys = self._ys(self.y, n, "y")
            w = None
            if self.w is not None:
                w = _to_array(self.w, "sample_weight")
                if w.ndim == 0 or w.shape[0] != n:
                    raise MaskcheckError(
                        "sample_weight", f"{n} rows, one per sample of X", f"shape {w.shape}"
                    )
            for start in range(0, n, CHUNK):
                sl = slice(start, start + CHUNK)
                yield Batch(
                    [a[sl] for a in xs],
                    None if ys is None else [a[sl] for a in ys],
                    None if w is None else w[sl],
                )
            return
        for el in self._raw_elements():
            x, y, w = _split_element(el, "X")
            if self.prepare is not None:
                x, y, w = _unpack(self.prepare(x), y, w)
            xs = self._as_input_dtype(self._xs(x))
            self._validate(xs)
            n = xs[0].shape[0]
            yield Batch(
                xs,
                self._ys(y, n, "y (from X)"),
                None if w is None else _to_array(w, "sample_weight (from X)"),
            )


def _num_batches(ds: Any) -> int | None:
    """A PyDataset's `num_batches` (None: endless or not said)."""
    try:
        n = ds.num_batches
    except (NotImplementedError, TypeError):
        return None
    return None if n is None else int(n)


def _pydataset_batches(ds: Any, known: int | None) -> Iterator[Any]:
    for i in range(known) if known is not None else itertools.count():
        try:
            yield ds[i]
        except IndexError:  # an unsized PyDataset that ends by running out of items
            if known is not None:
                raise
            return


def _rows(X: Any) -> int:
    if isinstance(X, dict):
        return _rows(next(iter(X.values())))
    if _is_array_list(X):
        return _rows(X[0])
    return len(X) if not kb.is_tensor(X) else int(kb.shape_of(X)[0] or 0)


def _is_array_list(X: Any) -> bool:
    return (
        isinstance(X, (list, tuple))
        and bool(X)
        and all(isinstance(v, np.ndarray) or kb.is_tensor(v) for v in X)
    )


def _take(X: Any, sl: slice) -> Any:
    if isinstance(X, dict):
        return {k: _take(v, sl) for k, v in X.items()}
    if _is_array_list(X):
        return [_take(v, sl) for v in X]
    arr = kb.to_numpy(X) if kb.is_tensor(X) else np.asarray(X)
    return arr[sl]


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
    bound = source.bound_note(total)
    if bound:
        notes.append(bound)
    return Sample(xs, ys, w, source.structure, source.names, total_seen=total, notes=notes)


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


# ---- raw inputs: the model's own preprocessing, run before the audit -----------------------------


@dataclass
class Prepared:
    """A preprocessor's (x, y, sample_weight); y and the weights count where the user gave none."""

    x: Any
    y: Any = None
    w: Any = None


def _unpack(made: Any, y: Any, w: Any) -> tuple[Any, Any, Any]:
    if isinstance(made, Prepared):
        return made.x, y if y is not None else made.y, w if w is not None else made.w
    return made, y, w


@dataclass
class Front:
    """What `audit` traces when the model first turns raw inputs into ids.

    `model` is the part behind the preprocessing (the model itself for a keras-hub task, whose
    preprocessor is not part of its graph); `prepare` maps a raw batch to that part's inputs."""

    model: Any
    prepare: Callable[[Any], Any]
    note: str
    input_names: list[str] | None = None  # for the inputs of `model` (the layer that made each)
    needs_x: bool = False  # the note is about X (a keras-hub preprocessor only runs on data)

    def specs(self) -> list[InputSpec] | None:
        specs = input_specs(self.model)
        if specs is None or self.input_names is None:
            return specs
        return [InputSpec(n, s.shape, s.dtype) for n, s in zip(self.input_names, specs, strict=True)]


def front(model: Any) -> Front | None:
    """A keras-hub task's preprocessor, or the preprocessing layers (`TextVectorization`,
    `StringLookup`, `IntegerLookup`, `Hashing`) that read a model input directly; None if neither."""
    pre = getattr(model, "preprocessor", None)
    if pre is not None and callable(pre) and _is_hub_task(model):
        return _hub_front(model, pre)
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        return None
    if not inputs or not hasattr(model, "layers"):
        return None
    try:
        nodes = list(graph_nodes(model))
    except Exception:
        return None
    readers: list[Any] = []
    for t in inputs:
        reading = [n for n in nodes if any(x is t for x in node_inputs(n))]
        reader = None
        # only an input the preprocessing layer alone reads: the model behind it is then whole
        if len(reading) == 1 and len(node_outputs(reading[0])) == 1:
            op = node_operation(reading[0])
            if kinds.is_kind(op, kinds.PREPROCESSING):
                reader = (op, node_outputs(reading[0])[0])
        readers.append(reader)
    strings = any("string" in str(getattr(t, "dtype", "")) for t in inputs)
    if not any(readers):
        if strings:
            raise MaskcheckError(
                "model",
                "string inputs read by a TextVectorization, StringLookup, IntegerLookup or Hashing layer",
                "a string input read by something else",
            )
        return None
    new_inputs = [r[1] if r else t for r, t in zip(readers, inputs, strict=True)]
    legacy = kb.legacy_keras() if kb.is_legacy(model) else None
    model_cls = legacy.Model if legacy is not None else kb.keras.Model
    try:
        outputs = _graph_output(model)
        sub = model_cls(new_inputs if len(new_inputs) > 1 else new_inputs[0], outputs, name=model.name)
    except Exception as exc:
        if not strings:
            return None  # raw integers: audit the whole model as before
        raise MaskcheckError(
            "model",
            "a model whose preprocessing layers can be split from the layers behind them",
            f"{type(exc).__name__}: {str(exc)[:200]}",
        ) from None
    with contextlib.suppress(Exception):
        config = model.get_compile_config()
        if config:
            sub.compile_from_config(config)
    layers = [r[0] for r in readers if r]
    names = [
        r[0].name if r else str(getattr(t, "name", f"input_{i}"))
        for i, (r, t) in enumerate(zip(readers, inputs, strict=True))
    ]
    original = [str(getattr(t, "name", f"input_{i}")) for i, t in enumerate(inputs)]

    def prepare(x: Any) -> Any:
        if isinstance(x, dict):
            missing = [n for n in original if n not in x]
            if missing:
                raise MaskcheckError(
                    "X", f"a dict with the model's input names {original}", f"keys {sorted(x)}"
                )
            raw = [x[n] for n in original]
        elif len(inputs) > 1:
            if not isinstance(x, (list, tuple)) or len(x) != len(inputs):
                raise MaskcheckError(
                    "X", f"a list or dict of {len(inputs)} arrays for inputs {original}", _count(x)
                )
            raw = list(x)
        else:
            raw = [x]
        out = []
        for i, (r, value) in enumerate(zip(readers, raw, strict=True)):
            if r is None:
                out.append(value)
                continue
            try:
                out.append(kb.to_numpy(r[0](value)))
            except Exception as exc:
                raise MaskcheckError(
                    "X" if len(raw) == 1 else f"X[{original[i]!r}]",
                    f"values the model's {type(r[0]).__name__} layer {r[0].name!r} accepts",
                    f"{type(exc).__name__}: {str(exc)[:200]}",
                ) from None
        return out[0] if len(out) == 1 else out

    listed = ", ".join(f"{type(la).__name__} {la.name!r}" for la in layers)
    note = (
        f"the model's preprocessing ({listed}) turns raw inputs into ids: it ran on X before the "
        "trace, and the data checks and the trace see the ids (the model from its output on)."
    )
    return Front(sub, prepare, note, names)


def _graph_output(model: Any) -> Any:
    """The model's symbolic output in its own structure (a dict stays a dict); a Sequential has
    only the flat `outputs` of the graph it built."""
    try:
        return model.output
    except (AttributeError, ValueError):
        outputs = list(model.outputs)
        return outputs[0] if len(outputs) == 1 else outputs


def _is_hub_task(model: Any) -> bool:
    """A keras-hub `Task` (a user's subclass too); keras-hub is never imported here."""
    hub = sys.modules.get("keras_hub")
    task = getattr(getattr(hub, "models", None), "Task", None)
    return isinstance(task, type) and isinstance(model, task)


def _hub_front(task: Any, pre: Any) -> Front:
    names = {str(getattr(t, "name", "")) for t in getattr(task, "inputs", None) or []}

    def prepare(x: Any) -> Any:
        if isinstance(x, dict) and names and set(x) >= names:
            return x  # already the backbone's inputs
        raw = x.tolist() if isinstance(x, np.ndarray) and x.dtype.kind in "USO" else x
        try:
            out = pre(raw)
        except Exception as exc:
            raise MaskcheckError(
                "X",
                f"raw inputs that {type(pre).__name__} accepts",
                f"{type(exc).__name__}: {str(exc)[:200]}",
            ) from None
        y = w = None
        if isinstance(out, tuple):  # a causal LM's preprocessor makes the labels and weights
            out, y, w = (*out, None, None)[:3]
        x = {k: kb.to_numpy(v) for k, v in out.items()} if isinstance(out, dict) else kb.to_numpy(out)
        if y is None and w is None:
            return x
        return Prepared(x, None if y is None else kb.to_numpy(y), None if w is None else kb.to_numpy(w))

    note = f"X went through the task's preprocessor ({type(pre).__name__}) as in fit; the model behind it was audited."
    return Front(task, prepare, note, needs_x=True)


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


def _count(x: Any) -> str:
    return f"{len(x)} arrays" if isinstance(x, (list, tuple)) else type(x).__name__
