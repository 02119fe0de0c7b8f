"""Mask sources beyond the Keras mask: explicit padding-mask inputs, masks the trace saw, and a
probe that perturbs an input where it is padded.

The keras-hub convention is a `padding_mask` input beside `token_ids`; a model may also build an
attention mask from the ids itself (`attention_mask=(ids != 0)[:, None, :]`) without any Keras
mask. Both mask the padding as surely as `mask_zero=True`, and the data checks must see them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.facts.flow import shape, time_aligned
from maskcheck.facts.layout import InputLayout
from maskcheck.facts.probe import at_rows, indices_in_x, noisy, numbered, probe_rows, take_rows
from maskcheck.facts.probe import output_change as _change
from maskcheck.facts.steps import end_padding, steps_equal
from maskcheck.trace import CallEvent, Perturbation, Trace, run_traced

# Name fragments of an explicit padding-mask input, and those of the ids input it belongs to
# (stripped to pair `encoder_padding_mask` with `encoder_token_ids`).
MASK_NAMES = ("padding_mask", "attention_mask", "input_mask", "mask")
IDS_NAMES = ("token_ids", "input_ids", "ids", "inputs", "tokens")


@dataclass
class ExplicitMask:
    """A model input that says, per step of an ids input, real (1) or padding (0)."""

    index: int
    name: str
    ids_index: int
    ids_name: str
    real: np.ndarray  # (samples, steps) bool, as traced


def padded_steps(x: np.ndarray, lay: InputLayout) -> np.ndarray | None:
    """(samples, steps) bool: the steps in the runs of the pad vector at the sequence ends."""
    if lay.pad is None or x.ndim < 2:
        return None
    full = steps_equal(x, lay.pad if x.ndim > 2 else np.asarray(lay.pad).reshape(1))[0]
    if lay.pad_side in ("post", "pre"):
        return end_padding(full, lay.pad_side)
    return np.asarray(full, dtype=bool)


def _stem(name: str, fragments: tuple[str, ...]) -> str:
    low = name.lower()
    for frag in fragments:
        if low.endswith(frag):
            return low[: -len(frag)].rstrip("_")
    return low


def _is_binary(x: np.ndarray) -> bool:
    if x.ndim != 2 or x.dtype.kind not in "biuf":
        return False
    return bool(np.isin(x, (0, 1)).all())


def explicit_masks(
    inputs: list[np.ndarray], names: list[str], layouts: list[InputLayout], trace: Trace | None = None
) -> list[ExplicitMask]:
    """Inputs that are padding masks, holding 0/1 per step, each paired with the ids input of the
    same shape (the one whose name shares its prefix, when there are several). An input is a
    padding mask when it is named like one (keras-hub's `padding_mask`) or when the model consumes
    it as a mask: some mask the trace saw (`attention_mask=`, `mask=`, a Keras mask) holds exactly
    its values."""
    by_index = {lay.index: lay for lay in layouts}
    out = []
    for i, (x, name) in enumerate(zip(inputs, names, strict=False)):
        if not _is_binary(x):
            continue
        if "mask" not in name.lower() and not _consumed_as_mask(x, trace):
            continue
        stem = _stem(name, MASK_NAMES)
        candidates = [
            j
            for j, other in enumerate(inputs)
            if j != i
            and other.shape == x.shape
            and j in by_index
            and by_index[j].kind == "ids"
            and "mask" not in names[j].lower()
            and not _is_binary(other)
        ]
        if not candidates:
            continue
        j = max(candidates, key=lambda k: (_stem(names[k], IDS_NAMES) == stem, -k))
        out.append(ExplicitMask(i, name, j, names[j], np.asarray(x, dtype=bool)))
    return out


def _consumed_as_mask(x: np.ndarray, trace: Trace | None) -> bool:
    if trace is None or x.ndim != 2:
        return False
    keep = np.asarray(x, dtype=bool)
    if keep.all() or not keep.any():
        # All ones (or zeros) match any mask that masks nothing; only a name can say it is one.
        return False
    return any(np.array_equal(keep, m) for m in masks_seen(trace, *keep.shape))


def masks_seen(trace: Trace, n: int, t: int) -> list[np.ndarray]:
    """Every mask the trace saw (Keras masks, masks passed as `mask=`/`*_mask=`, attention masks)
    for a batch of `n` sequences of `t` steps, reduced to (n, t): a key step counts as real when
    any query may attend to it."""
    seen: dict[int, Any] = {}
    for e in trace.events:
        for m in (*e.input_masks, *e.received_masks, *e.attention_masks, *e.output_masks):
            if m is not None and kb.is_tensor(m):
                seen.setdefault(id(m), m)
    for m in trace.output_masks:
        if m is not None and kb.is_tensor(m):
            seen.setdefault(id(m), m)
    out = []
    for m in seen.values():
        s = shape(m)
        if len(s) < 2 or s[0] != n or s[-1] != t:
            continue
        try:
            arr = np.asarray(kb.to_numpy(m)).astype(bool)
        except Exception:
            continue
        out.append(np.asarray(arr.reshape(n, -1, t).any(axis=1), dtype=bool))
    return out


def covered_by_trace(trace: Trace, pads: np.ndarray) -> bool:
    """Some mask the model computed marks exactly these padded steps as padding (and real steps as
    real): the padding is masked, whoever made the mask."""
    if not pads.any() or pads.all():
        return False
    n, t = pads.shape
    return any(not m[pads].any() and m[~pads].all() for m in masks_seen(trace, n, t))


@dataclass
class InputProbe:
    """Outcome of perturbing one input at its padded steps."""

    changed_outputs: list[int] = field(default_factory=list)
    max_change: list[float] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    error: str | None = None
    first: CallEvent | None = None
    """The first layer called by the model itself whose outputs changed at real steps."""


def _perturbed(x: np.ndarray, pads: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    new = np.array(x, copy=True)
    if kind == "ids":
        real = x[~pads]
        lo = max(1, int(real.min())) if real.size else 1
        hi = max(lo, int(real.max())) if real.size else lo
        new[pads] = rng.integers(lo, hi + 1, size=int(pads.sum())).astype(x.dtype)
        return new
    scale = float(np.nanstd(x[~pads])) * 3.0 + 1.0 if (~pads).any() else 1.0
    noise = rng.standard_normal(new[pads].shape) * scale
    new[pads] = noise.astype(x.dtype) if x.dtype.kind == "f" else np.rint(noise).astype(x.dtype)
    return new


def probe_input(
    model: Any,
    inputs: list[np.ndarray],
    structured: Callable[[list[np.ndarray]], Any],
    trace: Trace,
    index: int,
    pads: np.ndarray,
    kind: str,
    seed: int = 0,
) -> InputProbe:
    """Run the model again with input `index` changed at `pads` (`structured` turns the arrays
    into what the model takes: one array, a list, a dict); report the outputs that changed
    at the steps this input has real (or anywhere, for outputs without its time axis)."""
    rng = np.random.default_rng(seed)
    rows = probe_rows(model, pads)
    xs = take_rows(list(inputs), rows)
    xs[index] = _perturbed(xs[index], take_rows(pads, rows), kind, rng)
    # The trace's companion too: on JAX, on a sample small enough to run whole, the same compiled
    # call as the trace, not a compile of its own.
    return _compare(trace, run_traced(model, structured(xs), companion=trace.companion), pads, rows)


def probe_layer_output(
    model: Any,
    inputs: list[np.ndarray],
    structured: Callable[[list[np.ndarray]], Any],
    trace: Trace,
    layer: Any,
    ids: np.ndarray,
    pads: np.ndarray,
    seed: int = 0,
) -> InputProbe:
    """Run the model again with the output of `layer` (an Embedding) replaced by noise at `pads`,
    in the calls that look up `ids`; report the outputs that changed at real steps. The ids stay
    as they are, so a mask the model derives from them (`ids != 0`, by hand) stays the same."""
    rows = probe_rows(model, pads)
    calls = frozenset(
        e.nth
        for e in trace.events
        if e.layer is layer and e.call_inputs and _same(e.call_inputs[0], ids)
    )

    def apply(ev: CallEvent, args: Any, out: Any, pads_run: Any) -> Any:
        if ev.layer is not layer or ev.nth not in calls or not kb.is_tensor(out) or len(shape(out)) != 3:
            return out
        new = kb.keras.ops.where(kb.keras.ops.expand_dims(pads_run, -1), noisy(out, seed + ev.index), out)
        mask = kb.get_mask(out)
        if mask is not None:
            kb.set_mask(new, mask)
        return new

    perturb = Perturbation(("embedding output at padding", id(layer), calls, seed), apply, take_rows(pads, rows))
    return _compare(trace, run_traced(model, structured(take_rows(list(inputs), rows)), perturb=perturb), pads, rows)


def padded_words(ids: np.ndarray) -> np.ndarray:
    """(documents, sentences) bool, for (documents, sentences, words) ids: the sentences that hold
    words and end in a run of id 0 (or begin in one, where the data are pre-padded), the padded
    words an Embedding under a TimeDistributed reads. An all-zero sentence is a padded sentence,
    not counted here; nor is a sentence with a 0 between its words. A single 0 opening nearly
    every sentence is a start token (`<s>` = 0, with another pad id), not padding."""
    zero = ids == 0
    real = ~zero.all(axis=-1)
    width = ids.shape[-1]
    first = np.argmax(~zero, axis=-1)
    last = width - 1 - np.argmax(~zero[..., ::-1], axis=-1)
    position = np.arange(width)
    inside = (position >= first[..., None]) & (position <= last[..., None])
    clean = real & ~(zero & inside).any(axis=-1)  # no 0 between the real words
    post = clean & (last < width - 1) & (first == 0)
    pre = clean & (first > 0) & (last == width - 1)
    if pre.any() and (first[pre] == 1).all() and pre.sum() >= 0.9 * real.sum():
        pre = np.zeros_like(pre)
    return np.asarray(post | pre)


def probe_nested_ids(
    model: Any,
    inputs: list[np.ndarray],
    structured: Callable[[list[np.ndarray]], Any],
    trace: Trace,
    layer: Any,
    wrapper: Any,
    index: int,
    seed: int = 0,
) -> InputProbe:
    """Input `index` holds (documents, sentences, words) ids that `layer` (an Embedding under the
    TimeDistributed `wrapper`) reads a sentence at a time: run the model again with `layer`'s output
    replaced by noise wherever its own input is id 0 in a sentence that holds words (the padded
    words; a padded sentence is the sentence axis's business), the ids unchanged; report the
    outputs that changed (at real sentences, for outputs on the sentence axis)."""
    ids = inputs[index]
    pads = np.asarray(~ids.any(axis=-1))  # the padded sentences
    rows = probe_rows(model, (ids == 0).reshape(len(ids), -1))
    ops = kb.keras.ops

    def apply(ev: CallEvent, args: Any, out: Any, _arrays: Any) -> Any:
        if ev.layer is not layer or not args or not kb.is_tensor(out) or not kb.is_tensor(args[0]):
            return out
        if len(shape(out)) != len(shape(args[0])) + 1 or not _inside(ev, wrapper):
            return out  # a call of a shared Embedding outside the TimeDistributed
        zero = ops.equal(args[0], ops.zeros_like(args[0]))
        words = ops.any(ops.logical_not(zero), axis=-1, keepdims=True)  # not a padded sentence
        return ops.where(ops.expand_dims(ops.logical_and(zero, words), -1), noisy(out, seed + ev.index), out)

    perturb = Perturbation(("embedding output at id 0", id(layer), seed), apply)
    return _compare(trace, run_traced(model, structured(take_rows(list(inputs), rows)), perturb=perturb), pads, rows)


def _inside(ev: CallEvent, wrapper: Any) -> bool:
    parent = ev.parent
    while parent is not None:
        if parent.layer is wrapper:
            return True
        parent = parent.parent
    return False


def _same(t: Any, ids: np.ndarray) -> bool:
    try:
        seen = np.asarray(kb.to_numpy(t))
    except Exception:
        return False
    return seen.shape == ids.shape and bool(np.array_equal(seen, ids))


def _compare(trace: Trace, second: Trace, pads: np.ndarray, rows: np.ndarray | None) -> InputProbe:
    """Compare the traced outputs with a probe's (run on `rows` of the traced sample, or all)."""
    result = InputProbe()
    if second.error is not None:
        result.error = f"{type(second.error).__name__}: {second.error}"
        return result
    n, t = pads.shape
    real_run = ~take_rows(pads, rows)
    changed = np.zeros(real_run.shape[0], dtype=bool)
    for i, (a, b) in enumerate(zip(trace.outputs, second.outputs, strict=False)):
        s = shape(a)
        real = real_run if len(s) >= 2 and s[1] == t and time_aligned(a, t) else None
        amount, per_sample = _change(at_rows(a, rows, n), b, real)
        if per_sample.any():
            result.changed_outputs.append(i)
            result.max_change.append(amount)
            if per_sample.shape == changed.shape:
                changed |= per_sample
    result.samples = indices_in_x(changed, rows)
    if result.changed_outputs:
        result.first = _first_changed(trace, second, real_run, rows, n)
    return result


def _first_changed(
    first: Trace, second: Trace, real: np.ndarray, rows: np.ndarray | None, n: int
) -> CallEvent | None:
    """The first layer of the model's own graph (or a subclassed model's `call`, not a layer's
    internals) whose outputs changed at real steps (the n-th call of a layer is matched with its
    n-th call in the other trace, which ran on `rows` of the first one's `n` sequences)."""
    t = real.shape[1]
    other = dict(numbered(second))
    for key, e in numbered(first):
        if e is first.root or e.is_op or e.parent is None:
            continue
        if e.parent is not first.root and not kb.is_model(e.parent.layer):
            continue
        twin = other.get(key)
        if twin is None:
            continue
        for a, b in zip(e.outputs, twin.outputs, strict=False):
            s = shape(a)
            sel = real if len(s) >= 3 and s[1] == t else None
            if _change(at_rows(a, rows, n), b, sel)[1].any():
                return e
    return None
