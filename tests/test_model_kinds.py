"""Models of every kind `fit` trains (issue 13): several feature axes, stateful RNNs, dict outputs,
and model errors that are not mask errors. Each kind: a correct model audits with no error
findings, a broken one is caught."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
from keras import layers

import maskcheck
from maskcheck import bridge as kb
from maskcheck import testing as C
from maskcheck.errors import MaskcheckError
from maskcheck.report import Report, Severity


def errors(report: Report) -> list[str]:
    return [f.code for f in report.findings if f.severity == Severity.ERROR]


# -- several feature axes: a step is everything after the time axis ------------------------------


def video(pad: float = 0.0) -> np.ndarray:
    return C.padded_floats(n=8, t=6, f=(4, 4, 1), pad=pad)


def conv_lstm_2d() -> Any:
    return keras.Sequential(
        [
            keras.Input((6, 4, 4, 1)),
            layers.Masking(0.0),
            layers.ConvLSTM2D(2, 3, padding="same"),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )


def test_video_through_conv_lstm_2d() -> None:
    assert errors(maskcheck.audit(conv_lstm_2d(), video())) == []
    broken = maskcheck.audit(conv_lstm_2d(), video(pad=-1.0))  # padded with -1, Masking(0.)
    assert "MC203" in errors(broken)


def test_per_step_video_output_is_compared_per_frame() -> None:
    # the output keeps the frames: its padded frames may change, its real ones do not
    model = keras.Sequential(
        [
            keras.Input((6, 4, 4, 1)),
            layers.Masking(0.0),
            layers.TimeDistributed(layers.Conv2D(2, 3, padding="same")),
        ]
    )
    assert errors(maskcheck.audit(model, video())) == []


def test_time_distributed_conv_into_lstm() -> None:
    frames = [
        layers.TimeDistributed(layers.Reshape((4, 4, 1))),
        layers.TimeDistributed(layers.Conv2D(2, 3)),
        layers.TimeDistributed(layers.Flatten()),
        layers.LSTM(3),
        layers.Dense(1),
    ]
    # the mask is made per frame (Masking over the flattened frame), so the LSTM gets (batch, time)
    good = keras.Sequential(
        [keras.Input((6, 4, 4, 1)), layers.TimeDistributed(layers.Flatten()), layers.Masking(0.0), *frames]
    )
    assert errors(maskcheck.audit(good, video())) == []
    # Masking on the video itself masks pixels: the LSTM receives a (batch, time, 4, 4) mask
    bad = keras.Sequential([keras.Input((6, 4, 4, 1)), layers.Masking(0.0), *frames[1:]])
    report = maskcheck.audit(bad, video())
    assert "MC105" in errors(report)


def test_video_tagger_needs_a_mask_per_frame() -> None:
    x = video()
    y = C.step_labels(x.reshape(8, 6, -1), n_classes=2)
    head = [
        layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
        layers.TimeDistributed(layers.Flatten()),
        layers.TimeDistributed(layers.Dense(3, activation="softmax")),
    ]
    per_frame = [
        layers.TimeDistributed(layers.Flatten()),
        layers.Masking(0.0),
        layers.TimeDistributed(layers.Reshape((4, 4, 1))),
    ]
    good = keras.Sequential([keras.Input((6, 4, 4, 1)), *per_frame, *head])
    good.compile(loss="sparse_categorical_crossentropy")
    assert errors(maskcheck.audit(good, x, y)) == []
    # Masking on the frames masks pixels; after Flatten the (batch, time, 4, 4) mask fits no step
    bad = keras.Sequential(
        [keras.Input((6, 4, 4, 1)), layers.Masking(0.0), *(type(h).from_config(h.get_config()) for h in head)]
    )
    bad.compile(loss="sparse_categorical_crossentropy")
    # (the compiled loss itself fails on that mask, as in `fit`: MC305 cannot run)
    found = [f for f in maskcheck.audit(bad, x, y, strict=False).findings if f.code == "MC105"]
    assert found and "(8, 6, 4, 4)" in found[0].message


def test_conv_lstm_1d() -> None:
    def model() -> Any:
        return keras.Sequential(
            [
                keras.Input((6, 5, 2)),
                layers.Masking(0.0),
                layers.ConvLSTM1D(2, 3, padding="same"),
                layers.Flatten(),
                layers.Dense(1),
            ]
        )

    x = C.padded_floats(n=8, t=6, f=(5, 2))
    assert errors(maskcheck.audit(model(), x)) == []
    assert "MC203" in errors(maskcheck.audit(model(), C.padded_floats(n=8, t=6, f=(5, 2), pad=-1.0)))


# -- stateful RNNs ---------------------------------------------------------------------------------


def stateful(batch_size: int, broken: bool = False) -> Any:
    tail = [layers.Flatten(), layers.Dense(1)] if broken else [layers.Dense(1)]
    return keras.Sequential(
        [
            keras.Input((10, 3), batch_size=batch_size),
            layers.Masking(0.0),
            layers.LSTM(4, stateful=True, return_sequences=True),
            *tail,
        ]
    )


def _states(model: Any) -> list[np.ndarray]:
    return [np.array(kb.to_numpy(v.value), copy=True) for v in model.non_trainable_variables]


def test_stateful_rnn_starts_every_pass_from_fresh_states() -> None:
    model = stateful(8)
    x = C.padded_floats(n=8)
    model(x)  # states carried over from an earlier batch
    before = _states(model)
    assert errors(maskcheck.audit(model, x)) == []  # no state leaks from the traced pass into the probe
    assert errors(maskcheck.audit(model)) == []
    assert all(np.array_equal(a, b) for a, b in zip(before, _states(model), strict=True))
    assert "MC104" in errors(maskcheck.audit(stateful(8, broken=True), x))


def test_stateful_rnn_traces_one_fixed_batch() -> None:
    report = maskcheck.audit(stateful(4), C.padded_floats(n=10))
    assert errors(report) == []
    assert report.meta["samples_traced"] == 4
    assert any("fixed batch size of 4" in n for n in report.notes)
    with pytest.raises(MaskcheckError, match="exactly 4"):
        maskcheck.audit(stateful(4), C.padded_floats(n=3))
    with pytest.raises(MaskcheckError, match=r"^max_samples: .*exactly 4"):
        maskcheck.audit(stateful(4), C.padded_floats(n=10), max_samples=2)


def test_tf_keras_stateful_rnn() -> None:
    tfk = pytest.importorskip("tf_keras")
    model = tfk.Sequential(
        [
            tfk.Input((10, 3), batch_size=4),
            tfk.layers.Masking(0.0, name="stateful_masking"),  # named: keep tf_keras' name counters
            tfk.layers.LSTM(4, stateful=True, return_sequences=True, name="stateful_lstm"),
            tfk.layers.Dense(1, name="stateful_dense"),
        ],
        name="stateful_tagger",
    )
    x = C.padded_floats(n=8)
    model(x[:4])
    before = [np.array(v.numpy(), copy=True) for v in model.layers[1].states]
    assert errors(maskcheck.audit(model, x)) == []
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.layers[1].states, strict=True))


# -- dict outputs: losses, labels and metrics are paired by output name -----------------------------


def two_heads(order: str, tags_activation: str = "softmax") -> Any:
    inp = keras.Input((10,), dtype="int32")
    h = layers.LSTM(8, return_sequences=True)(layers.Embedding(20, 8, mask_zero=True)(inp))
    tags = layers.Dense(4, activation=tags_activation, name="tagger")(h)
    cls = layers.Dense(1, activation="sigmoid", name="classifier")(layers.GlobalAveragePooling1D()(h))
    outputs = {"tags": tags, "cls": cls} if order == "tags first" else {"cls": cls, "tags": tags}
    model = keras.Model(inp, outputs)
    model.compile(
        loss={"tags": keras.losses.SparseCategoricalCrossentropy(ignore_class=0), "cls": "binary_crossentropy"},
        metrics={"tags": ["accuracy"], "cls": ["accuracy"]},
    )
    return model


def two_head_data() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    x = C.padded_ids(n=12, t=10, vocab=20)
    return x, {"tags": C.step_labels(x, n_classes=3), "cls": (np.arange(12) % 2).astype("float32")}


@pytest.mark.parametrize("order", ["tags first", "cls first"])
def test_dict_outputs_pair_by_name(order: str) -> None:
    x, y = two_head_data()
    ys = [y, {"cls": y["cls"], "tags": y["tags"]}, [y["cls"], y["tags"]]]  # a list in Keras' (key) order
    for labels in ys:
        assert errors(maskcheck.audit(two_heads(order), x, labels)) == []
    broken = maskcheck.audit(two_heads(order, tags_activation="sigmoid"), x, y)
    found = [f for f in broken.findings if f.code == "MC303"]
    assert len(found) == 1 and found[0].message.startswith("output 'tags'")


def test_dict_labels_reach_the_label_checks() -> None:
    # y as a dict in the other key order: the labels of 'tags' are still read as the tags' labels
    x, y = two_head_data()
    model = two_heads("cls first")
    model.compile(loss={"tags": "sparse_categorical_crossentropy", "cls": "binary_crossentropy"})
    report = maskcheck.audit(model, x, {"tags": y["tags"], "cls": y["cls"]})
    assert any(f.code == "MC302" and "output 'tags'" in f.message for f in report.findings)


def test_dict_labels_with_unknown_keys_or_shapes() -> None:
    x, y = two_head_data()
    with pytest.raises(MaskcheckError, match="keyed"):
        maskcheck.audit(two_heads("tags first"), x, {"tag": y["tags"], "cls": y["cls"]})
    with pytest.raises(MaskcheckError, match=r"^y\['tags'\]: .*output 'tags'"):
        maskcheck.audit(two_heads("cls first"), x, {"tags": y["tags"][:, :8], "cls": y["cls"]})


class TwoHeads(keras.Model):
    """A subclassed model returning a dict: only the traced call knows the output names."""

    def __init__(self, tags_activation: str) -> None:
        super().__init__()
        self.embed = layers.Embedding(20, 8, mask_zero=True)
        self.rnn = layers.LSTM(8, return_sequences=True)
        self.tags = layers.Dense(4, activation=tags_activation)
        self.pool = layers.GlobalAveragePooling1D()
        self.cls = layers.Dense(1, activation="sigmoid")

    def call(self, x: Any) -> dict[str, Any]:
        h = self.rnn(self.embed(x))
        return {"tags": self.tags(h), "cls": self.cls(self.pool(h))}


def test_subclassed_dict_outputs() -> None:
    x, y = two_head_data()
    for activation, expected in (("softmax", []), ("sigmoid", ["MC303"])):
        model = TwoHeads(activation)
        model(x[:2])
        model.compile(loss={"tags": "sparse_categorical_crossentropy", "cls": "binary_crossentropy"})
        report = maskcheck.audit(model, x, y)
        assert [f.code for f in report.findings if f.code == "MC303"] == expected
        assert all("output 'tags'" in f.message for f in report.findings if f.code == "MC303")


# -- a model error is not a finding ----------------------------------------------------------------


class Boom(layers.Layer):
    """Fails at run time; Keras' message lists the `mask=` it received."""

    def call(self, x: Any, mask: Any = None) -> Any:
        raise ValueError("boom: the weights do not fit")

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def test_a_model_error_is_raised_with_its_own_message() -> None:
    inp = keras.Input((10, 3))
    model = keras.Model(inp, Boom()(layers.LSTM(4, return_sequences=True)(layers.Masking(0.0)(inp))))
    with pytest.raises(MaskcheckError, match="boom: the weights do not fit") as info:
        maskcheck.audit(model, C.padded_floats(n=8))
    assert info.value.argument == "model"


