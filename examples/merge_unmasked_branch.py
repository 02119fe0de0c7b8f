"""MC106: a residual Add whose skip branch comes from the raw (unmasked) input."""

from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_floats

layers = keras.layers
X = padded_floats(n=64, t=20, f=4)


def model(skip_from_masked: bool) -> keras.Model:
    inp = keras.Input((20, 4))
    masked = layers.Masking(0.0)(inp)
    skip = layers.Dense(4)(masked if skip_from_masked else inp)
    x = layers.Add()([masked, skip])
    return keras.Model(inp, layers.Dense(1)(layers.LSTM(8)(x)))


if __name__ == "__main__":
    compare("merge with an unmasked branch", (model(False), X), (model(True), X), {"MC106"})
