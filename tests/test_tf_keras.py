"""tf_keras (Keras 2) models: traced through the same checks; Keras 2 drops masks silently."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import maskcheck
from maskcheck import bridge as kb
from maskcheck import testing as C
from maskcheck.checks.environment import mc401_keras_mask_semantics as environment

K = pytest.importorskip("tf_keras")
pytestmark = pytest.mark.skipif(kb.backend_name() != "tensorflow", reason="tf_keras runs on TensorFlow only")
L = K.layers


def tagger(head: Any = None) -> Any:
    model = K.Sequential(
        [
            K.Input((10, 3)),
            L.Masking(0.0),
            L.Bidirectional(L.LSTM(4, return_sequences=True)),
            head or L.TimeDistributed(L.Dense(3, activation="softmax")),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def data() -> tuple[np.ndarray, np.ndarray]:
    x = C.padded_floats(n=16)
    y = C.step_labels(x, n_classes=3) - 1
    y[~x.any(-1)] = 0
    return x, y


def test_correct_tagger_is_quiet_and_traced() -> None:
    x, y = data()
    report = maskcheck.audit(tagger(), x, y)
    assert report.ok and not report.findings, report
    paths = [t.path for t in report.layers]
    assert "bidirectional/forward_lstm" in paths and any(p.startswith("time_distributed/") for p in paths)
    assert report.meta["keras_package"] == "tf_keras"
    assert report.meta["keras"].startswith("2.")


def test_silent_drop_is_reported() -> None:
    model = K.Sequential([K.Input((10, 3)), L.Masking(0.0), L.Conv1D(4, 1), L.LSTM(2)])
    report = maskcheck.audit(model, C.padded_floats())
    (f,) = report.by_code("MC101")
    assert f.details["keras_warned"] is False, "Keras 2 gives no warning; maskcheck still finds it"


def test_op_lambda_drops_mask() -> None:
    inp = K.Input((10, 3))
    h = L.Masking(0.0)(inp) * 2.0
    report = maskcheck.audit(K.Model(inp, L.LSTM(2)(h)), C.padded_floats())
    assert "MC103" in report.codes


def test_loss_checks_use_tf_keras_losses() -> None:
    inp = K.Input((10, 3))
    code = L.LSTM(4)(L.Masking(0.0)(inp))
    out = L.LSTM(3, return_sequences=True)(L.RepeatVector(10)(code))
    model = K.Model(inp, out)
    model.compile(loss=K.losses.MeanSquaredError(), optimizer="adam")
    x = C.padded_floats()
    report = maskcheck.audit(model, x, x)
    assert {"MC102", "MC305"} <= set(report.codes)


def test_patches_restored() -> None:
    from tf_keras.src.engine.base_layer import Layer

    before = Layer.__dict__["__call__"]
    model = tagger()
    maskcheck.audit(model, data()[0])
    assert Layer.__dict__["__call__"] is before
    assert not any(
        "call" in vars(layer) for layer in model._flatten_layers(include_self=True, recursive=True)
    )


def test_mc401_loss_divided_by_all_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = data()
    assert environment.legacy_loss_divides_by_all_steps() is False, "tf_keras 2.21 divides by real steps"
    assert "MC401" not in maskcheck.audit(tagger(), x, y).codes
    monkeypatch.setattr(environment, "legacy_loss_divides_by_all_steps", lambda: True)  # an older tf_keras
    report = maskcheck.audit(tagger(), x, y)
    assert "MC401" in report.codes and report.by_code("MC401")[0].severity == "info"
