"""One instrumented forward pass compiled with `jax.jit` (the JAX backend).

Eager JAX dispatches every operation on its own (about 2.3x a jitted `predict` for a small
Transformer) and compiles each one again for every new shape. A whole instrumented pass compiled
once costs what `predict` costs: the hooks run while JAX traces the function and record tracers;
the compiled function returns every recorded tensor, and the caller maps them back into what the
hooks recorded (`maskcheck.trace`).

The model's variables are passed in on every call (through a `StatelessScope`), so weights changed
since (by `fit`) are never stale, and nothing is assigned to the model.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# Compiled passes kept per model: a trace and a probe or two, for a sample size or two.
MAX_CACHED = 8


@dataclass
class _Entry(Generic[T]):
    jitted: Any
    template: T | None = None
    traces: int = 0


@dataclass
class _ModelCache:
    entries: OrderedDict[Hashable, _Entry[Any]] = field(default_factory=OrderedDict)
    failed: set[Hashable] = field(default_factory=set)
    losses: dict[Hashable, Any] = field(default_factory=dict)
    reasons: dict[Hashable, str] = field(default_factory=dict)
    """Why each failed pass could not be compiled."""


_cache: weakref.WeakKeyDictionary[Any, _ModelCache] = weakref.WeakKeyDictionary()
_lock = threading.RLock()


def usable(model: Any) -> bool:
    """Whether `model`'s passes may be compiled: the JAX backend, and a model that `predict` itself
    compiles (not `run_eagerly`, not `jit_compile=False`). The private attributes are read because
    the public properties resolve and store a default on first read, which would change the model."""
    from keras import backend

    if backend.backend() != "jax":
        return False
    if getattr(model, "_run_eagerly", False) is True:
        return False
    return getattr(model, "_jit_compile", None) is not False


def concrete() -> contextlib.AbstractContextManager[Any]:
    """Concrete values inside a JAX transformation: an audit started from a layer's `call` while
    JAX traces that model (`jax.jit`, Keras' shape inference) would get tracers back from its
    own passes, and NumPy cannot read them. Nothing outside one, or on other backends."""
    from keras import backend

    if backend.backend() != "jax":
        return contextlib.nullcontext()
    import jax

    try:
        from jax._src import core
    except ImportError:
        return contextlib.nullcontext()
    clean = getattr(core, "trace_state_clean", None)
    if clean is None or clean():
        return contextlib.nullcontext()
    return jax.ensure_compile_time_eval()


def _signature(tree: Any) -> Hashable:
    import jax

    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return (str(treedef), tuple((tuple(getattr(x, "shape", ())), str(getattr(x, "dtype", type(x)))) for x in leaves))


def run(
    model: Any,
    key: Hashable,
    body: Callable[[Any, Any], tuple[T, list[Any], BaseException | None]],
    inputs: Any,
    arrays: Any = None,
) -> tuple[T, list[Any]] | None:
    """`body(inputs, arrays)` compiled with `model`'s variables as arguments: returns the template
    `body` built while JAX traced it and the concrete values of the tensors it listed. `key` names
    what `body` does apart from the shapes of `inputs` and `arrays` (one compiled function is kept
    per key and shapes). None when it cannot be compiled (`body` returned the error it met, or JAX raised): the
    caller runs eagerly, and this key is not tried again for this model."""
    import jax
    from keras import StatelessScope

    full = (key, _signature((inputs, arrays)))
    with _lock:
        cache = _cache.setdefault(model, _ModelCache())
        if full in cache.failed:
            return None
        entry = cache.entries.get(full)
        if entry is None:
            ref = weakref.ref(model)
            entry = _Entry(jitted=None)
            holder = entry

            def compiled(values: list[Any], x: Any, extra: Any) -> list[Any]:
                live: Any = ref()
                with StatelessScope(state_mapping=list(zip(live.variables, values, strict=True))):
                    template, leaves, error = body(x, extra)
                if error is not None:
                    raise _NotCompilable(error)
                holder.template = template
                holder.traces += 1
                return leaves

            entry.jitted = jax.jit(compiled)
            cache.entries[full] = entry
            while len(cache.entries) > MAX_CACHED:
                cache.entries.popitem(last=False)
        else:
            cache.entries.move_to_end(full)
    try:
        leaves = entry.jitted([v.value for v in model.variables], inputs, arrays)
    except Exception as exc:
        with _lock:
            cache.failed.add(full)
            cache.entries.pop(full, None)
            cache.reasons[full] = exc.reason if isinstance(exc, _NotCompilable) else describe(exc)
        return None
    if entry.template is None:  # pragma: no cover - defensive: JAX returned without tracing
        return None
    return entry.template, list(leaves)


def failed(model: Any) -> bool:
    """Whether a pass of `model` could not be compiled (it runs eagerly)."""
    with _lock:
        cache = _cache.get(model)
        return cache is not None and bool(cache.failed)


def failure(model: Any, key: Hashable, inputs: Any, arrays: Any = None) -> str | None:
    """Why `run(model, key, ..., inputs, arrays)` could not be compiled (it returned None), or
    None. The model may raise the same error eagerly: the caller tells the two apart."""
    with _lock:
        cache = _cache.get(model)
        return None if cache is None else cache.reasons.get((key, _signature((inputs, arrays))))


def traces(model: Any) -> int:
    """How many times `model`'s compiled passes were traced (each trace is a compile)."""
    with _lock:
        cache = _cache.get(model)
        return 0 if cache is None else sum(e.traces for e in cache.entries.values())


class _NotCompilable(Exception):
    """`body` ran, but what it recorded cannot be used compiled (the pass raised inside)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__("the pass raised")
        self.reason = describe(error)


def describe(exc: BaseException) -> str:
    """One line naming a failed compile's error: the JAX error Keras was handling when it
    re-raised (Keras' rewrite fails for tracer errors, whose constructor takes a tracer), without
    Keras' "Exception encountered" prefix and styling; of a `tf.function` error, which opens with
    "in user code:" and the traceback, its last line, the error itself."""
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__
    exc = next((e for e in seen if type(e).__module__.startswith("jax")), exc)
    lines = [
        ln.strip().replace("\x1b[1m", "").replace("\x1b[0m", "")
        for ln in str(exc).strip().splitlines()
        if ln.strip() and not ln.strip().startswith("Exception encountered")
    ]
    text = (lines[-1] if lines[0].startswith("in user code") else lines[0]) if lines else ""
    name = type(exc).__name__
    if text.startswith(name):
        return text[:200]
    return f"{name}: {text[:160]}" if text else name


def loss_values(model: Any, identity: Any, loss: Any, y_pred: Any, cases: list[tuple[Any, Any]]) -> list[Any]:
    """`loss(y_true, y_pred, sample_weight)` for each (y_true, sample_weight) of `cases`, with the
    mask riding on `y_pred`: on JAX in one compiled call (eagerly, a Keras loss is a dozen
    operations dispatched one by one: 3 ms a call; compiled one by one, a call and a wait each).
    `identity` is what the loss was compiled from (a name, a Loss object, a function): the
    compiled call is kept per model, identity and shapes. Elsewhere, or for anything unhashable,
    plain calls."""
    from keras import backend

    from maskcheck.bridge import get_mask, set_mask

    def plain() -> list[Any]:
        return [loss(y_true, y_pred, w) for y_true, w in cases]

    if backend.backend() != "jax" or not usable(model):
        return plain()
    mask = get_mask(y_pred)
    ys, ws = tuple(c[0] for c in cases), tuple(c[1] for c in cases)
    try:
        key = (identity, _signature((ys, y_pred, mask, ws)))
        hash(key)
    except TypeError:
        return plain()
    import jax

    with _lock:
        cache = _cache.setdefault(model, _ModelCache())
        if key in cache.failed:
            return plain()
        fn = cache.losses.get(key)
        if fn is None:

            def call(yts: Any, yp: Any, m: Any, wts: Any) -> Any:
                if m is not None:
                    set_mask(yp, m)
                return [loss(yt, yp, w) for yt, w in zip(yts, wts, strict=True)]

            fn = cache.losses[key] = jax.jit(call)
    try:
        return list(fn(ys, y_pred, mask, ws))
    except Exception:
        with _lock:
            cache.failed.add(key)
            cache.losses.pop(key, None)
        return plain()
