"""The instrumented window is safe in threads and re-entrant: parallel audits give the same
reports as one at a time, and `Layer.__call__` / `Operation.__call__` are the originals afterwards."""

from __future__ import annotations

import threading
from typing import Any

import keras
import numpy as np
import pytest
from keras import layers

import maskcheck
from maskcheck import bridge as kb
from maskcheck import testing as C
from maskcheck.callback import AuditCallback

pytestmark = pytest.mark.backends  # an audit inside a compiled JAX pass, PyTorch's unhooked loops

PRISTINE_LAYER = kb.LayerBase.__dict__["__call__"]
PRISTINE_OP = kb.OperationBase.__dict__["__call__"]


def _leaky() -> Any:
    """Masking -> Conv1D (drops the mask) -> LSTM: fires MC101 and MC104."""
    inp = C.seq_input()
    x = layers.Masking(0.0)(inp)
    x = layers.Conv1D(4, 3, padding="same")(x)
    out = layers.LSTM(2)(x)
    return keras.Model(inp, out)


def _summary(report: Any) -> list[tuple[str, str | None, str]]:
    return sorted((f.code, f.layer, f.message) for f in report.findings)


def _assert_pristine() -> None:
    assert kb.LayerBase.__dict__["__call__"] is PRISTINE_LAYER
    assert kb.OperationBase.__dict__["__call__"] is PRISTINE_OP


def test_parallel_audits_match_sequential_and_leave_keras_pristine() -> None:
    x = C.padded_floats(n=16)
    models = [C.masked_tagger(), _leaky(), C.masked_tagger(), _leaky()]
    expected = [_summary(maskcheck.audit(m, x, seed=0)) for m in models]
    assert any(code == "MC101" for code, _, _ in expected[1])  # the leaky model is really caught

    results: list[Any] = [None] * len(models)
    errors: list[BaseException] = []
    start = threading.Barrier(len(models))

    def run(i: int) -> None:
        try:
            start.wait()
            for _ in range(2):
                results[i] = _summary(maskcheck.audit(models[i], x, seed=0))
        except BaseException as exc:  # surfaced below with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(models))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert results == expected
    _assert_pristine()
    # A later audit records each call once: no duplicated findings.
    assert _summary(maskcheck.audit(models[1], x, seed=0)) == expected[1]


def test_keras_calls_in_other_threads_are_not_recorded_or_blocked() -> None:
    x = C.padded_floats(n=8)
    busy = C.masked_tagger()
    done = threading.Event()
    outputs: list[np.ndarray] = []

    def predict_loop() -> None:
        while not done.is_set():
            outputs.append(keras.ops.convert_to_numpy(busy(x)))

    worker = threading.Thread(target=predict_loop)
    worker.start()
    try:
        report = maskcheck.audit(_leaky(), x, seed=0)
    finally:
        done.set()
        worker.join(timeout=60)
    assert {f.code for f in report.findings} >= {"MC101"}
    assert all("bidirectional" not in row.path for row in report.layers)  # the other thread's model
    assert outputs  # it kept running
    _assert_pristine()


