"""MC103: `x * 2` between Masking and an LSTM silently drops the mask."""

from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_floats

layers = keras.layers
X = padded_floats(n=64, t=20, f=4)


def model(use_layer: bool) -> keras.Model:
    inp = keras.Input((20, 4))
    x = layers.Masking(0.0)(inp)
    x = layers.Rescaling(2.0)(x) if use_layer else x * 2.0
    return keras.Model(inp, layers.Dense(1)(layers.LSTM(8)(x)))


if __name__ == "__main__":
    compare("operator between layers", (model(False), X), (model(True), X), {"MC103"})
