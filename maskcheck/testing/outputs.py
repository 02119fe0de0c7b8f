"""Builders shared by the cases of the output checks (MC3xx)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import keras
import numpy as np
from keras import layers

from maskcheck.checks.base import CaseInput
from maskcheck.synth import padded_floats, padded_ids, step_labels
from maskcheck.testing.models import seq_input


def tagger(
    units: int = 3,
    activation: str = "softmax",
    loss: Any = "sparse_categorical_crossentropy",
    metrics: Any = None,
    bias: Any = None,
    masked: bool = True,
) -> Any:
    """[Masking ->] LSTM -> TimeDistributed(Dense) over (10, 3) steps, compiled unless `loss` is None.

    With `bias` the head's kernel is zero, so it predicts the same class everywhere."""
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            *([layers.Masking(0.0)] if masked else []),
            layers.LSTM(4, return_sequences=True),
            layers.TimeDistributed(
                layers.Dense(
                    units,
                    activation=activation,
                    kernel_initializer="zeros" if bias is not None else "glorot_uniform",
                    bias_initializer=keras.initializers.Constant(bias) if bias is not None else "zeros",
                )
            ),
        ]
    )
    if loss is not None:
        model.compile(loss=loss, optimizer="sgd", metrics=metrics)
    return model


def loaded_tagger(bias: list[float]) -> Any:
    """A fresh tagger that loads the weights of a "trained" one (a head biased by `bias`) from a
    weights file and is then compiled: its optimizer has never taken a step."""
    trained = tagger(units=len(bias), bias=bias, loss=None)
    fresh = tagger(units=len(bias), loss=None)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tagger.weights.h5")
        trained.save_weights(path)
        fresh.load_weights(path)
    fresh.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return fresh


def untrained_tagger(pad_class: int, units: int = 3) -> Any:
    """A compiled, never trained tagger whose head leans slightly towards `pad_class` everywhere,
    as a random initialisation does: the argmax is that class at every step, at near-chance
    probability."""
    bias = [0.0] * units
    bias[pad_class] = 0.2
    return tagger(units=units, bias=bias)


def identity_head() -> Any:
    """Masking -> Dense(3, softmax) with an identity kernel: the class per step is the largest of the
    three features, so predictions vary with the data."""
    return keras.Sequential(
        [
            keras.Input((10, 3)),
            layers.Masking(0.0),
            layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.Identity(gain=10.0)),
        ]
    )


def separate_activation() -> Any:
    """A linear Dense(3) followed by a separate Activation("sigmoid") layer, compiled with
    sparse categorical cross-entropy given as a function."""
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            layers.Masking(0.0),
            layers.LSTM(4, return_sequences=True),
            layers.Dense(3),
            layers.Activation("sigmoid"),
        ]
    )
    model.compile(loss=keras.losses.sparse_categorical_crossentropy, optimizer="sgd")
    return model


def autoencoder() -> CaseInput:
    """Seq2seq autoencoder: Masking -> LSTM -> RepeatVector -> LSTM(return_sequences), mse, y = X.
    The output carries no mask."""
    inp = seq_input()
    x = layers.LSTM(6)(layers.Masking(0.0)(inp))
    out = layers.LSTM(3, return_sequences=True)(layers.RepeatVector(10)(x))
    model = keras.Model(inp, out)
    model.compile(loss="mse", optimizer="adam")
    x_data = padded_floats(n=32)
    return CaseInput(model, x_data, x_data)


def masked_regressor() -> CaseInput:
    """Masking -> LSTM(return_sequences) -> Dense(3), mse, y = X: the mask reaches the loss."""
    model = keras.Sequential(
        [seq_input(), layers.Masking(0.0), layers.LSTM(4, return_sequences=True), layers.Dense(3)]
    )
    model.compile(loss="mse", optimizer="adam")
    x_data = padded_floats(n=32)
    return CaseInput(model, x_data, x_data)


def binary_tagger(metrics: Any) -> CaseInput:
    """A masked one-unit sigmoid tagger with binary cross-entropy and `metrics`, random 0/1 labels
    (0 at padding) of shape (batch, time, 1), as the masked loss needs them."""
    model = tagger(units=1, activation="sigmoid", loss="binary_crossentropy", metrics=metrics)
    x = padded_floats(n=32)
    y = (np.random.default_rng(2).random((32, 10)) > 0.5).astype("float32")
    y[~x.any(-1)] = 0.0
    return CaseInput(model, x, y[..., None])