class _AuditsInside(layers.Layer):
    """A layer whose call runs an audit of another model: a nested instrumented window."""

    def __init__(self, inner: Any, data: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner, self.data = inner, data
        self.supports_masking = True
        self.reports: list[Any] = []

    def call(self, x: Any) -> Any:
        self.reports.append(maskcheck.audit(self.inner, self.data, seed=0))
        return x


def test_nested_audit_is_reentrant() -> None:
    x = C.padded_floats(n=8)
    inner = _leaky()
    expected_inner = _summary(maskcheck.audit(inner, x, seed=0))
    probe = _AuditsInside(inner, x, name="audits_inside")
    outer = keras.Sequential([C.seq_input(), layers.Masking(0.0), probe, layers.LSTM(2)])
    report = maskcheck.audit(outer, x, seed=0)
    assert probe.reports and all(_summary(r) == expected_inner for r in probe.reports)
    assert not report.at_least("error")
    assert "audits_inside" in {row.path for row in report.layers}
    _assert_pristine()


def test_audit_callback_during_fit_restores_keras() -> None:
    x = C.padded_floats(n=16)
    y = np.zeros((16, 10, 3), "float32")
    y[..., 0] = 1
    model = C.masked_tagger()
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    cb = AuditCallback(x, y, verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert cb.report is not None
    _assert_pristine()


def test_compiled_rnn_loop_matches_eager_and_frees_the_model() -> None:
    """Long sequences run the RNN's loop compiled: the same masks and findings as the eager loop,
    and the compiled function does not keep the model alive."""
    import gc
    import weakref

    from maskcheck.bridge import patch

    t = patch.COMPILE_RNN_MIN_STEPS + 16
    x = C.padded_floats(n=8, t=t)

    def model() -> Any:
        inp = C.seq_input(t=t)
        h = layers.Masking(0.0)(inp)
        h = layers.Bidirectional(layers.GRU(4, return_sequences=True))(h)
        return keras.Model(inp, layers.Dense(2)(layers.Conv1D(2, 3, padding="same")(h)))

    m = model()
    compiled = maskcheck.audit(m, x, seed=0)
    assert patch._compiled, "the RNN ran compiled"
    twin = keras.models.clone_model(m)  # new layers, same names: `m`'s compiled loops are its own
    twin.set_weights(m.get_weights())
    old = patch.COMPILE_RNN_MIN_STEPS
    patch.COMPILE_RNN_MIN_STEPS = 10**9
    try:
        eager = maskcheck.audit(twin, x, seed=0)
    finally:
        patch.COMPILE_RNN_MIN_STEPS = old
    assert not any(layer in patch._compiled for layer in twin._flatten_layers()), "the twin's loops ran eagerly"
    assert _summary(compiled) == _summary(eager)
    rows = lambda r: [(row.path, row.input_mask, row.output_mask, row.received_mask) for row in r.layers]  # noqa: E731
    assert [r for r in rows(compiled) if "cell" not in r[0]] == [r for r in rows(eager) if "cell" not in r[0]]
    ref = weakref.ref(m)
    del m, twin, compiled, eager
    gc.collect()
    assert ref() is None
    _assert_pristine()


class _NumpyGRU(layers.GRU):
    """A user's GRU whose call does NumPy on its input: fine eagerly, fails under tf.function."""

    def call(self, sequences: Any, initial_state: Any = None, mask: Any = None, training: bool = False) -> Any:
        if float(np.asarray(sequences).sum()) < 0:  # needs a concrete value: no graph tracing
            raise ValueError("negative")
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)


def test_rnn_that_cannot_be_compiled_runs_eagerly() -> None:
    from maskcheck.bridge import patch

    t = patch.COMPILE_RNN_MIN_STEPS + 4
    x = C.padded_floats(n=8, t=t)
    inp = C.seq_input(t=t)
    model = keras.Model(inp, layers.Dense(2)(_NumpyGRU(3)(layers.Masking(0.0)(inp))))
    for _ in range(2):  # the first audit finds out, the second knows
        report = maskcheck.audit(model, x, seed=0)
        assert not report.at_least("error"), report
        if keras.backend.backend() != "torch":  # PyTorch loops eagerly, unhooked: nothing to say
            assert any(row.class_name == "GRUCell" for row in report.layers)  # the eager loop, recorded
            slow = [n for n in report.notes if "could not be compiled" in n]
            assert len(slow) == 1 and "negative" not in slow[0] and model.layers[2].name in slow[0], report.notes
    _assert_pristine()


class _UnderscoreCell(layers.GRUCell):
    """Its default name starts with "_", which TensorFlow rejects as a root name scope."""


def test_a_cell_named_with_an_underscore_runs_compiled() -> None:
    from maskcheck.bridge import patch

    t = patch.COMPILE_RNN_MIN_STEPS + 4
    inp = C.seq_input(t=t)
    rnn = layers.RNN(_UnderscoreCell(3))
    model = keras.Model(inp, layers.Dense(2)(rnn(layers.Masking(0.0)(inp))))
    report = maskcheck.audit(model, C.padded_floats(n=8, t=t), seed=0)
    assert not report.at_least("error"), report
    assert not [n for n in report.notes if "could not be compiled" in n], report.notes
    assert patch.eager_reason(rnn) is None
    if keras.backend.backend() in ("tensorflow", "jax"):
        assert rnn in patch._compiled
