"""Labels and weights that cannot fit the model's outputs or compiled loss at all.

Run right after the trace, when the output shapes are known: a y with the wrong number of steps,
a rank 1 y for a per-step output, one-hot y with a sparse loss (or ids with a categorical one),
or a sample_weight with the wrong number of steps is a `MaskcheckError`, never a clean report
(the loss checks would fail inside and only leave a note).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.data.types import output_weight
from maskcheck.errors import MaskcheckError
from maskcheck.facts.flow import shape
from maskcheck.facts.outputs import loss_identifier, loss_info, output_name
from maskcheck.trace import Trace


def _dims(dims: tuple[Any, ...]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _steps(dims: tuple[Any, ...]) -> str:
    return str(dims[0]) if len(dims) == 1 else _dims(dims)


def _needs(kind: str, n: int, steps: tuple[int, ...], units: int) -> str:
    """The y shape a loss of `kind` needs for an output of (n, *steps, units)."""
    if kind == "sparse_categorical":
        return f"integer class ids of shape {_dims((n, *steps))} or {_dims((n, *steps, 1))}"
    if kind == "categorical":
        return f"one-hot labels of shape {_dims((n, *steps, units))}"
    return f"labels of shape {_dims((n, *steps, units))}"


def check_targets(
    model: Any,
    trace: Trace,
    y: list[np.ndarray] | None,
    sample_weight: Any,
    per_output: list[np.ndarray | None] | None = None,
) -> None:
    """Raise a `MaskcheckError` on `y` or `sample_weight` (one array for every output, or
    `per_output`, one per output) when it cannot fit an output or its loss."""
    outputs = trace.outputs
    if y is not None:
        for i, yi in enumerate(y):
            if i >= len(outputs):
                break
            masked = kb.get_mask(outputs[i]) is not None and not kb.is_legacy(model)
            name = output_name(model, trace, i)
            key = trace.output_names[i] if i < len(trace.output_names) else None  # a dict output's key
            argument = "y" if len(y) == 1 else f"y[{key!r}]" if key is not None else f"y[{i}]"
            _check_y(model, i, yi, tuple(shape(outputs[i])), argument, masked, name, key)
    for i, out in enumerate(outputs):
        w = output_weight(sample_weight, per_output, i)
        if w is None or np.ndim(w) < 2:
            continue
        w_steps = int(np.shape(w)[1])
        so = tuple(shape(out))
        if len(so) >= 3 and so[1] is not None and w_steps not in (1, so[1]):
            key = trace.output_names[i] if i < len(trace.output_names) else None
            raise MaskcheckError(
                "sample_weight" if per_output is None else f"sample_weight[{key if key is not None else i!r}]",
                f"a weight per sample (shape ({so[0]},) or ({so[0]}, 1)) or per step (shape ({so[0]}, {so[1]})) "
                f"for output {i} of shape {_dims(so)}",
                f"shape {np.shape(w)}: {w_steps} steps where the output has {so[1]}",
            )


def _builtin(identifier: Any) -> bool:
    """A loss Keras ships (a name, or a function or `Loss` from keras): its shape rules are known."""
    return (
        isinstance(identifier, str)
        or type(identifier).__module__.startswith("keras.")
        or (getattr(identifier, "__module__", "") or "").startswith("keras.")
    )


def _check_y(
    model: Any,
    i: int,
    yi: np.ndarray,
    so: tuple[Any, ...],
    argument: str,
    masked: bool = False,
    name: str | None = None,
    key: str | None = None,
) -> None:
    if len(so) < 2:
        return
    info = loss_info(loss_identifier(model, i, name))
    kind = info.kind if info is not None else "other"
    steps, units = tuple(so[1:-1]), so[-1]
    needs = _needs(kind, yi.shape[0], steps, int(units or 1))
    where = (f"output {key!r}" if key is not None else f"output {i}") + f" of shape {_dims(so)}" + (f" and the loss {info.label}" if info else "")
    if steps:
        # a per-step output: y needs the same steps
        if yi.ndim < 1 + len(steps):
            raise MaskcheckError(
                argument,
                f"{needs} for {where} (a label per step)",
                f"shape {yi.shape}: one label per sample",
            )
        if tuple(yi.shape[1 : 1 + len(steps)]) != steps:
            raise MaskcheckError(
                argument,
                f"{needs} for {where}",
                f"shape {yi.shape}: {_steps(tuple(yi.shape[1 : 1 + len(steps)]))} steps where the output has "
                f"{_steps(steps)}",
            )
    full = 1 + len(steps) + 1  # rank of the output
    if (
        steps
        and info is not None
        and info.kind in ("binary", "other")
        and _builtin(info.identifier)
        and yi.ndim == full - 1
        and (masked or (info.kind == "binary" and (units or 1) > 1))
    ):
        why = (
            "Keras 3 reduces the loss of such labels over the steps before it applies the output's "
            f"{_dims((so[0], *steps))} mask, and `fit` fails"
            if masked
            else "binary cross-entropy needs labels of the output's rank"
        )
        raise MaskcheckError(
            argument,
            f"{needs} for {where}: add the last axis, `y[..., None]`",
            f"shape {yi.shape} ({why})",
        )
    if units is None or units <= 1:
        return
    if kind == "sparse_categorical" and yi.ndim == full and yi.shape[-1] == units:
        raise MaskcheckError(
            argument,
            f"{needs} for {where}",
            f"shape {yi.shape}: one-hot labels (use argmax, or a categorical loss)",
        )
    if kind == "categorical" and (yi.ndim == full - 1 or (yi.ndim == full and yi.shape[-1] == 1)):
        raise MaskcheckError(
            argument,
            f"{needs} for {where}",
            f"shape {yi.shape}: class ids (one-hot encode them, or use a sparse categorical loss)",
        )
