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


def transformer(per_step: bool = False) -> CaseInput:
    """Embedding(mask_zero) -> MultiHeadAttention + Add -> LayerNorm, then a per-step Dense
    (`per_step`) or GlobalAveragePooling1D. MultiHeadAttention clears its inputs' masks at run time."""
    inp = keras.Input((10,), dtype="int32")
    e = layers.Embedding(20, 8, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(2, 4)(e, e)
    x = layers.Add()([e, a])
    x = layers.LayerNormalization()(x)
    out = layers.Dense(3)(x) if per_step else layers.GlobalAveragePooling1D()(x)
    return CaseInput(keras.Model(inp, out), padded_ids())
