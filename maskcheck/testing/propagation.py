"""Cases shared by several MC1xx checks: each returns the model and data of one case."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from maskcheck.checks.base import CaseInput
from maskcheck.synth import padded_floats, padded_ids
from maskcheck.testing.models import masked_tagger, seq_input


def tagger() -> CaseInput:
    """Masking -> BiLSTM -> TimeDistributed(Dense): a correctly masked per-step model."""
    return CaseInput(masked_tagger(), padded_floats())


def reducer(layer: Any, ids: bool = False) -> CaseInput:
    """A mask source (Masking, or Embedding(mask_zero=True) when `ids`) -> `layer` -> Dense."""
    if ids:
        inp = keras.Input((10,), dtype="int32")
        x = layers.Embedding(20, 4, mask_zero=True)(inp)
        data = padded_ids()
    else:
        inp = seq_input()
        x = layers.Masking(0.0)(inp)
        data = padded_floats()
    x = layer(x)
    out = layers.Dense(2)(x)
    return CaseInput(keras.Model(inp, out), data)


def transformer(per_step: bool = False, t: int | None = 10) -> CaseInput:
    """Embedding(mask_zero) -> MultiHeadAttention + Add -> LayerNorm, then a per-step Dense
    (`per_step`) or GlobalAveragePooling1D. MultiHeadAttention clears its inputs' masks at run time.
    `t=None`: a variable time axis."""
    inp = keras.Input((t,), dtype="int32")
    e = layers.Embedding(20, 8, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(2, 4)(e, e)
    x = layers.Add()([e, a])
    x = layers.LayerNormalization()(x)
    out = layers.Dense(3)(x) if per_step else layers.GlobalAveragePooling1D()(x)
    return CaseInput(keras.Model(inp, out), padded_ids())


def attention_mask_only() -> CaseInput:
    """Ids -> Embedding (no mask_zero) -> MultiHeadAttention given `attention_mask=(ids != 0)[:, None, :]`
    (B, 1, T): the padding reaches attention only as an attention mask, never as a step mask."""
    inp = keras.Input((10,), dtype="int32")
    x = layers.Embedding(20, 8)(inp)
    keep = keras.ops.not_equal(inp, 0)[:, None, :]
    a = layers.MultiHeadAttention(2, 4)(x, x, attention_mask=keep)
    return CaseInput(keras.Model(inp, layers.Dense(2)(a)), padded_ids())


def softmax_with_pair_mask() -> CaseInput:
    """A Softmax over two heads' attention scores (B, 2, T, T) given the key padding as a
    (B, 1, 1, T) `mask=`, as keras-hub's attention layers do; the mask rides on its output."""
    inp = keras.Input((10,), dtype="int32")
    x = layers.Embedding(20, 8)(inp)
    keep = keras.ops.not_equal(inp, 0)[:, None, None, :]
    scores = keras.ops.stack([keras.ops.einsum("btd,bsd->bts", x, x)] * 2, axis=1)
    w = layers.Softmax()(scores, mask=keep)
    return CaseInput(keras.Model(inp, layers.Dense(2)(w)), padded_ids())


def variable_length(layer: Any, ids: bool = True) -> CaseInput:
    """Like `reducer`, with a variable time axis (Input shape (None,) / (None, 3)): the model
    also runs on the padded sequences extended or trimmed, which MC108 compares."""
    if ids:
        inp = keras.Input((None,), dtype="int32")
        x = layers.Embedding(20, 4, mask_zero=True)(inp)
        data = padded_ids(n=16)
    else:
        inp = keras.Input((None, 3))
        x = layers.Masking(0.0)(inp)
        data = padded_floats(n=16)
    out = layers.Dense(2)(layer(x))
    return CaseInput(keras.Model(inp, out), data)


def fixed_position_table() -> CaseInput:
    """Input((None,)) ids -> token + position Embedding (a position table of exactly T rows, as
    keras-io's examples build it) -> self-attention -> per-step Dense: the model only runs at T steps or fewer
    (TensorFlow raises beyond, JAX gathers NaN), so appending steps proves nothing."""
    from maskcheck.testing.custom_layers import TokenAndPosition

    inp = keras.Input((None,), dtype="int32")
    x = TokenAndPosition(10, 20, 4, masked=True)(inp)
    out = layers.Dense(2)(layers.MultiHeadAttention(2, 4)(x, x))
    return CaseInput(keras.Model(inp, out), padded_ids(n=16))
