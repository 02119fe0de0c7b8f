"""The motivating case: a padded LSTM tagger whose mask covers nothing.

Sequences of up to 20 steps with 5 features, two classes per step drawn from overlapping
truncated normals, padded with zeros at the end *in a (features, time) layout* and then
reshaped with `reshape(1, 20, 5)` (per batch), which scatters the zeros. The head has 3 sigmoid
units for 2 real classes plus the padding label 0, trained with sparse categorical
cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from maskcheck.bridge import keras

T, F = 20, 5


def _truncnorm(rng: np.random.Generator, mean: float, std: float, size: Any) -> np.ndarray:
    """Normal(mean, std) truncated to (0.05, 1.0], by resampling (no SciPy needed)."""
    out = rng.normal(mean, std, size)
    bad = (out <= 0.05) | (out > 1.0)
    while bad.any():
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out <= 0.05) | (out > 1.0)
    return out


@dataclass(frozen=True)
class SeedData:
    X_broken: np.ndarray  # (n, 20, 5) reshaped from (n, 5, 20): padding scattered
    X_fixed: np.ndarray  # (n, 20, 5) the same data transposed correctly
    y: np.ndarray  # (n, 20) labels 1, 2 on real steps, 0 on padding
    lengths: np.ndarray


def make_data(n: int = 256, seed: int = 0) -> SeedData:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, T + 1, size=n)
    feats_time = np.zeros((n, F, T), dtype="float32")  # the (features, time) layout
    y = np.zeros((n, T), dtype="int32")
    for i, length in enumerate(lengths):
        cls = rng.integers(1, 3, size=length)
        means = np.where(cls == 1, 0.35, 0.6)
        for t in range(length):
            feats_time[i, :, t] = _truncnorm(rng, means[t], 0.2, F)
        y[i, :length] = cls
    broken = np.stack([b.reshape(1, T, F)[0] for b in feats_time])  # the seed's per-batch reshape
    fixed = feats_time.transpose(0, 2, 1).copy()
    return SeedData(broken, fixed, y, lengths)


def _tagger(units: int, activation: str, name: str) -> Any:
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.Masking(0.0),
            keras.layers.Bidirectional(keras.layers.LSTM(20, return_sequences=True)),
            keras.layers.Dropout(0.2),
            keras.layers.TimeDistributed(keras.layers.Dense(units, activation=activation)),
        ],
        name=name,
    )
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        metrics=["accuracy"],
    )
    return model


def broken_model() -> Any:
    """The seed's head: 3 sigmoid units for 2 real classes plus the padding label 0."""
    return _tagger(3, "sigmoid", "seed_tagger")


def fixed_model() -> Any:
    """One softmax unit per real class; padded steps are masked out of the loss."""
    return _tagger(2, "softmax", "fixed_tagger")


def fixed_labels(y: np.ndarray) -> np.ndarray:
    """Shift 1 -> 0 and 2 -> 1; padded steps keep 0 but are masked out of the loss."""
    return np.where(y > 0, y - 1, 0).astype("int32")


