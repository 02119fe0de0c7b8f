"""MC206: pad_sequences pads at the front by default; cuDNN LSTMs on a TensorFlow GPU refuse that."""

from _show import compare

from maskcheck.bridge import keras
from maskcheck.synth import padded_floats

layers = keras.layers
model = keras.Sequential([keras.Input((20, 4)), layers.Masking(0.0), layers.LSTM(8), layers.Dense(1)])

if __name__ == "__main__":
    pre = padded_floats(n=64, t=20, f=4, side="pre")
    post = padded_floats(n=64, t=20, f=4, side="post")
    compare(
        'padding="pre" into an LSTM',
        (model, pre),
        (model, post),
        {"MC206"} if keras.backend.backend() == "tensorflow" else set(),
    )
