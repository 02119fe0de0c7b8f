"""The instrumented window: for the length of a `with` block, every layer call, every functional
graph operation and every layer's own `call()` of one model go through the hooks of the thread
that opened the window.

`Layer.__call__` and `Operation.__call__` are wrapped on their classes (an instance's `__call__`
is never looked up), and each layer of the model gets an instance-level `call` (the mask that
`call()` actually receives is only visible there). Everything is put back in `finally`.

Threads and re-entry: the class-level wrappers are installed once and counted; the originals are
read once, at import, so a wrapper can never be saved as an "original". A process-wide re-entrant
lock serializes instrumented windows, so two threads never patch the same layer at once; other
threads keep calling Keras normally (the wrappers only act for the thread whose hooks are set).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from keras.src import backend as _backend
from keras.src.distribution import distribution_lib as _distribution_lib
from keras.src.layers import GRUCell, LSTMCell, SimpleRNNCell
from keras.src.layers.layer import Layer as _Layer
from keras.src.ops.operation import Operation as _Operation

from maskcheck.bridge import is_traced
from maskcheck.bridge.graph import all_layers, call_parameters, sublayers
from maskcheck.bridge.jit import describe

Call = Callable[..., Any]


class Hooks(Protocol):
    """What the window calls; `orig`/`bound` is the real call to make (exactly once)."""

    def layer_call(self, layer: Any, orig: Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...

    def op_call(self, op: Any, orig: Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...

    def inner_call(self, layer: Any, bound: Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...


_state = threading.local()
_window_lock = threading.RLock()
_install_lock = threading.Lock()
_installed: dict[type, tuple[Call, int]] = {}  # class -> (pristine __call__, open windows)
_PRISTINE: dict[type, Call] = {
    _Layer: _Layer.__dict__["__call__"],
    _Operation: _Operation.__dict__["__call__"],
}


def _hooks() -> Hooks | None:
    return getattr(_state, "hooks", None)


def _layer_wrapper(orig: Call) -> Call:
    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        hooks = _hooks()
        if hooks is None:
            if getattr(_state, "direct_cells", False) and _plain_cell_call(self, args, kwargs):
                return self.call(*args, **kwargs)
            return orig(self, *args, **kwargs)
        return hooks.layer_call(self, orig, args, kwargs)

    __call__.__wrapped__ = orig  # type: ignore[attr-defined]
    return __call__


def _op_wrapper(orig: Call) -> Call:
    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        hooks = _hooks()
        if hooks is None or isinstance(self, _Layer):
            return orig(self, *args, **kwargs)
        return hooks.op_call(self, orig, args, kwargs)

    __call__.__wrapped__ = orig  # type: ignore[attr-defined]
    return __call__


def _inner_wrapper(layer: Any, bound: Call) -> Call:
    def call(*args: Any, **kwargs: Any) -> Any:
        hooks = _hooks()
        if hooks is None:
            return bound(*args, **kwargs)
        return hooks.inner_call(layer, bound, args, kwargs)

    call._maskcheck_inner = True  # type: ignore[attr-defined]
    return call


def _legacy_layer_class(model: Any) -> type | None:
    if not type(model).__module__.startswith("tf_keras.") or "tf_keras" not in sys.modules:
        return None
    from tf_keras.src.engine.base_layer import Layer as LegacyLayer

    return LegacyLayer  # type: ignore[no-any-return]


def _install(cls: type, make: Callable[[Call], Call]) -> None:
    with _install_lock:
        pristine, count = _installed.get(cls, (_PRISTINE.get(cls) or cls.__dict__["__call__"], 0))
        if count == 0:
            cls.__call__ = make(pristine)  # type: ignore[method-assign]
        _installed[cls] = (pristine, count + 1)


def _uninstall(cls: type) -> None:
    with _install_lock:
        pristine, count = _installed[cls]
        if count <= 1:
            cls.__call__ = pristine  # type: ignore[method-assign]
            del _installed[cls]
        else:
            _installed[cls] = (pristine, count - 1)


# An RNN's loop runs step by step in Python when called eagerly: ~10 ms a step for a small GRU on
# TensorFlow (compiled, the same call costs one trace, ~0.3 s, and then milliseconds); on JAX an
# eager `lax.scan` compiles again on every call. So loops of any length are compiled: a BiLSTM
# tagger over 30 fixed steps audited in 0.42 s (6.6x its `predict`) when its loops ran eagerly,
# 0.05 s compiled, for 0.3 s more on the first audit. (Tests raise it to run the hooked loop.)
COMPILE_RNN_MIN_STEPS = 1
# Except a TimeDistributed over a layer that holds layers (a sentence encoder in a hierarchical
# model): under this many steps it runs step by step under the hooks, so that the masks inside
# it are traced; longer (video frames through a CNN) it is compiled.
TRACED_INNER_MAX_STEPS = 48
_compiled: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()
_not_compilable: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def not_compilable(layer: Any, error: BaseException) -> None:
    """`layer`'s call failed under `tf.function` or `jax.jit` (Python side effects, NumPy in a
    user's RNN, a name TensorFlow rejects): run it eagerly from now on, and remember why."""
    _compiled.pop(layer, None)
    _not_compilable[layer] = describe(error)


