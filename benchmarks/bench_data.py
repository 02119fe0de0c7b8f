"""Cost of the data checks over all of X, as a ratio to one NumPy pass over the same array.

    python benchmarks/bench_data.py [--n 16000 --t 200 --f 40]

Prints: the time of `np.any(X != pad, axis=-1)` (the baseline), the time of maskcheck's streamed
layout pass (every MC2xx statistic), their ratio, and the peak extra memory of each (tracemalloc,
which sees NumPy's allocations). The default array is 16,000 x 200 x 40 float32 = 512 MB.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from maskcheck.data import CHUNK, DataSource
from maskcheck.facts.layout import LayoutAccumulator


def make(n: int, t: int, f: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.random((n, t, f), dtype=np.float32) + 0.5
    lengths = rng.integers(t // 4, t + 1, size=n)
    x[np.arange(t)[None, :] >= lengths[:, None]] = 0.0  # post padding with 0
    return x



def timed(fn, repeat: int = 3) -> tuple[float, int]:
    best, peak = float("inf"), 0
    for _ in range(repeat):
        tracemalloc.start()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return best, peak


def layout_pass(x: np.ndarray) -> None:
    import keras

    acc = LayoutAccumulator(0, "X", keras.layers.Masking(0.0), "float32")
    offset = 0
    for batch in DataSource(x, None, None, None).batches():
        acc.update(batch, offset)
        offset += batch.xs[0].shape[0]
    acc.finish()
    assert acc.layout is not None and acc.layout.by_mask is not None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16_000)
    ap.add_argument("--t", type=int, default=200)
    ap.add_argument("--f", type=int, default=40)
    args = ap.parse_args()
    x = make(args.n, args.t, args.f)
    mb = x.nbytes / 2**20
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"X: {x.shape} float32, {mb:.0f} MiB; batches of {CHUNK} sequences")
    base_t, base_m = timed(lambda: np.any(x != 0.0, axis=-1))
    ours_t, ours_m = timed(lambda: layout_pass(x))
    print(f"baseline np.any(X != pad, axis=-1): {base_t:.3f} s, peak extra {base_m / 2**20:.0f} MiB")
    print(f"maskcheck data checks (layout pass): {ours_t:.3f} s, peak extra {ours_m / 2**20:.0f} MiB")
    print(f"ratio: {ours_t / base_t:.2f}x time (target <= 3x), {ours_m / max(base_m, 1):.2f}x memory")


if __name__ == "__main__":
    main()