def test_a_mask_of_the_wrong_shape_is_mc105_at_the_failing_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eagerly the LSTM fails on a 10-step mask for 5 steps; compiled (as `predict` runs it) it
    does not, and the misaligned mask is reported at each layer it reaches."""
    from maskcheck.bridge import patch

    model = keras.Sequential(
        [C.seq_input(), layers.Masking(0.0), C.custom_layers.Downsample(), layers.LSTM(3, return_sequences=True)]
    )
    compiled = [f for f in maskcheck.audit(model, C.padded_floats(n=8)).findings if f.code == "MC105"]
    assert any("'downsample" in f.message and "10 steps" in f.message for f in compiled)  # '_1' in a suite
    monkeypatch.setattr(patch, "COMPILE_RNN_MIN_STEPS", 10**9)  # the loop as an eager call runs it
    eager = [f for f in maskcheck.audit(keras.models.clone_model(model), C.padded_floats(n=8)).findings]
    assert any(f.code == "MC105" and "failed at" in f.message and "(8, 10)" in f.message for f in eager)


# -- sample weights per output (a dict keyed by output name, or a list), as `fit` takes them -------


def unmasked_two_heads() -> Any:
    """No mask anywhere: only a per-step sample weight keeps the tags' padding out of the loss."""
    inp = keras.Input((10,), dtype="int32")
    h = layers.LSTM(8, return_sequences=True)(layers.Embedding(20, 8)(inp))
    tags = layers.Dense(4, activation="softmax", name="tagger")(h)
    cls = layers.Dense(1, activation="sigmoid", name="classifier")(layers.GlobalAveragePooling1D()(h))
    model = keras.Model(inp, {"tags": tags, "cls": cls})
    model.compile(loss={"tags": "sparse_categorical_crossentropy", "cls": "binary_crossentropy"})
    return model


