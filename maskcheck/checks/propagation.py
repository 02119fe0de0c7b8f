"""MC1xx: how the mask travels through the model (traced on the real forward pass)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from maskcheck import bridge as kb
from maskcheck import testing as C
from maskcheck.checks._legacy import Case, register
from maskcheck.checks.base import CaseInput, Check
from maskcheck.facts.context import AuditContext
from maskcheck.facts.graph import (
    creators,
    first_harm,
    has_gaps,
    is_merge,
    keeps_time_axis,
    masked_samples,
    mixing_reason,
    reachable_from,
    role_of,
    shape,
    time_aligned,
    time_len,
    uses_mask,
)
from maskcheck.report import Finding, Role, Severity
from maskcheck.trace import CallEvent, is_user_code

SAMPLE_WEIGHT_FIX = (
    "or keep the model and weight the loss by the mask: "
    "`model.fit(X, y, sample_weight=np.any(X != pad_value, axis=-1).astype('float32'))`"
)


def _drop_fix(ev: CallEvent) -> str:
    cls = ev.class_name
    if cls == "Lambda":
        return "pass the mask through the Lambda: `layers.Lambda(fn, mask=lambda inputs, mask=None: mask)`"
    if cls in {"Conv1D", "SeparableConv1D", "DepthwiseConv1D", "ZeroPadding1D", "Cropping1D", "UpSampling1D"}:
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


@register
class MaskDropped(Check):
    """## What it does
    Finds a layer that receives a mask, does not support masking, and still returns the masked
    time axis: Conv1D, Reshape, Permute, ZeroPadding1D, a `Lambda` without `mask=`, or a custom
    layer without `supports_masking`/`compute_mask`. Keras destroys the mask there.

    ## Why is this bad?
    Everything after the layer treats padded steps as real: RNNs run over the padding, poolings
    average it in, and the compiled loss and metrics count padded steps. Keras only prints a
    `UserWarning` that is easy to miss.

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


def _mk_conv() -> CaseInput:
    model = keras.Sequential([C.seq_input(), layers.Masking(0.0), layers.Conv1D(4, 1), layers.LSTM(3)])
    return CaseInput(model, C.padded_floats())


def _mk_lambda() -> CaseInput:
    inp = C.seq_input()
    x = layers.Masking(0.0)(inp)
    x = layers.Lambda(lambda t: t * 2.0)(x)
    out = layers.LSTM(3)(x)
    return CaseInput(keras.Model(inp, out), C.padded_floats())


class Scale(layers.Layer):
    """A custom elementwise layer that forgot `supports_masking`."""

    def call(self, inputs: Any) -> Any:
        return inputs * 2.0


