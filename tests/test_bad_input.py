"""Bad input gets a MaskcheckError naming the argument and what was expected, never a raw traceback."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import maskcheck
from maskcheck import testing as C
from maskcheck.keras import AuditCallback
from maskcheck.pytest_plugin import MaskcheckFixture, fixture_for
from maskcheck.report import Finding, Report, Severity


def model() -> Any:
    return keras.Sequential(
        [C.seq_input(), keras.layers.Masking(0.0), keras.layers.LSTM(3, return_sequences=True)]
    )


def two_inputs() -> Any:
    a, b = keras.Input((10, 3), name="a"), keras.Input((10, 3), name="b")
    return keras.Model([a, b], keras.layers.Add()([a, b]))


X = C.padded_floats(n=8)
X_INF = X.copy()
X_INF[2, 1, 0] = np.inf
X_NAN = X.copy()
X_NAN[3, 0, 1] = np.nan


def _exhausted() -> Any:
    g = (x for x in [X])
    list(g)
    return g


class Unbuilt(keras.Model):
    def call(self, x: Any) -> Any:
        return x


BAD: list[tuple[str, Any, str]] = [
    ("not a model", lambda: maskcheck.audit("model.keras", X), "model"),
    ("a layer, not a model", lambda: maskcheck.audit(keras.layers.LSTM(3), X), "model"),
    ("a function", lambda: maskcheck.audit(lambda x: x, X), "model"),
    ("unbuilt subclassed model", lambda: maskcheck.audit(Unbuilt(), X), "model"),
    ("ragged list", lambda: maskcheck.audit(model(), [[1.0, 2.0], [3.0]]), "X"),
    ("object array", lambda: maskcheck.audit(model(), np.array([np.ones((10, 3)), None], dtype=object)), "X"),
    ("strings", lambda: maskcheck.audit(model(), np.array([["a"] * 3] * 10)), "X"),
    ("a string as X", lambda: maskcheck.audit(model(), "X.npy"), "X"),
    ("rank 1", lambda: maskcheck.audit(model(), np.ones(10, "float32")), "X"),
    ("wrong rank", lambda: maskcheck.audit(model(), np.ones((8, 10), "float32")), "X"),
    ("wrong feature count", lambda: maskcheck.audit(model(), np.ones((8, 10, 4), "float32")), "X"),
    ("wrong time length", lambda: maskcheck.audit(model(), np.ones((8, 12, 3), "float32")), "X"),
    ("empty array", lambda: maskcheck.audit(model(), np.ones((0, 10, 3), "float32")), "X"),
    ("exhausted generator", lambda: maskcheck.audit(model(), _exhausted()), "X"),
    (
        "empty dataset",
        lambda: maskcheck.audit(model(), tf.data.Dataset.from_tensor_slices(X).take(0).batch(2)),
        "X",
    ),
    ("dataset of 4-tuples", lambda: maskcheck.audit(model(), iter([(X, X, X, X)])), "X"),
    ("Inf in X", lambda: maskcheck.audit(model(), X_INF), "X"),
    ("NaN inside real steps", lambda: maskcheck.audit(model(), X_NAN), "X"),
    ("a number as X", lambda: maskcheck.audit(model(), 3.0), "X"),
    ("dict with missing key", lambda: maskcheck.audit(two_inputs(), {"a": X}), "X"),
    ("one array for two inputs", lambda: maskcheck.audit(two_inputs(), X), "X"),
    ("three arrays for two inputs", lambda: maskcheck.audit(two_inputs(), [X, X, X]), "X"),
    ("inputs with different sample counts", lambda: maskcheck.audit(two_inputs(), [X, X[:4]]), "X"),
    ("y with the wrong number of rows", lambda: maskcheck.audit(model(), X, np.zeros((5, 10))), "y"),
    ("y ragged", lambda: maskcheck.audit(model(), X, [[1], [1, 2]]), "y"),
    (
        "y given next to a dataset",
        lambda: maskcheck.audit(model(), tf.data.Dataset.from_tensor_slices(X).batch(4), np.zeros((8, 10))),
        "y",
    ),
    (
        "sample_weight rows",
        lambda: maskcheck.audit(model(), X, np.zeros((8, 10)), sample_weight=np.ones(3)),
        "sample_weight",
    ),
    ("y without X", lambda: maskcheck.audit(model(), None, np.zeros((8, 10))), "X"),
    ("max_samples zero", lambda: maskcheck.audit(model(), X, max_samples=0), "max_samples"),
    ("max_samples a float", lambda: maskcheck.audit(model(), X, max_samples=2.5), "max_samples"),
    ("max_samples a bool", lambda: maskcheck.audit(model(), X, max_samples=True), "max_samples"),
    ("time_budget negative", lambda: maskcheck.audit(model(), X, time_budget=-1), "time_budget"),
    ("time_budget a word", lambda: maskcheck.audit(model(), X, time_budget="soon"), "time_budget"),
    ("seed negative", lambda: maskcheck.audit(model(), X, seed=-1), "seed"),
    ("seed a string", lambda: maskcheck.audit(model(), X, seed="abc"), "seed"),
    ("seed negative without X", lambda: maskcheck.audit(model(), seed=-1), "seed"),
    ("select a number", lambda: maskcheck.audit(model(), X, select=101), "select"),
    ("strict not a bool", lambda: maskcheck.audit(model(), X, strict="yes"), "strict"),
    ("progress not a bool", lambda: maskcheck.audit(model(), X, progress=1), "progress"),
    ("perturb not a bool", lambda: maskcheck.audit(model(), X, perturb="yes"), "perturb"),
    ("ignore with a bad code", lambda: maskcheck.audit(model(), X, ignore=["E501"]), "ignore"),
    ("select with a bad code", lambda: maskcheck.audit(model(), X, select=[3]), "select"),
    ("select with an unknown code", lambda: maskcheck.audit(model(), X, select="MC999"), "select"),
    ("assert_ok with a bad severity", lambda: maskcheck.audit(model(), X).assert_ok("fatal"), "min_severity"),
    (
        "assert_ok with an unknown code",
        lambda: maskcheck.audit(model(), X).assert_ok(ignore=["NOPE"]),
        "ignore",
    ),
    ("at_least with a bad severity", lambda: maskcheck.Report("m", [], []).at_least("fatal"), "min_severity"),
    ("by_code with a number", lambda: maskcheck.Report("m", [], []).by_code(302), "code"),  # type: ignore[arg-type]
    ("marker ignoring an unknown code", lambda: _marker(ignore=["MC999"]), "@pytest.mark.maskcheck(ignore"),
    (
        "marker with a bad max_samples",
        lambda: _marker(max_samples="many"),
        "@pytest.mark.maskcheck(max_samples",
    ),
    (
        "marker with a bad time_budget",
        lambda: _marker(time_budget=0),
        "@pytest.mark.maskcheck(time_budget",
    ),
    (
        "callback with a bad time_budget",
        lambda: AuditCallback(X, time_budget=-2.0),
        "time_budget",
    ),
    (
        "assert_clean ignoring an unknown code",
        lambda: _fixture().assert_clean(model(), X, ignore=["NOPE"]),
        "ignore",
    ),
    (
        "assert_clean with a bad severity",
        lambda: _fixture().assert_clean(model(), X, min_severity="high"),
        "min_severity",
    ),
    ("callback logger given by name", lambda: AuditCallback(X, logger="my_logger"), "logger"),  # type: ignore[arg-type]
    ("callback ignoring an unknown code", lambda: AuditCallback(X, ignore=["MC999"]), "ignore"),
    ("callback verbose a string", lambda: AuditCallback(X, verbose="yes"), "verbose"),  # type: ignore[arg-type]
    ("callback verbose out of range", lambda: AuditCallback(X, verbose=3), "verbose"),
    ("callback fail_on unknown", lambda: AuditCallback(X, fail_on="fatal"), "fail_on"),
    ("subclassed model without X", lambda: _subclassed_without_x(), "X"),
    ("y with the wrong number of steps", lambda: maskcheck.audit(_tagger(), X, np.zeros((8, 12))), "y"),
    ("rank 1 y for a per-step tagger", lambda: maskcheck.audit(_tagger(), X, np.zeros(8)), "y"),
    (
        "one-hot y with a sparse loss",
        lambda: maskcheck.audit(_tagger(), X, np.eye(3)[np.zeros((8, 10), int)]),
        "y",
    ),
    (
        "class ids with a categorical loss",
        lambda: maskcheck.audit(_tagger("categorical_crossentropy"), X, np.zeros((8, 10))),
        "y",
    ),
    (
        "sample_weight with the wrong number of steps",
        lambda: maskcheck.audit(_tagger(), X, np.zeros((8, 10)), sample_weight=np.ones((8, 7))),
        "sample_weight",
    ),
    ("NaN in y", lambda: maskcheck.audit(_tagger(), X, _y_nan()), "y"),
    (
        "(N, T) y for a masked one-unit output with binary cross-entropy",
        lambda: maskcheck.audit(
            C.outputs.tagger(units=1, activation="sigmoid", loss="binary_crossentropy"), X, np.zeros((8, 10))
        ),
        "y",
    ),
    (
        "(N, T) ids for three sigmoid units with binary cross-entropy",
        lambda: maskcheck.audit(
            C.outputs.tagger(units=3, activation="sigmoid", loss="binary_crossentropy", masked=False),
            X,
            np.zeros((8, 10)),
        ),
        "y",
    ),
    ("strict with a loss the checks cannot evaluate", lambda: _unevaluable(strict=True), "model"),
]


def _tagger(loss: str = "sparse_categorical_crossentropy") -> Any:
    return C.outputs.tagger(units=3, loss=loss)


def _y_nan() -> np.ndarray:
    y = np.zeros((8, 10), "float32")
    y[1, 2] = np.nan
    return y


def _unevaluable(strict: bool = False) -> Report:
    """A tagger whose loss keeps one value per sample (reduction=None): MC305 cannot compare it."""
    model = C.outputs.tagger(units=1, loss=None, masked=False)
    model.compile(loss=keras.losses.MeanSquaredError(reduction=None), optimizer="sgd")
    y = np.where(X.any(-1), 1.0, 0.0).astype("float32")
    return maskcheck.audit(model, X, y, strict=strict)


def _fixture() -> MaskcheckFixture:
    return MaskcheckFixture()


def _marker(**kwargs: Any) -> MaskcheckFixture:
    """The fixture object the plugin builds for a test marked `@pytest.mark.maskcheck(**kwargs)`."""
    config = Namespace(rootpath=Path(__file__).parent, getini=lambda name: "")
    return fixture_for(config, pytest.mark.maskcheck(**kwargs).mark)  # type: ignore[arg-type]


def _subclassed_without_x() -> Any:
    class Sub(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.m = keras.layers.Masking(0.0)

        def call(self, x: Any) -> Any:
            return self.m(x)

    sub = Sub()
    sub(X)
    return maskcheck.audit(sub)


@pytest.mark.parametrize(("label", "call", "argument"), BAD, ids=[b[0] for b in BAD])
def test_bad_input(label: str, call: Any, argument: str) -> None:
    with pytest.raises(maskcheck.MaskcheckError) as info:
        call()
    assert info.value.argument.startswith(argument), str(info.value)
    assert "expected" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_at_least_40_bad_inputs() -> None:
    assert len(BAD) >= 40


def test_a_check_that_could_not_run_is_shown() -> None:
    report = _unevaluable()
    assert "MC305" in report.meta["checks_not_run"]
    text = report.to_text()
    assert "Checks that could not run" in text
    assert "MC305" in text.split("Checks that could not run")[1]


# -- the same values accepted everywhere (issue 15) ------------------------------------------------


def test_numpy_integers_are_integers() -> None:
    report = maskcheck.audit(model(), X, max_samples=np.int64(4), seed=np.int32(1))
    assert report.meta["samples_traced"] == 4
    assert AuditCallback(X, max_samples=np.int64(4)).max_samples == 4
    assert MaskcheckFixture(max_samples=np.int64(4)).max_samples == 4


def test_severity_and_code_names_in_any_case() -> None:
    findings = [
        Finding("MC302", "x", Severity.WARNING, "msg", "fix", layer="l"),
        Finding("MC101", "y", Severity.ERROR, "msg", "fix", layer="l"),
    ]
    report = Report(model_name="m", layers=[], findings=findings)
    assert report.at_least("WARNING") == findings
    assert report.at_least(" Error ") == findings[1:]
    assert report.by_code("mc302") == findings[:1]
    assert AuditCallback(fail_on="WARNING").fail_on == "warning"
    assert MaskcheckFixture(min_severity="Info").min_severity == "info"


def test_callback_accepts_what_keras_accepts_for_verbose_and_a_logger() -> None:
    import logging

    logger = logging.getLogger("maskcheck.test")
    assert AuditCallback(verbose=True).verbose == 1
    assert AuditCallback(verbose=2).verbose == 2
    assert AuditCallback(verbose=0, logger=logger).logger is logger


# -- messages that mislead (issue 15) --------------------------------------------------------------


def test_fractional_ids_are_seen_as_the_model_casts_them() -> None:
    """Keras casts float ids to the int32 Input toward zero: padding 0.4 is id 0, which the mask covers."""
    inp = keras.Input((16,), dtype="int32")
    out = keras.layers.LSTM(3, return_sequences=True)(keras.layers.Embedding(50, 4, mask_zero=True)(inp))
    rng = np.random.default_rng(0)
    ids = (rng.random((16, 16)) * 49 + 1).astype("float32")
    for i, n in enumerate(rng.integers(4, 16, 16)):
        ids[i, n:] = 0.4
    report = maskcheck.audit(keras.Model(inp, out), ids)
    assert "MC203" not in report.codes, report
    assert any("fractional" in n and "int32" in n for n in report.notes), report.notes


def test_meta_keras_is_the_version_as_documented() -> None:
    meta = maskcheck.audit(model(), X).meta
    assert meta["keras"] == keras.__version__
    assert meta["keras_package"] == "keras"