def eager_reason(layer: Any) -> str | None:
    """Why `layer`'s loop runs eagerly although it would be compiled (None: it is not known to)."""
    return _not_compilable.get(layer)


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """No hooks for this thread inside the block (the calls are made, not recorded)."""
    saved = _hooks()
    _state.hooks = None
    try:
        yield
    finally:
        _state.hooks = saved


def compiled_rnn_call(layer: Any, bound: Call, args: tuple[Any, ...]) -> Call | None:
    """For a Keras 3 RNN (or TimeDistributed) layer: its `call` compiled (`tf.function` on
    TensorFlow; `jax.jit` on JAX, where an eager `lax.scan` compiles its loop again on every call;
    on PyTorch, the eager loop itself, as `predict` runs it),
    run with the hooks suspended (the cell's per-step calls are Keras' own business; the RNN's
    masks in and out are still recorded at its boundary). None where the hooked eager call
    should be used."""
    from keras import backend, layers

    loops = (layers.RNN, layers.TimeDistributed)  # both step through time in Python when eager
    name = backend.backend()
    if name not in ("tensorflow", "jax", "torch") or not isinstance(layer, loops) or not args:
        return None
    if layer in _not_compilable:
        return None
    unbound: Call = getattr(bound, "__func__", None) or bound
    if unbound is not getattr(type(layer), "call", None):
        return None  # an instance-level `call` of the user's: leave it alone
    shape = getattr(args[0], "shape", None)
    if shape is None or len(shape) < 3:
        return None
    steps = None if shape[1] is None else int(shape[1])
    short = steps is None or steps < TRACED_INNER_MAX_STEPS
    if short and isinstance(layer, layers.TimeDistributed) and sublayers(layer.layer):
        return None  # a sentence encoder over sentences: its inner masks are traced, step by step
    fn = _compiled.get(layer)
    if fn is not None:
        return fn  # compiled already: a shorter call (a probe trimmed to the real steps) reuses it
    if steps is None or steps < COMPILE_RNN_MIN_STEPS:
        return None
    if name == "jax" and getattr(layer, "stateful", False):
        return None  # its states are assigned in place, which a stateless jitted call drops
    if name == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return None
    fn = _compiled_layer_call(layer, unbound)
    _compiled[layer] = fn
    return fn


@dataclasses.dataclass(frozen=True)
class Folded:
    """A TimeDistributed call with its steps folded into the batch (`folded_call`)."""

    call: Call
    """The layer called once on (batch * steps, ...) rows, under the hooks, and unfolded."""
    steps: int
    first_step: Call | None
    """None for Keras' own layers; for a layer holding user code, Keras' own first step (the
    layer on `inputs[:, 0]`), compiled and unhooked, to check the folded call against: if the
    first step differs, the code mixes rows and the step loop must run."""


_fold_checks: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
_first_steps: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()


def fold_checked(layer: Any) -> bool | None:
    """Whether folding `layer`'s steps gave its first step exactly (None: not checked yet)."""
    return _fold_checks.get(layer)


def set_fold_checked(layer: Any, agrees: bool) -> None:
    _fold_checks[layer] = agrees


