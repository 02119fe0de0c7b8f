"""Builders shared by the cases of the padding checks (MC2xx)."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from maskcheck.checks.base import CaseInput
from maskcheck.demo import make_data
from maskcheck.synth import padded_floats, padded_ids


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


def ids_tagger(
    x: np.ndarray, input_dim: int = 20, mask_zero: bool = True, per_step: bool = True
) -> CaseInput:
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


def masking_on(steps_axis: bool) -> CaseInput:
    """Masking(0.) on univariate series: given as (batch, 10, 1) into an LSTM, or as (batch, 10)
    into a Dense."""
    x = padded_floats(n=16, f=1)
    if steps_axis:
        model = keras.Sequential([keras.Input((10, 1)), layers.Masking(0.0), layers.LSTM(3), layers.Dense(1)])
        return CaseInput(model, x)
    model = keras.Sequential([keras.Input((10,)), layers.Masking(0.0), layers.Dense(1)])
    return CaseInput(model, x[..., 0])


# Data of the cases (shape (samples, 10, 3) floats or (samples, 10) ids unless said otherwise).


def relu_like() -> np.ndarray:
    """ReLU-like features: many zero entries, but no step that is zero in every feature."""
    rng = np.random.default_rng(3)
    x = np.maximum(rng.normal(size=(64, 10, 3)), 0).astype("float32")
    x[..., 0][np.all(x == 0, axis=-1)] = 0.5
    return x


def one_hot() -> np.ndarray:
    """One-hot features without padding."""
    rng = np.random.default_rng(4)
    return np.eye(3, dtype="float32")[rng.integers(0, 3, size=(64, 10))]


def scaled_padding() -> np.ndarray:
    """Zero-padded floats standardised per feature over the padded array, as a StandardScaler
    fitted on it would: the padding becomes `-mean / std`, a different value per feature."""
    x = padded_floats(n=32)
    flat = x.reshape(-1, x.shape[-1])
    mean, std = flat.mean(0), flat.std(0)
    return ((x - mean) / std).astype("float32")


def with_holes() -> np.ndarray:
    """Zero-padded floats with an all-zero step inside sequences 0 and 5."""
    x = padded_floats(n=32)
    x[0, 3] = 0.0
    x[5, 1] = 0.0
    return x


def with_empty() -> np.ndarray:
    """Zero-padded floats where sequences 4 and 9 are padding only."""
    x = padded_floats(n=32)
    x[[4, 9]] = 0.0
    return x


def ids_padded_with(pad: int) -> np.ndarray:
    """Token ids 1..19 padded with `pad` instead of 0."""
    x = padded_ids(n=32)
    x[x == 0] = pad
    return x


def ids_with_zero_tokens() -> np.ndarray:
    """Zero-padded token ids where every third sequence has a real token 0 at step 1."""
    x = padded_ids(n=32)
    x[::3, 1] = 0
    return x


def ids_up_to(top: int) -> np.ndarray:
    """Zero-padded token ids whose largest id is `top`."""
    x = padded_ids(n=32, vocab=top + 1)
    x[0, 0] = top
    return x