class MaskedScale(layers.Layer):
    """The same layer, declaring that it carries the mask."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any) -> Any:
        return inputs * 2.0


def _mk_custom(cls: type) -> Any:
    def build() -> CaseInput:
        model = keras.Sequential([C.seq_input(), layers.Masking(0.0), cls(), layers.LSTM(3)])
        return CaseInput(model, C.padded_floats())

    return build


def _mk_lambda_with_mask() -> CaseInput:
    inp = C.seq_input()
    x = layers.Masking(0.0)(inp)
    x = layers.Lambda(lambda t: t * 2.0, mask=lambda inputs, mask=None: mask)(x)
    out = layers.LSTM(3)(x)
    return CaseInput(keras.Model(inp, out), C.padded_floats())


def _mk_conv_before_masking() -> CaseInput:
    model = keras.Sequential([C.seq_input(), layers.Conv1D(4, 1), layers.Masking(0.0), layers.LSTM(3)])
    return CaseInput(model, C.padded_floats())


MaskDropped.INVALID = (
    Case("Masking -> Conv1D(kernel 1) -> LSTM", _mk_conv, True),
    Case("Masking -> Lambda(x * 2) -> LSTM", _mk_lambda, True),
    Case("Masking -> custom layer without supports_masking -> LSTM", _mk_custom(Scale), True),
)
MaskDropped.VALID = (
    Case("Masking -> Lambda(..., mask=passthrough) -> LSTM", _mk_lambda_with_mask, False),
    Case("Masking -> custom layer with supports_masking -> LSTM", _mk_custom(MaskedScale), False),
    Case("Conv1D before Masking", _mk_conv_before_masking, False),
)


@register
class OutputUnmasked(Check):
    """## What it does
    Finds a model output that keeps the time axis of a masked input but carries no mask at run
    time. The compiled loss and the mean-style metrics read the mask of `y_pred`; without it they
    average over padded steps. The classic case is the sequence autoencoder: the encoder
    `LSTM(return_sequences=False)` consumes the mask and `RepeatVector` rebuilds a time axis
    without one.

    ## Why is this bad?
    The loss is computed on padding as well as on data. The model learns to reproduce the pad
    value, and accuracy is inflated (or deflated) by the padded steps.

    ## Example
    ```python
    inp = keras.Input((20, 5))
    x = layers.Masking(0.0)(inp)
    x = layers.LSTM(32)(x)                      # consumes the mask
    x = layers.RepeatVector(20)(x)              # new time axis, no mask
    out = layers.LSTM(5, return_sequences=True)(x)
    ```

    ## Use instead
    ```python
    # weight the loss by the mask yourself
    model.fit(X, X, sample_weight=np.any(X != 0.0, axis=-1).astype("float32"))
    ```
    """

    code = "MC102"
    name = "output-unmasked"
    severity = Severity.ERROR
    family = "propagation"
    summary = "a time-aligned model output has no mask, so the loss counts padding"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        trace = ctx.trace
        sources = creators(trace)
        if not sources:
            return
        reach = reachable_from(trace, sources)
        gaps = has_gaps(trace)
        for i, out in enumerate(trace.outputs):
            if kb.get_mask(out) is not None:
                continue
            for src in sources:
                mask = src.output_masks[0]
                t_len = time_len(mask)
                if not time_aligned(out, t_len) or not (id(out) in reach or gaps):
                    continue
                lost = [
                    e for e in ctx.events if role_of(e) in (Role.DROPS, Role.CONSUMES) and e.index > src.index
                ]
                where = (
                    f" The mask was last seen going into '{lost[-1].path}' ({lost[-1].class_name})."
                    if lost
                    else ""
                )
                share = 1.0 - float(np.asarray(kb.to_numpy(mask), dtype=bool).mean())
                yield self.finding(
                    f"model output {i} (shape {shape(out)}) is aligned with the mask of "
                    f"'{src.path}' ({share:.0%} of steps padded) but carries no mask, so the "
                    f"compiled loss and metrics count padded steps.{where}",
                    "make the layers up to the output carry the mask (mask-aware layers, "
                    "`return_sequences=True`, pass `mask=` explicitly), " + SAMPLE_WEIGHT_FIX,
                    layer=lost[-1].path if lost else None,
                    output=i,
                    source=src.path,
                    samples=masked_samples(mask),
                )
                break


def _mk_autoencoder() -> CaseInput:
    inp = C.seq_input()
    x = layers.Masking(0.0)(inp)
    x = layers.LSTM(8)(x)
    x = layers.RepeatVector(10)(x)
    out = layers.LSTM(3, return_sequences=True)(x)
    return CaseInput(keras.Model(inp, out), C.padded_floats())


def _mk_tagger() -> CaseInput:
    return CaseInput(C.masked_tagger(), C.padded_floats())


def _mk_classifier() -> CaseInput:
    model = keras.Sequential(
        [C.seq_input(), layers.Masking(0.0), layers.LSTM(4), layers.Dense(2, activation="softmax")]
    )
    return CaseInput(model, C.padded_floats())


OutputUnmasked.INVALID = (
    Case("seq2seq autoencoder: LSTM -> RepeatVector -> LSTM(return_sequences)", _mk_autoencoder, True),
)
OutputUnmasked.VALID = (
    Case("Masking -> BiLSTM -> TimeDistributed(Dense) tagger", _mk_tagger, False),
    Case("Masking -> LSTM -> Dense: one vector per sequence", _mk_classifier, False),
)


@register
class OpDropsMask(Check):
    """## What it does
    Finds a non-layer operation between two layers that loses the mask: `keras.ops.*`, Python
    operators on tensors (`x * 2`), or untracked tensor code inside a subclassed `call()`.

    ## Why is this bad?
    Operations are not layers: they never carry `_keras_mask`, and Keras gives no warning. The
    next RNN, attention or pooling layer runs over padding, and the loss counts padded steps.

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


