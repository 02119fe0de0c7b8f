"""Raw inputs: the model's own preprocessing (TextVectorization, lookups, hashing) or a keras-hub
task's preprocessor, run before the audit so the data checks see the ids the mask source sees."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import kinds
from maskcheck.bridge.graph import graph_nodes, node_inputs, node_operation, node_outputs
from maskcheck.data.types import InputSpec, Prepared, describe_count, input_specs
from maskcheck.errors import MaskcheckError


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
                    "X", f"a list or dict of {len(inputs)} arrays for inputs {original}", describe_count(x)
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


