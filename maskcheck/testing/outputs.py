"""Builders shared by the cases of the output checks (MC3xx)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers

from maskcheck.checks.base import CaseInput
from maskcheck.synth import padded_floats, step_labels


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
