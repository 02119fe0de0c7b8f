"""What the data pass produces and the small conversions it shares: input specs, batches, the
traced sample, arrays from whatever the user passed."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.errors import MaskcheckError

CHUNK = 4096
# The batches read from a source of unknown length (a repeated dataset, a generator, a PyDataset
# without `num_batches`) when `steps` is not given: `fit` needs `steps_per_epoch` there, the audit
# a bound. Higher sees more of an endless source and costs time; lower misses rare layouts.
RAGGED_HINT = (
    "a rectangular numeric array (samples, time[, features]); pad ragged sequences first, e.g. "
    "`keras.utils.pad_sequences(seqs, padding='post', dtype='float32')`"
)


RAGGED_BATCHES_HINT = (
    "dense batches, as the model takes them: pad ragged sequences in the pipeline, e.g. "
    "`dataset.padded_batch(32)` instead of `.batch(32)`, or `.map(lambda x, y: (x.to_tensor(), y))`"
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
    w_out: list[np.ndarray | None] | None = None
    """Sample weights given per output (a dict or list, as `fit` takes them), in output order."""


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
    w_out: list[np.ndarray | None] | None = None
    """Sample weights given per output, in output order (`w` is then None)."""

    def keep(self, k: int) -> None:
        """Keep only the first `k` sequences (inputs, targets and weights alike)."""
        self.xs = [x[:k] for x in self.xs]
        if self.y is not None:
            self.y = [v[:k] for v in self.y]
        if self.w is not None:
            self.w = self.w[:k]
        if self.w_out is not None:
            self.w_out = [None if v is None else v[:k] for v in self.w_out]

    def model_inputs(self) -> Any:
        if self.structure == "single":
            return self.xs[0]
        if self.structure == "dict":
            return dict(zip(self.names, self.xs, strict=True))
        return list(self.xs)


def output_weight(shared: Any, per_output: list[np.ndarray | None] | None, i: int) -> Any:
    """The sample weights `fit` applies to the loss of output i: its own entry when weights were
    given per output (none when it has no entry), else the one array given for every output."""
    if per_output is not None:
        return per_output[i] if i < len(per_output) else None
    return shared


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


def np_dtype(name: str) -> str:
    """A Keras dtype name as NumPy understands it ("int32", "float32"; anything else: float32)."""
    m = re.search(r"(u?int\d+|float\d+|bool)", name)
    return m.group(1) if m else "float32"


def to_array(value: Any, argument: str, strings: bool = False) -> np.ndarray:
    if "Ragged" in type(value).__name__:  # tf.RaggedTensor, or the RaggedTensorValue a dataset yields
        raise MaskcheckError(argument, RAGGED_BATCHES_HINT, f"a {type(value).__name__}")
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


def split_element(el: Any, argument: str) -> tuple[Any, Any, Any]:
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


def num_batches(ds: Any) -> int | None:
    """A PyDataset's `num_batches` (None: endless or not said)."""
    try:
        n = ds.num_batches
    except (NotImplementedError, TypeError):
        return None
    return None if n is None else int(n)


def pydataset_batches(ds: Any, known: int | None) -> Iterator[Any]:
    for i in range(known) if known is not None else itertools.count():
        try:
            yield ds[i]
        except IndexError:  # an unsized PyDataset that ends by running out of items
            if known is not None:
                raise
            return


def rows_of(X: Any) -> int:
    if isinstance(X, dict):
        return rows_of(next(iter(X.values())))
    if is_array_list(X):
        return rows_of(X[0])
    return len(X) if not kb.is_tensor(X) else int(kb.shape_of(X)[0] or 0)


def is_array_list(X: Any) -> bool:
    return (
        isinstance(X, (list, tuple))
        and bool(X)
        and all(isinstance(v, np.ndarray) or kb.is_tensor(v) for v in X)
    )


def take(X: Any, sl: slice) -> Any:
    if isinstance(X, dict):
        return {k: take(v, sl) for k, v in X.items()}
    if is_array_list(X):
        return [take(v, sl) for v in X]
    arr = kb.to_numpy(X) if kb.is_tensor(X) else np.asarray(X)
    return arr[sl]


@dataclass
class Prepared:
    """A preprocessor's (x, y, sample_weight); y and the weights count where the user gave none."""

    x: Any
    y: Any = None
    w: Any = None


def unpack(made: Any, y: Any, w: Any) -> tuple[Any, Any, Any]:
    if isinstance(made, Prepared):
        return made.x, y if y is not None else made.y, w if w is not None else made.w
    return made, y, w


def describe_count(x: Any) -> str:
    return f"{len(x)} arrays" if isinstance(x, (list, tuple)) else type(x).__name__
