"""The model walk: observe the mask going into and out of every layer call.

For the length of one inference call the bridge routes every layer call, functional-graph
operation and layer `call()` of the model to a `_Tracer` (`maskcheck.bridge.patch`), which
records the masks on the tensors going in and out and the mask each `call()` receives.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import jit
from maskcheck.bridge.graph import (
    all_layers,
    flatten,
    graph_nodes,
    is_graph_model,
    named_leaves,
    node_operation,
    node_outputs,
    sublayers,
)
from maskcheck.bridge.kinds import LOOPS, MULTI_HEAD_ATTENTION, is_kind, is_legacy_op
from maskcheck.bridge.patch import (
    Folded,
    compiled_rnn_call,
    eager_reason,
    fold_checked,
    folded_call,
    forget_compiled,
    instrumented,
    not_compilable,
    set_fold_checked,
    suspended,
)


def _flatten(x: Any) -> list[Any]:
    """The tensors of a nested structure."""
    return [t for t in flatten(x) if kb.is_tensor(t)]


def _first_tensor_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    if args:
        return _flatten(args[0])
    for key in ("inputs", "x", "query"):
        if key in kwargs:
            return _flatten(kwargs[key])
    return []


def _all_tensor_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    flat = _flatten(list(args))
    for k, v in kwargs.items():
        if k == "mask" or k.endswith("_mask") or k == "training":
            continue
        flat.extend(_flatten(v))
    return flat


def is_user_code(layer: Any) -> bool:
    """A layer or model whose class the user wrote (its `call` is not Keras' own)."""
    return not type(layer).__module__.startswith(("keras.", "tf_keras."))


@dataclass(eq=False)
class CallEvent:
    """One layer call (or one non-layer operation in a functional graph)."""

    index: int
    layer: Any
    path: str
    parent: CallEvent | None
    nth: int = 0
    """How many calls of the same layer (or operation) came before this one in the pass."""
    is_op: bool = False
    direct: bool = False
    inputs: list[Any] = field(default_factory=list)
    input_masks: list[Any] = field(default_factory=list)
    first_inputs: list[Any] = field(default_factory=list)
    received_masks: list[Any] = field(default_factory=list)
    attention_masks: list[Any] = field(default_factory=list)
    call_entered: bool = False
    call_inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    output_masks: list[Any] = field(default_factory=list)
    calls: int = 1
    warnings: list[str] = field(default_factory=list)
    untracked_inputs: list[int] = field(default_factory=list)
    children: list[CallEvent] = field(default_factory=list)

    @property
    def class_name(self) -> str:
        return type(self.layer).__name__

    @property
    def name(self) -> str:
        return str(getattr(self.layer, "name", self.class_name))

    @property
    def has_input_mask(self) -> bool:
        return any(m is not None for m in self.input_masks)

    @property
    def has_received_mask(self) -> bool:
        return any(m is not None for m in self.received_masks)

    @property
    def has_output_mask(self) -> bool:
        return any(m is not None for m in self.output_masks)

    @property
    def any_mask_in(self) -> bool:
        return self.has_input_mask or self.has_received_mask

    def first_input_mask(self) -> Any:
        for m in self.received_masks + self.input_masks:
            if m is not None:
                return m
        return None


@dataclass(eq=False)
class Trace:
    """Everything observed during one traced forward pass."""

    events: list[CallEvent] = field(default_factory=list)
    root: CallEvent | None = None
    outputs: list[Any] = field(default_factory=list)
    output_names: list[str | None] = field(default_factory=list)
    """The dict keys of each output (None for one not in a dict): what `fit` pairs y and losses by."""
    output_masks: list[Any] = field(default_factory=list)
    producer: dict[int, CallEvent] = field(default_factory=dict)
    keepalive: list[Any] = field(default_factory=list)
    captured_warnings: list[str] = field(default_factory=list)
    error: BaseException | None = None
    failed: list[CallEvent] = field(default_factory=list)
    """The calls the error passed through, innermost first."""
    companion: Companion | None = None
    """What was asked to run alongside this pass (the probes pass it on, to share its program)."""
    companion_trace: tuple[Hashable, Trace] | None = None
    """(its perturbation's key, the perturbed pass), where it ran in the same compiled call."""
    not_compiled: str | None = None
    """Why this pass ran eagerly where it would have been compiled (JAX could not compile it)."""
    eager_loops: dict[str, str] = field(default_factory=dict)
    """RNN or TimeDistributed calls (by path) whose loop could not be compiled, and why."""

    def layer_events(self) -> list[CallEvent]:
        return [e for e in self.events if e is not self.root]


class _Tracer:
    def __init__(
        self,
        paths: dict[int, str],
        root: Any,
        perturb: Callable[[CallEvent, Any, Any], Any] | None,
        graph_ops: set[int],
    ):
        self.trace = Trace()
        self.graph_ops = graph_ops
        self.paths = paths
        self.root = root
        self.stack: list[CallEvent] = []
        self.perturb = perturb
        self.known: set[int] = set()
        self.counts: dict[int, int] = {}

    def _path(self, layer: Any) -> str:
        p = self.paths.get(id(layer))
        if p is not None:
            return p
        parent = self.stack[-1].path if self.stack else ""
        name = str(getattr(layer, "name", type(layer).__name__))
        return f"{parent}/{name}" if parent else name

    def open(
        self,
        layer: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        is_op: bool = False,
        direct: bool = False,
    ) -> CallEvent:
        parent = self.stack[-1] if self.stack else None
        is_op = is_op or is_legacy_op(layer)
        ev = CallEvent(
            index=len(self.trace.events),
            layer=layer,
            path=self._path(layer)
            if not is_op
            else f"{parent.path + '/' if parent and parent.path else ''}{getattr(layer, 'name', type(layer).__name__)}",
            parent=parent,
            nth=self.counts.get(id(layer), 0),
            is_op=is_op,
            direct=direct,
        )
        self.counts[id(layer)] = ev.nth + 1
        ev.inputs = _all_tensor_args(args, kwargs)
        ev.first_inputs = _first_tensor_arg(args, kwargs)
        ev.input_masks = [kb.get_mask(t) for t in ev.inputs]
        self.trace.keepalive.extend(ev.inputs)
        if (
            parent is not None
            and not is_op
            and is_user_code(parent.layer)
            and not is_graph_model(parent.layer)
        ):
            for i, t in enumerate(ev.inputs):
                if id(t) not in self.trace.producer and id(t) not in self.known:
                    ev.untracked_inputs.append(i)
        if parent is not None:
            parent.children.append(ev)
        if layer is self.root and self.trace.root is None:
            self.trace.root = ev
            self.known.update(id(t) for t in ev.inputs)
        self.trace.events.append(ev)
        self.stack.append(ev)
        return ev

    def close(self, ev: CallEvent, outputs: Any) -> None:
        if self.stack and self.stack[-1] is ev:
            self.stack.pop()
        else:  # pragma: no cover - defensive: unbalanced exits after an exception
            with contextlib.suppress(ValueError):
                self.stack.remove(ev)
        ev.outputs = _flatten(outputs)
        ev.output_masks = [kb.get_mask(t) for t in ev.outputs]
        self.trace.keepalive.extend(ev.outputs)
        for t in ev.outputs:
            self.trace.producer.setdefault(id(t), ev)

    def _folded(
        self, ev: CallEvent, layer: Any, bound: Any, folded: Folded, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """`folded.call`, its inner calls recorded as the step loop's first step. Where the folded
        call raises, or the layer holds user code and the folded result's first step is not
        Keras' own first step, the record is undone and the step loop runs instead."""
        first, kept, children = len(self.trace.events), len(self.trace.keepalive), len(ev.children)
        failed, counts, known = len(self.trace.failed), dict(self.counts), set(self.known)
        produced = set(self.trace.producer)

        def step_loop() -> Any:
            del self.trace.events[first:], self.trace.keepalive[kept:], ev.children[children:]
            del self.trace.failed[failed:]
            self.counts, self.known = counts, known
            for key in set(self.trace.producer) - produced:
                del self.trace.producer[key]
            set_fold_checked(layer, False)
            forget_compiled(layer)
            return bound(*args, **kwargs)

        try:
            out = folded.call(*args, **kwargs)
        except Exception:
            # Folded, the encoder may not run (a batch size written into the user's code, memory
            # for batch * steps rows): the step loop runs, as Keras runs it, and says what fails.
            return step_loop()
        if folded.first_step is not None and self.perturb is None:
            agrees = _same_first_step(out, folded.first_step, args, kwargs)
            if not agrees:
                return step_loop()
            set_fold_checked(layer, True)
        rows = int(kb.shape_of(args[0])[0] or 0) * folded.steps
        self._first_step_only(first, kept, rows, folded.steps)
        return out

    def _first_step_only(self, first: int, kept: int, rows: int, steps: int) -> None:
        """The calls recorded since event `first` ran once on `rows` rows, `steps` time steps folded
        into the batch (`folded_call`): record of them what the step loop records, the first
        step (rows 0, steps, 2 * steps, ...), each called `steps` times. A variable with as many
        rows (a position table) is not cut."""
        events = self.trace.events[first:]
        memo: dict[int, Any] = {}

        def step(t: Any) -> Any:
            if t is None or not kb.is_tensor(t) or rows == 0 or kb.shape_of(t)[:1] != (rows,):
                return t
            if kb.is_variable(t):
                return t
            got = memo.get(id(t))
            if got is None:
                got = memo[id(t)] = t[::steps]
                mask = kb.get_mask(t)
                if mask is not None:
                    kb.set_mask(got, step(mask))
            return got

        for ev in events:
            for name in _TENSOR_LISTS:
                setattr(ev, name, [step(v) for v in getattr(ev, name)])
            ev.calls *= steps
        live = self.trace.keepalive
        live[kept:] = [step(v) for v in live[kept:]]
        for old, new in list(memo.items()):
            producer = self.trace.producer.pop(old, None)
            if producer is not None:
                self.trace.producer.setdefault(id(new), producer)
            if old in self.known:
                self.known.discard(old)
                self.known.add(id(new))

    def _failed(self, ev: CallEvent) -> None:
        if not self.trace.failed or self.trace.failed[-1] is not ev:
            self.trace.failed.append(ev)

    # -- the hooks the bridge calls (maskcheck.bridge.patch.Hooks) ------------------------------

    def layer_call(self, layer: Any, orig: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ev = self.open(layer, args, kwargs)
        out = None
        try:
            out = orig(layer, *args, **kwargs)
        except BaseException:
            self._failed(ev)
            raise
        finally:
            self.close(ev, out)
        return out

    def op_call(self, op: Any, orig: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if id(op) not in self.graph_ops:
            return orig(op, *args, **kwargs)
        ev = self.open(op, args, kwargs, is_op=True)
        out = None
        try:
            out = orig(op, *args, **kwargs)
        except BaseException:
            self._failed(ev)
            raise
        finally:
            self.close(ev, out)
        return out

    def inner_call(self, layer: Any, bound: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        top = self.stack[-1] if self.stack else None
        direct = top is None or top.layer is not layer or top.call_entered
        ev = self.open(layer, args, kwargs, direct=True) if direct or top is None else top
        ev.call_entered = True
        ev.received_masks, ev.attention_masks = _received_masks(args, kwargs)
        ev.call_inputs = _all_tensor_args(args, kwargs)
        self.known.update(id(t) for t in ev.call_inputs)
        self.trace.keepalive.extend(ev.call_inputs)
        out = None
        try:
            folded = folded_call(layer, bound, args, kwargs)
            checked = None if folded is None else fold_checked(layer)
            if checked is False:
                folded = None  # found to mix rows, or to fail folded: step by step from then on
            elif folded is not None and folded.first_step is not None and checked is None and self.perturb is not None:
                # A changed pass cannot be checked against the first step (the change is in both
                # or only in one): it folds what an unchanged pass has checked.
                folded = None
            compiled = None if folded is not None else compiled_rnn_call(layer, bound, args)
            if folded is not None:
                out = self._folded(ev, layer, bound, folded, args, kwargs)
            elif compiled is None and is_kind(layer, MULTI_HEAD_ATTENTION):
                # Its internals (projections, the masked softmax) hold the attention scores, by
                # far the largest tensors of a Transformer (1 GB of 1.5 GB for a 4-layer BERT
                # over 512 tokens, 32 sequences): its masks are recorded at its boundary.
                with suspended():
                    out = bound(*args, **kwargs)
            elif compiled is None:
                out = bound(*args, **kwargs)
            else:
                try:
                    out = compiled(*args, **kwargs)
                except Exception as exc:
                    # Not tf.function-compatible (a user's RNN with Python side effects): run it
                    # eagerly, as the model itself would.
                    not_compilable(layer, exc)
                    out = bound(*args, **kwargs)
            reason = eager_reason(layer)
            if reason is not None:
                self.trace.eager_loops.setdefault(ev.path, reason)
            if self.perturb is not None:
                out = self.perturb(ev, args, out)
        except BaseException:
            self._failed(ev)
            raise
        finally:
            if direct:
                self.close(ev, out)
        return out


def _same_first_step(out: Any, first_step: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether the folded call's first step (`out[:, 0]`) is what `first_step` computes, up to
    float noise (a batch 20 times larger may take other kernels)."""
    try:
        want = _flatten(first_step(*args, **kwargs))
    except Exception:
        return False  # it cannot be compiled: nothing to check against
    got = _flatten(out)
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        a, b = kb.to_numpy(g)[:, 0], kb.to_numpy(w)
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True):
            return False
    return True


def is_step_mask(mask: Any, tensor: Any) -> bool:
    """Whether `mask` masks steps of `tensor` ((batch, time), or every axis of the tensor but its
    last), rather than pairs of steps (an attention mask has the rank of the attention scores)."""
    rank, data_rank = len(kb.shape_of(mask)), len(kb.shape_of(tensor))
    return rank == 2 or (rank > 2 and rank == data_rank - 1)


def misaligned_mask(ev: CallEvent) -> tuple[Any, Any] | None:
    """(mask shape, tensor shape) of a step mask that does not fit the tensor it belongs to in this
    call: the mask on an input tensor, or the mask the call received against its first input. A
    step mask fits when its shape starts the tensor's (a (batch, time) mask on per-step values,
    a (batch, time, height, width) Masking mask on frames); axes of unknown length fit."""
    pairs = list(zip(ev.inputs, ev.input_masks, strict=False))
    if ev.first_inputs:
        pairs += [(ev.first_inputs[0], m) for m in ev.received_masks[:1]]
    for t, m in pairs:
        if m is None:
            continue
        st, sm = kb.shape_of(t), kb.shape_of(m)
        if st and sm and not mask_fits(sm, st):
            return sm, st
    return None


def mask_fits(mask_shape: tuple[int | None, ...], tensor_shape: tuple[int | None, ...]) -> bool:
    """A mask fits its tensor when its shape starts the tensor's (a step mask), or has the
    tensor's rank and broadcasts onto it (the (batch, 1, 1, T) mask on attention scores); axes
    of unknown length match any."""

    def same(a: int | None, b: int | None) -> bool:
        return a is None or b is None or a == b

    if len(mask_shape) <= len(tensor_shape) and all(
        same(a, b) for a, b in zip(mask_shape, tensor_shape, strict=False)
    ):
        return True
    return len(mask_shape) == len(tensor_shape) and all(
        a == 1 or same(a, b) for a, b in zip(mask_shape, tensor_shape, strict=True)
    )


def mask_failure(trace: Trace) -> tuple[CallEvent, Any, Any] | None:
    """When the forward pass failed: the innermost failing call whose mask did not fit its tensor
    (the mask shape is the problem), with the two shapes; None when the error is something else."""
    if trace.error is None:
        return None
    for ev in trace.failed:
        found = misaligned_mask(ev)
        if found is not None:
            return ev, found[0], found[1]
    return None


def _received_masks(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The step masks a `call()` received, and its attention masks.

    Step masks: `mask=` and `*_mask=` arguments (MultiHeadAttention's `query_mask`, keras-hub's
    `padding_mask`) of shape (batch, time), or (batch, time, ...) matching the input but for its
    last axis (Masking over frames). Attention masks: `attention_mask=`, `self_attention_mask=`,
    ..., and any other mask of rank 3 or more, such as the (batch, [heads,] Tq, Tk) mask attention
    hands its Softmax; they mask pairs of steps, not steps."""
    first = _first_tensor_arg(args, kwargs)
    step: list[Any] = []
    attention: list[Any] = []
    for key, value in kwargs.items():
        if value is None or not (key == "mask" or key.endswith("_mask")):
            continue
        for m in flatten([value]):
            if m is None:
                continue
            is_step = len(kb.shape_of(m)) == 2 or (bool(first) and is_step_mask(m, first[0]))
            (step if is_step and "attention" not in key else attention).append(m)
    return step, attention


def layer_paths(model: Any) -> dict[int, str]:
    """id(layer) -> 'outer/inner' path, for every layer reachable from `model`."""
    paths: dict[int, str] = {id(model): ""}

    def walk(layer: Any, prefix: str) -> None:
        for child in sublayers(layer):
            if id(child) in paths:
                continue
            p = f"{prefix}/{child.name}" if prefix else str(child.name)
            paths[id(child)] = p
            walk(child, p)

    walk(model, "")
    return paths


def stateful_layers(model: Any) -> list[Any]:
    """The stateful RNN layers of `model` (their states carry over from one call to the next)."""
    try:
        found = all_layers(model)
    except Exception:
        return []
    return [layer for layer in found if getattr(layer, "stateful", False) is True and hasattr(layer, "states")]


def stateful_batch_size(model: Any) -> int | None:
    """The fixed batch size a model with stateful RNN layers must be called with, or None."""
    for layer in stateful_layers(model):
        for v in flatten(getattr(layer, "states", None) or []):
            dims = kb.shape_of(v)
            if dims and dims[0] is not None:
                return int(dims[0])
    return None


@contextlib.contextmanager
def fresh_states(model: Any) -> Any:
    """Every pass starts from zero RNN states (as after `reset_states()`), so no state carries from
    one traced pass into the next; the states are put back exactly afterwards."""
    saved: list[tuple[Any, np.ndarray]] = []
    for layer in stateful_layers(model):
        for v in flatten(getattr(layer, "states", None) or []):
            try:
                value = v.value() if callable(v.value) else v.value  # tf.Variable (tf_keras): a method
                saved.append((v, np.array(kb.to_numpy(value), copy=True)))
                v.assign(np.zeros_like(saved[-1][1]))
            except Exception:
                continue
    try:
        yield
    finally:
        for v, value in saved:
            with contextlib.suppress(Exception):
                v.assign(value)


@dataclass(frozen=True)
class Perturbation:
    """A change made to layer outputs during a traced pass (a padding probe).

    `apply(ev, args, out, arrays)` returns the output `out` of call `ev` (changed or not). It may
    run while JAX compiles the pass, so it uses Keras ops on tensors only, decides from what the
    call is (its layer, `ev.nth`) and never from tensor values, and takes every array that
    changes from one audit to the next from `arrays` (passed to the compiled pass as an
    argument). `key` names everything else `apply` depends on (the layers, the seed): one compiled
    pass is kept per key."""

    key: Hashable
    apply: Callable[[CallEvent, Any, Any, Any], Any]
    arrays: Any = None


@dataclass(frozen=True)
class Companion:
    """A perturbed pass to run in the same compiled call as a plain one (JAX): `make(trace)` builds
    its perturbation from the plain pass's record (what it reads of it must not depend on tensor
    values), or returns None. One compile and one call instead of two; eager backends ignore it
    (the probe runs its own pass when it needs it). `key` names what `make` does."""

    key: Hashable
    make: Callable[[Trace], Perturbation | None]


def run_traced(
    model: Any, inputs: Any, perturb: Perturbation | None = None, companion: Companion | None = None
) -> Trace:
    """Run `model(inputs, training=False)` once under instrumentation, from fresh RNN states.

    On JAX the instrumented pass is compiled once per model, shapes and perturbation (as
    `predict` compiles its own), where the model allows it; eagerly otherwise."""
    arrays = None if perturb is None else perturb.arrays
    compilable = _compilable(model)
    trace = _run_compiled(model, inputs, perturb, companion) if compilable else None
    if trace is None:
        reason = jit.failure(model, _pass_key(perturb, companion), inputs, arrays) if compilable else None
        trace = _run(model, inputs, perturb, arrays)
        trace.not_compiled = reason
    trace.companion = companion
    return trace


def _pass_key(perturb: Perturbation | None, companion: Companion | None) -> Hashable:
    return ("pass", None if perturb is None else perturb.key, None if companion is None else companion.key)


def _compilable(model: Any) -> bool:
    return jit.usable(model) and not kb.is_legacy(model) and stateful_batch_size(model) is None


def runs_compiled(model: Any) -> bool:
    """Whether `model`'s traced passes run compiled (JAX, and no pass of it failed to compile)."""
    return _compilable(model) and not jit.failed(model)


def _run(model: Any, inputs: Any, perturb: Perturbation | None, arrays: Any) -> Trace:
    hook = None if perturb is None else (lambda ev, args, out: perturb.apply(ev, args, out, arrays))
    tracer = _Tracer(layer_paths(model), model, hook, graph_operations(model))
    with (
        fresh_states(model),
        instrumented(model, tracer),
        kb.inference(),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            out = model(inputs, training=False)
        except Exception as exc:  # the caller decides how to report it
            tracer.trace.error = exc
            out = None
    trace = tracer.trace
    trace.captured_warnings = [str(w.message) for w in caught]
    named = [(name, t) for name, t in named_leaves(out) if kb.is_tensor(t)]
    trace.outputs = [t for _, t in named]
    trace.output_names = [name for name, _ in named]
    trace.output_masks = [kb.get_mask(t) for t in trace.outputs]
    trace.events = [e for e in trace.events if not (e.is_op and _is_mask_plumbing(e))]
    _merge_repeated_events(trace)
    for ev in trace.events:
        msgs = [w for w in trace.captured_warnings if f"Layer '{ev.name}'" in w]
        ev.warnings = msgs
    return trace


_TENSOR_LISTS = (
    "inputs",
    "input_masks",
    "first_inputs",
    "received_masks",
    "attention_masks",
    "call_inputs",
    "outputs",
    "output_masks",
)


@dataclass
class _Compiled:
    """What a compiled pass recorded, as tracers: `index` maps id(tracer) to its place among the
    values the compiled function returns; `mask_of[i]` is the place of the mask riding on value i."""

    trace: Trace
    index: dict[int, int]
    mask_of: list[int | None]
    layers: dict[int, Callable[[], Any]] = field(default_factory=dict)
    """id(call) -> its layer, held weakly (the template's own `layer` is None)."""
    companion: tuple[Hashable, Trace] | None = None


def _weak(obj: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(obj)
    except TypeError:  # pragma: no cover - every Keras layer and operation takes weak references
        return lambda: obj


def _as_eager(trace: Trace, x: Any) -> None:
    """The model's own call gets the arguments as tracers; eagerly it gets the NumPy arrays, which
    are not recorded (Keras converts them inside): record the same."""
    if trace.root is None:
        return
    args = {id(t) for t in _flatten(x)}
    root = trace.root
    kept = [i for i, t in enumerate(root.inputs) if id(t) not in args]
    root.inputs = [root.inputs[i] for i in kept]
    root.input_masks = [root.input_masks[i] for i in kept]
    root.first_inputs = [t for t in root.first_inputs if id(t) not in args]


def _run_compiled(
    model: Any, inputs: Any, perturb: Perturbation | None, companion: Companion | None
) -> Trace | None:
    model_ref = weakref.ref(model)  # what the compiled pass keeps must not keep the model alive

    def body(x: Any, arrays: Any) -> tuple[_Compiled, list[Any], BaseException | None]:
        trace = _run(model_ref(), x, perturb, arrays)
        if trace.error is not None:
            return _Compiled(trace, {}, []), [], trace.error  # the eager pass reports it, as the model raises it
        _as_eager(trace, x)
        traces = [trace]
        paired: tuple[Hashable, Trace] | None = None
        extra = companion.make(trace) if companion is not None else None
        if extra is not None and extra.arrays is None:
            second = _run(model_ref(), x, extra, None)
            if second.error is None:
                _as_eager(second, x)
                traces.append(second)
                paired = (extra.key, second)
        leaves: list[Any] = []
        index: dict[int, int] = {}

        def add(v: Any) -> None:
            if v is not None and kb.is_tensor(v) and id(v) not in index:
                index[id(v)] = len(leaves)
                leaves.append(v)

        for t in traces:
            for ev in _all_events(t):
                for name in _TENSOR_LISTS:
                    for v in getattr(ev, name):
                        add(v)
            for v in t.outputs + t.output_masks + t.keepalive:
                add(v)
        mask_of: list[int | None] = []
        i = 0
        while i < len(leaves):  # the masks riding on the masks too (there are none, in practice)
            m = kb.get_mask(leaves[i])
            add(m)
            mask_of.append(None if m is None or not kb.is_tensor(m) else index[id(m)])
            i += 1
        layers: dict[int, Any] = {}
        for t in traces:
            for ev in _all_events(t):
                layers[id(ev)] = _weak(ev.layer)
                ev.layer = None
        return _Compiled(trace, index, mask_of, layers, paired), leaves, None

    got = jit.run(model, _pass_key(perturb, companion), body, inputs, None if perturb is None else perturb.arrays)
    if got is None:
        return None
    compiled, values = got
    for i, j in enumerate(compiled.mask_of):
        if j is not None:
            kb.set_mask(values[i], values[j])
    trace = _instantiate(compiled, compiled.trace, values)
    if compiled.companion is not None:
        pkey, second = compiled.companion
        trace.companion_trace = (pkey, _instantiate(compiled, second, values))
    return trace


def _all_events(trace: Trace) -> list[CallEvent]:
    """Every call recorded, the per-step calls folded into another row included."""
    seen: dict[int, CallEvent] = {}
    stack = list(trace.events) + ([trace.root] if trace.root is not None else []) + list(trace.producer.values())
    while stack:
        ev = stack.pop()
        if id(ev) in seen:
            continue
        seen[id(ev)] = ev
        stack.extend(ev.children)
        if ev.parent is not None:
            stack.append(ev.parent)
    return list(seen.values())


def _instantiate(compiled: _Compiled, template: Trace, values: list[Any]) -> Trace:
    """The record of a compiled pass with the computed values in place of the tracers (the masks
    riding on the values are set already)."""

    def value(v: Any) -> Any:
        i = compiled.index.get(id(v)) if v is not None else None
        return v if i is None else values[i]

    copies: dict[int, CallEvent] = {}
    for ev in _all_events(template):
        new = copy.copy(ev)
        new.layer = compiled.layers[id(ev)]()
        for name in _TENSOR_LISTS:
            setattr(new, name, [value(v) for v in getattr(ev, name)])
        copies[id(ev)] = new
    for new in copies.values():
        if new.parent is not None:
            new.parent = copies[id(new.parent)]
        new.children = [copies[id(c)] for c in new.children]
        new.warnings = list(new.warnings)
        new.untracked_inputs = list(new.untracked_inputs)
    return Trace(
        events=[copies[id(e)] for e in template.events],
        root=None if template.root is None else copies[id(template.root)],
        outputs=[value(v) for v in template.outputs],
        output_names=list(template.output_names),
        output_masks=[value(v) for v in template.output_masks],
        producer={id(value(t)): copies[id(ev)] for t, ev in _producer_items(template, compiled)},
        keepalive=[value(v) for v in template.keepalive],
        captured_warnings=list(template.captured_warnings),
    )


def _producer_items(template: Trace, compiled: _Compiled) -> list[tuple[Any, CallEvent]]:
    """(tensor, producing call) for the producer table, which is keyed by id: the tensors are found
    again among the recorded values."""
    by_id = {id(v): v for ev in _all_events(template) for v in ev.outputs}
    return [(by_id[k], ev) for k, ev in template.producer.items() if k in by_id and k in compiled.index]


def _is_mask_plumbing(ev: CallEvent) -> bool:
    """Ops the graph records to compute masks themselves (`not_equal`, `any`, ...)."""
    return bool(ev.outputs) and all("bool" in str(getattr(t, "dtype", "")) for t in ev.outputs)


def _merge_repeated_events(trace: Trace) -> None:
    """Fold the per-step calls that Keras layers make of their inner layers (RNN cells,
    TimeDistributed's `layer.call`) into one row each, and with them everything called inside
    those steps (the layers of a sentence encoder run step by step): the k-th call of a layer
    inside a repeated call joins the k-th call of that layer inside the first one."""
    merged: list[CallEvent] = []
    seen: dict[tuple[int, int], CallEvent] = {}
    into: dict[int, CallEvent] = {}  # id(a repeated call) -> the call it joined
    inside: dict[tuple[int, int, int], CallEvent] = {}  # (id(layer), id(parent), k) -> its row
    counts: dict[tuple[int, int], int] = {}
    for ev in trace.events:
        parent = ev.parent
        if parent is None:
            merged.append(ev)
            continue
        k = counts.get((id(ev.layer), id(parent)), 0)
        counts[(id(ev.layer), id(parent))] = k + 1
        first_parent = into.get(id(parent))
        if first_parent is not None:
            joined = inside.get((id(ev.layer), id(first_parent), k))
            if joined is not None:
                joined.calls += 1
                into[id(ev)] = joined
                continue
            ev.parent = parent = first_parent  # a call the first step did not make
            first_parent.children.append(ev)
        row = ev
        if parent is not trace.root and not is_user_code(parent.layer) and is_kind(parent.layer, LOOPS):
            row = seen.setdefault((id(ev.layer), id(parent)), ev)
        inside.setdefault((id(ev.layer), id(parent), k), row)
        if row is not ev:
            row.calls += 1
            into[id(ev)] = row
            continue
        merged.append(ev)
    for i, ev in enumerate(merged):
        ev.index = i
    trace.events = merged


def graph_operations(model: Any) -> set[int]:
    """ids of the non-layer operations (keras.ops calls, operators) recorded in functional graphs."""
    try:
        return {id(node_operation(n)) for n in graph_nodes(model) if not kb.is_layer(node_operation(n))}
    except Exception:
        return set()


def symbolic_output_masks(model: Any) -> dict[int, bool]:
    """id(layer) -> whether the functional graph gives its output a (symbolic) mask."""
    result: dict[int, bool] = {}
    try:
        for node in graph_nodes(model):
            op = node_operation(node)
            has = any(kb.get_mask(t) is not None for t in node_outputs(node))
            result[id(op)] = result.get(id(op), False) or has
    except Exception:
        return {}
    return result


def mask_share(mask: Any) -> float | None:
    """Share of masked (False) steps."""
    if mask is None:
        return None
    arr = np.asarray(kb.to_numpy(mask), dtype=bool)
    if arr.size == 0:
        return None
    return float(1.0 - arr.mean())
