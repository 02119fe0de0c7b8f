"""MC103 op-drops-mask: a keras.ops call or Python operator silently loses the mask."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from maskcheck import bridge as kb
from maskcheck.checks.base import CaseInput, Check, Invalid, Kit, Valid
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import first_harm, shape, time_len, uses_mask
from maskcheck.report import Finding, Severity
from maskcheck.trace import CallEvent


def _between_masking_and_lstm(t: Kit, step: Callable[[Any], Any]) -> CaseInput:
    """Masking -> `step` (a layer, or a function of the tensor) -> LSTM."""
    inp = t.seq_input()
    x = t.layers.Masking(0.0)(inp)
    x = step(x)
    out = t.layers.LSTM(3)(x)
    return CaseInput(t.keras.Model(inp, out), t.padded_floats())


def _subclassed(t: Kit, cls: type) -> CaseInput:
    model = cls()
    x = t.padded_floats()
    model(x[:2])
    return CaseInput(model, x)


class OpDropsMask(Check):
    """## What it does
    Finds a non-layer operation between two layers that loses the mask: `keras.ops.*`, Python
    operators on tensors (`x * 2`), or untracked tensor code inside a subclassed `call()`.

    ## Why is this bad?
    Operations are not layers: they never carry `_keras_mask`, and Keras gives no warning. The
    next RNN, attention or pooling layer runs over padding, and the loss counts padded steps.

    ## Known problems
    Operations are seen as such only in functional graphs. Inside a subclassed `call()` only the
    layer calls are traced: a layer input that no traced call produced is taken to come from the
    latest earlier sibling whose masked output has the same time length, which can name the
    wrong source when several are alike. Like MC101 it reports only when something downstream
    needed the mask. No named thresholds.

    ## Example
    ```python
    x = layers.Masking(0.0)(inp)
    x = x * 2                       # the mask is gone
    out = layers.LSTM(16)(x)
    ```

    ## Use instead
    ```python
    x = layers.Masking(0.0)(inp)
    x = layers.Rescaling(2.0)(x)    # a layer that supports masking
    out = layers.LSTM(16)(x)
    ```
    """

    code = "MC103"
    name = "op-drops-mask"
    severity = Severity.ERROR
    family = "propagation"
    summary = "a keras.ops call or Python operator silently loses the mask"

    INVALID = (
        Invalid(
            "Masking -> keras.ops.multiply -> LSTM",
            lambda t: _between_masking_and_lstm(t, lambda x: t.ops.multiply(x, 2.0)),
        ),
        Invalid("Masking -> x * 2 -> LSTM", lambda t: _between_masking_and_lstm(t, lambda x: x * 2)),
        Invalid(
            "subclassed call(): x * 2 between Masking and LSTM",
            lambda t: _subclassed(t, t.custom_layers.LeakySubclass),
        ),
    )
    VALID = (
        Valid(
            "Masking -> Rescaling(2.0) -> LSTM",
            lambda t: _between_masking_and_lstm(t, t.layers.Rescaling(2.0)),
        ),
        Valid(
            "subclassed call() passing mask= explicitly",
            lambda t: _subclassed(t, t.custom_layers.CarefulSubclass),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        trace = ctx.trace
        for ev in ctx.events:
            if ev.is_op and ev.has_input_mask and not ev.has_output_mask:
                t_len = time_len(ev.first_input_mask())
                harm = first_harm(trace, ev, t_len, ctx.model)
                if harm is None:
                    continue
                src = next((trace.producer.get(id(t)) for t in ev.inputs if kb.get_mask(t) is not None), None)
                yield self.finding(
                    f"the operation `{ev.name}` ({ev.class_name}) after "
                    f"'{src.path if src else 'the input'}' returns a tensor without the mask; "
                    f"{harm.text}. Keras gives no warning for this.",
                    self._fix(ev.class_name),
                    layer=ev.path,
                    operation=ev.class_name,
                    needed_by=harm.event.path if harm.event else f"output {harm.output_index}",
                )
            elif ev.untracked_inputs and not ev.is_op:
                yield from self._gap(ctx, ev)

    def _fix(self, op: str) -> str:
        if op in {"Multiply", "Add", "Subtract", "Divide", "TrueDivide"}:
            return (
                "use a layer that supports masking (`layers.Rescaling(2.0)`, `layers.Add()`), or "
                "pass the mask on explicitly: `layers.LSTM(units)(x, mask=mask)`"
            )
        return (
            "wrap the operation in a layer with `supports_masking = True`, or pass `mask=` to the next layer"
        )

    def _gap(self, ctx: AuditContext, ev: CallEvent) -> Iterable[Finding]:
        trace = ctx.trace
        if uses_mask(ev.layer) and ev.has_received_mask:
            return
        parent = ev.parent
        for i in ev.untracked_inputs:
            t = ev.inputs[i]
            if kb.get_mask(t) is not None:
                continue
            s = shape(t)
            candidates = [
                e
                for e in (parent.children if parent else [])
                if e.index < ev.index and e.has_output_mask and time_len(e.output_masks[0]) in s[1:2]
            ]
            if not candidates:
                continue
            src = candidates[-1]
            harm = first_harm(
                trace, ev, time_len(src.output_masks[0]), ctx.model, tensors=[t], after=ev.index - 1
            )
            if harm is None:
                continue
            yield self.finding(
                f"tensor code in '{parent.path if parent and parent.path else 'the model'}'.call() "
                f"between '{src.path}' and '{ev.path}' loses the mask; {harm.text}.",
                "use layers for the steps in between, or pass the mask explicitly: "
                f"`mask = self.{src.name}.compute_mask(inputs)` then `self.{ev.name}(x, mask=mask)`",
                layer=ev.path,
                source=src.path,
                needed_by=harm.event.path if harm.event else f"output {harm.output_index}",
            )
            return
