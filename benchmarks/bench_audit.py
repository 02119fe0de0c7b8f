"""Audit time divided by `model.predict` time on the same X, for N = 1,000, 10,000, 100,000.

    python benchmarks/bench_audit.py [--sizes 1000 10000 100000]

Two models: a BiLSTM tagger (Masking -> Bidirectional(LSTM) -> TimeDistributed(Dense)) and a
small Transformer encoder (Embedding(mask_zero) -> MultiHeadAttention -> Add -> LayerNorm ->
GlobalAveragePooling1D -> Dense). Data checks stream over all of X; the model part of the audit
runs on `max_samples` sequences, so the ratio falls as N grows.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np

import maskcheck
from maskcheck.bridge import keras

layers = keras.layers
T, F, VOCAB = 32, 8, 1000


def bilstm() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((T, F)),
            layers.Masking(0.0),
            layers.Bidirectional(layers.LSTM(16, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(3, activation="softmax")),
        ]
    )


def transformer() -> keras.Model:
    inp = keras.Input((T,), dtype="int32")
    e = layers.Embedding(VOCAB, 32, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(4, 8)(e, e)
    x = layers.LayerNormalization()(layers.Add()([e, a]))
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inp, out)


def data(kind: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    lengths = rng.integers(T // 4, T + 1, size=n)
    pad = np.arange(T)[None, :] >= lengths[:, None]
    if kind == "bilstm":
        x = rng.random((n, T, F), dtype=np.float32) + 0.5
        x[pad] = 0.0
        return x
    ids = rng.integers(1, VOCAB, size=(n, T)).astype("int32")
    ids[pad] = 0
    return ids


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; keras {keras.__version__} ({keras.backend.backend()})"
    )
    print(f"{'model':12s} {'N':>8s} {'predict s':>10s} {'audit s':>9s} {'ratio':>6s}")
    for name, build in (("bilstm", bilstm), ("transformer", transformer)):
        model = build()
        for n in args.sizes:
            x = data(name, n)
            model.predict(x[:256], verbose=0)  # warm-up: graph tracing is not what we measure
            maskcheck.audit(model, x[:256])
            repeat = 3 if n <= 10_000 else 1
            t_pred = best_of(lambda m=model, d=x: m.predict(d, batch_size=256, verbose=0), repeat)
            t_audit = best_of(lambda m=model, d=x: maskcheck.audit(m, d), repeat)
            print(f"{name:12s} {n:8d} {t_pred:10.2f} {t_audit:9.2f} {t_audit / t_pred:6.2f}")


if __name__ == "__main__":
    main()
