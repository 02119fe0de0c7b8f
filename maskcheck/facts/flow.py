"""Facts derived from a trace: what each layer does with the mask, and what a lost mask costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import kinds
from maskcheck.bridge.graph import call_parameters, is_graph_model, lambda_takes_mask, sublayers
from maskcheck.bridge.kinds import is_kind
from maskcheck.report import Role
from maskcheck.trace import CallEvent, Trace, is_step_mask, is_user_code


def shape(t: Any) -> tuple[int | None, ...]:
    return kb.shape_of(t)


def time_len(mask: Any) -> int | None:
    s = shape(mask)
    return s[1] if len(s) >= 2 else None


def uses_mask(layer: Any) -> bool:
    """Whether the layer's `call` reads a mask (and so depends on receiving one)."""
    if is_kind(layer, kinds.LAMBDA):
        return lambda_takes_mask(layer)
    if is_graph_model(layer):
        # A Sequential/Functional sub-model's `call` always takes `mask`; it needs one only when
        # a layer inside reads it (a position-wise Dense FFN does not).
        return any(uses_mask(inner) for inner in sublayers(layer) if inner is not layer)
    params = call_parameters(layer)
    return "mask" in params or any(p.endswith("_mask") and p != "attention_mask" for p in params)


def is_merge(ev: CallEvent) -> bool:
    return not ev.is_op and is_kind(ev.layer, kinds.MERGES) and len(ev.inputs) >= 2


def _ints(value: Any) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    try:
        return tuple(int(v) for v in value)
    except TypeError:
        return (1,)


def mixing_reason(ev: CallEvent, t_len: int | None) -> str | None:
    """Why this call reduces or mixes values across the time axis without a mask, or None."""
    if ev.is_op:
        ins = [shape(t) for t in ev.first_inputs]
        outs = [shape(t) for t in ev.outputs]
        if ins and outs and len(ins[0]) >= 3 and len(outs[0]) < len(ins[0]) and t_len in ins[0][1:2]:
            return f"`{ev.class_name.lower()}` collapses the time axis"
        return None
    layer = ev.layer
    if uses_mask(layer) and ev.has_received_mask:
        return None
    cls = ev.class_name
    if is_kind(layer, kinds.POOLING_OVER_TIME):
        return f"{cls} pools over every step, padded ones included"
    if is_kind(layer, kinds.CONV_1D):
        k = _ints(getattr(layer, "kernel_size", 1))[0]
        s = _ints(getattr(layer, "strides", 1))[0]
        d = _ints(getattr(layer, "dilation_rate", 1))[0]
        if k > 1 or s > 1 or d > 1:
            return f"{cls}(kernel_size={k}, strides={s}) mixes neighbouring steps, so padding leaks into real steps"
        return None
    if ev.first_inputs and ev.outputs:
        si, so = shape(ev.first_inputs[0]), shape(ev.outputs[0])
        if len(si) >= 3 and si[1] == t_len and len(so) < len(si):
            return f"{cls} collapses the time axis of length {t_len} without using the mask"
        if (
            len(si) >= 3
            and len(so) == len(si)
            and si[1] == t_len
            and so[1] is not None
            and t_len is not None
            and so[1] < t_len
            and not ev.has_output_mask
        ):
            return f"{cls} shortens the time axis ({t_len} -> {so[1]}) by combining steps"
    return None


def keeps_time_axis(t: Any, t_len: int | None) -> bool:
    s = shape(t)
    return t_len is not None and len(s) >= 2 and t_len in s[1:]


def time_aligned(t: Any, t_len: int | None) -> bool:
    s = shape(t)
    return t_len is not None and len(s) >= 3 and s[1] == t_len


def role_of(ev: CallEvent) -> Role:
    mask_in = ev.any_mask_in
    if not mask_in:
        return Role.CREATES if ev.has_output_mask else Role.NONE
    if ev.has_output_mask:
        return Role.PROPAGATES
    if not ev.is_op and uses_mask(ev.layer) and ev.has_received_mask:
        return Role.CONSUMES
    return Role.DROPS


@dataclass(frozen=True)
class Harm:
    """The first place downstream that needed a mask that was lost."""

    event: CallEvent | None
    output_index: int | None
    text: str


def output_label(trace: Trace, i: int, model: Any) -> str:
    name = trace.output_names[i] if i < len(trace.output_names) else None
    if name is None:
        names = getattr(model, "output_names", None) or []
        name = names[i] if i < len(names) else None
    return f"model output {i}" + (f" '{name}'" if name else "")


def first_harm(
    trace: Trace,
    start: CallEvent,
    t_len: int | None,
    model: Any,
    tensors: list[Any] | None = None,
    after: int | None = None,
) -> Harm | None:
    """Follow the unmasked tensors (default: `start`'s outputs) downstream; return the first
    consumer that needed the mask, or None when nothing downstream depends on it."""
    frontier = {id(t) for t in (start.outputs if tensors is None else tensors) if kb.get_mask(t) is None}
    after = start.index if after is None else after
    for e in trace.events:
        if e.index <= after or e is trace.root:
            continue
        if not any(id(t) in frontier for t in e.inputs):
            continue
        if not e.is_op and uses_mask(e.layer) and not e.has_received_mask:
            return Harm(e, None, f"'{e.path}' ({e.class_name}) reads a mask and received none")
        reason = mixing_reason(e, t_len)
        if reason is not None:
            return Harm(e, None, f"'{e.path}': {reason}")
        if e.has_output_mask:
            continue
        frontier.update(id(t) for t in e.outputs)
    for i, t in enumerate(trace.outputs):
        if id(t) in frontier and kb.get_mask(t) is None and time_aligned(t, t_len):
            return Harm(
                None,
                i,
                f"{output_label(trace, i, model)} keeps the time axis without a mask, so the compiled "
                "loss and metrics count padded steps",
            )
    return None


def creators(trace: Trace) -> list[CallEvent]:
    """The calls that make a step mask their inputs did not carry (mask sources at run time).
    A Softmax that passes on the attention mask it was given is not one: that mask is over pairs
    of steps."""
    return [
        e
        for e in trace.events
        if e is not trace.root
        and not e.is_op
        and role_of(e) is Role.CREATES
        and e.parent is not None
        and any(m is not None and is_step_mask(m, o) for o, m in zip(e.outputs, e.output_masks, strict=False))
    ]


def top_level(trace: Trace, ev: CallEvent) -> bool:
    """A call made by a model's own `call` (functional graph or subclassed), not a layer's internals."""
    parent = ev.parent
    if parent is None:
        return False
    if parent is trace.root:
        return True
    return kb.is_model(parent.layer) or is_user_code(parent.layer)


def masked_samples(mask: Any, limit: int = 10) -> list[int]:
    arr = np.asarray(kb.to_numpy(mask), dtype=bool)
    if arr.ndim < 2:
        return []
    idx = np.flatnonzero(~arr.reshape(arr.shape[0], -1).all(axis=1))
    return [int(i) for i in idx[:limit]]


def reachable_from(trace: Trace, events: list[CallEvent]) -> set[int]:
    """ids of all tensors computed from the outputs of `events` (data flow through traced calls)."""
    frontier = {id(t) for e in events for t in e.outputs}
    start = min((e.index for e in events), default=0)
    for e in trace.events:
        if e.index > start and e is not trace.root and any(id(t) in frontier for t in e.inputs):
            frontier.update(id(t) for t in e.outputs)
    return frontier


def has_gaps(trace: Trace) -> bool:
    return any(e.untracked_inputs for e in trace.events)
