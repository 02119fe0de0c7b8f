"""Builders shared by the cases of the output checks (MC3xx)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers

from maskcheck.checks.base import CaseInput
from maskcheck.synth import padded_floats, step_labels
from maskcheck.testing.models import seq_input


def tagger(
    units: int = 3,
    activation: str = "softmax",
    loss: Any = "sparse_categorical_crossentropy",
    metrics: Any = None,
    bias: Any = None,
    masked: bool = True,
) -> Any:
    """[Masking ->] LSTM -> TimeDistributed(Dense) over (10, 3) steps, compiled unless `loss` is None.

    With `bias` the head's kernel is zero, so it predicts the same class everywhere."""
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            *([layers.Masking(0.0)] if masked else []),
            layers.LSTM(4, return_sequences=True),
            layers.TimeDistributed(
                layers.Dense(
                    units,
                    activation=activation,
                    kernel_initializer="zeros" if bias is not None else "glorot_uniform",
                    bias_initializer=keras.initializers.Constant(bias) if bias is not None else "zeros",
                )
            ),
        ]
    )
    if loss is not None:
        model.compile(loss=loss, optimizer="sgd", metrics=metrics)
    return model


def identity_head() -> Any:
    """Masking -> Dense(3, softmax) with an identity kernel: the class per step is the largest of the
    three features, so predictions vary with the data."""
    return keras.Sequential(
        [
            keras.Input((10, 3)),
            layers.Masking(0.0),
            layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.Identity(gain=10.0)),
        ]
    )


def separate_activation() -> Any:
    """A linear Dense(3) followed by a separate Activation("sigmoid") layer, compiled with
    sparse categorical cross-entropy given as a function."""
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            layers.Masking(0.0),
            layers.LSTM(4, return_sequences=True),
            layers.Dense(3),
            layers.Activation("sigmoid"),
        ]
    )
    model.compile(loss=keras.losses.sparse_categorical_crossentropy, optimizer="sgd")
    return model


def autoencoder() -> CaseInput:
    """Seq2seq autoencoder: Masking -> LSTM -> RepeatVector -> LSTM(return_sequences), mse, y = X.
    The output carries no mask."""
    inp = seq_input()
    x = layers.LSTM(6)(layers.Masking(0.0)(inp))
    out = layers.LSTM(3, return_sequences=True)(layers.RepeatVector(10)(x))
    model = keras.Model(inp, out)
    model.compile(loss="mse", optimizer="adam")
    x_data = padded_floats(n=32)
    return CaseInput(model, x_data, x_data)


def masked_regressor() -> CaseInput:
    """Masking -> LSTM(return_sequences) -> Dense(3), mse, y = X: the mask reaches the loss."""
    model = keras.Sequential(
        [seq_input(), layers.Masking(0.0), layers.LSTM(4, return_sequences=True), layers.Dense(3)]
    )
    model.compile(loss="mse", optimizer="adam")
    x_data = padded_floats(n=32)
    return CaseInput(model, x_data, x_data)


def binary_tagger(metrics: Any) -> CaseInput:
    """A masked one-unit sigmoid tagger with binary cross-entropy and `metrics`, random 0/1 labels
    (0 at padding)."""
    model = tagger(units=1, activation="sigmoid", loss="binary_crossentropy", metrics=metrics)
    x = padded_floats(n=32)
    y = (np.random.default_rng(2).random((32, 10)) > 0.5).astype("float32")
    y[~x.any(-1)] = 0.0
    return CaseInput(model, x, y)


def weighted(shape_kind: str) -> CaseInput:
    """A masked two-class tagger fitted with a sample_weight of shape (batch,) ("vector"),
    (batch, 1) ("column") or (batch, time) ("matrix")."""
    x = padded_floats(n=32)
    y = step_labels(x, n_classes=2) - 1
    y[~x.any(-1)] = 0
    w = np.linspace(0.5, 1.5, 32).astype("float32")
    w = {"vector": w, "column": w[:, None], "matrix": x.any(-1).astype("float32")}[shape_kind]
    return CaseInput(tagger(units=2), x, y, {"sample_weight": w})


def labelled(model: Any, shift: int = 0, y_side: str = "post") -> CaseInput:
    """`model` with post-padded (10, 3) steps and per-step labels 1, 2 (minus `shift`), 0 at padding;
    y_side="pre" moves y's padding to the front."""
    x = padded_floats(n=32)
    y = step_labels(x, n_classes=2, pad_label=0) - shift
    y[x.any(-1) == 0] = 0
    if y_side == "pre":
        y = np.stack([_pre_padded(row, 0) for row in y])
    return CaseInput(model, x, y)


def _pre_padded(row: np.ndarray, pad: int) -> np.ndarray:
    real = row[row != pad]
    return np.concatenate([np.full(len(row) - len(real), pad), real]).astype(row.dtype)
