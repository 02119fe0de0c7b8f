"""Small models that checks' cases and tests are built from."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers


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
