"""MC101/MC104/MC108: a Conv1D after Masking destroys the mask and smears padding into real steps."""

from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_floats

layers = keras.layers
X = padded_floats(n=64, t=20, f=4)


def model(conv_first: bool) -> keras.Model:
    stack = (
        [layers.Conv1D(8, 3, padding="same"), layers.Masking(0.0)]
        if conv_first
        else [layers.Masking(0.0), layers.Conv1D(8, 3, padding="same")]
    )
    return keras.Sequential(
        [keras.Input((20, 4)), *stack, layers.LSTM(8), layers.Dense(1, activation="sigmoid")]
    )


if __name__ == "__main__":
    # The fix puts the convolution first; Masking then sees the conv output, whose padded steps are
    # no longer exactly zero, so here we mask on the raw input and pass the mask explicitly instead.
    inp = keras.Input((20, 4))
    mask = layers.Masking(0.0).compute_mask(inp)
    h = layers.Conv1D(8, 1)(inp)  # kernel 1: no mixing across steps
    out = layers.Dense(1, activation="sigmoid")(layers.LSTM(8)(h, mask=mask))
    compare(
        "Conv1D after Masking", (model(False), X), (keras.Model(inp, out), X), {"MC101", "MC104", "MC108"}
    )
