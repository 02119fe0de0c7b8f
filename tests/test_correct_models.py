"""No false alarms: correctly masked models produce no error findings, with and without data."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
from keras import layers, ops
from zoo.models import TransformerEncoder

import maskcheck
from maskcheck import testing as C

pytestmark = pytest.mark.backends


def tagger() -> tuple[Any, Any, Any]:
    x = C.padded_floats(n=32)
    y = C.step_labels(x, n_classes=3) - 1  # real labels 0, 1, 2: 0 is also the padding label
    y[~x.any(-1)] = 0
    model = C.masked_tagger()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model, x, y


def emb_lstm() -> tuple[Any, Any, Any]:
    inp = keras.Input((10,), dtype="int32")
    x = layers.LSTM(4)(layers.Embedding(20, 4, mask_zero=True)(inp))
    out = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inp, out)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    ids = C.padded_ids(n=32)
    return model, ids, (ids[:, 0] % 2).astype("int32")


def emb_pool() -> tuple[Any, Any, Any]:
    inp = keras.Input((10,), dtype="int32")
    x = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4, mask_zero=True)(inp))
    model = keras.Model(inp, layers.Dense(1, activation="sigmoid")(x))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    ids = C.padded_ids(n=32)
    return model, ids, (ids[:, 0] % 2).astype("float32")


def transformer() -> tuple[Any, Any, Any]:
    inp = keras.Input((10,), dtype="int32")
    e = layers.Embedding(20, 8, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(2, 4)(e, e)
    x = layers.LayerNormalization()(layers.Add()([e, a]))
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inp, out)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    ids = C.padded_ids(n=32)
    return model, ids, (ids[:, 0] % 2).astype("int32")


def nested() -> tuple[Any, Any, Any]:
    inner = keras.Sequential([layers.LSTM(4, return_sequences=True), layers.Dense(2, activation="softmax")])
    inp = C.seq_input()
    model = keras.Model(inp, inner(layers.Masking(0.0)(inp)))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    x = C.padded_floats(n=32)
    y = C.step_labels(x, n_classes=2) - 1
    y[~x.any(-1)] = 0
    return model, x, y


class Tagger(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.emb = layers.Embedding(20, 4, mask_zero=True)
        self.rnn = layers.GRU(4, return_sequences=True)
        self.head = layers.Dense(3, activation="softmax")

    def call(self, x: Any) -> Any:
        return self.head(self.rnn(self.emb(x)))


def subclassed() -> tuple[Any, Any, Any]:
    model = Tagger()
    ids = C.padded_ids(n=32)
    model(ids[:2])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    y = (ids % 3).astype("int32")
    return model, ids, y


def nmt_encoder() -> tuple[Any, Any, Any]:
    """keras-io's NMT TransformerEncoder (the zoo's copy): the padding mask reaches attention as a
    (B, 1, T) `attention_mask`, and the position-wise FFN is a `keras.Sequential` sub-layer."""
    inp = keras.Input((10,), dtype="int32")
    x = TransformerEncoder(8, 16, 2)(layers.Embedding(20, 8, mask_zero=True)(inp))
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inp, out)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    ids = C.padded_ids(n=32)
    return model, ids, (ids[:, 0] % 2).astype("int32")


def explicit_attention_mask() -> tuple[Any, Any, Any]:
    """No Keras mask at all: the padding reaches attention only as `attention_mask` (B, 1, T), and
    the pooling is masked by hand."""
    inp = keras.Input((10,), dtype="int32")
    keep = ops.not_equal(inp, 0)
    x = layers.Embedding(20, 8)(inp)
    a = layers.MultiHeadAttention(2, 4)(x, x, attention_mask=keep[:, None, :])
    w = ops.cast(keep, "float32")[..., None]
    pooled = ops.sum(a * w, axis=1) / ops.maximum(ops.sum(w, axis=1), 1.0)
    model = keras.Model(inp, layers.Dense(2, activation="softmax")(pooled))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    ids = C.padded_ids(n=32)
    return model, ids, (ids[:, 0] % 2).astype("int32")


MODELS = [tagger, emb_lstm, emb_pool, transformer, nested, subclassed, nmt_encoder, explicit_attention_mask]


@pytest.mark.parametrize(
    "make",
    MODELS,
    ids=lambda f: f.__name__,
)
def test_no_errors_with_data(make: Any) -> None:
    model, x, y = make()
    report = maskcheck.audit(model, x, y)
    assert report.ok, report
    assert not report.notes or all("could not run" not in n for n in report.notes)


@pytest.mark.parametrize(
    "make", [m for m in MODELS if m not in (subclassed, explicit_attention_mask)], ids=lambda f: f.__name__
)
def test_no_errors_without_data(make: Any) -> None:
    model, _, _ = make()
    report = maskcheck.audit(model)
    assert report.ok, report
    assert report.meta["synthesized"] is True
    assert any("synthesized" in n for n in report.notes)


def test_trained_correct_tagger_stays_quiet() -> None:
    model, x, y = tagger()
    model.fit(x, y, epochs=2, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    report = maskcheck.audit(model, x, y)
    assert report.ok, report
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
