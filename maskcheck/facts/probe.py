"""Metamorphic probe: change what the model sees at padded steps, keep the mask, compare outputs.

The change is made to the *outputs* of the layers that create masks (Masking, Embedding with
`mask_zero=True`, custom mask sources) during a second traced inference call, so no weight,
variable or input array is ever modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.facts.flow import creators, shape, time_aligned, top_level
from maskcheck.trace import (
    CallEvent,
    Companion,
    Perturbation,
    Trace,
    run_traced,
    runs_compiled,
    stateful_batch_size,
)

ops = kb.keras.ops


@dataclass
class LeakResult:
    """Outcome of the padding perturbation."""

    leaked_outputs: list[int] = field(default_factory=list)
    max_change: list[float] = field(default_factory=list)
    first_layer: str | None = None
    first_class: str | None = None
    samples: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    error: str | None = None
    extended: ShapeProbe | None = None
    """Extra padded steps appended to every sequence (variable time axis only)."""
    trimmed: ShapeProbe | None = None
    """The most padded sequences trimmed to their real length (variable time axis only)."""

    @property
    def any_leak(self) -> bool:
        return bool(
            self.leaked_outputs
            or (self.extended and self.extended.leaked_outputs)
            or (self.trimmed and self.trimmed.leaked_outputs)
        )


@dataclass
class ShapeProbe:
    """One extra forward pass on a reshaped copy of the traced sample: the real steps' outputs
    must not change when padded steps are added (`extended`) or removed (`trimmed`)."""

    steps: int  # the number of steps appended, or the real length the sequences were trimmed to
    leaked_outputs: list[int] = field(default_factory=list)
    max_change: list[float] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)


# The probe's tolerance against float noise (an absolute plus a part relative to the output's
# largest value): padding legitimately moves results by ~1e-6 through reduction order. MC108
# passes its own named thresholds; these are the defaults.
ATOL = 1e-5
RTOL = 1e-4
EXTRA_STEPS = 3
LENGTH_PROBE_ROWS = 32  # sequences the length probes run on: one small extra forward each
# Sequences a perturbation probe runs again: a leak through padding is a property of the model,
# so 64 padded sequences spread from the least to the most padded find what all of them would,
# for a quarter of the cost of re-running the default 256-sequence sample.
PROBE_ROWS = 64


def probe_rows(model: Any, padded: np.ndarray | None) -> np.ndarray | None:
    """The rows a perturbation probe re-runs: at most `PROBE_ROWS` of the sequences that have
    padded steps (`padded`: (samples, steps) bool), spread evenly over how much padding they have,
    in sample order. None: every row (a small sample, no step-wise padding, a model that only
    runs on its fixed batch size, or JAX running eagerly, where a new shape compiles every
    operation again: seconds).

    On JAX with the passes compiled, the smaller probe is a compile of its own on the first
    audit, where all rows would reuse the trace's program: for a keras-hub BERT (N = 256) the
    first audit costs 2.1x its first `predict` instead of 1.25x, and every later one 1.3-1.5x
    instead of 2.2-2.5x (a changed-layer probe is compiled again in any case)."""
    if padded is None or padded.ndim != 2 or padded.shape[0] <= PROBE_ROWS:
        return None
    if kb.backend_name() == "jax" and not runs_compiled(model):
        return None
    if _whole_batch_only(model):
        return None
    amount = padded.sum(axis=1)
    rows = np.flatnonzero(amount > 0)
    if rows.size == 0:
        return None
    if rows.size > PROBE_ROWS:
        by_amount = rows[np.argsort(amount[rows], kind="stable")]
        rows = np.sort(by_amount[np.linspace(0, by_amount.size - 1, PROBE_ROWS).round().astype(int)])
    return rows


def indices_in_x(changed: np.ndarray, rows: np.ndarray | None, most: int = 10) -> list[int]:
    """The first `most` samples flagged in `changed` (one flag per probed row), as indices into the
    traced sample."""
    picked = np.flatnonzero(changed)
    return [int(i) for i in (picked if rows is None else rows[picked])[:most]]


def _whole_batch_only(model: Any) -> bool:
    """A stateful model, or one whose inputs fix the batch size: it runs on the whole sample only."""
    return stateful_batch_size(model) is not None or _fixed_batch_input(model)


def _fixed_batch_input(model: Any) -> bool:
    try:
        return any(kb.shape_of(t)[:1] not in ((), (None,)) for t in model.inputs or [])
    except (AttributeError, ValueError, TypeError):
        return False


def take_rows(inputs: Any, rows: np.ndarray | None) -> Any:
    """The model inputs (an array, a list or a dict of arrays) restricted to `rows`."""
    if rows is None:
        return inputs
    if isinstance(inputs, dict):
        return {k: take_rows(v, rows) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(take_rows(v, rows) for v in inputs)
    return inputs[rows]


def at_rows(x: Any, rows: np.ndarray | None, n: int) -> Any:
    """A traced value of the full sample of `n` sequences, restricted to `rows` when its first axis
    is the batch (unchanged otherwise), to compare with the same value from a probe on `rows`."""
    if rows is None:
        return x
    arr = kb.to_numpy(x)
    return arr[rows] if arr.ndim >= 1 and arr.shape[0] == n else arr


def _real_positions(mask: Any) -> np.ndarray:
    """(samples, steps) bool: the real steps of a mask. A step is everything after the time axis:
    a Masking mask over video frames (batch, time, height, width) marks a step real if any of it is."""
    arr = np.asarray(kb.to_numpy(mask), dtype=bool)
    if arr.ndim > 2:
        return np.asarray(arr.reshape(arr.shape[0], arr.shape[1], -1).any(axis=-1))
    return arr


def output_change(
    a: Any, b: Any, real: np.ndarray | None, atol: float = ATOL, rtol: float = RTOL
) -> tuple[float, np.ndarray]:
    """Relative max change and per-sample changed flags, at real steps where `real` applies. A
    step where both are NaN is unchanged; one NaN is a change. float32 outputs are compared in
    float32 (a BERT's outputs, 4M values each, in one temporary instead of five in float64)."""
    x, z = _floats(kb.to_numpy(a)), _floats(kb.to_numpy(b))
    if x.shape != z.shape:
        return float("inf"), np.ones(x.shape[:1], dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN: a change, counted below
        d = np.subtract(x, z, dtype=np.result_type(x, z))
    np.abs(d, out=d)
    if real is not None and x.ndim >= 2 and real.shape == x.shape[:2]:
        real = np.asarray(real, dtype=bool)
        np.copyto(d, 0, where=~real.reshape(real.shape + (1,) * (x.ndim - 2)))
    nan = np.isnan(d)
    if nan.any():
        d[nan & np.isnan(x) & np.isnan(z)] = 0
        nan = np.isnan(d)
    scale = max(float(np.nanmax(x)), -float(np.nanmin(x))) if x.size else 0.0
    tol = atol + rtol * scale
    over = d > tol
    if np.isfinite(tol):
        over |= nan
    per_sample = np.asarray(over.reshape(d.shape[0], -1).any(axis=1))
    return float(np.nanmax(d)) if d.size else 0.0, per_sample


def _floats(arr: Any) -> np.ndarray:
    """float32 and float64 as they are; lower floats in float32; anything else in float64."""
    arr = np.asarray(arr)
    if arr.dtype in (np.float32, np.float64):
        return arr
    if arr.dtype.kind == "f" or "bfloat16" in str(arr.dtype):
        return arr.astype(np.float32)
    return arr.astype(np.float64)


def probe(
    model: Any,
    inputs: Any,
    trace: Trace,
    seed: int = 0,
    atol: float = ATOL,
    rtol: float = RTOL,
    extra_steps: int = EXTRA_STEPS,
) -> LeakResult:
    """Run the model again with noise at padded steps; report outputs whose real steps changed.

    Where the time axis is variable, two more passes: `extra_steps` padded steps appended to
    every sequence, and the most padded sequences trimmed to their real length. The noise and
    the appended steps go into one pass first; only when that pass changes a real step do they
    run apart, to tell which one did."""
    sources = creators(trace)
    result = LeakResult(sources=[e.path for e in sources])
    if not sources:
        return result
    masks_2d = [e.output_masks[0] for e in sources if len(shape(e.output_masks[0])) == 2]
    source_ids = {id(e.layer) for e in sources}
    masks = {id(e.layer): e.output_masks[0] for e in sources}
    n = int(shape(trace.outputs[0])[0] or 0) if trace.outputs and shape(trace.outputs[0]) else 0
    # The real steps of each mask length, as the noise probe reads them (the last source wins).
    reals = {shape(m)[1]: _real_positions(m) for m in masks.values() if len(shape(m)) >= 2}
    noise = noise_at_padding(source_ids, seed)
    paired = trace.companion_trace
    ran_with_trace = paired[1] if paired is not None and paired[0] == noise.key else None
    steps = _real_positions(masks_2d[0]) if masks_2d else None
    rows = probe_rows(model, ~steps) if ran_with_trace is None and steps is not None and n else None
    if steps is not None:
        longer = _lengthened(model, inputs, steps, extra_steps)
        quiet = (
            ran_with_trace is None
            and longer is not None
            and _quiet_together(model, trace, noise, longer, rows, n, reals, atol, rtol)
        )
        result.extended = ShapeProbe(extra_steps) if quiet else _extended(model, trace, longer, atol, rtol, reals)
        result.trimmed = _trimmed(model, inputs, trace, steps, atol, rtol)
        if quiet:
            return result
    # The noise probe ran in the trace's own compiled call, or runs now.
    second = ran_with_trace if ran_with_trace is not None else run_traced(model, take_rows(inputs, rows), perturb=noise)
    if second.error is not None:
        result.error = f"{type(second.error).__name__}: {second.error}"
        return result

    t_lens = {t: at_rows(real, rows, n) for t, real in reals.items()}
    changed_samples = np.zeros(0, dtype=bool)
    for i, (a, b) in enumerate(zip(trace.outputs, second.outputs, strict=False)):
        s = shape(a)
        real = t_lens.get(s[1]) if len(s) >= 2 and time_aligned(a, s[1]) else None
        amount, per_sample = output_change(at_rows(a, rows, n), b, real, atol, rtol)
        if per_sample.any():
            result.leaked_outputs.append(i)
            result.max_change.append(amount)
            changed_samples = per_sample if changed_samples.size == 0 else changed_samples | per_sample
    result.samples = indices_in_x(changed_samples, rows)
    if result.leaked_outputs:
        _locate(trace, second, t_lens, source_ids, result, atol, rtol, rows, n)
    return result


def leak_companion(seed: int, model: Any, inputs: Any) -> Companion | None:
    """MC108's noise probe, to run in the same compiled call as the trace (JAX): its mask sources
    are known from the trace's record (which calls make a mask), not from any value.

    None where the noise probe costs less on its own: where an input has a variable time axis
    (the noise then rides on the lengthened sequences' pass, `_quiet_together`, which runs
    anyway), and where the sample holds more than `PROBE_ROWS` sequences (the probe then runs on
    `PROBE_ROWS` of them: a quarter of the pass for a BiLSTM tagger over 256)."""
    if _variable_time(model, inputs):
        return None
    arrays = [x for x in kb.keras.tree.flatten(inputs) if np.ndim(x)]
    many = bool(arrays) and int(np.shape(arrays[0])[0]) > PROBE_ROWS
    if many and not _whole_batch_only(model):
        return None

    def make(trace: Trace) -> Perturbation | None:
        sources = creators(trace)
        return noise_at_padding({id(e.layer) for e in sources}, seed) if sources else None

    return Companion(("noise at padding", seed), make)


def noise_at_padding(source_ids: set[int], seed: int) -> Perturbation:
    """The outputs of the mask sources (layers by id) replaced at their masked steps by noise far
    from their values (3 standard deviations of the output, plus 1)."""

    def apply(ev: CallEvent, args: Any, out: Any, _arrays: Any) -> Any:
        if id(ev.layer) not in source_ids or not kb.is_tensor(out):
            return out
        mask = kb.get_mask(out)
        if mask is None and args:
            try:
                mask = ev.layer.compute_mask(args[0], None)
            except Exception:
                return out
        if mask is None or len(shape(out)) != len(shape(mask)) + 1:
            return out
        new = ops.where(ops.expand_dims(mask, -1), out, noisy(out, seed + ev.index))
        if kb.get_mask(out) is not None:
            kb.set_mask(new, mask)
        return new

    return Perturbation(("noise at padding", tuple(sorted(source_ids)), seed), apply)


def noisy(out: Any, seed: int) -> Any:
    """Noise of `out`'s shape and dtype, standard deviation 3 x `out`'s plus 1. Drawn by Keras
    inside a compiled pass (where `out` has no value yet), by NumPy otherwise (an eager Keras draw
    compiles its generator first: 0.7 s on JAX)."""
    if kb.is_traced(out):
        # A compiled draw (threefry) costs about half a BiLSTM pass for a (256, 100, 8) output:
        # per-(sample, step) plus per-(step, feature) draws, summed, are standard normal at every
        # place too, for a tenth of the draws.
        dims = tuple(int(d) for d in out.shape)
        scale = ops.std(ops.cast(out, "float32")) * 3.0 + 1.0
        if len(dims) < 3:
            return ops.cast(kb.keras.random.normal(dims, seed=seed) * scale, out.dtype)
        rows = kb.keras.random.normal(dims[:2] + (1,) * (len(dims) - 2), seed=seed)
        cols = kb.keras.random.normal((1, *dims[1:]), seed=seed + 7919)
        return ops.cast((rows + cols) * (scale * float(np.sqrt(0.5))), out.dtype)
    arr = np.asarray(kb.to_numpy(out), dtype="float32")
    noise = np.random.default_rng(seed).standard_normal(arr.shape, dtype=np.float32)
    noise *= float(np.std(arr)) * 3.0 + 1.0
    return ops.cast(ops.convert_to_tensor(noise), out.dtype)


def _locate(
    first: Trace,
    second: Trace,
    t_lens: dict[Any, np.ndarray],
    source_ids: set[int],
    result: LeakResult,
    atol: float,
    rtol: float,
    rows: np.ndarray | None = None,
    n: int = 0,
) -> None:
    """The first model-level layer whose outputs at real steps changed (the second trace ran on
    `rows` of the first one's `n` sequences)."""
    by_key = dict(numbered(second))
    for key, e in numbered(first):
        if e is first.root or id(e.layer) in source_ids or not top_level(first, e):
            continue
        other = by_key.get(key)
        if other is None:
            continue
        for a, b in zip(e.outputs, other.outputs, strict=False):
            s = shape(a)
            real = t_lens.get(s[1]) if len(s) >= 3 else None
            if output_change(at_rows(a, rows, n), b, real, atol, rtol)[1].any():
                result.first_layer = e.path
                result.first_class = e.class_name
                return


def numbered(trace: Trace) -> list[tuple[tuple[int, int], CallEvent]]:
    """Each call keyed by (layer, n) for the n-th call of that layer, to match it with the same
    call in another trace of the same model."""
    counts: dict[int, int] = {}
    out = []
    for e in trace.events:
        n = counts.get(id(e.layer), 0)
        counts[id(e.layer)] = n + 1
        out.append(((id(e.layer), n), e))
    return out


def _variable_time(model: Any, inputs: Any) -> bool:
    """Whether the length probes can run: an array input (of an array or a list of them, as
    `_time_input` takes) whose time axis the model does not fix."""
    xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not all(isinstance(x, np.ndarray) for x in xs):
        return False
    try:
        declared = [t.shape for t in model.inputs]
    except (AttributeError, ValueError, TypeError):
        declared = []
    for k, x in enumerate(xs):
        if x.ndim >= 2 and (k >= len(declared) or len(declared[k]) < 2 or declared[k][1] is None):
            return True
    return False


def _time_input(model: Any, inputs: Any, t_len: int) -> tuple[list[np.ndarray], int] | None:
    """The inputs as a list, and the index of the one input whose variable time axis the mask
    covers (None when no input, or several, have that length, or the model fixes it)."""
    xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not all(isinstance(x, np.ndarray) for x in xs):
        return None
    hits = [k for k, x in enumerate(xs) if x.ndim >= 2 and x.shape[1] == t_len]
    if len(hits) != 1:
        return None
    try:
        declared = list(model.inputs)[hits[0]].shape
    except (AttributeError, ValueError, IndexError, TypeError):
        declared = None
    if declared is not None and len(declared) >= 2 and declared[1] is not None:
        return None
    return xs, hits[0]


def _call(model: Any, xs: list[np.ndarray]) -> list[Any] | None:
    """The model's outputs on `xs`, through the traced pass: a plain eager call would run an RNN
    loop step by step in Python (TensorFlow) or compile its scan again on every call (JAX)."""
    trace = run_traced(model, xs[0] if len(xs) == 1 else xs)
    return None if trace.error is not None else list(trace.outputs)


Pair = tuple[int, Any, Any, "np.ndarray | None"]


def _compare(
    shape_probe: ShapeProbe,
    pairs: list[Pair],
    rows: np.ndarray,
    atol: float,
    rtol: float,
) -> ShapeProbe:
    changed = np.zeros(len(rows), dtype=bool)
    for i, a, b, real in pairs:
        if a.shape != b.shape:
            continue
        amount, per_sample = output_change(a, b, real, atol, rtol)
        if per_sample.any():
            shape_probe.leaked_outputs.append(i)
            shape_probe.max_change.append(amount)
            changed |= per_sample
    shape_probe.samples = indices_in_x(changed, rows)
    return shape_probe


@dataclass
class Lengthened:
    """The inputs for the appended-steps probe: `steps` copies of the pad step appended to input
    `k` (of `xs`) of the padded sequences; `real` is the traced sample's (samples, steps) mask."""

    xs: list[np.ndarray]
    k: int
    real: np.ndarray
    steps: int
    pad: np.ndarray
    rows: np.ndarray  # the padded sequences the probe runs on by itself

    def inputs(self, rows: np.ndarray) -> list[np.ndarray]:
        x = self.xs[self.k]
        tail = np.broadcast_to(self.pad, (rows.size, self.steps, *x.shape[2:])).astype(x.dtype)
        out = [v[rows] for v in self.xs]
        out[self.k] = np.concatenate([x[rows], tail], axis=1)
        return out


def _lengthened(model: Any, inputs: Any, real: np.ndarray, steps: int) -> Lengthened | None:
    """How to append `steps` padded steps (the input's own pad step) to the padded sequences, or
    None where the time axis is fixed or the masked steps hold no single pad step."""
    found = _time_input(model, inputs, real.shape[1])
    if found is None or steps < 1 or real.all():
        return None
    xs, k = found
    x = xs[k]
    s_idx, t_idx = np.argwhere(~real)[0]
    pad = x[s_idx, t_idx]
    if not np.array_equal(x[~real], np.broadcast_to(pad, x[~real].shape), equal_nan=x.dtype.kind == "f"):
        return None
    rows = np.flatnonzero(~real.all(axis=1))[:LENGTH_PROBE_ROWS]
    return Lengthened(xs, k, real, steps, pad, rows)


def _lengthened_pairs(
    trace: Trace, outs: list[Any], longer: Lengthened, rows: np.ndarray, reals: dict[Any, np.ndarray] | None = None
) -> list[Pair] | None:
    """The traced outputs at `rows` paired with a lengthened pass's outputs cut back to the traced
    steps (None: the model does not really take longer sequences, so nothing to compare). An
    output on the time axis of another mask (a decoder's, where the encoder's input is
    lengthened) is compared at that mask's real steps (`reals`, by length), as the noise probe
    compares it: its padded steps are masked out of the loss."""
    if _newly_non_finite(trace.outputs, outs, rows):
        # A position table of fixed size: TF raises, JAX gathers NaN out of range.
        return None
    t_len = longer.real.shape[1]
    sub = longer.real[rows]
    pairs: list[Pair] = []
    for i, (a, b) in enumerate(zip(trace.outputs, outs, strict=False)):
        sa, sb = shape(a), shape(b)
        mine = kb.to_numpy(a)[rows]
        if time_aligned(a, t_len) and len(sb) == len(sa) and sb[1] == t_len + longer.steps:
            pairs.append((i, mine, kb.to_numpy(b)[:, :t_len], sub))
        elif sa[1:] == sb[1:]:
            own = (reals or {}).get(sa[1]) if len(sa) >= 2 and time_aligned(a, sa[1]) else None
            pairs.append((i, mine, kb.to_numpy(b), sub if time_aligned(a, t_len) else _at(own, rows, len(longer.real))))
    return pairs


def _at(real: np.ndarray | None, rows: np.ndarray, n: int) -> np.ndarray | None:
    """`real` (a mask over the traced sample's `n` sequences) at `rows`; None for another batch."""
    return None if real is None or real.shape[0] != n else real[rows]


def _extended(
    model: Any,
    trace: Trace,
    longer: Lengthened | None,
    atol: float,
    rtol: float,
    reals: dict[Any, np.ndarray] | None = None,
) -> ShapeProbe | None:
    """Append padded steps to the first padded sequences; real-step outputs must stay the same
    (catches a mean that divides by T, not the real length)."""
    if longer is None:
        return None
    outs = _call(model, longer.inputs(longer.rows))
    pairs = None if outs is None else _lengthened_pairs(trace, outs, longer, longer.rows, reals)
    if pairs is None:
        return None
    return _compare(ShapeProbe(longer.steps), pairs, longer.rows, atol, rtol)


def _quiet_together(
    model: Any,
    trace: Trace,
    noise: Perturbation,
    longer: Lengthened,
    rows: np.ndarray | None,
    n: int,
    reals: dict[Any, np.ndarray],
    atol: float,
    rtol: float,
) -> bool:
    """Noise at the padded steps of the lengthened sequences, in one pass: True when no real step
    of any output changed, so that neither the noise probe (on `rows`, None: all `n`) nor the
    appended steps (on `longer.rows`) would have found a change on its own. Each probe's rows
    are compared apart, with the tolerance its own outputs set, at the steps either probe counts
    as real (`reals`: the masks the noise probe reads, by length; an output on another mask's
    time axis, at that mask's real steps). False also when the pass cannot say (an error, an
    output whose shape the extra steps change otherwise)."""
    both = np.union1d(longer.rows, np.arange(n) if rows is None else rows)
    xs = longer.inputs(both)
    second = run_traced(model, xs[0] if len(xs) == 1 else xs, perturb=noise)
    if second.error is not None or len(second.outputs) != len(trace.outputs):
        return False
    pairs = _lengthened_pairs(trace, list(second.outputs), longer, both, reals)
    if pairs is None or len(pairs) != len(trace.outputs):
        return False
    t_len = longer.real.shape[1]
    noise_real = reals.get(t_len)
    real = longer.real if noise_real is None or noise_real.shape != longer.real.shape else longer.real | noise_real
    subsets = [np.searchsorted(both, longer.rows), np.searchsorted(both, np.arange(n) if rows is None else rows)]
    steps_at = [real[both][idx] for idx in subsets]
    for _i, a, b, step_real in pairs:
        for idx, at in zip(subsets, steps_at, strict=True):
            if step_real is not None and step_real.shape[1] != t_len:
                at = step_real[idx]  # an output on another mask's time axis
            if output_change(a[idx], b[idx], None if step_real is None else at, atol, rtol)[1].any():
                return False
    return True


def _newly_non_finite(before: list[Any], after: list[Any], rows: np.ndarray) -> bool:
    for a, b in zip(before, after, strict=False):
        x, z = kb.to_numpy(a)[rows], kb.to_numpy(b)
        if np.issubdtype(z.dtype, np.floating) and np.isfinite(x).all() and not np.isfinite(z).all():
            return True
    return False


def _trimmed(
    model: Any, inputs: Any, trace: Trace, real: np.ndarray, atol: float, rtol: float
) -> ShapeProbe | None:
    """Run the most padded post-padded sequences trimmed to their real length; their real-step
    outputs must match (catches a hand-made backward RNN merged without re-reversing)."""
    t_len = real.shape[1]
    found = _time_input(model, inputs, t_len)
    if found is None:
        return None
    lengths = real.sum(axis=1)
    post = np.array([bool(r[:n].all()) for r, n in zip(real, lengths, strict=True)]) & (lengths > 0)
    post &= lengths < t_len
    if not post.any():
        return None
    length = int(lengths[post].min())
    rows = np.flatnonzero(post & (lengths == length))[:LENGTH_PROBE_ROWS]
    xs, _k = found
    short = [x[rows][:, :length] if x.ndim >= 2 and x.shape[1] == t_len else x[rows] for x in xs]
    outs = _call(model, short)
    if outs is None:
        return None
    pairs: list[Pair] = []
    for i, (a, b) in enumerate(zip(trace.outputs, outs, strict=False)):
        sa, sb = shape(a), shape(b)
        mine = kb.to_numpy(a)[rows]
        if time_aligned(a, t_len) and len(sb) == len(sa) and sb[1] == length:
            pairs.append((i, mine[:, :length], kb.to_numpy(b), None))
        elif sa[1:] == sb[1:]:
            pairs.append((i, mine, kb.to_numpy(b), None))
    return _compare(ShapeProbe(length), pairs, rows, atol, rtol)
