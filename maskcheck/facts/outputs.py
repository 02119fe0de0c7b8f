"""What each model output is: its head, its compiled loss, its per-step labels and predictions.

`OutputFacts` computes each of these on first use; `AuditContext.output(i)` hands out one per
output, so every check reads the same values and none recomputes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import kinds
from maskcheck.bridge.graph import is_graph_model
from maskcheck.bridge.graph import output_names as model_output_names
from maskcheck.bridge.kinds import is_kind
from maskcheck.facts.flow import creators, shape
from maskcheck.facts.steps import detect_pad, end_padding
from maskcheck.trace import CallEvent, Trace

# Share of X's padded steps that must hold one label for it to be y's padding label: lower takes a
# label that padding merely favours for the padding label, higher misses y with noise at padded steps.
PAD_LABEL_SHARE = 0.9


@dataclass(frozen=True)
class Head:
    """The layer that produces an output: its final activation and number of units."""

    activation: str
    units: int
    path: str


def _activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    name = getattr(act, "__name__", None) or type(act).__name__
    return str(name).lower()


def _last_layer(layer: Any) -> Any:
    """Follow wrappers (TimeDistributed, Bidirectional) and nested models to the layer that
    produces the output."""
    for _ in range(10):
        if hasattr(layer, "layer") and kb.is_layer(layer.layer):
            layer = layer.layer
        elif kb.is_model(layer) and getattr(layer, "layers", None):
            layer = layer.layers[-1]
        else:
            break
    return layer


def head_of(trace: Trace, i: int) -> Head | None:
    """The head of output i (wrappers and nested models followed), or None if no traced layer made it."""
    if i >= len(trace.outputs):
        return None
    out = trace.outputs[i]
    ev: CallEvent | None = trace.producer.get(id(out))
    if ev is None:
        return None
    layer = _last_layer(ev.layer)
    act = "softmax" if is_kind(layer, kinds.SOFTMAX) else _activation_name(layer) or "linear"
    units = shape(out)[-1] if shape(out) else None
    return Head(act, int(units or 1), ev.path)


def output_name(model: Any, trace: Trace, i: int) -> str | None:
    """The name `fit` knows output i by: its dict key in what the model returns, else the name in
    `model.output_names`; None if it has none."""
    if i < len(trace.output_names) and trace.output_names[i] is not None:
        return trace.output_names[i]
    names = model_output_names(model) or []
    return names[i] if i < len(names) and len(names) == len(trace.outputs) else None


def by_name(spec: Any, names: list[str | None], i: int, name: str | None) -> Any:
    """The entry of a `compile` argument given as a dict (loss, metrics, loss_weights) for output
    i: by its name, else by the name of the output layer at that position."""
    if name is not None and name in spec:
        return spec[name]
    fallback = names[i] if i < len(names) else None
    return spec.get(fallback) if fallback is not None else None


def loss_identifier(model: Any, i: int, name: str | None = None) -> Any:
    """What `compile(loss=...)` was given for output i (a string, function or Loss), or None.
    A dict of losses is read by the output's `name` (Keras pairs dict outputs by key)."""
    loss = getattr(model, "loss", None)
    if loss is None:
        return None
    if isinstance(loss, dict):
        return by_name(loss, list(getattr(model, "output_names", None) or []), i, name)
    if isinstance(loss, (list, tuple)):
        return loss[i] if i < len(loss) else None
    return loss


@dataclass(frozen=True)
class LossInfo:
    """What the compiled loss of one output expects."""

    kind: str  # "sparse_categorical", "categorical", "binary", "other"
    from_logits: bool
    ignore_class: int | None
    label: str
    identifier: Any = field(compare=False, repr=False)  # as given to compile


