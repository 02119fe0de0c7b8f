"""MC102/MC305: a sequence autoencoder whose loss counts padded steps, and the sample_weight fix."""

import numpy as np
from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_floats

layers = keras.layers
X = padded_floats(n=64, t=20, f=4)

inp = keras.Input((20, 4))
code = layers.LSTM(16)(layers.Masking(0.0)(inp))
out = layers.LSTM(4, return_sequences=True)(layers.RepeatVector(20)(code))
model = keras.Model(inp, out)
model.compile(loss="mse", optimizer="adam")

if __name__ == "__main__":
    # The fix keeps the model and weights the loss by the real steps: MC305 then sees a loss that
    # does not change when y changes at padded steps. MC102 stays true of the graph, so it is ignored.
    weights = np.any(X != 0.0, axis=-1).astype("float32")
    compare(
        "autoencoder loss",
        (model, X, X),
        (model, X, X),
        {"MC305"},
        fixed_kwargs={"sample_weight": weights, "ignore": ["MC102"]},
    )
