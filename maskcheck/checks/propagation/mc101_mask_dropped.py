"""MC101 mask-dropped: a layer without mask support destroys the mask but keeps the time axis."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from maskcheck.checks.base import CaseInput, Check, Invalid, Kit, Valid
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import (
    first_harm,
    is_merge,
    keeps_time_axis,
    masked_samples,
    shape,
    time_len,
    uses_mask,
)
from maskcheck.report import Finding, Severity
from maskcheck.trace import CallEvent, is_user_code

_SHIFTING_LAYERS = {
    "Conv1D",
    "SeparableConv1D",
    "DepthwiseConv1D",
    "ZeroPadding1D",
    "Cropping1D",
    "UpSampling1D",
}


def _drop_fix(ev: CallEvent) -> str:
    cls = ev.class_name
    if cls == "Lambda":
        return "pass the mask through the Lambda: `layers.Lambda(fn, mask=lambda inputs, mask=None: mask)`"
    if cls in _SHIFTING_LAYERS:
        return (
            f"move the mask source after `{ev.name}` (apply `layers.Masking(...)` / "
            "`Embedding(mask_zero=True)` later), or carry the mask yourself: "
            "`mask = keras.ops.any(inputs != 0.0, axis=-1)` then "
            "`layers.LSTM(units)(x, mask=mask)`"
        )
    if cls in {"Reshape", "Permute"}:
        return (
            f"keep the time axis in place, or compute the mask before `{ev.name}` and pass it on "
            "explicitly: `next_layer(x, mask=mask)`"
        )
    if is_user_code(ev.layer):
        return (
            f"in `{cls}.__init__` set `self.supports_masking = True` (if it works step by step), "
            f"or implement `def compute_mask(self, inputs, mask=None): return mask`"
        )
    return f"give the layer after `{ev.name}` the mask explicitly: `next_layer(x, mask=mask)`"


def _conv(t: Kit) -> CaseInput:
    model = t.keras.Sequential(
        [t.seq_input(), t.layers.Masking(0.0), t.layers.Conv1D(4, 1), t.layers.LSTM(3)]
    )
    return CaseInput(model, t.padded_floats())


def _lambda(t: Kit, **mask: Any) -> CaseInput:
    inp = t.seq_input()
    x = t.layers.Masking(0.0)(inp)
    x = t.layers.Lambda(lambda v: v * 2.0, **mask)(x)
    out = t.layers.LSTM(3)(x)
    return CaseInput(t.keras.Model(inp, out), t.padded_floats())


def _custom(t: Kit, layer: Any) -> CaseInput:
    model = t.keras.Sequential([t.seq_input(), t.layers.Masking(0.0), layer, t.layers.LSTM(3)])
    return CaseInput(model, t.padded_floats())


def _conv_before_masking(t: Kit) -> CaseInput:
    model = t.keras.Sequential(
        [t.seq_input(), t.layers.Conv1D(4, 1), t.layers.Masking(0.0), t.layers.LSTM(3)]
    )
    return CaseInput(model, t.padded_floats())


class MaskDropped(Check):
    """## What it does
    Finds a layer that receives a mask, does not support masking, and still returns the masked
    time axis: Conv1D, Reshape, Permute, ZeroPadding1D, a `Lambda` without `mask=`, or a custom
    layer without `supports_masking`/`compute_mask`. Keras destroys the mask there.

    ## Why is this bad?
    Everything after the layer treats padded steps as real: RNNs run over the padding, poolings
    average it in, and the compiled loss and metrics count padded steps. Keras only prints a
    `UserWarning` that is easy to miss.

    ## Known problems
    It reports a dropped mask only when something downstream needed it: a layer that reads a
    mask and received none, a layer that mixes steps, or a model output that keeps the time
    axis. A mask dropped right before a head that ignores masks anyway is not reported (MC108
    still sees any leak). A layer whose `call` takes a `mask` argument and received one counts
    as consuming the mask, even if it ignores it. Merge layers are left to MC106 and operations
    to MC103. The suggested fix depends on the layer's class name; other layers get the generic
    advice to pass `mask=` on. No named thresholds.

    ## Example
    ```python
    model = keras.Sequential([
        keras.Input((20, 5)),
        layers.Masking(0.0),
        layers.Conv1D(8, 1),            # drops the mask
        layers.LSTM(16),                # runs over padding
    ])
    ```

    ## Use instead
    ```python
    model = keras.Sequential([
        keras.Input((20, 5)),
        layers.Conv1D(8, 1),
        layers.Masking(0.0),            # create the mask after the layer that cannot carry it
        layers.LSTM(16),
    ])
    ```
    """

    code = "MC101"
    name = "mask-dropped"
    severity = Severity.ERROR
    family = "propagation"
    summary = "a layer without mask support destroys the mask but keeps the time axis"

    INVALID = (
        Invalid("Masking -> Conv1D(kernel 1) -> LSTM", _conv),
        Invalid("Masking -> Lambda(x * 2) -> LSTM", _lambda),
        Invalid(
            "Masking -> custom layer without supports_masking -> LSTM",
            lambda t: _custom(t, t.custom_layers.Scale()),
        ),
    )
    VALID = (
        Valid(
            "Masking -> Lambda(..., mask=passthrough) -> LSTM",
            lambda t: _lambda(t, mask=lambda inputs, mask=None: mask),
        ),
        Valid(
            "Masking -> custom layer with supports_masking -> LSTM",
            lambda t: _custom(t, t.custom_layers.MaskedScale()),
        ),
        Valid("Conv1D before Masking", _conv_before_masking),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        trace = ctx.trace
        for ev in ctx.events:
            if ev.is_op or is_merge(ev) or not ev.has_input_mask or ev.has_output_mask:
                continue
            if getattr(ev.layer, "supports_masking", False):
                continue
            if uses_mask(ev.layer) and ev.has_received_mask:
                continue
            t_len = time_len(ev.first_input_mask())
            if not any(keeps_time_axis(o, t_len) for o in ev.outputs):
                continue
            harm = first_harm(trace, ev, t_len, ctx.model)
            if harm is None:
                continue
            needed = harm.event.path if harm.event is not None else f"output {harm.output_index}"
            yield self.finding(
                f"'{ev.path}' ({ev.class_name}) receives a mask but does not support masking, so "
                f"its output (shape {shape(ev.outputs[0])}) has no mask; {harm.text}.",
                _drop_fix(ev),
                layer=ev.path,
                needed_by=needed,
                keras_warned=bool(ev.warnings),
                samples=masked_samples(ev.first_input_mask()),
            )
