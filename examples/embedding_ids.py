"""MC207/MC208: zero-padded ids into Embedding(mask_zero=False), and ids beyond input_dim."""

from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_ids

layers = keras.layers
ids = padded_ids(n=64, t=20, vocab=50)
ids[3, 0] = 50  # one id == input_dim


def model(mask_zero: bool, input_dim: int) -> keras.Model:
    inp = keras.Input((20,), dtype="int32")
    x = layers.Embedding(input_dim, 8, mask_zero=mask_zero)(inp)
    return keras.Model(inp, layers.Dense(1)(layers.LSTM(8)(x)))


if __name__ == "__main__":
    compare("Embedding and ids", (model(False, 50), ids), (model(True, 51), ids), {"MC207", "MC208"})