def _mc305_outputs(report: maskcheck.Report) -> list[str]:
    return [f.message.split("'")[1] for f in report.findings if f.code == "MC305"]


def test_sample_weights_per_output_reach_their_output() -> None:
    x, y = two_head_data()
    real = (x != 0).astype("float32")
    model = unmasked_two_heads()
    model.fit(x, y, sample_weight={"tags": real, "cls": np.ones(12, "float32")}, epochs=1, verbose=0)  # fit takes it
    for weights in (
        {"tags": real, "cls": np.ones(12, "float32")},
        {"tags": real},  # an output without weights
        [np.ones(12, "float32"), real],  # a list, in Keras' (key) order: cls, tags
    ):
        assert _mc305_outputs(maskcheck.audit(model, x, y, sample_weight=weights)) == [], weights
    counted = maskcheck.audit(model, x, y, sample_weight={"tags": np.ones((12, 10), "float32")})
    assert _mc305_outputs(counted) == ["tags"]


def test_sample_weights_per_output_from_a_dataset() -> None:
    tf = pytest.importorskip("tensorflow")
    x, y = two_head_data()
    w = {"tags": (x != 0).astype("float32"), "cls": np.ones(12, "float32")}
    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(4)
    assert _mc305_outputs(maskcheck.audit(unmasked_two_heads(), ds)) == []
    ones = {"tags": np.ones((12, 10), "float32"), "cls": np.ones(12, "float32")}
    ds = tf.data.Dataset.from_tensor_slices((x, y, ones)).batch(4)
    assert _mc305_outputs(maskcheck.audit(unmasked_two_heads(), ds)) == ["tags"]