def folded_call(layer: Any, bound: Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Folded | None:
    """For a TimeDistributed over a layer that holds layers (a sentence encoder), where its inner
    masks are traced (`compiled_rnn_call` leaves it to the hooks): its layer called once, on the
    batch and time axes folded together ((batch * time, ...), row b * time + t), as Keras 2 ran
    it, and the result unfolded. Keras 3 calls the layer once per step in Python; eagerly, under
    the hooks, 20 sentences cost 2.6x a `predict` of the whole model (each step's inner RNN a
    compiled call of its own), folded 0.8x.

    A row of a Keras layer at inference depends on that row alone. User code may not (a batch
    mean): it is folded with `first_step` to check against, and not at all inside a pass JAX
    compiles (no value to check). None where the step loop runs: a stateful RNN inside, an input
    whose batch or time is unknown, a mask not of those two axes."""
    from keras import layers, ops, tree

    if not isinstance(layer, layers.TimeDistributed) or type(layer).call is not layers.TimeDistributed.call:
        return None
    unbound: Call = getattr(bound, "__func__", None) or bound
    if unbound is not layers.TimeDistributed.call or len(args) != 1 or set(kwargs) - {"training", "mask"}:
        return None
    x, mask = args[0], kwargs.get("mask")
    shape = tuple(getattr(x, "shape", ()) or ())
    if len(shape) < 2 or shape[0] is None or shape[1] is None:
        return None
    batch, steps = int(shape[0]), int(shape[1])
    if steps >= TRACED_INNER_MAX_STEPS or not sublayers(layer.layer):
        return None
    if mask is not None and tuple(getattr(mask, "shape", ()) or ())[:2] != (batch, steps):
        return None  # Keras' own call raises its error about the mask's shape
    inside = all_layers(layer.layer)
    if any(getattr(inner, "stateful", False) for inner in inside):
        return None
    user_code = any(
        not type(inner).__module__.startswith("keras.") or isinstance(inner, layers.Lambda) for inner in inside
    )
    if user_code and is_traced(x):
        return None
    inner_layer = layer.layer
    params = call_parameters(inner_layer)
    takes_mask = bool(getattr(inner_layer, "_call_has_mask_arg", "mask" in params))
    takes_training = bool(getattr(inner_layer, "_call_has_training_arg", "training" in params))

    def inner_kwargs(k: dict[str, Any], mask_of: Callable[[Any], Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if takes_mask and k.get("mask") is not None:
            kw["mask"] = mask_of(k["mask"])
        if takes_training:
            kw["training"] = k.get("training")
        return kw

    def run(*a: Any, **k: Any) -> Any:
        rows = batch * steps
        kw = inner_kwargs(k, lambda m: ops.reshape(m, (rows, *m.shape[2:])))
        out = inner_layer.call(ops.reshape(a[0], (rows, *a[0].shape[2:])), **kw)
        return tree.map_structure(lambda o: ops.reshape(o, (batch, steps, *o.shape[1:])), out)

    first_step = None
    if user_code:
        compiled = _first_steps.get(layer)
        if compiled is None:
            compiled = _first_steps[layer] = _compiled_layer_call(inner_layer, type(inner_layer).call)

        def first_step(*a: Any, **k: Any) -> Any:
            return compiled(a[0][:, 0], **inner_kwargs(k, lambda m: m[:, 0]))

    return Folded(run, steps, first_step)


def forget_compiled(layer: Any) -> None:
    """Drop the compiled loops inside `layer` (a TimeDistributed whose folded call was undone):
    they were padded up to its batch * steps rows, and its step loop calls them with a batch."""
    for inner in all_layers(layer):
        _compiled.pop(inner, None)


def _compiled_layer_call(layer: Any, unbound: Call) -> Call:
    """`unbound` (`layer`'s own `call`) run unhooked and compiled: `tf.function` on TensorFlow,
    `jax.jit` on JAX, the eager loop with Keras cells called directly on PyTorch."""
    from keras import backend

    if backend.backend() == "tensorflow":
        return _tf_compiled(layer, unbound)
    if backend.backend() == "jax":
        return _jax_compiled(layer, unbound)
    return _unhooked(layer, unbound, direct_cells=True)


def _batch_padded(fn: Call) -> Call:
    """`fn` (a compiled RNN or TimeDistributed call) with a smaller batch than one it ran on before
    (a probe on a subset of the traced sample) padded up to that batch with zero rows and the
    result cut back: a compiled function is specialised to its shapes, and tracing it again costs
    more (a TensorFlow retrace, an XLA compile: 0.3-1 s a layer) than the padding rows' compute.
    The rows of an RNN or TimeDistributed call are independent, so the padding changes nothing
    in the others."""
    from keras import ops, tree

    batch_for: dict[Any, int] = {}  # the largest batch seen for each signature (the other dims)

    def call(*a: Any, **k: Any) -> Any:
        leaves = [x for x in tree.flatten((a, k)) if hasattr(x, "shape")]
        n = leaves[0].shape[0] if leaves and len(leaves[0].shape) else None
        if n is None or any(len(x.shape) == 0 or x.shape[0] != n for x in leaves):
            return fn(*a, **k)
        if any(is_traced(x) for x in leaves):
            # Inside a whole pass compiled for this batch (JAX): the loop is compiled with it, at
            # this size; padding would run the smaller probe at the trace's cost.
            return fn(*a, **k)
        others = tuple(sorted((key, _static(v)) for key, v in k.items() if not hasattr(v, "shape")))
        signature = (others, tuple((tuple(x.shape[1:]), str(x.dtype)) for x in leaves))
        size = batch_for.get(signature, 0)
        if size <= n:
            batch_for[signature] = int(n)
            return fn(*a, **k)

        def grow(x: Any) -> Any:
            if not hasattr(x, "shape"):
                return x
            return ops.concatenate([x, ops.zeros((size - n, *x.shape[1:]), dtype=x.dtype)], axis=0)

        out = fn(*tree.map_structure(grow, a), **tree.map_structure(grow, k))
        return tree.map_structure(lambda x: x[:n] if hasattr(x, "shape") else x, out)

    return call


def _unhooked(layer: Any, unbound: Call, direct_cells: bool = False) -> Call:
    """The eager loop with the hooks suspended (PyTorch, where `predict` loops in Python too):
    recording every step's cell call cost as much again as the loop itself. Also what
    `tf.function` compiles on TensorFlow. With `direct_cells`, a Keras cell's step is its `call`
    (`_plain_cell_call`)."""
    ref = weakref.ref(layer)  # the cache must not keep the model alive

    def run(*a: Any, **k: Any) -> Any:
        saved = getattr(_state, "direct_cells", False)
        _state.direct_cells = direct_cells
        try:
            with suspended():
                return unbound(ref(), *a, **k)
        finally:
            _state.direct_cells = saved

    return run


_CELL_TYPES = (LSTMCell, GRUCell, SimpleRNNCell)


def _plain_cell_call(layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether `layer(*args, **kwargs)` is exactly `layer.call(*args, **kwargs)`: a built Keras
    LSTM, GRU or SimpleRNN cell (not a subclass) stepped at inference (`training=False`), with
    tensors already in its dtype, no autocast, activity regularizer, remat, quantization,
    distribution, torch hooks or `Module.compile()`. `Layer.__call__`'s
    bookkeeping (conversion, call spec, name scope, the torch `Module` chain) is then 58% of an
    eager PyTorch step (290 of 500 us for an LSTM cell over 256 rows) and changes nothing."""
    if type(layer) not in _CELL_TYPES or not layer.built or layer.activity_regularizer is not None:
        return False
    if set(kwargs) - {"training"} or kwargs.get("training", False) is not False or len(args) != 2:
        return False  # `training=None` would be read from the call context
    if getattr(layer, "_remat_mode", None) is not None or getattr(layer, "quantization_mode", None) is not None:
        return False  # `Operation.__call__` routes these elsewhere
    if getattr(layer, "_compiled_call_impl", None) is not None:
        return False  # `torch.compile`d through `Module.compile()`
    dtype = layer.compute_dtype
    if dtype != layer.variable_dtype or _backend.get_autocast_scope() is not None:
        return False
    if _distribution_lib.distribution() is not None or _torch_hooked(layer):
        return False
    states = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
    tensors = [args[0], *states]
    return all(_backend.is_tensor(t) and _backend.standardize_dtype(t.dtype) == dtype for t in tensors)


def _torch_hooked(layer: Any) -> bool:
    from torch.nn.modules import module

    own = (layer._forward_hooks, layer._forward_pre_hooks, layer._backward_hooks, layer._backward_pre_hooks)
    shared = (
        module._global_forward_hooks,
        module._global_forward_pre_hooks,
        module._global_backward_hooks,
        module._global_backward_pre_hooks,
    )
    return any(own) or any(shared)


def _arrays(v: Any) -> bool:
    """None, an array, or a list or tuple of them: what a compiled call takes as arguments."""
    if isinstance(v, (list, tuple)):
        return all(_arrays(e) for e in v)
    return v is None or hasattr(v, "shape")


def _static(v: Any) -> Any:
    """A plain value as itself (`training=False`); anything else by its type (a structure's
    arrays are in the signature already, and printing them would cost more than the call)."""
    return v if isinstance(v, (bool, int, float, str, type(None))) else type(v).__name__


def _tf_compiled(layer: Any, unbound: Call) -> Call:
    import tensorflow as tf

    run = _unhooked(layer, unbound)

    def scoped(*a: Any, **k: Any) -> Any:
        # Keras opens a name scope per layer; the first one inside a graph is a root scope,
        # whose name TensorFlow rejects if it starts with "_" (a cell class named `_MyCell`).
        with tf.name_scope("maskcheck"):
            return run(*a, **k)

    compiled = tf.function(scoped, reduce_retracing=True)

    def quiet(*a: Any, **k: Any) -> Any:
        # A sample of another size (the time_budget pilot, a larger batch) traces again:
        # TensorFlow warns about retracing, which is expected here and says nothing to the user.
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")
        try:
            return compiled(*a, **k)
        finally:
            logger.setLevel(level)

    return _batch_padded(quiet)


def _jax_compiled(layer: Any, unbound: Call) -> Call:
    """`jax.jit` of the layer's call, its variables' current values passed in on every call
    (through a `StatelessScope`), so weights changed since (by `fit`) are never stale."""
    import jax
    from keras import StatelessScope

    ref = weakref.ref(layer)

    def run(values: list[Any], statics: tuple[tuple[str, Any], ...], *a: Any, **k: Any) -> Any:
        lay: Any = ref()
        with StatelessScope(state_mapping=list(zip(lay.variables, values, strict=True))), suspended():
            return unbound(lay, *a, **k, **dict(statics))

    jitted = jax.jit(run, static_argnums=(1,))

    def call(*a: Any, **k: Any) -> Any:
        arrays = {key: v for key, v in k.items() if _arrays(v)}  # `initial_state=[h, c]` too
        statics = tuple(sorted((key, v) for key, v in k.items() if key not in arrays))
        if not all(hasattr(v, "shape") for v in a):
            raise TypeError("a positional argument that is not an array")  # the caller runs it eagerly
        live: Any = ref()
        return jitted([v.value for v in live.variables], statics, *a, **arrays)

    return _batch_padded(call)


@contextlib.contextmanager
def instrumented(model: Any, hooks: Hooks) -> Iterator[None]:
    """Route `model`'s layer calls, graph operations and inner `call()`s to `hooks` in this block."""
    with _window_lock:
        legacy = _legacy_layer_class(model)
        classes: list[tuple[type, Callable[[Call], Call]]] = (
            [(legacy, _layer_wrapper)]
            if legacy is not None
            else [(_Layer, _layer_wrapper), (_Operation, _op_wrapper)]
        )
        installed: list[type] = []
        saved: list[tuple[Any, bool, Any]] = []
        outer = _hooks()
        try:
            for cls, make in classes:
                _install(cls, make)
                installed.append(cls)
            for layer in all_layers(model):
                if getattr(layer.__dict__.get("call"), "_maskcheck_inner", False):
                    continue  # an enclosing window wrapped it already; it routes to our hooks
                had = "call" in layer.__dict__
                saved.append((layer, had, layer.__dict__.get("call")))
                object.__setattr__(layer, "call", _inner_wrapper(layer, layer.call))
            _state.hooks = hooks
            yield
        finally:
            _state.hooks = outer
            for layer, had, value in reversed(saved):
                if had:
                    object.__setattr__(layer, "call", value)
                else:
                    with contextlib.suppress(AttributeError, KeyError):
                        object.__delattr__(layer, "call")
            for cls in reversed(installed):
                _uninstall(cls)
