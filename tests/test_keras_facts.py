"""The Keras behaviours the checks rely on, verified on the installed Keras (not assumed)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from maskcheck import bridge as kb
from maskcheck import testing as C


def test_fit_crashes_with_per_sample_weights_and_a_time_mask() -> None:
    """MC308: a (batch,) sample_weight with a (batch, time) mask fails inside the loss."""
    x = C.padded_floats(n=8)
    y = np.zeros((8, 10), "int32")

    def fresh() -> keras.Model:
        model = C.masked_tagger()
        model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
        return model

    with pytest.raises(Exception):  # noqa: B017 - the backend's own shape error
        fresh().fit(x, y, sample_weight=np.ones(8, "float32"), epochs=1, verbose=0)
    fresh().fit(x, y, sample_weight=np.ones((8, 1), "float32"), epochs=1, verbose=0)  # the fix works


def test_multi_head_attention_clears_its_input_masks() -> None:
    """MC106/MC107: after MultiHeadAttention the query tensor has lost its runtime mask."""
    e = layers.Embedding(20, 4, mask_zero=True)(C.padded_ids(n=4))
    assert kb.get_mask(e) is not None
    layers.MultiHeadAttention(2, 2)(e, e)
    if kb.backend_name() == "tensorflow":
        assert kb.get_mask(e) is None


def test_concatenate_with_an_unmasked_input_makes_the_mask_all_true() -> None:
    """MC106: Concatenate(axis=-1) of a masked and an unmasked tensor."""
    x = C.padded_floats(n=4)
    masked = layers.Masking(0.0)(x)
    out = layers.Concatenate()([masked, keras.ops.convert_to_tensor(x)])
    assert np.asarray(kb.to_numpy(kb.get_mask(out))).all()
    assert not np.asarray(kb.to_numpy(kb.get_mask(masked))).all()


def test_confusion_matrix_metrics_ignore_the_mask() -> None:
    """MC307: Precision gives the same value with and without the mask on y_pred."""
    y_pred = keras.ops.convert_to_tensor(np.array([[[0.9], [0.9], [0.9]]], "float32"))
    y_true = np.array([[[1.0], [0.0], [0.0]]], "float32")
    plain = keras.metrics.Precision()
    plain.update_state(y_true, y_pred)
    kb.set_mask(y_pred, keras.ops.convert_to_tensor(np.array([[True, False, False]])))
    masked = keras.metrics.Precision()
    masked.update_state(y_true, y_pred)
    assert float(plain.result()) == float(masked.result()) == pytest.approx(1 / 3)
    acc = keras.metrics.BinaryAccuracy()
    acc.update_state(y_true, y_pred)
    assert float(acc.result()) == 1.0, "mean-style metrics do read the mask"


def test_ops_drop_masks_silently() -> None:
    """MC103: keras.ops and Python operators return tensors without the mask."""
    masked = layers.Masking(0.0)(C.padded_floats(n=4))
    assert kb.get_mask(masked * 2.0) is None
    assert kb.get_mask(keras.ops.multiply(masked, 2.0)) is None
