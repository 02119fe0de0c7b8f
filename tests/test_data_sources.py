"""X as arrays, dicts, tf.data (padded_batch too), generators and PyDataset: same findings."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import maskcheck
from maskcheck import testing as C
from maskcheck.data import CHUNK, DataSource, collect


def _model() -> Any:
    return keras.Sequential(
        [C.seq_input(), keras.layers.Masking(0.0), keras.layers.LSTM(3, return_sequences=True)]
    )


def _broken() -> np.ndarray:
    return C.padded_floats(n=40, pad=-1.0)


class Seq(keras.utils.PyDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray | None = None) -> None:
        super().__init__()
        self.x, self.y = x, y

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> Any:
        sl = slice(i * 10, (i + 1) * 10)
        return (self.x[sl],) if self.y is None else (self.x[sl], self.y[sl])


@pytest.mark.parametrize(
    "make_x",
    [
        lambda x: x,
        lambda x: tf.data.Dataset.from_tensor_slices(x).batch(8),
        lambda x: tf.data.Dataset.from_tensor_slices((x, np.zeros(x.shape[:2]))).batch(16),
        lambda x: (x[i : i + 8] for i in range(0, len(x), 8)),
        lambda x: iter(
            [(x[:20], np.zeros((20, 10)), np.ones(20)), (x[20:], np.zeros((20, 10)), np.ones(20))]
        ),
        lambda x: Seq(x),
    ],
    ids=["array", "dataset", "dataset_xy", "generator", "iterator_xyw", "pydataset"],
)
def test_every_source_sees_all_sequences(make_x: Any) -> None:
    x = _broken()
    report = maskcheck.audit(_model(), make_x(x), max_samples=12)
    assert "MC203" in report.codes
    assert report.meta["samples_seen"] == 40
    assert report.meta["samples_traced"] == 12
    f = report.by_code("MC203")[0]
    assert "of 40 sequences" in f.message


def test_padded_batch_dataset() -> None:
    seqs = [np.ones((n, 3), "float32") * (n + 1) for n in (3, 5, 10, 7, 2, 9)]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(seqs), output_signature=tf.TensorSpec((None, 3), tf.float32)
    )
    ds = ds.padded_batch(3, padded_shapes=(10, 3), padding_values=-1.0)
    report = maskcheck.audit(_model(), ds)
    assert "MC203" in report.codes


def test_dict_and_list_inputs_are_matched_by_name() -> None:
    a = keras.Input((10,), dtype="int32", name="ids")
    b = keras.Input((4,), name="meta")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 3, mask_zero=True)(a))
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([x, b])))
    ids = C.padded_ids(n=16)
    ids[0, 0] = 25
    meta = np.ones((16, 4), "float32")
    for X in ({"meta": meta, "ids": ids}, [ids, meta]):
        report = maskcheck.audit(model, X)
        assert report.codes == ["MC208"], report


def test_streaming_holds_about_one_batch() -> None:
    x = np.zeros((CHUNK * 2 + 5, 4, 2), "float32")
    batches = list(DataSource(x, None, None, None).batches())
    assert [len(b.xs[0]) for b in batches] == [CHUNK, CHUNK, 5]
    assert all(b.xs[0].base is x for b in batches), "array batches are views, not copies"
    sample = collect(DataSource(x, None, None, None), 7)
    assert sample.xs[0].shape[0] == 7 and sample.total_seen == len(x)
