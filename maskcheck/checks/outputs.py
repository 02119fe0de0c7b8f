"""MC3xx: outputs, labels, loss and metrics (need y and/or a compiled model)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import layers

from maskcheck import bridge as kb
from maskcheck import testing as C
from maskcheck.checks._legacy import Case, register
from maskcheck.checks.base import CaseInput, Check
from maskcheck.facts.context import AuditContext
from maskcheck.facts.graph import creators, shape
from maskcheck.facts.layout import detect_pad, end_padding
from maskcheck.report import Finding, Severity
from maskcheck.trace import CallEvent

CONFUSION_METRICS = frozenset(
    {
        "Precision",
        "Recall",
        "AUC",
        "TruePositives",
        "TrueNegatives",
        "FalsePositives",
        "FalseNegatives",
        "PrecisionAtRecall",
        "RecallAtPrecision",
        "SensitivityAtSpecificity",
        "SpecificityAtSensitivity",
        "F1Score",
        "FBetaScore",
    }
)


# --------------------------------------------------------------------------------------------
# What the model's head and loss are


@dataclass(frozen=True)
class Head:
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


def head_of(ctx: AuditContext, i: int) -> Head | None:
    if i >= len(ctx.trace.outputs):
        return None
    out = ctx.trace.outputs[i]
    ev: CallEvent | None = ctx.trace.producer.get(id(out))
    if ev is None:
        return None
    layer = _last_layer(ev.layer)
    cls = type(layer).__name__
    if cls == "Softmax":
        act = "softmax"
    elif cls == "Activation":
        act = _activation_name(layer) or "linear"
    else:
        act = _activation_name(layer) or "linear"
    units = shape(out)[-1] if shape(out) else None
    return Head(act, int(units or 1), ev.path)


def loss_identifier(model: Any, i: int) -> Any:
    loss = getattr(model, "loss", None)
    if loss is None:
        return None
    if isinstance(loss, dict):
        names = list(getattr(model, "output_names", None) or [])
        return loss.get(names[i]) if i < len(names) else None
    if isinstance(loss, (list, tuple)):
        return loss[i] if i < len(loss) else None
    return loss


@dataclass(frozen=True)
class LossInfo:
    kind: str  # "sparse_categorical", "categorical", "binary", "other"
    from_logits: bool
    ignore_class: int | None
    label: str


def loss_info(identifier: Any) -> LossInfo | None:
    if identifier is None:
        return None
    from_logits, ignore_class = False, None
    if isinstance(identifier, str):
        name = identifier.lower()
    elif isinstance(identifier, keras.losses.Loss) or type(identifier).__module__.startswith("tf_keras."):
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
    return LossInfo(kind, from_logits, ignore_class, name)


# --------------------------------------------------------------------------------------------
# Labels, padding label, real steps


@dataclass
class Labels:
    output: int
    ids: np.ndarray  # (n, T) integer labels
    padded: np.ndarray  # (n, T) bool: padding steps (what the loss should ignore)
    pad_label: int
    pad_label_source: str
    real_classes: list[int]
    from_mask: bool


def _as_ids(y: np.ndarray, units: int) -> np.ndarray | None:
    if y.ndim >= 2 and y.ndim == 3 and y.shape[-1] == units and units > 1:
        ids = np.argmax(y, axis=-1)
        ids[~y.any(axis=-1)] = -1  # all-zero one-hot rows: padding
        return ids.astype("int64")
    arr = y[..., 0] if y.ndim == 3 and y.shape[-1] == 1 else y
    if arr.ndim != 2:
        return None
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        return None
    return arr.astype("int64")


def labels_for(ctx: AuditContext, i: int) -> Labels | None:
    """Per-step integer labels of output i with the padding label and padded steps, or None."""
    key = f"labels{i}"
    if key in ctx._cache:
        return ctx._cache[key]  # type: ignore[no-any-return]
    result = _labels_for(ctx, i)
    ctx._cache[key] = result
    return result


def _x_padded(ctx: AuditContext, t_len: int | None) -> np.ndarray | None:
    for src in creators(ctx.trace):
        m = src.output_masks[0]
        if len(shape(m)) == 2 and shape(m)[1] == t_len:
            return ~np.asarray(kb.to_numpy(m), dtype=bool)
    return None


def _labels_for(ctx: AuditContext, i: int) -> Labels | None:
    if ctx.y is None or i >= len(ctx.y) or i >= len(ctx.trace.outputs):
        return None
    out = ctx.trace.outputs[i]
    so = shape(out)
    if len(so) < 3:
        return None
    head = head_of(ctx, i)
    ids = _as_ids(ctx.y[i], head.units if head else 1)
    if ids is None or ids.shape[1] != so[1] or ids.shape[0] != so[0]:
        return None
    x_pad = _x_padded(ctx, so[1])
    if x_pad is not None and x_pad.any():
        vals, counts = np.unique(ids[x_pad], return_counts=True)
        k = int(np.argmax(counts))
        if counts[k] / counts.sum() >= 0.9:
            real = np.unique(ids[~x_pad])
            return Labels(
                i,
                ids,
                x_pad,
                int(vals[k]),
                "the label at the masked steps of X",
                [int(v) for v in real],
                True,
            )
    vec, side, _ = detect_pad(ids.astype("float64"))
    if vec is not None and side is not None:
        p = int(np.asarray(vec).ravel()[0])
        padded = end_padding(ids == p, side)
        real = np.unique(ids[~padded])
        return Labels(
            i, ids, padded, p, f"the label filling the {side}-padded ends of y", [int(v) for v in real], False
        )
    return None


def _predicted_ids(ctx: AuditContext, i: int, head: Head) -> np.ndarray:
    pred = np.asarray(kb.to_numpy(ctx.trace.outputs[i]))
    if head.units > 1:
        return np.argmax(pred, axis=-1)
    thr = 0.0 if head.activation == "linear" else 0.5
    return (pred[..., 0] > thr).astype("int64")


# --------------------------------------------------------------------------------------------
# The checks


class OutputCheck(Check):
    family = "outputs"

    @staticmethod
    def trained(ctx: AuditContext) -> bool:
        """Predictions only mean something after training: a compiled model whose optimizer has
        taken no step is skipped (an uncompiled model is assumed to carry trained weights)."""
        opt = getattr(ctx.model, "optimizer", None)
        if opt is None:
            return True
        try:
            return int(kb.to_numpy(opt.iterations)) > 0
        except Exception:
            return True

    @staticmethod
    def outputs(ctx: AuditContext) -> range:
        return range(len(ctx.trace.outputs))


def _tagger(
    units: int = 3,
    activation: str = "softmax",
    loss: Any = "sparse_categorical_crossentropy",
    metrics: Any = None,
    bias: Any = None,
    masked: bool = True,
) -> Any:
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            *([layers.Masking(0.0)] if masked else []),
            layers.LSTM(4, return_sequences=True),
            layers.TimeDistributed(
                layers.Dense(
                    units,
                    activation=activation,
                    kernel_initializer="zeros" if bias is not None else "glorot_uniform",
                    bias_initializer=keras.initializers.Constant(bias) if bias is not None else "zeros",
                )
            ),
        ]
    )
    if loss is not None:
        model.compile(loss=loss, optimizer="sgd", metrics=metrics)
    return model


def _identity_head() -> Any:
    """Per-step class = the largest of the three features: predictions vary with the data."""
    return keras.Sequential(
        [
            keras.Input((10, 3)),
            layers.Masking(0.0),
            layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.Identity(gain=10.0)),
        ]
    )


def _case(
    model_factory: Any,
    n_classes: int = 2,
    pad_label: int = 0,
    shift: int = 0,
    y_side: str = "post",
    **kw: Any,
) -> Any:
    def build() -> CaseInput:
        x = C.padded_floats(n=32)
        y = C.step_labels(x, n_classes=n_classes, pad_label=pad_label) - shift
        y[x.any(-1) == 0] = pad_label
        if y_side == "pre":
            y = np.stack([_pre(row, pad_label) for row in y])
        return CaseInput(model_factory(), x, y, kw)

    return build


def _pre(row: np.ndarray, pad: int) -> np.ndarray:
    real = row[row != pad]
    return np.concatenate([np.full(len(row) - len(real), pad), real]).astype(row.dtype)


@register
class PredictsPaddingClass(OutputCheck):
    """## What it does
    Looks at predictions on real (unpadded) steps of the audited sample and measures how many
    get the label used for padding, when that label never occurs on real steps. Fires when it is
    the majority: the seed's "the model predicts 0 for every step".

    ## Why is this bad?
    The model learned that the padding class is the safest answer, because padding dominated
    the loss: the mask did not reach the loss, or the labels and the head give padding its own
    class.

    ## Example
    ```python
    # 3 output units for 2 real classes + padding label 0, loss not masked
    layers.TimeDistributed(layers.Dense(3, activation="sigmoid"))
    ```

    ## Use instead
    ```python
    y = np.where(y > 0, y - 1, 0)                                   # real classes 0..n-1
    layers.TimeDistributed(layers.Dense(2, activation="softmax"))   # padding masked out of the loss
    ```
    """

    code = "MC301"
    name = "predicts-padding-class"
    severity = Severity.ERROR
    summary = "on real steps the model predicts the label used for padding"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if not self.trained(ctx):
            return
        for i in self.outputs(ctx):
            lab, head = labels_for(ctx, i), head_of(ctx, i)
            if lab is None or head is None or lab.pad_label in lab.real_classes:
                continue
            real = ~lab.padded
            if real.sum() < 10:
                continue
            pred = _predicted_ids(ctx, i, head)
            share = float((pred[real] == lab.pad_label).mean())
            if share < 0.5:
                continue
            yield self.finding(
                f"output {i}: {share:.0%} of the {int(real.sum())} real steps are predicted as the padding "
                f"label {lab.pad_label} ({lab.pad_label_source}), which no real step has.",
                "mask the padding out of the loss (see MC305) and give the head one unit per real class: "
                f'shift the labels (`y = np.where(y > 0, y - 1, 0)`) and use `Dense({len(lab.real_classes)}, activation="softmax")`',
                layer=head.path,
                share=share,
                pad_label=lab.pad_label,
            )


PredictsPaddingClass.INVALID = (
    Case("head biased to the padding class 0", _case(lambda: _tagger(bias=[5.0, 0.0, 0.0], loss=None)), True),
)
PredictsPaddingClass.VALID = (
    Case("head biased to real class 1", _case(lambda: _tagger(bias=[0.0, 5.0, 0.0], loss=None)), False),
    Case(
        "real labels include the padding label 0 (masked)",
        _case(lambda: _tagger(units=2, bias=[5.0, 0.0], loss=None), shift=1),
        False,
    ),
    Case("compiled but never trained", _case(lambda: _tagger(bias=[5.0, 0.0, 0.0])), False),
)


@register
class PaddingClassInHead(OutputCheck):
    """## What it does
    Infers the label used at padded steps (e.g. 0) and the real classes. Warns when the padding
    label never occurs on real steps but has its own output unit: the head has one class too many.

    ## Why is this bad?
    The model spends capacity on a class it must never predict on real data, and if the mask
    does not reach the loss it learns to predict it (MC301).

    ## Example
    ```python
    # labels 1, 2 on real steps, 0 on padding
    layers.TimeDistributed(layers.Dense(3, activation="softmax"))
    ```

    ## Use instead
    ```python
    y = np.where(y > 0, y - 1, 0)                                   # 1 -> 0, 2 -> 1
    layers.TimeDistributed(layers.Dense(2, activation="softmax"))
    # or keep the labels: loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=0)
    ```
    """

    code = "MC302"
    name = "padding-class-in-head"
    severity = Severity.WARNING
    summary = "the padding label has its own output unit but never occurs on real steps"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for i in self.outputs(ctx):
            lab, head = labels_for(ctx, i), head_of(ctx, i)
            if lab is None or head is None or head.units < 2:
                continue
            if lab.pad_label in lab.real_classes or not 0 <= lab.pad_label < head.units:
                continue
            info = loss_info(loss_identifier(ctx.model, i))
            if info is not None and info.ignore_class == lab.pad_label:
                continue
            n_real = len(lab.real_classes)
            mapping = ", ".join(f"{c} -> {k}" for k, c in enumerate(lab.real_classes[:6]))
            yield self.finding(
                f"output {i}: the padding label {lab.pad_label} ({lab.pad_label_source}) never occurs on "
                f"real steps, whose classes are {lab.real_classes}, yet the head '{head.path}' has "
                f"{head.units} units: one for padding.",
                f'shift the labels ({mapping}) and use `Dense({n_real}, activation="softmax")` with the padding '
                f"masked, or keep them and use `SparseCategoricalCrossentropy(ignore_class={lab.pad_label})`",
                layer=head.path,
                pad_label=lab.pad_label,
                real_classes=lab.real_classes,
                units=head.units,
            )


PaddingClassInHead.INVALID = (
    Case("labels 1, 2, padding 0, three units", _case(lambda: _tagger(units=3)), True),
)
PaddingClassInHead.VALID = (
    Case(
        "labels shifted to 0, 1 with two units, padding masked",
        _case(lambda: _tagger(units=2), shift=1),
        False,
    ),
    Case(
        "three units with ignore_class=0",
        _case(lambda: _tagger(units=3, loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=0))),
        False,
    ),
)


@register
class ActivationLossMismatch(OutputCheck):
    """## What it does
    Reads each output's final activation (a Dense activation, a separate Activation/Softmax
    layer, the layer inside TimeDistributed) and the compiled loss (string, function or `Loss`
    object, with `from_logits`). Fires on: sigmoid or linear with (sparse_)categorical
    cross-entropy without `from_logits=True`; softmax with `from_logits=True`; softmax with
    binary cross-entropy on more than one unit.

    ## Why is this bad?
    The loss interprets the outputs as something they are not; gradients are wrong and the model
    trains slowly or to a degenerate solution.

    ## Example
    ```python
    layers.Dense(3, activation="sigmoid")
    model.compile(loss="sparse_categorical_crossentropy")
    ```

    ## Use instead
    ```python
    layers.Dense(2, activation="softmax")
    model.compile(loss="sparse_categorical_crossentropy")
    ```
    """

    code = "MC303"
    name = "activation-loss-mismatch"
    severity = Severity.ERROR
    summary = "the final activation does not match the loss (sigmoid + categorical CE, ...)"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for i in self.outputs(ctx):
            head = head_of(ctx, i)
            info = loss_info(loss_identifier(ctx.model, i))
            if head is None or info is None:
                continue
            act, units = head.activation, head.units
            problem = fix = None
            lab = labels_for(ctx, i)
            n_real = (
                len(lab.real_classes) if lab is not None and lab.pad_label not in lab.real_classes else None
            )
            if (
                info.kind in ("sparse_categorical", "categorical")
                and act in ("sigmoid", "linear")
                and not info.from_logits
            ):
                problem = f"a {act} output with {info.label} (from_logits=False) is read as probabilities that sum to 1"
                n = n_real or max(units, 2)
                fix = (
                    f'`Dense({n}, activation="softmax")`, or keep the {act} outputs as logits: '
                    f"`keras.losses.{'Sparse' if info.kind == 'sparse_categorical' else ''}CategoricalCrossentropy(from_logits=True)`"
                    if act == "linear"
                    else f'`Dense({n}, activation="softmax")` (one unit per real class)'
                )
            elif (
                info.kind in ("sparse_categorical", "categorical", "binary")
                and act == "softmax"
                and info.from_logits
            ):
                problem = f"a softmax output with {info.label}(from_logits=True) applies softmax twice"
                fix = "drop `from_logits=True`, or make the last layer linear (`activation=None`)"
            elif info.kind == "binary" and act == "softmax" and units > 1:
                problem = f"a softmax over {units} units with binary cross-entropy couples independent labels"
                fix = (
                    f'`Dense({units}, activation="sigmoid")` for multi-label targets, or '
                    '`loss="sparse_categorical_crossentropy"` for one class per step'
                )
            if problem is None:
                continue
            yield self.finding(
                f"output {i} ('{head.path}', {units} units): {problem}.",
                fix or "",
                layer=head.path,
                activation=act,
                loss=info.label,
            )


ActivationLossMismatch.INVALID = (
    Case(
        "sigmoid head with sparse categorical cross-entropy",
        _case(lambda: _tagger(units=3, activation="sigmoid")),
        True,
    ),
    Case(
        "softmax head with from_logits=True",
        _case(lambda: _tagger(units=3, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))),
        True,
    ),
    Case(
        "softmax over 3 units with binary cross-entropy",
        _case(lambda: _tagger(units=3, loss="binary_crossentropy")),
        True,
    ),
)


def _separate_activation() -> Any:
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            layers.Masking(0.0),
            layers.LSTM(4, return_sequences=True),
            layers.Dense(3),
            layers.Activation("sigmoid"),
        ]
    )
    model.compile(loss=keras.losses.sparse_categorical_crossentropy, optimizer="sgd")
    return model


ActivationLossMismatch.INVALID = (
    *ActivationLossMismatch.INVALID,
    Case("separate Activation('sigmoid') layer, loss given as a function", _case(_separate_activation), True),
)
ActivationLossMismatch.VALID = (
    Case("softmax head with sparse categorical cross-entropy", _case(lambda: _tagger(units=3)), False),
    Case(
        "linear head with from_logits=True",
        _case(
            lambda: _tagger(
                units=3,
                activation="linear",
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
        ),
        False,
    ),
)


@register
class ConstantPredictions(OutputCheck):
    """## What it does
    Warns when one class (or one value) is predicted for every real step of the audited sample
    although the labels hold several.

    ## Why is this bad?
    The model collapsed to the majority answer: typical when padding dominates the loss or the
    activation and loss do not match.

    ## Example
    ```python
    history = model.fit(X, y)        # accuracy stuck at the share of the majority class
    ```

    ## Use instead
    ```python
    report = maskcheck.audit(model, X, y)   # fix the MC1xx/MC2xx/MC30x findings first
    ```
    """

    code = "MC304"
    name = "constant-predictions"
    severity = Severity.WARNING
    summary = "one class or value is predicted for every real step"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if not self.trained(ctx):
            return
        for i in self.outputs(ctx):
            lab, head = labels_for(ctx, i), head_of(ctx, i)
            if lab is None or head is None:
                continue
            real = ~lab.padded
            if real.sum() < 20 or len(lab.real_classes) < 2:
                continue
            pred = _predicted_ids(ctx, i, head)[real]
            values, counts = np.unique(pred, return_counts=True)
            k = int(np.argmax(counts))
            if counts[k] / counts.sum() < 0.99:
                continue
            yield self.finding(
                f"output {i}: class {int(values[k])} is predicted for {counts[k]} of {counts.sum()} real steps, "
                f"while the labels there hold classes {lab.real_classes}.",
                "check the findings above (masking, activation/loss); then the learning rate and class balance "
                "(`class_weight=`)",
                layer=head.path,
                predicted=int(values[k]),
            )


ConstantPredictions.INVALID = (
    Case(
        "zero kernel, bias picks class 1 everywhere",
        _case(lambda: _tagger(units=3, bias=[0.0, 5.0, 0.0], loss=None)),
        True,
    ),
)
ConstantPredictions.VALID = (
    Case("a head that follows its input", _case(_identity_head), False),
    Case("compiled but never trained", _case(lambda: _tagger(units=3, bias=[0.0, 5.0, 0.0])), False),
)


def _perturbed(y: np.ndarray, padded: np.ndarray, kind: str, units: int) -> np.ndarray:
    """y changed at the padded steps only, to another valid target of the same kind."""
    y2 = np.array(y, copy=True)
    if kind == "categorical" and y2.ndim == 3:
        y2[padded] = (
            np.roll(y2[padded], 1, axis=-1) if y2[padded].any() else np.eye(units, dtype=y2.dtype)[1 % units]
        )
    elif kind == "sparse_categorical":
        base = y2[..., 0] if y2.ndim == 3 else y2
        base[padded] = (base[padded] + 1) % max(units, 2)
    elif kind == "binary":
        base = y2 if y2.ndim == padded.ndim else y2[..., 0]
        base[padded] = 1 - base[padded]
    else:
        y2[padded] = y2[padded] + 1
    return y2


def _loss_value(loss_obj: Any, y: np.ndarray, y_pred: Any, w: Any) -> float:
    return float(kb.to_numpy(loss_obj(y, y_pred, w)))


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a))


def _weights_ok(w: Any, y_pred: Any) -> bool:
    if w is None:
        return True
    ws = np.shape(w)
    return not (len(ws) == 1 and kb.get_mask(y_pred) is not None and len(shape(y_pred)) >= 3)


@register
class LossCountsPadding(OutputCheck):
    """## What it does
    The definitive test of "is my loss masked": evaluates the compiled loss on the audited
    sample twice, with y changed only at padded steps, and reports both values. The loss object
    is rebuilt exactly as `compile` builds it and called on the real output tensor (which
    carries the runtime mask); nothing is trained and no optimizer or metric state is touched.

    ## Why is this bad?
    If the value changes, the loss counts padded steps: the model is trained to predict the
    padding label, and reported losses are diluted by padding.

    ## Example
    ```python
    x = layers.LSTM(32)(layers.Masking(0.0)(inp))
    out = layers.LSTM(5, return_sequences=True)(layers.RepeatVector(20)(x))   # no mask on the output
    ```

    ## Use instead
    ```python
    model.fit(X, X, sample_weight=np.any(X != 0.0, axis=-1).astype("float32"))
    ```
    """

    code = "MC305"
    name = "loss-counts-padding"
    severity = Severity.ERROR
    summary = "changing y only at padded steps changes the compiled loss"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if ctx.y is None:
            return
        for i in self.outputs(ctx):
            ident = loss_identifier(ctx.model, i)
            lab, head = labels_for(ctx, i), head_of(ctx, i)
            if ident is None or head is None or i >= len(ctx.y):
                continue
            y = ctx.y[i]
            padded = lab.padded if lab is not None else _regression_padded(ctx, i)
            if padded is None or not padded.any():
                continue
            info = loss_info(ident)
            kind = info.kind if info else "other"
            y_pred = ctx.trace.outputs[i]
            w = ctx.sample_weight if _weights_ok(ctx.sample_weight, y_pred) else None
            loss_obj = kb.resolve_loss(ident, y, y_pred, legacy=kb.is_legacy(ctx.model))
            try:
                before = _loss_value(loss_obj, y, y_pred, w)
                after = _loss_value(loss_obj, _perturbed(y, padded, kind, head.units), y_pred, w)
                how = "changing y only at"
                if _same(before, after):
                    # padded steps predicted uniformly cost the same for any label: weight them instead
                    base_w = np.broadcast_to(
                        np.ones(padded.shape, "float32")
                        if w is None
                        else np.asarray(w, "float32").reshape(len(padded), -1),
                        padded.shape,
                    )
                    before = _loss_value(loss_obj, y, y_pred, np.array(base_w))
                    after = _loss_value(loss_obj, y, y_pred, base_w * (1.0 + padded))
                    how = "weighting only"
            except Exception as exc:
                ctx._cache.setdefault("notes", []).append(
                    f"MC305 could not evaluate the loss of output {i}: {exc}"
                )
                continue
            if _same(before, after):
                continue
            masked = kb.get_mask(y_pred) is not None
            yield self.finding(
                f"output {i}: {how} the {int(padded.sum())} padded steps changes the compiled "
                f"loss {loss_obj.name} from {before:.6g} to {after:.6g}, so the loss counts padding "
                + (
                    "(the output carries a mask, but it does not cover these steps)."
                    if masked
                    else "(the output carries no mask)."
                ),
                (
                    "make the mask cover the padding: fix the data layout or mask value (see the MC2xx findings)"
                    if masked
                    else "make the output carry the mask (see MC101-MC107)"
                )
                + ", or weight the loss by the real steps: "
                "`model.fit(X, y, sample_weight=np.any(X != pad_value, axis=-1).astype('float32'))`",
                layer=head.path,
                loss_before=before,
                loss_after=after,
            )


def _regression_padded(ctx: AuditContext, i: int) -> np.ndarray | None:
    out = ctx.trace.outputs[i]
    so = shape(out)
    if len(so) < 3:
        return None
    return _x_padded(ctx, so[1])


def _autoencoder() -> CaseInput:
    inp = C.seq_input()
    x = layers.LSTM(6)(layers.Masking(0.0)(inp))
    out = layers.LSTM(3, return_sequences=True)(layers.RepeatVector(10)(x))
    model = keras.Model(inp, out)
    model.compile(loss="mse", optimizer="adam")
    x_data = C.padded_floats(n=32)
    return CaseInput(model, x_data, x_data)


def _masked_regressor() -> CaseInput:
    model = keras.Sequential(
        [C.seq_input(), layers.Masking(0.0), layers.LSTM(4, return_sequences=True), layers.Dense(3)]
    )
    model.compile(loss="mse", optimizer="adam")
    x_data = C.padded_floats(n=32)
    return CaseInput(model, x_data, x_data)


LossCountsPadding.INVALID = (
    Case("seq2seq autoencoder, mse on an unmasked output", _autoencoder, True),
    Case(
        "tagger without Masking, padding label 0 in the loss",
        _case(lambda: _tagger(units=3, masked=False)),
        True,
    ),
)
LossCountsPadding.VALID = (
    Case("masked tagger, sparse categorical cross-entropy", _case(lambda: _tagger(units=3)), False),
    Case("masked per-step regressor, mse", _masked_regressor, False),
)


@register
class LabelsMisaligned(OutputCheck):
    """## What it does
    Compares the padded positions of y with the padded steps of X, sample by sample.

    ## Why is this bad?
    If labels were padded on the other side (or truncated differently) every real step is
    trained against the label of another step.

    ## Example
    ```python
    X = pad_sequences(x_seqs, padding="post", dtype="float32")
    y = pad_sequences(y_seqs)                 # padding="pre" by default
    ```

    ## Use instead
    ```python
    y = pad_sequences(y_seqs, padding="post")
    ```
    """

    code = "MC306"
    name = "labels-misaligned"
    severity = Severity.ERROR
    summary = "the padded positions of y do not coincide with the padded steps of X"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if ctx.y is None or any(lay.transform for lay in ctx.layouts):
            return  # without y nothing to compare; with MC201 X's layout itself is wrong
        for i in self.outputs(ctx):
            head = head_of(ctx, i)
            so = shape(ctx.trace.outputs[i])
            if head is None or len(so) < 3 or i >= len(ctx.y):
                continue
            ids = _as_ids(ctx.y[i], head.units)
            x_pad = _x_padded(ctx, so[1])
            if ids is None or x_pad is None or ids.shape != x_pad.shape or not x_pad.any():
                continue
            at_pad = np.unique(ids[x_pad], return_counts=True)[1]
            if at_pad.max() / at_pad.sum() >= 0.9:
                continue  # y holds one label wherever X is padded: aligned
            vec, side, _ = detect_pad(ids.astype("float64"))
            if vec is None or side is None:
                continue
            p = int(np.asarray(vec).ravel()[0])
            y_pad = end_padding(ids == p, side)
            # real labels equal to the pad label may extend y's run: only y-padding outside X's padding counts
            differs = (y_pad & ~x_pad).any(axis=1) | (x_pad & ~y_pad & (ids != p)).any(axis=1)
            padded_samples = int((x_pad.any(axis=1) | y_pad.any(axis=1)).sum())
            if not padded_samples or differs.sum() < max(1, 0.1 * padded_samples):
                continue
            bad = [int(v) for v in np.flatnonzero(differs)[:10]]
            yield self.finding(
                f"output {i}: in {int(differs.sum())} of {padded_samples} padded samples (e.g. {bad}) the "
                f"padding of y ({side}-padded with {p}) is not where X is padded (the mask).",
                'pad X and y the same way: `pad_sequences(y_seqs, padding="post", maxlen=T)` like X',
                samples=bad,
            )


LabelsMisaligned.INVALID = (
    Case("y pre-padded, X post-padded", _case(lambda: _tagger(units=3), y_side="pre"), True),
)
LabelsMisaligned.VALID = (Case("y and X post-padded", _case(lambda: _tagger(units=3)), False),)


@register
class MetricCountsPadding(OutputCheck):
    """## What it does
    Checks each compiled metric: confusion-matrix metrics (Precision, Recall, AUC, F1Score, ...)
    ignore masks in Keras 3.15; any metric whose value changes when y changes only at padded
    steps counts padding. Fresh copies of the metrics are used; the compiled ones are untouched.

    ## Why is this bad?
    The reported metric mixes padding with data: precision and recall of the padding class,
    accuracy inflated by easy padded steps.

    ## Example
    ```python
    model.compile(loss="binary_crossentropy", metrics=[keras.metrics.Precision()])
    ```

    ## Use instead
    ```python
    # evaluate on real steps yourself
    real = np.any(X != 0.0, axis=-1)
    keras.metrics.Precision()(y[real], model.predict(X)[real])
    ```
    """

    code = "MC307"
    name = "metric-counts-padding"
    severity = Severity.WARNING
    summary = "a compiled metric ignores the mask or changes with y at padded steps"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        metrics, weighted = kb.compiled_metric_identifiers(ctx.model)
        if not metrics and not weighted:
            return
        names = list(getattr(ctx.model, "output_names", None) or [])
        for i in self.outputs(ctx):
            lab, head = labels_for(ctx, i), head_of(ctx, i)
            if lab is None or head is None or ctx.y is None or not lab.padded.any():
                continue
            idents = _metrics_for(metrics, names, i) + _metrics_for(weighted, names, i)
            y, y_pred = ctx.y[i], ctx.trace.outputs[i]
            info = loss_info(loss_identifier(ctx.model, i))
            kind = info.kind if info else ("binary" if head.units == 1 else "sparse_categorical")
            y2 = _perturbed(y, lab.padded, kind, head.units)
            for ident in idents:
                try:
                    legacy = kb.is_legacy(ctx.model)
                    m1 = kb.resolve_metric(ident, y, y_pred, legacy)
                    m2 = kb.resolve_metric(ident, y, y_pred, legacy)
                    # tf_keras applies the mask in its metrics container, as sample_weight
                    mask = kb.get_mask(y_pred) if legacy else None
                    sw = None if mask is None else np.asarray(kb.to_numpy(mask), dtype="float32")
                    m1.update_state(y, y_pred, sample_weight=sw)
                    m2.update_state(y2, y_pred, sample_weight=sw)
                    r1, r2 = (
                        float(np.mean(kb.to_numpy(m1.result()))),
                        float(np.mean(kb.to_numpy(m2.result()))),
                    )
                except Exception:
                    continue
                cls = type(m1).__name__
                changed = abs(r1 - r2) > 1e-6 * max(1.0, abs(r1))
                if not changed and (cls not in CONFUSION_METRICS or legacy):
                    continue
                why = (
                    f"changes from {r1:.4g} to {r2:.4g} when y changes only at padded steps"
                    if changed
                    else "is a confusion-matrix metric, which ignores masks in Keras 3.15"
                )
                yield self.finding(
                    f"output {i}: metric '{m1.name}' ({cls}) {why}, so it counts padding.",
                    "compute it on real steps only, e.g. `keras.metrics."
                    f"{cls}()(y[real], y_pred[real])` with `real = np.any(X != pad_value, axis=-1)`, or "
                    "pass the mask as `sample_weight` to `evaluate`",
                    layer=head.path,
                    metric=m1.name,
                    before=r1,
                    after=r2,
                )


def _metrics_for(spec: Any, names: list[str], i: int) -> list[Any]:
    if spec is None:
        return []
    if isinstance(spec, dict):
        v = spec.get(names[i]) if i < len(names) else None
        return [] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]
    if isinstance(spec, (list, tuple)):
        if spec and all(isinstance(s, (list, tuple)) or s is None for s in spec):
            v = spec[i] if i < len(spec) else None
            return [] if v is None else list(v)
        return list(spec)
    return [spec]


def _binary_tagger(metrics: Any) -> Any:
    def build() -> CaseInput:
        model = _tagger(units=1, activation="sigmoid", loss="binary_crossentropy", metrics=metrics)
        x = C.padded_floats(n=32)
        y = (np.random.default_rng(2).random((32, 10)) > 0.5).astype("float32")
        y[~x.any(-1)] = 0.0
        return CaseInput(model, x, y)

    return build


MetricCountsPadding.INVALID = (
    Case("Precision on a masked per-step output", _binary_tagger([keras.metrics.Precision()]), True),
)
MetricCountsPadding.VALID = (
    Case("accuracy on a masked per-step output", _binary_tagger(["accuracy"]), False),
    Case("no metrics", _binary_tagger(None), False),
)


@register
class SampleWeightShape(OutputCheck):
    """## What it does
    Finds a per-sample `sample_weight` of shape (batch,) given for an output that carries a
    (batch, time) mask.

    ## Why is this bad?
    In Keras 3.15 the loss combines the mask and the weights by broadcasting, and a (batch,)
    vector does not broadcast against (batch, time): `fit` crashes inside the loss with a shape
    error that does not mention sample weights.

    ## Example
    ```python
    model.fit(X, y, sample_weight=w)            # w.shape == (batch,)
    ```

    ## Use instead
    ```python
    model.fit(X, y, sample_weight=w[:, None])   # (batch, 1) broadcasts over time
    ```
    """

    code = "MC308"
    name = "sample-weight-shape"
    severity = Severity.ERROR
    summary = "a (batch,) sample_weight with a (batch, time) mask crashes the loss"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        w = ctx.sample_weight
        if w is None or np.ndim(w) != 1:
            return
        for i in self.outputs(ctx):
            out = ctx.trace.outputs[i]
            m = kb.get_mask(out)
            if m is None or len(shape(m)) < 2:
                continue
            yield self.finding(
                f"sample_weight has shape {np.shape(w)} but output {i} carries a {shape(m)} mask: Keras "
                "cannot broadcast the two and `fit` fails inside the loss.",
                "`sample_weight=w[:, None]` (shape (batch, 1)), or a (batch, time) array",
                output=i,
            )


def _weighted(shape_kind: str) -> Any:
    def build() -> CaseInput:
        x = C.padded_floats(n=32)
        y = C.step_labels(x, n_classes=2) - 1
        y[~x.any(-1)] = 0
        w = np.linspace(0.5, 1.5, 32).astype("float32")
        w = {"vector": w, "column": w[:, None], "matrix": x.any(-1).astype("float32")}[shape_kind]
        return CaseInput(_tagger(units=2), x, y, {"sample_weight": w})

    return build


SampleWeightShape.INVALID = (Case("sample_weight of shape (batch,)", _weighted("vector"), True),)
SampleWeightShape.VALID = (
    Case("sample_weight of shape (batch, 1)", _weighted("column"), False),
    Case("sample_weight of shape (batch, time)", _weighted("matrix"), False),
)