def test_per_sample_weight_for_one_masked_output_names_it() -> None:
    x, y = two_head_data()
    report = maskcheck.audit(two_heads("cls first"), x, y, sample_weight={"tags": np.ones(12, "float32")})
    found = [f for f in report.findings if f.code == "MC308"]
    assert len(found) == 1 and found[0].message.startswith("sample_weight['tags'] has shape (12,)")
    assert "{'tags': w[:, None]" in found[0].fix
    quiet = maskcheck.audit(two_heads("cls first"), x, y, sample_weight={"cls": np.ones(12, "float32")})
    assert "MC308" not in quiet.codes


def test_sample_weights_per_output_with_unknown_keys_or_rows() -> None:
    x, y = two_head_data()
    with pytest.raises(MaskcheckError, match=r"^sample_weight: .*output names"):
        maskcheck.audit(two_heads("tags first"), x, y, sample_weight={"tag": np.ones(12)})
    with pytest.raises(MaskcheckError, match=r"^sample_weight\['tags'\]: expected 12 rows"):
        maskcheck.audit(two_heads("tags first"), x, y, sample_weight={"tags": np.ones((5, 10))})
    with pytest.raises(MaskcheckError, match=r"^sample_weight\['tags'\]: .*per step"):
        maskcheck.audit(two_heads("tags first"), x, y, sample_weight={"tags": np.ones((12, 7))})


def test_callback_passes_sample_weights_per_output() -> None:
    from maskcheck.keras import AuditCallback

    x, y = two_head_data()
    weights = {"tags": (x != 0).astype("float32"), "cls": np.ones(12, "float32")}
    model = unmasked_two_heads()
    cb = AuditCallback(x, y, sample_weight=weights, fail_on=None, verbose=0)
    model.fit(x, y, sample_weight=weights, epochs=1, verbose=0, callbacks=[cb])
    assert cb.report is not None and _mc305_outputs(cb.report) == []
    cb = AuditCallback(x, y, sample_weight={"tags": np.ones((12, 10), "float32")}, fail_on=None, verbose=0)
    model.fit(x, y, sample_weight=weights, epochs=1, verbose=0, callbacks=[cb])
    assert cb.report is not None and _mc305_outputs(cb.report) == ["tags"]
