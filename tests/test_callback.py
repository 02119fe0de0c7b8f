"""`maskcheck.keras.AuditCallback`: audit when fit starts, stop training on findings."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import maskcheck
import maskcheck.callback
from maskcheck import testing as C
from maskcheck.bridge import keras
from maskcheck.keras import AuditCallback

layers = keras.layers


def tagger() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    x = C.padded_floats(n=8)
    y = C.step_labels(x, n_classes=2) % 3  # ids 0..2 for the 3-class softmax
    model = C.masked_tagger()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return model, x, y


def broken() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """Masking -> Conv1D -> LSTM: the convolution drops the mask (MC101)."""
    model = keras.Sequential([C.seq_input(), layers.Masking(0.0), layers.Conv1D(4, 1), layers.LSTM(3)])
    model.compile(loss="mse", optimizer="sgd")
    return model, C.padded_floats(n=8), np.zeros((8, 3), "float32")


def weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def test_public_import_path() -> None:
    assert AuditCallback is maskcheck.callback.AuditCallback
    assert issubclass(AuditCallback, keras.callbacks.Callback)
    assert keras.__name__ == "keras"  # maskcheck.keras does not shadow the real Keras


def test_correct_model_trains(capsys: pytest.CaptureFixture[str]) -> None:
    model, x, y = tagger()
    cb = AuditCallback(x[:4], y[:4])
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 1
    assert cb.report is not None and cb.report.ok
    assert cb.report.meta["samples_traced"] == 4 and not cb.report.meta["synthesized"]
    assert not model.stop_training
    out = capsys.readouterr().out
    assert "maskcheck audit at train_begin" in out and "masking" in out


def test_broken_model_stops_fit_before_any_step() -> None:
    model, x, y = broken()
    before = weights(model)
    cb = AuditCallback(verbose=0)  # no sample: a synthesized probe batch
    with pytest.raises(maskcheck.MaskcheckFailure, match=r"stopped training at train_begin.*MC101") as info:
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[cb])
    assert isinstance(info.value, AssertionError)
    assert "conv1d" in str(info.value) and "fix:" in str(info.value)  # the full report is in the message
    assert model.stop_training
    assert cb.report is not None and "MC101" in cb.report.codes and cb.report.meta["synthesized"]
    for a, b in zip(before, weights(model), strict=True):  # neither the audit nor a step touched them
        np.testing.assert_array_equal(a, b)


def test_fail_on_none_logs_and_trains_and_epoch_end(caplog: pytest.LogCaptureFixture) -> None:
    model, x, y = broken()
    logger = logging.getLogger("maskcheck.test")
    cb = AuditCallback(x[:4], fail_on=None, on="epoch_end", logger=logger)
    with caplog.at_level(logging.INFO, logger="maskcheck.test"):
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 2
    assert len(cb.reports) == 2 and cb.report is cb.reports[-1]
    assert not cb.report.ok and "MC101" in cb.report.codes
    records = [r for r in caplog.records if r.name == "maskcheck.test"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert "end of epoch 1" in records[0].getMessage() and "MC101" in records[0].getMessage()


def test_unbuilt_model_is_audited_after_the_first_batch(capsys: pytest.CaptureFixture[str]) -> None:
    model = keras.Sequential([layers.Masking(0.0), layers.LSTM(3)])  # no Input: built by fit
    model.compile(loss="mse", optimizer="sgd")
    x = C.padded_floats(n=8)
    cb = AuditCallback(x[:4], fail_on="warning")
    model.fit(x, np.zeros((8, 3), "float32"), epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    assert cb.report is not None and cb.report.findings == []
    assert "maskcheck audit at first batch" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"on": "batch_end"}, "on"),
        ({"fail_on": "fatal"}, "fail_on"),
        ({"y_sample": np.zeros(3)}, "X_sample"),
        ({"max_samples": 0}, "max_samples"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(maskcheck.MaskcheckError, match=rf"^{argument}: expected"):
        AuditCallback(**kwargs)  # type: ignore[arg-type]


def test_callback_steps_bounds_an_endless_dataset() -> None:
    """`steps` reaches the audit: an endless `repeat()` dataset is read for exactly that many
    batches, and a bad value fails at construction."""
    import tensorflow as tf

    x = C.padded_floats(n=16)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4).repeat()
    cb = AuditCallback(ds, steps=2, verbose=0)
    model = C.masked_tagger()
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    y = np.zeros((16, 10, 3), "float32")
    y[..., 0] = 1
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert cb.report is not None and cb.report.meta["samples_seen"] == 8
    with pytest.raises(maskcheck.MaskcheckError, match="steps"):
        AuditCallback(ds, steps=0)
