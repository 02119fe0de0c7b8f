"""MC307/MC308: Precision ignores the mask; a (batch,) sample_weight crashes a masked loss."""

import numpy as np
from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_floats

layers = keras.layers
X = padded_floats(n=64, t=20, f=4)
y = (np.random.default_rng(0).random((64, 20)) > 0.5).astype("float32")
y[~X.any(-1)] = 0.0
y = y[..., None]  # (batch, time, 1) like the output: a masked loss needs the last axis
w = np.linspace(0.5, 1.5, 64).astype("float32")


def model(metrics: list) -> keras.Model:
    m = keras.Sequential(
        [
            keras.Input((20, 4)),
            layers.Masking(0.0),
            layers.LSTM(8, return_sequences=True),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    m.compile(loss="binary_crossentropy", optimizer="adam", metrics=metrics)
    return m


if __name__ == "__main__":
    compare(
        "metrics and sample weights",
        (model([keras.metrics.Precision()]), X, y),
        (model(["accuracy"]), X, y),
        {"MC307", "MC308"},
        sample_weight=w,
        fixed_kwargs={"sample_weight": w[:, None]},
    )
