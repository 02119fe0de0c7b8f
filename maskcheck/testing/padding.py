"""Builders shared by the cases of the padding checks (MC2xx)."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from maskcheck.checks.base import CaseInput
from maskcheck.demo import make_data


def tagger_on(x: np.ndarray, mask_value: float = 0.0) -> CaseInput:
    """Masking(mask_value) -> LSTM -> Dense per step, fed `x` of shape (samples, steps, features)."""
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            layers.Masking(mask_value),
            layers.LSTM(4, return_sequences=True),
            layers.Dense(2),
        ]
    )
    return CaseInput(model, x)


def ids_tagger(x: np.ndarray, input_dim: int = 20, mask_zero: bool = True, per_step: bool = True) -> CaseInput:
    """Embedding(input_dim, mask_zero) -> LSTM -> Dense, fed the token ids `x` (samples, steps)."""
    inp = keras.Input(x.shape[1:], dtype="int32")
    e = layers.Embedding(input_dim, 4, mask_zero=mask_zero)(inp)
    out = layers.Dense(2)(layers.LSTM(3, return_sequences=per_step)(e))
    return CaseInput(keras.Model(inp, out), x)


def seed_case(fixed: bool) -> CaseInput:
    """The motivating seed (`maskcheck.demo`): X reshaped from (features, time), or transposed right."""
    data = make_data(n=64, seed=1)
    x = data.X_fixed if fixed else data.X_broken
    model = keras.Sequential(
        [
            keras.Input((20, 5)),
            layers.Masking(0.0),
            layers.LSTM(4, return_sequences=True),
            layers.Dense(2),
        ]
    )
    return CaseInput(model, x)


def int_padded(truncated: bool) -> CaseInput:
    """Float features padded with 0 and stored as int32: standardised ones (truncated to mostly 0)
    or large ones (that keep their information)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 10, 3)) * (0.6 if truncated else 40) + (0 if truncated else 100)
    x[:, 7:] = 0
    model = keras.Sequential(
        [keras.Input((10, 3)), layers.Masking(0.0), layers.LSTM(3, return_sequences=True)]
    )
    return CaseInput(model, x.astype("int32"))
