"""The audit never changes the model, the compiled state or global random state, even when the
model raises midway or the audit is interrupted."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import maskcheck
from maskcheck import bridge as kb
from maskcheck import testing as C


def compiled_tagger() -> tuple[Any, np.ndarray, np.ndarray]:
    model = keras.Sequential(
        [
            C.seq_input(),
            layers.Masking(0.0),
            layers.Bidirectional(layers.LSTM(4, return_sequences=True)),
            layers.Dropout(0.5),
            layers.BatchNormalization(),
            layers.TimeDistributed(layers.Dense(1, activation="sigmoid")),
        ]
    )
    model.layers[1].trainable = False
    model.compile(
        loss="binary_crossentropy", optimizer="adam", metrics=["accuracy", keras.metrics.Precision()]
    )
    x = C.padded_floats(n=16)
    y = (C.step_labels(x, n_classes=2) > 1).astype("float32")[..., None]
    model.fit(x, y, epochs=1, verbose=0)  # optimizer and metric state exist
    return model, x, y


def snapshot(model: Any) -> dict[str, Any]:
    layers_ = list(model._flatten_layers(include_self=True, recursive=True))
    return {
        "weights": [np.array(v.numpy(), copy=True) for v in model.variables],
        "optimizer": [np.array(kb.to_numpy(v.value), copy=True) for v in model.optimizer.variables],
        "metrics": [np.array(kb.to_numpy(v.value), copy=True) for m in model.metrics for v in m.variables],
        "trainable": [layer.trainable for layer in layers_],
        "instance_attrs": [sorted(k for k in vars(layer) if k == "call") for layer in layers_],
        "loss": model.loss,
        "compiled": model.compiled,
        "layer_call": kb.LayerBase.__dict__["__call__"],
        "op_call": kb.OperationBase.__dict__["__call__"],
        "supports_masking": [getattr(layer, "supports_masking", None) for layer in layers_],
    }


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("weights", "optimizer", "metrics"):
        assert len(a[key]) == len(b[key])
        for u, v in zip(a[key], b[key], strict=True):
            assert np.array_equal(u, v, equal_nan=True), key
    for key in ("trainable", "instance_attrs", "compiled", "supports_masking"):
        assert a[key] == b[key], key
    assert a["loss"] is b["loss"]
    assert a["layer_call"] is b["layer_call"] and a["op_call"] is b["op_call"]


def test_audit_changes_nothing() -> None:
    model, x, y = compiled_tagger()
    before = snapshot(model)
    report = maskcheck.audit(model, x, y)
    assert report.layers  # it really ran, through every check
    assert_same(before, snapshot(model))


def _keras_seed_state() -> np.ndarray:
    from keras.src.random.seed_generator import global_seed_generator

    return np.array(kb.to_numpy(global_seed_generator().state.value), copy=True)


def test_random_state_is_untouched() -> None:
    model, x, y = compiled_tagger()
    keras.random.uniform(())  # make sure the global Keras seed generator exists
    np.random.seed(7)
    tf.random.set_seed(7)
    expected_np, expected_tf = np.random.random(), float(tf.random.uniform(()))
    np.random.seed(7)
    tf.random.set_seed(7)
    keras_state = _keras_seed_state()
    maskcheck.audit(model, x, y)
    assert np.array_equal(_keras_seed_state(), keras_state), "Keras' global seed generator moved"
    assert (np.random.random(), float(tf.random.uniform(()))) == (expected_np, expected_tf)


class Raises(layers.Layer):
    def __init__(self, exc: type[BaseException], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exc = exc
        self.armed = False

    def call(self, x: Any) -> Any:
        if self.armed:
            raise self.exc("stop here")
        return x

    def compute_output_shape(self, s: Any) -> Any:
        return s


@pytest.mark.parametrize(
    ("exc", "expected"), [(RuntimeError, maskcheck.MaskcheckError), (KeyboardInterrupt, KeyboardInterrupt)]
)
def test_failing_midway_restores_everything(exc: type[BaseException], expected: type[BaseException]) -> None:
    inp = C.seq_input()
    h = layers.LSTM(4, return_sequences=True)(layers.Masking(0.0)(inp))
    boom = Raises(exc)
    model = keras.Model(inp, layers.Dense(2)(boom(h)))
    model.compile(loss="mse", optimizer="adam")
    boom.armed = True
    before = snapshot(model)
    with pytest.raises(expected):
        maskcheck.audit(model, C.padded_floats(n=8))
    assert_same(before, snapshot(model))
    boom.armed = False
    assert maskcheck.audit(model, C.padded_floats(n=8)).layers, "usable again after the failure"


def test_stateful_rnn_states_are_restored() -> None:
    model = keras.Sequential(
        [
            keras.Input((10, 3), batch_size=8),
            layers.Masking(0.0),
            layers.LSTM(4, stateful=True, return_sequences=True),
        ]
    )
    x = C.padded_floats(n=8)
    model(x)  # give the states a value
    before = [np.array(kb.to_numpy(v.value), copy=True) for v in model.non_trainable_variables]
    maskcheck.audit(model, x)
    after = [np.array(kb.to_numpy(v.value), copy=True) for v in model.non_trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
