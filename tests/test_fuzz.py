"""Differential fuzzing: random layer stacks and padding layouts against a loss oracle.

The oracle does not use maskcheck: it runs `model.evaluate` (the compiled loss, through Keras'
own training-loop code) on y and on y changed only at padded steps. The loss sees padding if and
only if the two values differ. maskcheck's verdict (MC305, and MC102 where it fires) must agree,
and the audit must never crash.

Fast profile in CI (MASKCHECK_FUZZ_EXAMPLES, default 20); the long profile is opt-in:
`MASKCHECK_FUZZ_EXAMPLES=300 pytest -m slow tests/test_fuzz.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from keras import layers, ops

import maskcheck

T, F, UNITS, CLASSES, N = 6, 3, 4, 3, 12
FAST = int(os.environ.get("MASKCHECK_FUZZ_EXAMPLES", "20"))

MIDDLE = [
    "dense",
    "dropout",
    "layernorm",
    "conv1",
    "lambda",
    "op_mul",
    "lstm_seq",
    "gru_seq",
    "add_masked",
    "add_unmasked",
    "concat_unmasked",
    "attention",
    "rescaling",
]
HEAD = ["per_step_dense", "per_step_td", "lstm_last", "gap", "gmp", "flatten"]


class NoMaskScale(layers.Layer):
    def call(self, x: Any) -> Any:
        return x * 1.5


def _middle(kind: str, x: Any, raw: Any) -> Any:
    if kind == "dense":
        return layers.Dense(UNITS)(x)
    if kind == "dropout":
        return layers.Dropout(0.3)(x)
    if kind == "layernorm":
        return layers.LayerNormalization()(x)
    if kind == "conv1":
        return layers.Conv1D(UNITS, 1)(x)
    if kind == "lambda":
        return layers.Lambda(lambda t: t * 2.0)(x)
    if kind == "op_mul":
        return ops.multiply(x, 2.0)
    if kind == "lstm_seq":
        return layers.LSTM(UNITS, return_sequences=True)(x)
    if kind == "gru_seq":
        return layers.GRU(UNITS, return_sequences=True)(x)
    if kind == "add_masked":
        return layers.Add()([x, layers.Dense(x.shape[-1])(x)])
    if kind == "add_unmasked":
        return layers.Add()([x, layers.Dense(x.shape[-1])(raw)])
    if kind == "concat_unmasked":
        return layers.Concatenate()([x, layers.Dense(2)(raw)])
    if kind == "attention":
        a = layers.MultiHeadAttention(2, 2)(x, x)
        return layers.Add()([x, a])
    if kind == "rescaling":
        return layers.Rescaling(0.5)(x)
    raise AssertionError(kind)


@dataclass
class Built:
    model: Any
    x: np.ndarray
    y: np.ndarray
    y_perturbed: np.ndarray
    per_step: bool
    desc: str


def build(source: str, middle: list[str], head: str, side: str, lengths: list[int]) -> Built:
    rng = np.random.default_rng(len(middle) * 7 + sum(lengths))
    padded = np.arange(T)[None, :] >= np.array(lengths)[:, None]
    if side == "pre":
        padded = padded[:, ::-1]
    if source == "masking":
        inp = keras.Input((T, F))
        x = layers.Masking(0.0)(inp)
        data = (rng.random((N, T, F)) + 0.5).astype("float32")
        data[padded] = 0.0
        raw = inp
    else:
        inp = keras.Input((T,), dtype="int32")
        x = layers.Embedding(20, F, mask_zero=True)(inp)
        data = rng.integers(1, 20, size=(N, T)).astype("int32")
        data[padded] = 0
        raw = layers.Embedding(20, F)(inp)  # an unmasked branch from the same ids
    for kind in middle:
        x = _middle(kind, x, raw)
    per_step = head in ("per_step_dense", "per_step_td")
    if head == "per_step_dense":
        out = layers.Dense(CLASSES, activation="softmax")(x)
    elif head == "per_step_td":
        out = layers.TimeDistributed(layers.Dense(CLASSES, activation="softmax"))(x)
    elif head == "lstm_last":
        out = layers.Dense(CLASSES, activation="softmax")(layers.LSTM(UNITS)(x))
    elif head == "gap":
        out = layers.Dense(CLASSES, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    elif head == "gmp":
        out = layers.Dense(CLASSES, activation="softmax")(layers.GlobalMaxPooling1D()(x))
    else:
        out = layers.Dense(CLASSES, activation="softmax")(layers.Flatten()(x))
    model = keras.Model(inp, out)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", run_eagerly=True)
    if per_step:
        y = rng.integers(0, CLASSES, size=(N, T)).astype("int32")
        y2 = y.copy()
        y2[padded] = (y2[padded] + 1) % CLASSES
    else:
        y = rng.integers(0, CLASSES, size=(N,)).astype("int32")
        y2 = y.copy()  # no per-step labels: nothing padded in y
    return Built(
        model, data, y, y2, per_step, f"{source} -> {' -> '.join(middle) or '(none)'} -> {head} [{side}]"
    )


def oracle(b: Built) -> bool:
    """True when the compiled loss (through model.evaluate) sees padding: it changes when y
    changes only at padded steps, or when only the padded steps are weighted differently (the
    second catches padded steps whose prediction is uniform, where any label costs the same)."""
    if not b.per_step:
        return False
    padded = b.y != b.y_perturbed
    ones = np.ones(b.y.shape, "float32")

    def loss(y: np.ndarray, w: np.ndarray) -> float:
        return float(b.model.evaluate(b.x, y, sample_weight=w, batch_size=N, verbose=0))

    base = loss(b.y, ones)
    for y, w in ((b.y_perturbed, ones), (b.y, ones + padded)):
        if abs(loss(y, w) - base) > 1e-6 * max(1.0, abs(base)):
            return True
    return False


stacks = st.tuples(
    st.sampled_from(["masking", "embedding"]),
    st.lists(st.sampled_from(MIDDLE), min_size=0, max_size=3),
    st.sampled_from(HEAD),
    st.sampled_from(["post", "pre"]),
    st.lists(st.integers(1, T), min_size=N, max_size=N),
)


def _check(params: tuple[Any, ...]) -> tuple[bool, bool]:
    source, middle, head, side, lengths = params
    lengths = [T, *lengths[1:]]  # at least one full-length sequence
    b = build(source, middle, head, side, lengths)
    report = maskcheck.audit(b.model, b.x, b.y)  # must not crash
    truth = oracle(b)
    verdict = "MC305" in report.codes
    event(f"loss sees padding: {truth}")
    event(f"head: {head}")
    assert verdict == truth, (
        f"{b.desc}: oracle says the loss {'sees' if truth else 'ignores'} padding, audit says {report.codes}"
    )
    if "MC102" in report.codes:
        assert truth, f"{b.desc}: MC102 fired but the loss ignores padding"
    return truth, verdict


@settings(max_examples=FAST, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(stacks)
def test_audit_agrees_with_loss_oracle(params: tuple[Any, ...]) -> None:
    _check(params)


@pytest.mark.slow
@settings(
    max_examples=int(os.environ.get("MASKCHECK_FUZZ_LONG", "300")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(stacks)
def test_audit_agrees_with_loss_oracle_long(params: tuple[Any, ...]) -> None:
    _check(params)


@pytest.mark.parametrize(
    ("middle", "head", "leaks"),
    [
        ([], "per_step_td", False),
        (["conv1"], "per_step_dense", True),
        (["op_mul"], "per_step_dense", True),
        (["lstm_seq", "add_masked"], "per_step_td", False),
        (["add_unmasked"], "per_step_dense", True),
    ],
)
def test_oracle_itself(middle: list[str], head: str, leaks: bool) -> None:
    """The oracle is not taken on trust: known stacks give the known answer."""
    b = build("masking", middle, head, "post", [T, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6])
    assert oracle(b) is leaks