def loss_info(identifier: Any) -> LossInfo | None:
    """The kind, `from_logits` and `ignore_class` of a loss given as a string, function or `Loss`."""
    if identifier is None:
        return None
    from_logits, ignore_class = False, None
    if isinstance(identifier, str):
        name = identifier.lower()
    elif isinstance(identifier, kb.keras.losses.Loss) or type(identifier).__module__.startswith("tf_keras."):
        name = type(identifier).__name__
        cfg: dict[str, Any] = {}
        try:
            cfg = identifier.get_config()
        except Exception:
            cfg = {}
        fn = getattr(identifier, "fn", None)
        if type(identifier).__name__ == "LossFunctionWrapper" and fn is not None:
            name = getattr(fn, "__name__", name)
            cfg = {**cfg, **getattr(identifier, "_fn_kwargs", {})}
        from_logits = bool(cfg.get("from_logits", getattr(identifier, "from_logits", False)))
        ignore_class = cfg.get("ignore_class", getattr(identifier, "ignore_class", None))
    else:
        name = getattr(identifier, "__name__", type(identifier).__name__)
    norm = name.lower().replace("_", "")
    if "sparsecategoricalcrossentropy" in norm:
        kind = "sparse_categorical"
    elif "categoricalcrossentropy" in norm:
        kind = "categorical"
    elif "binarycrossentropy" in norm or "binaryfocalcrossentropy" in norm:
        kind = "binary"
    else:
        kind = "other"
    return LossInfo(kind, from_logits, ignore_class, name, identifier)


@dataclass
class Labels:
    """Per-step integer labels of one output, with the label used at padded steps."""

    ids: np.ndarray  # (n, T) integer labels
    padded: np.ndarray  # (n, T) bool: padding steps (what the loss should ignore)
    pad_label: int
    pad_label_source: str
    real_classes: list[int]


def as_ids(y: np.ndarray, units: int) -> np.ndarray | None:
    """y as (samples, steps) integer labels (one-hot rows become their argmax, -1 if all zero)."""
    if y.ndim == 3 and y.shape[-1] == units and units > 1:
        ids = np.argmax(y, axis=-1)
        ids[~y.any(axis=-1)] = -1  # all-zero one-hot rows: padding
        return ids.astype("int64")
    arr = y[..., 0] if y.ndim == 3 and y.shape[-1] == 1 else y
    if arr.ndim != 2:
        return None
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        return None
    return arr.astype("int64")


def _has_steps(t: Any, t_len: int | None) -> bool:
    """`t` has a time axis of `t_len` steps: (batch, T, ...) values or (batch, T) integer ids.
    A (batch, units) state whose unit count happens to equal T is no time axis."""
    s = shape(t)
    if len(s) < 2 or s[1] != t_len:
        return False
    return len(s) >= 3 or "int" in str(getattr(t, "dtype", ""))


def time_path(trace: Trace, out: Any, t_len: int | None) -> tuple[set[int], bool]:
    """Walk back from `out` through tensors with its time axis: the ids of the calls on the way
    (a call's enclosing calls included, as a wrapper may reshape the steps away) and whether a
    model input of a functional model was reached (the output's steps come from that input). A
    tensor without the time axis (an encoder's state, RepeatVector's input) ends the walk."""
    root = trace.root
    graph = root is not None and is_graph_model(root.layer)
    seen: set[int] = set()
    calls: set[int] = set()
    reached_input = False
    todo: list[tuple[Any, CallEvent | None]] = [(out, None)]
    while todo:
        t, consumer = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        ev = trace.producer.get(id(t))
        if ev is None:
            # every operation of a functional model is traced: an unproduced tensor fed to one of
            # its top-level calls is a model input (in subclassed code it may be an untraced op)
            reached_input |= graph and consumer is not None and consumer.parent is root
            continue
        while ev is not None and ev is not root and id(ev) not in calls:
            calls.add(id(ev))
            todo.extend((x, ev) for x in ev.inputs if _has_steps(x, t_len))
            ev = ev.parent
    return calls, reached_input


def _within(ev: CallEvent, calls: set[int]) -> bool:
    node: CallEvent | None = ev
    while node is not None:
        if id(node) in calls:
            return True
        node = node.parent
    return False


