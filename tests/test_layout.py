"""Padding layout inference: pad vector, side, lengths, streaming equivalence."""

from __future__ import annotations

import numpy as np
import pytest

from maskcheck import testing as C
from maskcheck.data import Batch
from maskcheck.facts.layout import LayoutAccumulator
from maskcheck.facts.steps import StepStats, detect_pad, steps_equal, update_stats


@pytest.mark.parametrize("pad", [0.0, -1.0, 7.5])
@pytest.mark.parametrize("side", ["post", "pre"])
def test_detects_uniform_pad(pad: float, side: str) -> None:
    x = C.padded_floats(n=40, pad=pad, side=side)
    vec, found_side, support = detect_pad(x)
    assert vec is not None and np.all(vec == pad)
    assert found_side == side and support > 0.5


def test_detects_nan_and_per_feature_pad() -> None:
    x = C.padded_floats(n=40, pad=float("nan"))
    vec, _, _ = detect_pad(x)
    assert vec is not None and np.isnan(vec).all()
    scaled = C.padded_floats(n=40)
    scaled = (scaled - scaled.reshape(-1, 3).mean(0)) / scaled.reshape(-1, 3).std(0)
    vec, side, _ = detect_pad(scaled)
    assert vec is not None and side == "post" and len(set(np.round(vec, 6))) == 3


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.random.default_rng(0).random((40, 10, 3)),  # no padding at all
        lambda: np.eye(3)[np.random.default_rng(1).integers(0, 3, size=(40, 10))],  # one-hot
        lambda: np.tile(np.eye(4)[[1, 2, 3, 0]], (40, 3, 1))[:, :10],  # end-of-sequence-like token
    ],
)
def test_no_pad_on_unpadded_data(make) -> None:
    assert detect_pad(np.asarray(make(), dtype="float32"))[0] is None


def test_stats_sides_holes_and_empty() -> None:
    x = np.ones((5, 6, 2), dtype="float32")
    x[0, 4:] = 0  # post
    x[1, :2] = 0  # pre
    x[2, 0] = 0
    x[2, 5] = 0  # both sides
    x[3, 2] = 0  # hole only
    x[4] = 0  # empty
    full, partial, count = steps_equal(x, np.zeros(2))
    st = StepStats()
    update_stats(st, full, partial, 0, count, 2)
    assert (st.post, st.pre, st.fully_padded, st.holes) == (1, 1, 1, 1)
    assert st.mixed == 1
    assert st.hole_idx == [3] and st.fully_idx == [4]
    assert st.full_steps == 2 + 2 + 2 + 1 + 6


def test_streaming_matches_one_pass() -> None:
    x = C.padded_floats(n=100, t=12, pad=-1.0)
    whole = LayoutAccumulator(0, "X")
    whole.update(Batch([x]), 0)
    chunked = LayoutAccumulator(0, "X")
    for start in range(0, 100, 7):
        chunked.update(Batch([x[start : start + 7]]), start)
    a, b = whole.layout, chunked.layout
    assert a is not None and b is not None and a.by_pad is not None and b.by_pad is not None
    assert a.by_pad.full_steps == b.by_pad.full_steps
    assert (a.by_pad.post, a.by_pad.length_min, a.by_pad.length_max) == (
        b.by_pad.post,
        b.by_pad.length_min,
        b.by_pad.length_max,
    )


def test_misreshape_probe_finds_the_transform() -> None:
    from maskcheck.demo import make_data

    data = make_data(n=64)
    acc = LayoutAccumulator(0, "X")
    acc.update(Batch([data.X_broken]), 0)
    assert acc.layout is not None and acc.layout.transform == "reshape"
    ok = LayoutAccumulator(0, "X")
    ok.update(Batch([data.X_fixed]), 0)
    assert ok.layout is not None and ok.layout.transform is None


@pytest.mark.parametrize("data_dtype", ["float32", "float64"])
@pytest.mark.parametrize("model_dtype", ["float32", "float64"])
def test_mask_value_compared_as_keras_does(data_dtype: str, model_dtype: str) -> None:
    """Masking(-99999.99): Keras rounds the Python number to floatx and compares it with the input
    as the layer sees it. maskcheck reports a pad-value mismatch exactly when Keras masks nothing."""
    import maskcheck
    from maskcheck.bridge import get_mask, keras, to_numpy

    mv = -99999.99
    x = C.padded_floats(n=32).astype(data_dtype)
    x[np.all(x == 0, axis=-1)] = np.asarray(mv, data_dtype)
    inp = keras.Input((10, 3), dtype=model_dtype)
    masked = keras.layers.Masking(mv, dtype=model_dtype)(inp)
    model = keras.Model(inp, keras.layers.LSTM(4, return_sequences=True, dtype=model_dtype)(masked))
    keras_masks = not bool(np.asarray(to_numpy(get_mask(keras.Model(inp, masked)(x)))).all())
    codes = set(maskcheck.audit(model, x).codes)
    assert ("MC203" in codes) == (not keras_masks), (keras_masks, codes)
    assert ("MC202" in codes) == (not keras_masks), (keras_masks, codes)
