"""Custom Keras layers and models that the checks' cases are built from: the mistakes users make
when they write their own layers, next to the corrected versions.

(Not `layers.py`: importing a submodule of that name would replace `maskcheck.testing.layers`,
which is `keras.layers`.)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers


class Scale(layers.Layer):
    """A custom elementwise layer that forgot `supports_masking`."""

    def call(self, inputs: Any) -> Any:
        return inputs * 2.0


class MaskedScale(layers.Layer):
    """The same layer, declaring that it carries the mask."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any) -> Any:
        return inputs * 2.0


class LeakySubclass(keras.Model):
    """A subclassed model whose `call()` loses the mask in `x * 2.0` between Masking and LSTM."""

    def __init__(self) -> None:
        super().__init__()
        self.masking = layers.Masking(0.0)
        self.lstm = layers.LSTM(3)

    def call(self, inputs: Any) -> Any:
        x = self.masking(inputs)
        x = x * 2.0
        return self.lstm(x)


class CarefulSubclass(keras.Model):
    """The same model, passing the mask on explicitly."""

    def __init__(self) -> None:
        super().__init__()
        self.masking = layers.Masking(0.0)
        self.lstm = layers.LSTM(3)

    def call(self, inputs: Any) -> Any:
        x = self.masking(inputs)
        mask = self.masking.compute_mask(inputs)
        x = x * 2.0
        return self.lstm(x, mask=mask)


class Downsample(layers.Layer):
    """Keeps every second step and passes the full-length mask on unchanged."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any) -> Any:
        return inputs[:, ::2]

    def compute_output_shape(self, input_shape: Any) -> Any:
        t = input_shape[1]
        return (input_shape[0], None if t is None else (t + 1) // 2, *input_shape[2:])


class DownsampleWithMask(Downsample):
    """The same layer, resizing its mask with the tensor."""

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None if mask is None else mask[:, ::2]


class MaskStoppingLSTM(layers.LSTM):
    """An LSTM behaving like Keras main after 3.15: it reads the mask but does not pass it on."""

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None


class MaskedMean(layers.Layer):
    """A hand-written masked mean over time. `by_steps=True` is the bug: it zeroes the padded
    steps but divides by T, not by the real length, so the result shrinks with the padding."""

    def __init__(self, by_steps: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.by_steps = by_steps
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        m = (
            keras.ops.ones(keras.ops.shape(inputs)[:2])
            if mask is None
            else keras.ops.cast(mask, inputs.dtype)
        )
        total = keras.ops.sum(inputs * keras.ops.expand_dims(m, -1), axis=1)
        if self.by_steps:
            return total / keras.ops.cast(keras.ops.shape(inputs)[1], inputs.dtype)
        return total / keras.ops.maximum(keras.ops.sum(m, axis=1, keepdims=True), 1.0)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None


class HandMadeBiLSTM(layers.Layer):
    """A bidirectional LSTM written by hand: a forward LSTM, and a backward one run on the time-
    reversed sequence and mask. `rereverse=False` is the bug: the backward outputs are merged
    without flipping them back, so real step t gets the state of step T-1-t, which depends on how
    much padding follows. The padded steps' values never matter (the LSTMs skip them), so only a
    change of length shows it."""

    def __init__(self, units: int = 4, rereverse: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fwd = layers.LSTM(units, return_sequences=True)
        self.bwd = layers.LSTM(units, return_sequences=True)
        self.rereverse = rereverse
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        ops = keras.ops
        f = self.fwd(inputs, mask=mask)
        b = self.bwd(ops.flip(inputs, axis=1), mask=None if mask is None else ops.flip(mask, axis=1))
        return ops.concatenate([f, ops.flip(b, axis=1) if self.rereverse else b], axis=-1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask


class TokenAndPosition(layers.Layer):
    """keras-io's TokenAndPositionEmbedding / PositionalEmbedding: a token Embedding and a
    position Embedding nested in one custom layer. `masked=True` passes `ids != 0` on as the mask."""

    def __init__(self, maxlen: int, vocab: int, dim: int, masked: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.token_emb = layers.Embedding(vocab, dim)
        self.pos_emb = layers.Embedding(maxlen, dim)
        self.masked = masked

    def call(self, x: Any) -> Any:
        return self.token_emb(x) + self.pos_emb(keras.ops.arange(0, keras.ops.shape(x)[-1], 1))

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        return keras.ops.not_equal(x, 0) if self.masked else None


class MeanOverRealIds(layers.Layer):
    """Averages `x` over the steps whose id is not 0, computing the mask by hand inside `call`
    (no Keras mask, nothing passed as `mask=`): keras-io's FNet example fixed by hand."""

    def call(self, inputs: Any) -> Any:
        x, ids = inputs
        m = keras.ops.expand_dims(keras.ops.cast(keras.ops.not_equal(ids, 0), x.dtype), -1)
        return keras.ops.sum(x * m, axis=1) / keras.ops.maximum(keras.ops.sum(m, axis=1), 1.0)


class MaskFromValues(layers.Layer):
    """Passes its input on, masked where every feature is 0: a mask read from the values (as
    `Masking(0.0)` makes it), after an Embedding whose row 0 is zeros."""

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return keras.ops.any(keras.ops.not_equal(inputs, 0.0), axis=-1)
