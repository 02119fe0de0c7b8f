"""Per-step statistics of one batch: which steps equal the pad vector, where the padding runs
at the sequence ends, and which constant vector the sequences end in (`detect_pad`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

MAX_LISTED = 20  # sample indices kept per statistic, for messages

# detect_pad: the share of sequences that must end in the candidate vector. Lower finds padding
# in data where few sequences are short, but takes a common end value (an end token) for padding.
PAD_MIN_SUPPORT = 0.05
# detect_pad: the share of the candidate's occurrences that must lie in the runs at the sequence
# ends. Lower accepts a value that also occurs inside the data; higher misses padding with holes.
PAD_MIN_CONCENTRATION = 0.9
# The axis-swap probe (MC201): the share of sequences with part-pad steps before it runs (lower
# costs time on data with a few chance pad entries, higher misses a mostly correct array) ...
TRANSFORM_MIN_PARTIAL = 0.05
# ... and, read as (features, time), the shares of sequences without part-pad steps and with one
# block of padding at an end. Lower proposes a swap that leaves the padding a mess, higher misses a
# misreshape in data that also has holes or many unpadded sequences.
TRANSFORM_NO_PARTIAL = 0.9
TRANSFORM_CLEAN = 0.8
# A stream whose first batches show no padding (sorted or bucketed data: a batch of equal
# lengths) is held back until a batch reveals the pad vector, for at most this many sequences;
# then every held batch is counted with it. Higher finds padding later in the stream and holds
# more memory; lower judges the whole stream by a batch without padding.
PAD_SEARCH_SAMPLES = 4096


@dataclass
class StepStats:
    """Counters for one candidate pad vector."""

    samples: int = 0
    steps: int = 0
    full_steps: int = 0
    post: int = 0
    pre: int = 0
    mixed: int = 0
    holes: int = 0
    fully_padded: int = 0
    partial_samples: int = 0
    partial_steps: int = 0
    hole_idx: list[int] = field(default_factory=list)
    fully_idx: list[int] = field(default_factory=list)
    partial_idx: list[int] = field(default_factory=list)
    not_right_idx: list[int] = field(default_factory=list)
    length_min: int | None = None
    length_max: int | None = None
    pad_entries_in_real: int = 0
    entries_in_real: int = 0

    @property
    def padded_samples(self) -> int:
        return self.post + self.pre + self.mixed + self.fully_padded

    @property
    def full_share(self) -> float:
        return self.full_steps / self.steps if self.steps else 0.0


def add_indices(idx: list[int], values: np.ndarray, offset: int) -> None:
    room = MAX_LISTED - len(idx)
    if room > 0 and values.size:
        idx.extend(int(v) + offset for v in values[:room])


def steps_equal(x: np.ndarray, pad: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """(full, partial, pad_in_real): per (sample, step), whether every / only some feature equals
    `pad`, and how many features equal it in all the steps that are not full pad."""
    if x.ndim == 2:
        p = np.asarray(pad).ravel()[0]
        eq = np.isnan(x) if np.isnan(p) else x == p
        return eq, None, None
    flat = x.reshape(x.shape[0], x.shape[1], -1)  # a step is everything after the time axis
    pad = _in_dtype_of(flat, np.asarray(pad).ravel())
    nan = np.isnan(pad)
    eq = np.where(nan, np.isnan(flat), flat == np.where(nan, 0, pad)) if nan.any() else flat == pad
    f = flat.shape[-1]
    full, any_equal = _all_and_any(np.ascontiguousarray(eq), f)
    pad_in_real = int(np.count_nonzero(eq)) - f * int(np.count_nonzero(full))
    return full, any_equal & ~full, pad_in_real


def _in_dtype_of(x: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """`pad` in x's float dtype when that holds it exactly: a float32 array compared with a float64
    pad is compared in float64, at twice the cost, with the same result."""
    if x.dtype.kind != "f" or pad.dtype == x.dtype or pad.dtype.kind not in "fiub":
        return pad
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = pad.astype(x.dtype)
        same = (narrow.astype(pad.dtype) == pad) | (np.isnan(narrow) & np.isnan(pad.astype("float64")))
    return narrow if bool(same.all()) else pad


def _all_and_any(eq: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    """`eq.all(-1)` and `eq.any(-1)` for a C-ordered bool array: each step's f flags (one byte
    each, 0 or 1) read as k words of 8 (or 4, 2, 1) bytes and summed, so each byte of the sum
    counts its flags; the step is full when every byte counts k. A reduction over a short last
    axis of bytes was 3x slower."""
    unit = next(u for u in (8, 4, 2, 1) if f % u == 0)
    words = eq.view(np.dtype(f"u{unit}"))
    k = words.shape[-1]
    if k > 255:  # a byte of the sum would overflow
        count = eq.sum(axis=-1, dtype=np.int64)
        return count == f, count > 0
    total = words[..., 0] if k == 1 else np.add.reduce(words, axis=-1, dtype=words.dtype)
    return total == k * int.from_bytes(b"\x01" * unit, "little"), total != 0


def update_stats(
    st: StepStats,
    full: np.ndarray,
    partial: np.ndarray | None,
    offset: int,
    pad_in_real: int | None = None,
    features: int = 1,
) -> None:
    n, t = full.shape
    real = ~full
    any_real = real.any(axis=1)
    first = np.argmax(real, axis=1)
    last = t - 1 - np.argmax(real[:, ::-1], axis=1)
    n_full = full.sum(axis=1)
    lead = np.where(any_real, first, t)
    trail = np.where(any_real, t - 1 - last, 0)
    holes = np.where(any_real, n_full - lead - trail, 0)
    st.samples += n
    st.steps += n * t
    st.full_steps += int(n_full.sum())
    fully = ~any_real
    has_holes = holes > 0
    post = any_real & ~has_holes & (lead == 0) & (trail > 0)
    pre = any_real & ~has_holes & (lead > 0) & (trail == 0)
    both = any_real & ((lead > 0) & (trail > 0) | has_holes & ((lead > 0) | (trail > 0)))
    st.post += int(post.sum())
    st.pre += int(pre.sum())
    st.mixed += int(both.sum())
    st.holes += int(has_holes.sum())
    st.fully_padded += int(fully.sum())
    add_indices(st.hole_idx, np.flatnonzero(has_holes), offset)
    add_indices(st.fully_idx, np.flatnonzero(fully), offset)
    add_indices(st.not_right_idx, np.flatnonzero(any_real & ((lead > 0) | has_holes)), offset)
    lengths = t - n_full
    if n:
        lo, hi = int(lengths.min()), int(lengths.max())
        st.length_min = lo if st.length_min is None else min(st.length_min, lo)
        st.length_max = hi if st.length_max is None else max(st.length_max, hi)
    real_steps = int(real.sum())
    st.entries_in_real += real_steps * features
    if pad_in_real is not None:
        st.pad_entries_in_real += pad_in_real
    if partial is not None:
        p = partial.sum(axis=1)
        st.partial_steps += int(p.sum())
        st.partial_samples += int((p > 0).sum())
        add_indices(st.partial_idx, np.flatnonzero(p > 0), offset)


def _rows_as_keys(v: np.ndarray) -> np.ndarray:
    v = np.ascontiguousarray(v.reshape(v.shape[0], -1))
    v = np.where(np.isnan(v), np.nan, v) if v.dtype.kind == "f" else v  # one NaN bit pattern
    return v.view(np.dtype((np.void, v.dtype.itemsize * v.shape[1]))).ravel()


def _end_runs(full: np.ndarray, side: str) -> np.ndarray:
    """Length of the run of pad steps at the end (post) or start (pre) of each sample."""
    f = full[:, ::-1] if side == "post" else full
    not_pad = ~f
    return np.where(not_pad.any(axis=1), np.argmax(not_pad, axis=1), f.shape[1])


def end_padding(full: np.ndarray, side: str) -> np.ndarray:
    """(samples, steps) bool: the steps in the run of `full` at the end (post) or start (pre)."""
    runs = _end_runs(full, side)
    idx = np.arange(full.shape[1])[None, :]
    return idx >= full.shape[1] - runs[:, None] if side == "post" else idx < runs[:, None]


def is_uniform(v: np.ndarray) -> bool:
    """Every entry equal (NaN counts as equal to NaN)."""
    flat = np.asarray(v, dtype="float64").ravel()
    return bool(flat.size) and bool(np.all((flat == flat[0]) | (np.isnan(flat) & np.isnan(flat[0]))))


StepsEqual = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray | None, int | None]"]


def detect_pad(x: np.ndarray, equal: StepsEqual | None = None) -> tuple[np.ndarray | None, str | None, float]:
    """A constant vector that fills runs at the sequence ends, or (None, None, 0).

    A pad vector ends some sequences and not others (variable lengths), repeats in runs of
    varying length, and (almost) never occurs away from the ends; a frequent data value or an
    end-of-sequence token fails one of these.
    """
    n, t = x.shape[0], x.shape[1]
    if n < 2 or t < 2:
        return None, None, 0.0
    best: tuple[np.ndarray | None, str | None, float] = (None, None, 0.0)
    for side, end in (("post", x[:, -1]), ("pre", x[:, 0])):
        keys = _rows_as_keys(end)
        _uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        k = int(np.argmax(counts))
        support = counts[k] / n
        if counts[k] < 2 or support < PAD_MIN_SUPPORT:
            continue
        vec = np.array(end[int(np.flatnonzero(inverse == k)[0])], copy=True)
        full = (equal or steps_equal)(x, vec.reshape(-1) if x.ndim > 2 else vec.reshape(1))[0]
        runs = _end_runs(full, side)
        occurrences = int(full.sum())
        concentrated = runs.sum() / occurrences if occurrences else 0.0
        if concentrated < PAD_MIN_CONCENTRATION or len(np.unique(runs)) < 2:
            continue
        if support > best[2]:
            best = (vec, side, float(support))
    return best