def source_padded(trace: Trace, out: Any, t_len: int | None) -> np.ndarray | None:
    """(samples, steps) bool: the steps masked off by the mask-making layers (with masks of `t_len`
    steps) that `out`'s steps come from, when they all agree, else None. When the steps come from
    a model input that no mask source reads (an unmasked decoder beside a masked encoder), none;
    when they are made inside the model (RepeatVector), every mask source of that length."""
    sources = [
        src
        for src in creators(trace)
        if src.output_masks
        and len(shape(src.output_masks[0])) == 2
        and shape(src.output_masks[0])[1] == t_len
    ]
    calls, reached_input = time_path(trace, out, t_len)
    on_path = [src for src in sources if _within(src, calls)]
    if on_path:
        sources = on_path
    elif reached_input:
        return None
    found: np.ndarray | None = None
    for src in sources:
        pad = ~np.asarray(kb.to_numpy(src.output_masks[0]), dtype=bool)
        if found is not None and (found.shape != pad.shape or (found != pad).any()):
            return None
        found = pad
    return found


def mask_padded(mask: Any, n_steps: tuple[int | None, ...]) -> np.ndarray | None:
    """(samples, steps) bool: the steps a runtime mask of that shape switches off, or None when
    there is no such mask or it switches off nothing."""
    if mask is None:
        return None
    pad = ~np.asarray(kb.to_numpy(mask), dtype=bool)
    return pad if pad.shape == n_steps and pad.any() else None


def weight_padded(w: Any, n_steps: tuple[int | None, ...]) -> np.ndarray | None:
    """(samples, steps) bool: the zero-weight steps of a per-step `sample_weight`, or None when it
    is not per step or weights every step."""
    if w is None:
        return None
    arr = np.asarray(w)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.shape != n_steps or arr.dtype.kind not in "biuf":
        return None
    pad = arr == 0
    return pad if pad.any() else None


def infer_labels(
    ids: np.ndarray, x_pad: np.ndarray | None, where: str = "the masked steps of X"
) -> Labels | None:
    """The padding label and padded steps of `ids`: the label at the known padded steps `x_pad`
    (found at `where`), else the label filling the ends of y; None when neither is clear."""
    if x_pad is not None and x_pad.any():
        vals, counts = np.unique(ids[x_pad], return_counts=True)
        k = int(np.argmax(counts))
        if counts[k] / counts.sum() >= PAD_LABEL_SHARE:
            real = np.unique(ids[~x_pad])
            return Labels(ids, x_pad, int(vals[k]), f"the label at {where}", [int(v) for v in real])
    vec, side, _ = detect_pad(ids.astype("float64"))
    if vec is not None and side is not None:
        p = int(np.asarray(vec).ravel()[0])
        padded = end_padding(ids == p, side)
        real = np.unique(ids[~padded])
        return Labels(
            ids, padded, p, f"the label filling the {side}-padded ends of y", [int(v) for v in real]
        )
    return None


