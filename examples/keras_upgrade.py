"""MC401: a Keras whose LSTM stops passing the mask on (Keras main after 3.15), simulated."""

from typing import Any

from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_floats

layers = keras.layers
X = padded_floats(n=64, t=20, f=4)


class NewKerasLSTM(layers.LSTM):
    """What Keras main does: the LSTM reads the mask but returns none."""

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None


def model(lstm: type) -> keras.Model:
    return keras.Sequential(
        [keras.Input((20, 4)), layers.Masking(0.0), lstm(8, return_sequences=True), layers.Dense(2)]
    )


if __name__ == "__main__":
    compare("Keras mask semantics", (model(NewKerasLSTM), X), (model(layers.LSTM), X), {"MC401", "MC102"})