def weighted(shape_kind: str) -> CaseInput:
    """A masked two-class tagger fitted with a sample_weight of shape (batch,) ("vector"),
    (batch, 1) ("column") or (batch, time) ("matrix")."""
    x = padded_floats(n=32)
    y = step_labels(x, n_classes=2) - 1
    y[~x.any(-1)] = 0
    w = np.linspace(0.5, 1.5, 32).astype("float32")
    w = {"vector": w, "column": w[:, None], "matrix": x.any(-1).astype("float32")}[shape_kind]
    return CaseInput(tagger(units=2), x, y, {"sample_weight": w})


def labelled(model: Any, shift: int = 0, y_side: str = "post") -> CaseInput:
    """`model` with post-padded (10, 3) steps and per-step labels 1, 2 (minus `shift`), 0 at padding;
    y_side="pre" moves y's padding to the front."""
    x = padded_floats(n=32)
    y = step_labels(x, n_classes=2, pad_label=0) - shift
    y[x.any(-1) == 0] = 0
    if y_side == "pre":
        y = np.stack([_pre_padded(row, 0) for row in y])
    return CaseInput(model, x, y)


def one_hot(case: CaseInput, units: int) -> CaseInput:
    """`case` with its per-step integer labels one-hot encoded over `units` classes."""
    return CaseInput(case.model, case.X, np.eye(units, dtype="float32")[case.y], case.kwargs)


def _pre_padded(row: np.ndarray, pad: int) -> np.ndarray:
    real = row[row != pad]
    return np.concatenate([np.full(len(row) - len(real), pad), real]).astype(row.dtype)


def teacher_forced_seq2seq(decoder_masked: bool = True) -> CaseInput:
    """An encoder-decoder whose source and target have the same length (10), fitted with teacher
    forcing: Embedding(mask_zero) -> LSTM(return_state) encodes the source; the decoder's
    Embedding (mask_zero unless `decoder_masked` is False) -> LSTM(return_sequences,
    initial_state) -> Dense(softmax) reads the target without its last token, and y is the target
    without its first token, so y holds the padding label 0 at the last real decoder step. The
    source is padded to other lengths than the target."""
    t, vocab = 10, 12
    enc_in = keras.Input((t,), dtype="int32", name="source")
    _, h, c = layers.LSTM(4, return_state=True)(layers.Embedding(vocab, 4, mask_zero=True)(enc_in))
    dec_in = keras.Input((t,), dtype="int32", name="target_in")
    d = layers.Embedding(vocab, 4, mask_zero=decoder_masked)(dec_in)
    d = layers.LSTM(4, return_sequences=True)(d, initial_state=[h, c])
    out = layers.Dense(vocab, activation="softmax")(d)
    model = keras.Model([enc_in, dec_in], out)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    src = padded_ids(n=32, t=t, vocab=vocab, seed=1)
    tgt = padded_ids(n=32, t=t + 1, vocab=vocab, seed=2)
    return CaseInput(model, [src, tgt[:, :-1]], tgt[:, 1:])


def end_token_padded(weighted: bool) -> CaseInput:
    """An unmasked tagger whose labels end each sequence with an end label 2 that also pads (the
    GPT-2 convention), fitted with `sample_weight` = the real steps, end label included, when
    `weighted`: the zero-weight steps are the padding, not y's trailing run of 2."""
    x = padded_floats(n=32)
    real = x.any(-1)
    y = np.ones(real.shape, dtype="int32")
    y[~real] = 2
    y[np.arange(len(y)), real.sum(-1) - 1] = 2  # the end label on the last real step
    kwargs = {"sample_weight": real.astype("float32")} if weighted else {}
    return CaseInput(tagger(units=3, masked=False), x, y, kwargs)


def minus_one_padded(loss: Any = "sparse_categorical_crossentropy", pad: int = -1) -> CaseInput:
    """A masked two-class tagger with labels 0, 1 on real steps and `pad` at padded steps."""
    x = padded_floats(n=32)
    y = step_labels(x, n_classes=2, pad_label=pad + 1) - 1
    y[~x.any(-1)] = pad
    return CaseInput(tagger(units=2, loss=loss), x, y)
