"""Turn whatever the user passed as X / y / sample_weight into NumPy batches, streamed once.

Supported: NumPy arrays (and array-likes), lists/tuples/dicts of arrays for multi-input models,
`tf.data.Dataset`, generators and other iterators, and `keras.utils.PyDataset`. Dataset-like
sources may yield `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.errors import MaskcheckError

CHUNK = 4096
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


def _to_array(value: Any, argument: str) -> np.ndarray:
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
    if arr.dtype == object:
        raise MaskcheckError(argument, RAGGED_HINT, "an object array (ragged or mixed types)")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise MaskcheckError(argument, "numeric values", f"dtype {arr.dtype}")
    return arr


def _split_element(el: Any, argument: str) -> tuple[Any, Any, Any]:
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
    ) -> None:
        self.X, self.y, self.w, self.specs = X, y, sample_weight, specs
        self.n_outputs = n_outputs
        self.output_names = output_names  # y given as a dict is ordered by these, as `fit` pairs it
        self.kind = self._kind(X)
        self.structure = "single"
        self.names: list[str] = [s.name for s in specs] if specs else ["input"]
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

    def _validate(self, xs: list[np.ndarray], argument: str = "X") -> None:
        n = xs[0].shape[0] if xs[0].ndim else 0
        for i, arr in enumerate(xs):
            label = argument if len(xs) == 1 else f"{argument}[{self.names[i]!r}]"
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

    def batches(self) -> Iterator[Batch]:
        if self.kind == "arrays":
            xs = self._xs(self.X)
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
        if self.kind == "dataset":
            iterator: Any = self.X.as_numpy_iterator()
        elif self.kind == "pydataset":
            iterator = (self.X[i] for i in range(len(self.X)))
        else:
            iterator = self.X if hasattr(self.X, "__next__") else iter(self.X)
        for el in iterator:
            x, y, w = _split_element(el, "X")
            xs = self._xs(x)
            self._validate(xs)
            n = xs[0].shape[0]
            yield Batch(
                xs,
                self._ys(y, n, "y (from X)"),
                None if w is None else _to_array(w, "sample_weight (from X)"),
            )


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
    xs = [np.concatenate([p[i] for p in xs_parts]) for i in range(len(xs_parts[0]))]
    ys = (
        [np.concatenate([p[i] for p in y_parts]) for i in range(len(y_parts[0]))]
        if y_parts and len(y_parts) == len(xs_parts)
        else None
    )
    w = np.concatenate(w_parts) if w_parts and len(w_parts) == len(xs_parts) else None
    return Sample(xs, ys, w, source.structure, source.names, total_seen=total)


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