class OutputFacts:
    """The facts about one model output, each computed on first use."""

    def __init__(
        self,
        model: Any,
        trace: Trace,
        y: list[np.ndarray] | None,
        index: int,
        sample_weight: Any = None,
    ) -> None:
        self.model = model
        self.trace = trace
        self.y = y
        self.index = index
        self.sample_weight = sample_weight

    @property
    def tensor(self) -> Any:
        """The output tensor of the traced forward pass (it carries the runtime mask)."""
        return self.trace.outputs[self.index]

    def _steps(self) -> tuple[int | None, ...] | None:
        """The output's shape if it is per step (rank >= 3), else None."""
        if self.index >= len(self.trace.outputs):
            return None
        so = shape(self.trace.outputs[self.index])
        return so if len(so) >= 3 else None

    @cached_property
    def name(self) -> str | None:
        """The name `fit` pairs this output's loss, labels and metrics by (see `output_name`)."""
        return output_name(self.model, self.trace, self.index)

    @property
    def label(self) -> str:
        """How messages call this output: 'output 0' for a single output, else by its name."""
        if len(self.trace.outputs) > 1 and self.name is not None:
            return f"output '{self.name}'"
        return f"output {self.index}"

    @cached_property
    def head(self) -> Head | None:
        return head_of(self.trace, self.index)

    @cached_property
    def loss(self) -> LossInfo | None:
        """The compiled loss of this output, or None (not compiled, or no loss for it)."""
        return loss_info(loss_identifier(self.model, self.index, self.name))

    @cached_property
    def step_padding(self) -> tuple[np.ndarray, str] | None:
        """The padded steps of this per-step output, (samples, steps) bool, and where they were
        read: the runtime mask the output carries (what a masked loss drops), else the zero-weight
        steps of a per-step `sample_weight`, else the mask sources of the output's length when
        they agree. None when none of them shows padding (the labels may still: see `labels`)."""
        so = self._steps()
        if so is None:
            return None
        n_steps = tuple(so[:2])
        masks = self.trace.output_masks
        pad = mask_padded(masks[self.index] if self.index < len(masks) else None, n_steps)
        if pad is not None:
            return pad, "the steps the output's mask switches off"
        pad = weight_padded(self.sample_weight, n_steps)
        if pad is not None:
            return pad, "the zero-weight steps of sample_weight"
        pad = source_padded(self.trace, self.tensor, so[1])
        if pad is not None and pad.any():
            return pad, "the masked steps of X"
        return None

    @property
    def step_padded(self) -> np.ndarray | None:
        """The padded steps of `step_padding`, or None."""
        found = self.step_padding
        return None if found is None else found[0]

    @cached_property
    def label_ids(self) -> np.ndarray | None:
        """y of this per-step output as (samples, steps) integer labels, or None."""
        if self.y is None or self.index >= len(self.y) or self._steps() is None:
            return None
        head = self.head
        return as_ids(self.y[self.index], head.units if head else 1)

    @cached_property
    def labels(self) -> Labels | None:
        """Per-step labels with the padding label and padded steps, or None."""
        so, ids = self._steps(), self.label_ids
        if so is None or ids is None or ids.shape[1] != so[1] or ids.shape[0] != so[0]:
            return None
        found = self.step_padding
        return infer_labels(ids, *found) if found is not None else infer_labels(ids, None)

    @cached_property
    def predicted_ids(self) -> np.ndarray | None:
        """The predicted class per step (argmax, or a threshold for one unit), or None without a head."""
        head = self.head
        if head is None:
            return None
        pred = np.asarray(kb.to_numpy(self.trace.outputs[self.index]))
        if head.units > 1:
            return np.argmax(pred, axis=-1)
        thr = 0.0 if head.activation == "linear" else 0.5  # a logit's or a probability's midpoint
        return (pred[..., 0] > thr).astype("int64")

    def confidence(self, k: int, steps: np.ndarray) -> float | None:
        """How sure the head is of class `k` at `steps` ((samples, steps) bool), from 0 (chance)
        to 1 (certain): log(p / chance) / log(1 / chance) for the mean probability p it gives `k`
        there, where chance is 1/units for a softmax or logits and 0.5 for a sigmoid unit (a
        multi-unit sigmoid head is also read normalised over its units, as sparse cross-entropy
        reads it, and the surer reading counts). The log scale treats a 50-class head at 0.3 as
        sure as a 3-class head at 0.7. An untrained head sits near 0 (or below), a learned answer
        near 1. None without a head, at no steps, or for a head whose outputs are neither
        probabilities nor logits (relu, tanh, ...)."""
        head = self.head
        if head is None or not steps.any():
            return None
        out = np.asarray(kb.to_numpy(self.trace.outputs[self.index]), dtype="float64")
        act = head.activation
        readings: list[tuple[np.ndarray, float]] = []  # (probability of k per step, chance level)
        if head.units > 1:
            units = out.shape[-1]
            if not 0 <= k < units:
                return None
            if act == "linear":
                out = np.exp(out - out.max(axis=-1, keepdims=True))
            elif act == "sigmoid":
                readings.append((out[..., k], 0.5))
            elif act != "softmax":
                return None
            norm = out / np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)
            readings.append((norm[..., k], 1.0 / units))
        else:
            if act not in ("sigmoid", "linear"):
                return None
            p1 = out[..., 0] if act == "sigmoid" else 1.0 / (1.0 + np.exp(-out[..., 0]))
            readings.append((p1 if k == 1 else 1.0 - p1, 0.5))
        return max(
            float(np.log(max(float(prob[steps].mean()), 1e-12) / chance) / np.log(1.0 / chance))
            for prob, chance in readings
        )
