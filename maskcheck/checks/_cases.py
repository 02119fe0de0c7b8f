"""Small models and data that the checks' own firing and quiet cases are built from."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers


def lengths_for(n: int, t: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(1, t // 3), t + 1, size=n)
    lengths[0] = t
    return lengths


def padded_floats(
    n: int = 8, t: int = 10, f: int = 3, pad: float = 0.0, side: str = "post", seed: int = 0
) -> np.ndarray:
    """Post- (or pre-) padded float sequences whose real steps never equal `pad`."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, t, f)) + 0.5).astype("float32")
    for i, length in enumerate(lengths_for(n, t, seed)):
        if side == "post":
            x[i, length:] = pad
        else:
            x[i, : t - length] = pad
    return x


def padded_ids(n: int = 8, t: int = 10, vocab: int = 20, seed: int = 0, side: str = "post") -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, size=(n, t)).astype("int32")
    for i, length in enumerate(lengths_for(n, t, seed)):
        if side == "post":
            x[i, length:] = 0
        else:
            x[i, : t - length] = 0
    return x


def step_labels(x: np.ndarray, n_classes: int = 2, seed: int = 0, pad_label: int = 0) -> np.ndarray:
    """Per-step integer labels 1..n_classes on real steps, `pad_label` on padded steps."""
    rng = np.random.default_rng(seed + 1)
    real = x.any(axis=-1) if x.ndim == 3 else x != 0
    y = rng.integers(1, n_classes + 1, size=real.shape).astype("int32")
    y[~real] = pad_label
    return y


def seq_input(t: int = 10, f: int = 3) -> Any:
    return keras.Input((t, f))


def masked_tagger(t: int = 10, f: int = 3, units: int = 4, classes: int = 3) -> Any:
    """Masking -> Bidirectional(LSTM) -> TimeDistributed(Dense(softmax)): correct."""
    return keras.Sequential(
        [
            keras.Input((t, f)),
            layers.Masking(0.0, name="masking"),
            layers.Bidirectional(
                layers.LSTM(units, return_sequences=True, name="lstm"), name="bidirectional"
            ),
            layers.TimeDistributed(
                layers.Dense(classes, activation="softmax", name="dense"), name="time_distributed"
            ),
        ]
    )
