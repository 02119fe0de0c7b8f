"""`DataSource`: one streamed pass over X (plus y and sample_weight), whatever their kind."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge.graph import flatten
from maskcheck.data.types import (
    CHUNK,
    RAGGED_BATCHES_HINT,
    Batch,
    InputSpec,
    np_dtype,
    num_batches,
    pydataset_batches,
    rows_of,
    split_element,
    take,
    to_array,
    unpack,
)
from maskcheck.errors import MaskcheckError

# Batches read from a source of unknown length (an endless `repeat()`, a PyDataset without
# `num_batches`) when no `steps` is given: `fit` needs `steps_per_epoch` there, we need a bound.
DEFAULT_MAX_BATCHES = 1000


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
        if self.kind == "dataset":
            ragged = [s for s in flatten(getattr(X, "element_spec", None)) if "Ragged" in type(s).__name__]
            if ragged:
                raise MaskcheckError("X", RAGGED_BATCHES_HINT, f"a dataset of ragged batches ({ragged[0]})")
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
                return [to_array(x[s.name], f"{argument}[{s.name!r}]") for s in self.specs]
            self.names = list(x)
            return [to_array(v, f"{argument}[{k!r}]") for k, v in x.items()]
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
            return [to_array(v, f"{argument}[{i}]") for i, v in enumerate(x)]
        if n_inputs is not None and n_inputs > 1:
            raise MaskcheckError(
                argument, f"a list or dict of {n_inputs} arrays for inputs {self.names}", type(x).__name__
            )
        return [to_array(x, argument)]

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
                and np.dtype(np_dtype(spec.dtype)).kind in "iu"
                and np.isfinite(arr).all()
            ):
                cast = arr.astype(np_dtype(spec.dtype))
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
            ys = [to_array(y[k], f"{argument}[{k!r}]") for k in self._y_keys(y, argument)]
        elif isinstance(y, (list, tuple)) and self.n_outputs > 1:
            if len(y) != self.n_outputs:
                raise MaskcheckError(argument, f"{self.n_outputs} arrays, one per model output", f"{len(y)}")
            ys = [to_array(v, f"{argument}[{i}]") for i, v in enumerate(y)]
        else:
            ys = [to_array(y, argument)]
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

    def _ws(self, w: Any, n: int, argument: str) -> tuple[np.ndarray | None, list[np.ndarray | None] | None]:
        """The sample weights: one array for every output's loss, or (a dict keyed by output
        names, or a list with one entry per output, as `fit` takes them) one per output."""
        if w is None:
            return None, None
        per_output: list[Any] | None = None
        if isinstance(w, dict):
            names = self.output_names or []
            unknown = [k for k in w if k not in names]
            if unknown or not names:
                raise MaskcheckError(
                    argument, f"one array, or a dict keyed by the model's output names {names}", f"keys {list(w)}"
                )
            per_output = [w.get(name) for name in names]
            labels = [f"{argument}[{name!r}]" for name in names]
        elif (
            isinstance(w, (list, tuple))
            and self.n_outputs > 1
            and len(w) == self.n_outputs
            and all(v is None or np.ndim(v) >= 1 for v in w)
        ):
            per_output = list(w)
            labels = [f"{argument}[{i}]" for i in range(len(w))]
        if per_output is None:
            single = to_array(w, argument)
            if single.ndim == 0 or single.shape[0] != n:
                raise MaskcheckError(argument, f"{n} rows, one per sample of X", f"shape {single.shape}")
            return single, None
        arrays: list[np.ndarray | None] = []
        for v, label in zip(per_output, labels, strict=True):
            arr = None if v is None else to_array(v, label)
            if arr is not None and (arr.ndim == 0 or arr.shape[0] != n):
                raise MaskcheckError(label, f"{n} rows, one per sample of X", f"shape {arr.shape}")
            arrays.append(arr)
        return None, arrays

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
            known = num_batches(self.X)
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
            iterator = pydataset_batches(self.X, known)
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
        n = rows_of(self.X)
        ys = None if self.y is None else self._ys(self.y, n, "y")
        w, w_out = self._ws(self.w, n, "sample_weight")
        for start in range(0, n, CHUNK):
            sl = slice(start, start + CHUNK)
            x, made_y, made_w = unpack(self.prepare(take(self.X, sl)), None, None)
            xs = self._as_input_dtype(self._xs(x))
            self._validate(xs)
            m = xs[0].shape[0]
            made = (None, None) if self.w is not None else self._ws(made_w, m, "sample_weight (from the preprocessor)")
            yield Batch(
                xs,
                [a[sl] for a in ys] if ys is not None else self._ys(made_y, m, "y (from the preprocessor)"),
                w[sl] if w is not None else made[0],
                _rows(w_out, sl) if w_out is not None else made[1],
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
            w, w_out = self._ws(self.w, n, "sample_weight")
            for start in range(0, n, CHUNK):
                sl = slice(start, start + CHUNK)
                yield Batch(
                    [a[sl] for a in xs],
                    None if ys is None else [a[sl] for a in ys],
                    None if w is None else w[sl],
                    _rows(w_out, sl),
                )
            return
        for el in self._raw_elements():
            x, y, w = split_element(el, "X")
            if self.prepare is not None:
                x, y, w = unpack(self.prepare(x), y, w)
            xs = self._as_input_dtype(self._xs(x))
            self._validate(xs)
            n = xs[0].shape[0]
            w_one, w_out = self._ws(w, n, "sample_weight (from X)")
            yield Batch(xs, self._ys(y, n, "y (from X)"), w_one, w_out)


def _rows(w_out: list[np.ndarray | None] | None, sl: slice) -> list[np.ndarray | None] | None:
    return None if w_out is None else [None if v is None else v[sl] for v in w_out]