def _mk_ops_multiply() -> CaseInput:
    inp = C.seq_input()
    x = layers.Masking(0.0)(inp)
    x = ops.multiply(x, 2.0)
    out = layers.LSTM(3)(x)
    return CaseInput(keras.Model(inp, out), C.padded_floats())


def _mk_operator() -> CaseInput:
    inp = C.seq_input()
    x = layers.Masking(0.0)(inp)
    x = x * 2
    out = layers.LSTM(3)(x)
    return CaseInput(keras.Model(inp, out), C.padded_floats())


class LeakySubclass(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.masking = layers.Masking(0.0)
        self.lstm = layers.LSTM(3)

    def call(self, inputs: Any) -> Any:
        x = self.masking(inputs)
        x = x * 2.0
        return self.lstm(x)


class CarefulSubclass(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.masking = layers.Masking(0.0)
        self.lstm = layers.LSTM(3)

    def call(self, inputs: Any) -> Any:
        x = self.masking(inputs)
        mask = self.masking.compute_mask(inputs)
        x = x * 2.0
        return self.lstm(x, mask=mask)


def _mk_sub(cls: type) -> Any:
    def build() -> CaseInput:
        model = cls()
        x = C.padded_floats()
        model(x[:2])
        return CaseInput(model, x)

    return build


def _mk_rescaling() -> CaseInput:
    inp = C.seq_input()
    x = layers.Masking(0.0)(inp)
    x = layers.Rescaling(2.0)(x)
    out = layers.LSTM(3)(x)
    return CaseInput(keras.Model(inp, out), C.padded_floats())


OpDropsMask.INVALID = (
    Case("Masking -> keras.ops.multiply -> LSTM", _mk_ops_multiply, True),
    Case("Masking -> x * 2 -> LSTM", _mk_operator, True),
    Case("subclassed call(): x * 2 between Masking and LSTM", _mk_sub(LeakySubclass), True),
)
OpDropsMask.VALID = (
    Case("Masking -> Rescaling(2.0) -> LSTM", _mk_rescaling, False),
    Case("subclassed call() passing mask= explicitly", _mk_sub(CarefulSubclass), False),
)


_REDUCER_FIX = {
    "GlobalMaxPooling1D": (
        "use `layers.GlobalAveragePooling1D()` (it reads the mask), or mask before the max: "
        "`x = keras.ops.where(mask[..., None], x, -1e9)`"
    ),
    "Flatten": "replace `Flatten()` with `layers.GlobalAveragePooling1D()` or an RNN such as `layers.LSTM(units)`",
}


@register
class ReductionOverPadding(Check):
    """## What it does
    Finds a layer that reduces or mixes values across the masked time axis without reading the
    mask: GlobalMaxPooling1D, Flatten, MaxPooling1D/AveragePooling1D, Conv1D with a kernel or
    stride larger than 1, a `Lambda` or custom layer that takes a mean over time.
    (`GlobalAveragePooling1D` with the mask present is correct.)

    ## Why is this bad?
    The reduction sees the padded steps as data: a max over padding, a mean divided by the
    padded length, a convolution that smears padding into the last real steps. The result depends
    on how much padding each sample has.

    ## Example
    ```python
    x = layers.Embedding(1000, 32, mask_zero=True)(ids)
    x = layers.GlobalMaxPooling1D()(x)   # ignores the mask
    ```

    ## Use instead
    ```python
    x = layers.Embedding(1000, 32, mask_zero=True)(ids)
    x = layers.GlobalAveragePooling1D()(x)   # averages real steps only
    ```
    """

    code = "MC104"
    name = "reduction-over-padding"
    severity = Severity.ERROR
    family = "propagation"
    summary = "a pooling, Flatten, convolution or mean mixes padded steps into the result"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for ev in ctx.events:
            if ev.is_op and not ev.has_input_mask:
                continue
            if not ev.any_mask_in:
                continue
            mask = ev.first_input_mask()
            t_len = time_len(mask)
            reason = mixing_reason(ev, t_len)
            if reason is None:
                continue
            fix = _REDUCER_FIX.get(
                ev.class_name,
                "reduce with a mask-aware layer (`layers.GlobalAveragePooling1D()`, "
                "`layers.LSTM(units)`), or use the mask explicitly, e.g. "
                "`keras.ops.sum(x * mask[..., None], 1) / keras.ops.sum(mask, 1, keepdims=True)`",
            )
            yield self.finding(
                f"'{ev.path}': {reason}; the padded steps of {len(masked_samples(mask, 10**9))} "
                "sample(s) change its result.",
                fix,
                layer=ev.path,
                samples=masked_samples(mask),
            )


def _mk_reducer(layer_factory: Any, ids: bool = False) -> Any:
    def build() -> CaseInput:
        if ids:
            inp = keras.Input((10,), dtype="int32")
            x = layers.Embedding(20, 4, mask_zero=True)(inp)
            data = C.padded_ids()
        else:
            inp = C.seq_input()
            x = layers.Masking(0.0)(inp)
            data = C.padded_floats()
        x = layer_factory()(x)
        out = layers.Dense(2)(x)
        return CaseInput(keras.Model(inp, out), data)

    return build


ReductionOverPadding.INVALID = (
    Case("Masking -> GlobalMaxPooling1D", _mk_reducer(layers.GlobalMaxPooling1D), True),
    Case("Embedding(mask_zero) -> Flatten", _mk_reducer(layers.Flatten, ids=True), True),
    Case("Masking -> Conv1D(kernel 3)", _mk_reducer(lambda: layers.Conv1D(4, 3, padding="same")), True),
    Case(
        "Masking -> Lambda(mean over time)",
        _mk_reducer(lambda: layers.Lambda(lambda t: ops.mean(t, axis=1))),
        True,
    ),
)
ReductionOverPadding.VALID = (
    Case(
        "Embedding(mask_zero) -> GlobalAveragePooling1D",
        _mk_reducer(layers.GlobalAveragePooling1D, ids=True),
        False,
    ),
    Case("Masking -> LSTM (reads the mask)", _mk_reducer(lambda: layers.LSTM(3)), False),
    Case("Masking -> Conv1D(kernel 1) keeps steps apart", _mk_reducer(lambda: layers.Conv1D(4, 1)), False),
)


@register
class MaskMisaligned(Check):
    """## What it does
    Finds a mask whose length no longer matches the time axis of the tensor it rides on, or of
    the input it is passed to: a custom length-changing layer that declares `supports_masking`,
    a concatenation along time, a wrapper given a mask of the wrong length.

    ## Why is this bad?
    Keras either crashes later with a shape error far from the cause, or broadcasts the mask
    onto the wrong steps so that real steps are dropped and padded ones kept.

    ## Example
    ```python
    class Downsample(layers.Layer):
        def __init__(self):
            super().__init__()
            self.supports_masking = True     # passes the length-20 mask on unchanged
        def call(self, x):
            return x[:, ::2]                 # length 10
    ```

    ## Use instead
    ```python
    class Downsample(layers.Layer):
        def call(self, x):
            return x[:, ::2]
        def compute_mask(self, x, mask=None):
            return None if mask is None else mask[:, ::2]
    ```
    """

    code = "MC105"
    name = "mask-misaligned"
    severity = Severity.ERROR
    family = "propagation"
    summary = "the mask length no longer matches the tensor's time axis"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        err = ctx.trace.error
        if err is not None and "mask" in str(err).lower():
            yield self.finding(
                f"the forward pass failed on a mask shape: {str(err).splitlines()[0][:300]}",
                "make the mask's (batch, time) match the input's first two dimensions",
            )
        reported: set[int] = set()
        for ev in ctx.events:
            pairs: list[tuple[Any, Any, str]] = []
            for o, m in zip(ev.outputs, ev.output_masks, strict=False):
                if m is not None:
                    pairs.append((o, m, "output"))
            if ev.first_inputs:
                for m in ev.received_masks[:1]:
                    pairs.append((ev.first_inputs[0], m, "received"))
            for t, m, kind in pairs:
                st, sm = shape(t), shape(m)
                if id(m) in reported:
                    continue
                if len(st) >= 2 and len(sm) >= 2 and None not in (st[1], sm[1]) and st[1] != sm[1]:
                    reported.add(id(m))
                    yield self.finding(
                        f"'{ev.path}' ({ev.class_name}): the {kind} mask has {sm[1]} steps but the "
                        f"tensor has {st[1]} (shapes {sm} vs {st}).",
                        f"implement `compute_mask` in {ev.class_name} so the mask is resized with the "
                        "tensor (e.g. `mask[:, ::2]`), or return `None` and re-create the mask later",
                        layer=ev.path,
                        mask_steps=sm[1],
                        tensor_steps=st[1],
                    )
                    break


class Downsample(layers.Layer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any) -> Any:
        return inputs[:, ::2]

    def compute_output_shape(self, input_shape: Any) -> Any:
        t = input_shape[1]
        return (input_shape[0], None if t is None else (t + 1) // 2, *input_shape[2:])


class DownsampleWithMask(Downsample):
    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None if mask is None else mask[:, ::2]


def _mk_down(cls: type) -> Any:
    def build() -> CaseInput:
        model = keras.Sequential(
            [C.seq_input(), layers.Masking(0.0), cls(), layers.LSTM(3, return_sequences=True)]
        )
        return CaseInput(model, C.padded_floats())

    return build


MaskMisaligned.INVALID = (
    Case("custom downsampling layer that passes the mask on unchanged", _mk_down(Downsample), True),
)
MaskMisaligned.VALID = (
    Case("the same layer resizing its mask in compute_mask", _mk_down(DownsampleWithMask), False),
    Case("Masking -> BiLSTM -> TimeDistributed tagger", _mk_tagger, False),
)


@register
class MergeDropsMask(Check):
    """## What it does
    Finds a merge layer with one masked and one unmasked input. `Add`, `Subtract`, `Multiply`,
    `Average`, `Maximum` and `Minimum` then return no mask at all; `Concatenate(axis=-1)` returns
    an all-True mask, so padding becomes "real".

    ## Why is this bad?
    Keras gives no warning. Every layer after the merge, and the loss, treat padded steps as
    data.

    ## Example
    ```python
    x = layers.Masking(0.0)(inp)
    skip = layers.Dense(5)(inp)              # no mask on this branch
    x = layers.Add()([x, skip])              # output has no mask
    ```

    ## Use instead
    ```python
    x = layers.Masking(0.0)(inp)
    skip = layers.Dense(5)(x)                # branch from the masked tensor
    x = layers.Add()([x, skip])              # both inputs masked: mask kept
    ```
    """

    code = "MC106"
    name = "merge-drops-mask"
    severity = Severity.ERROR
    family = "propagation"
    summary = "a merge of a masked and an unmasked branch loses the mask or makes it all-True"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        trace = ctx.trace
        for ev in ctx.events:
            if not is_merge(ev):
                continue
            masks = ev.input_masks
            masked = [i for i, m in enumerate(masks) if m is not None]
            unmasked = [i for i, m in enumerate(masks) if m is None]
            if not masked or not unmasked:
                continue
            mask = masks[masked[0]]
            t_len = time_len(mask)
            names = [self._name(trace, ev.inputs[i]) for i in unmasked]
            clearers = [self._cleared_by(trace, ev, ev.inputs[i]) for i in unmasked]
            cleared = [c for c in clearers if c is not None]
            fix = (
                f"branch {', '.join(names)} from the masked tensor instead of the raw input, or put a "
                "mask on it (`layers.Masking(...)`) before the merge"
            )
            if cleared:
                names = [
                    f"{n} (its mask was removed at run time by '{c.path}' ({c.class_name}), which "
                    "clears the masks of its inputs during the call)"
                    if c
                    else n
                    for n, c in zip(names, clearers, strict=True)
                ]
                fix = (
                    "Keras itself removes the mask here, so mask the loss explicitly: "
                    "`model.fit(X, y, sample_weight=np.not_equal(ids, 0).astype('float32'))`, or "
                    "pool with `layers.GlobalAveragePooling1D()` (it receives the graph's mask)"
                )
            if not ev.has_output_mask:
                harm = first_harm(trace, ev, t_len, ctx.model)
                if harm is None:
                    continue
                yield self.finding(
                    f"'{ev.path}' ({ev.class_name}) merges a masked input with unmasked "
                    f"{', '.join(names)} and returns no mask; {harm.text}.",
                    fix,
                    layer=ev.path,
                    unmasked_inputs=names,
                )
                continue
            out = np.asarray(kb.to_numpy(ev.output_masks[0]), dtype=bool)
            src = np.asarray(kb.to_numpy(mask), dtype=bool)
            if out.shape == src.shape and bool(np.any(out & ~src)):
                yield self.finding(
                    f"'{ev.path}' ({ev.class_name}) merges a masked input with unmasked "
                    f"{', '.join(names)}: the output mask is True at {int(np.sum(out & ~src))} padded "
                    "step(s), so padding is treated as real data from here on.",
                    fix,
                    layer=ev.path,
                    unmasked_inputs=names,
                    samples=masked_samples(mask),
                )

    @staticmethod
    def _cleared_by(trace: Any, merge: CallEvent, tensor: Any) -> CallEvent | None:
        """The layer that removed the mask from `tensor` after it was produced with one."""
        prod = trace.producer.get(id(tensor))
        if prod is None:
            return None
        k = next((j for j, t in enumerate(prod.outputs) if t is tensor), None)
        if k is None or prod.output_masks[k] is None:
            return None
        for e in trace.events:
            if prod.index < e.index < merge.index and any(t is tensor for t in e.inputs):
                return e
        return None

    @staticmethod
    def _name(trace: Any, tensor: Any) -> str:
        prod = trace.producer.get(id(tensor))
        return f"'{prod.path}'" if prod is not None and prod.path else "the model input"


def _mk_merge(merge: Any, masked_skip: bool = False) -> Any:
    def build() -> CaseInput:
        inp = C.seq_input()
        x = layers.Masking(0.0)(inp)
        skip = layers.Dense(3)(x if masked_skip else inp)
        y = merge()([x, skip])
        out = layers.LSTM(3, return_sequences=True)(y)
        return CaseInput(keras.Model(inp, out), C.padded_floats())

    return build


def _mk_transformer(per_step: bool = False) -> Any:
    def build() -> CaseInput:
        inp = keras.Input((10,), dtype="int32")
        e = layers.Embedding(20, 8, mask_zero=True)(inp)
        a = layers.MultiHeadAttention(2, 4)(e, e)
        x = layers.Add()([e, a])
        x = layers.LayerNormalization()(x)
        out = layers.Dense(3)(x) if per_step else layers.GlobalAveragePooling1D()(x)
        return CaseInput(keras.Model(inp, out), C.padded_ids())

    return build


MergeDropsMask.INVALID = (
    Case("Add of a masked and an unmasked branch", _mk_merge(layers.Add), True),
    Case("Concatenate(axis=-1) of a masked and an unmasked branch", _mk_merge(layers.Concatenate), True),
)
MergeDropsMask.VALID = (
    Case("Add of two masked branches", _mk_merge(layers.Add, masked_skip=True), False),
    Case("Concatenate of two masked branches", _mk_merge(layers.Concatenate, masked_skip=True), False),
    Case("Transformer block: MHA + Add + LayerNorm + GlobalAveragePooling1D", _mk_transformer(), False),
)


@register
class NestedMaskDivergence(Check):
    """## What it does
    Compares the masks of the symbolic graph (`model.outputs[i]._keras_mask`, what Keras 2 users
    printed as `output_mask`) with the masks on the tensors of the real forward pass. Warns when
    the graph says an output is masked but the real output tensor, which the compiled loss reads,
    is not. Seen with MultiHeadAttention, which clears the masks of its inputs during the call,
    and with nested models.

    ## Why is this bad?
    Inspecting the graph tells you the model is masked; training says otherwise. The runtime
    answer is the truth.

    ## Example
    ```python
    e = layers.Embedding(1000, 32, mask_zero=True)(ids)
    a = layers.MultiHeadAttention(2, 16)(e, e)   # clears e's mask at run time
    x = layers.Add()([e, a])                     # graph: masked, runtime: not
    out = layers.Dense(5, activation="softmax")(x)
    ```

    ## Use instead
    ```python
    mask = keras.ops.not_equal(ids, 0)
    model.fit(X, y, sample_weight=mask.astype("float32"))   # or pool with GlobalAveragePooling1D
    ```
    """

    code = "MC107"
    name = "nested-mask-divergence"
    severity = Severity.WARNING
    family = "propagation"
    summary = "the symbolic graph and the real forward pass disagree about a mask"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        trace = ctx.trace
        for i, out in enumerate(trace.outputs):
            sym = ctx.symbolic_output_mask(i)
            if sym is not True or kb.get_mask(out) is not None:
                continue
            diverged = [
                e
                for e in ctx.events
                if ctx.symbolic.get(id(e.layer)) is True and not e.has_output_mask and not e.is_op
            ]
            first = diverged[0] if diverged else None
            where = f" It first diverges at '{first.path}' ({first.class_name})." if first else ""
            yield self.finding(
                f"the functional graph says model output {i} is masked, but the real output tensor "
                f"has no mask, and that is what the compiled loss reads.{where}",
                "don't rely on the graph's masks: "
                + SAMPLE_WEIGHT_FIX.removeprefix("or keep the model and "),
                layer=first.path if first else None,
                output=i,
            )


def _mk_nested() -> CaseInput:
    inner = keras.Sequential([layers.LSTM(4, return_sequences=True), layers.Dense(2)])
    inp = C.seq_input()
    out = inner(layers.Masking(0.0)(inp))
    return CaseInput(keras.Model(inp, out), C.padded_floats())


NestedMaskDivergence.INVALID = (
    Case("MultiHeadAttention + Add -> per-step Dense output", _mk_transformer(per_step=True), True),
)
NestedMaskDivergence.VALID = (
    Case("nested Sequential inside a Functional model, runtime mask survives", _mk_nested, False),
    Case("Transformer block pooled with GlobalAveragePooling1D", _mk_transformer(), False),
)


@register
class OutputDependsOnPadding(Check):
    """## What it does
    A metamorphic test: in a second inference call, the values the model sees at padded steps
    (the outputs of Masking, Embedding(mask_zero=True) and other mask sources) are replaced with
    noise while the mask stays the same. If the outputs at real steps, or a pooled output,
    change, padding leaks into the result, whatever the cause. No weight or input is modified.

    ## Why is this bad?
    The model's answer for a sequence depends on how much padding it was given. Predictions
    change with batch composition and padding length, and the model learns from padding.

    ## Example
    ```python
    x = layers.Embedding(1000, 32, mask_zero=True)(ids)
    x = layers.Flatten()(x)                 # padded steps flow into Dense
    out = layers.Dense(1, activation="sigmoid")(x)
    ```

    ## Use instead
    ```python
    x = layers.Embedding(1000, 32, mask_zero=True)(ids)
    x = layers.GlobalAveragePooling1D()(x)  # reads the mask
    out = layers.Dense(1, activation="sigmoid")(x)
    ```
    """

    code = "MC108"
    name = "output-depends-on-padding"
    severity = Severity.ERROR
    family = "propagation"
    summary = "perturbing what the model sees at padded steps changes real outputs"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if not ctx.options.perturb:
            return
        leak = ctx.leak()
        if not leak.leaked_outputs:
            return
        where = (
            f" The first layer whose real-step output changed is '{leak.first_layer}' ({leak.first_class})."
            if leak.first_layer
            else ""
        )
        outs = ", ".join(
            f"{i} (max change {c:.3g})" for i, c in zip(leak.leaked_outputs, leak.max_change, strict=False)
        )
        yield self.finding(
            f"replacing the output of {', '.join(repr(s) for s in leak.sources)} at padded steps (mask "
            f"unchanged) changed model output(s) {outs} at real steps for samples {leak.samples}.{where}",
            "make every layer between the mask source and the output mask-aware: replace Flatten/"
            "GlobalMaxPooling1D with `layers.GlobalAveragePooling1D()` or an RNN, and keep the mask "
            "flowing (see the MC101-MC106 findings)",
            layer=leak.first_layer,
            samples=leak.samples,
            outputs=leak.leaked_outputs,
        )


OutputDependsOnPadding.INVALID = (
    Case("Embedding(mask_zero) -> Flatten -> Dense", _mk_reducer(layers.Flatten, ids=True), True),
    Case(
        "Masking -> Conv1D(kernel 3) -> Dense", _mk_reducer(lambda: layers.Conv1D(4, 3, padding="same")), True
    ),
)
OutputDependsOnPadding.VALID = (
    Case("Embedding(mask_zero) -> LSTM -> Dense", _mk_reducer(lambda: layers.LSTM(3), ids=True), False),
    Case(
        "Embedding(mask_zero) -> GlobalAveragePooling1D",
        _mk_reducer(layers.GlobalAveragePooling1D, ids=True),
        False,
    ),
    Case("Masking -> BiLSTM -> TimeDistributed tagger", _mk_tagger, False),
    Case("Transformer block pooled with GlobalAveragePooling1D", _mk_transformer(), False),
)
