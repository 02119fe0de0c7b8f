"""MC202/MC203: sequences padded with -1 under Masking(0.), and a scaler fitted on padded data."""

from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_floats

layers = keras.layers
X = padded_floats(n=64, t=20, f=4, pad=-1.0)


def model(mask_value: float) -> keras.Model:
    return keras.Sequential(
        [keras.Input((20, 4)), layers.Masking(mask_value), layers.LSTM(8), layers.Dense(1)]
    )


if __name__ == "__main__":
    compare("pad value -1 under Masking(0.)", (model(0.0), X), (model(-1.0), X), {"MC202", "MC203"})
