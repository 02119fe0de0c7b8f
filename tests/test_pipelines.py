"""Every input pipeline `fit` accepts (issue 13): batches of their own length, endless sources,
unbatched datasets, raw strings through preprocessing layers, keras-hub tasks. Each pipeline has
a correct model that audits with no error findings and a broken one that is caught."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import maskcheck
from maskcheck import MaskcheckError
from maskcheck.data import DEFAULT_MAX_BATCHES

L = keras.layers
RNG = np.random.default_rng(0)
LENGTHS = RNG.integers(2, 12, size=40)
FLOAT_SEQS = [RNG.random((n, 3)).astype("float32") + 0.5 for n in LENGTHS]
ID_SEQS = [RNG.integers(1, 20, size=n).astype("int32") for n in LENGTHS]
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran"]
TEXTS = [" ".join(RNG.choice(WORDS, size=n)) for n in LENGTHS]


def floats_model(masked: bool) -> keras.Model:
    front = [L.Masking(0.0)] if masked else []
    return keras.Sequential([keras.Input((None, 3)), *front, L.LSTM(4), L.Dense(1)])


def ids_model(mask_zero: bool) -> keras.Model:
    return keras.Sequential(
        [keras.Input((None,), dtype="int32"), L.Embedding(20, 4, mask_zero=mask_zero), L.LSTM(4), L.Dense(1)]
    )


def errors(report: Any) -> list[str]:
    return [f.code for f in report.findings if f.severity == maskcheck.Severity.ERROR]


def assert_clean(report: Any) -> None:
    assert errors(report) == [], report.to_text()


def _pad_post(seqs: list[np.ndarray], value: float = 0.0) -> np.ndarray:
    t = max(len(s) for s in seqs)
    out = np.full((len(seqs), t, *seqs[0].shape[1:]), value, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


# ---- data that varies per batch ------------------------------------------------------------------


def padded_batch_floats() -> tf.data.Dataset:
    ds = tf.data.Dataset.from_generator(
        lambda: iter(FLOAT_SEQS), output_signature=tf.TensorSpec((None, 3), tf.float32)
    )
    return ds.padded_batch(8)


def bucketed_ids() -> tf.data.Dataset:
    ds = tf.data.Dataset.from_generator(
        lambda: iter(ID_SEQS), output_signature=tf.TensorSpec((None,), tf.int32)
    )
    return ds.bucket_by_sequence_length(lambda x: tf.shape(x)[0], [4, 8], [8, 8, 8])


def generator_floats() -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for i in range(0, len(FLOAT_SEQS), 8):
        chunk = FLOAT_SEQS[i : i + 8]
        yield _pad_post(chunk), np.zeros((len(chunk), 1), "float32")


class PerBatchIds(keras.utils.PyDataset):
    """Pads each batch of ids to its own longest sequence, pre-padded."""

    def __init__(self) -> None:
        super().__init__()

    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> Any:
        chunk = ID_SEQS[i * 8 : (i + 1) * 8]
        return keras.utils.pad_sequences(chunk, padding="pre"), np.zeros((len(chunk), 1), "float32")


@pytest.mark.parametrize(
    ("make_x", "model", "broken_code"),
    [
        (padded_batch_floats, floats_model, "MC211"),
        (generator_floats, floats_model, "MC211"),
        (bucketed_ids, ids_model, "MC207"),
        (PerBatchIds, ids_model, "MC207"),
    ],
    ids=["padded_batch", "generator", "bucket_by_sequence_length", "pydataset_pre"],
)
def test_batches_of_their_own_length(make_x: Any, model: Any, broken_code: str) -> None:
    report = maskcheck.audit(model(True), make_x(), progress=False)
    assert_clean(report)
    assert report.meta["samples_seen"] == len(LENGTHS)
    assert any("differ in length" in n for n in report.notes), report.notes
    broken = maskcheck.audit(model(False), make_x(), progress=False)
    assert broken_code in broken.codes, broken.to_text()


def test_a_first_batch_without_padding_does_not_hide_the_pad() -> None:
    """Sorted or bucketed data: the first batch holds sequences of one length, unpadded."""

    def batches() -> Iterator[np.ndarray]:
        yield RNG.random((8, 10, 3)).astype("float32") + 0.5
        yield _pad_post(FLOAT_SEQS[:20])
        yield _pad_post(FLOAT_SEQS[20:])

    assert_clean(maskcheck.audit(floats_model(True), batches(), progress=False))
    report = maskcheck.audit(floats_model(False), batches(), progress=False)
    assert "MC211" in report.codes, report.to_text()


def test_per_step_labels_of_their_own_length() -> None:
    labels = [RNG.integers(1, 3, size=n).astype("int32") for n in LENGTHS]
    ds = tf.data.Dataset.from_generator(
        lambda: zip(FLOAT_SEQS, labels, strict=True),
        output_signature=(tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None,), tf.int32)),
    ).padded_batch(8)
    for masked in (True, False):
        front = [L.Masking(0.0)] if masked else []
        model = keras.Sequential(
            [
                keras.Input((None, 3)),
                *front,
                L.GRU(4, return_sequences=True),
                L.Dense(3, activation="softmax"),
            ]
        )
        model.compile(loss="sparse_categorical_crossentropy")
        report = maskcheck.audit(model, ds, progress=False)
        if masked:
            assert_clean(report)
        else:
            assert "MC305" in report.codes, report.to_text()


def test_repadding_keeps_the_side_and_the_pad_vector() -> None:
    sample_pad = -1.0
    seqs = [RNG.random((n, 2)).astype("float32") + 0.5 for n in (3, 6, 2, 4, 5, 3)]
    batches = [(_pad_post(seqs[i : i + 3], sample_pad)[:, ::-1].copy(),) for i in (0, 3)]
    model = keras.Sequential([keras.Input((None, 2)), L.Masking(sample_pad), L.LSTM(2)])
    report = maskcheck.audit(model, iter(batches), progress=False)
    assert_clean(report)
    assert any("(-1.0, pre)" in n for n in report.notes), report.notes


# ---- endless sources -----------------------------------------------------------------------------


class Exploding:
    """A generator that raises after `k` batches: proves the data pass stops before."""

    def __init__(self, k: int) -> None:
        self.k, self.served = k, 0
        self.x = _pad_post(FLOAT_SEQS[:8])

    def __iter__(self) -> Exploding:
        return self

    def __next__(self) -> np.ndarray:
        if self.served >= self.k:
            raise AssertionError(f"read past {self.k} batches")
        self.served += 1
        return self.x


class Endless(keras.utils.PyDataset):
    def __init__(self, masked_pad: float = 0.0) -> None:
        super().__init__()
        self.calls = 0
        self.x = _pad_post(FLOAT_SEQS[:8], masked_pad)

    @property
    def num_batches(self) -> None:
        return None

    def __getitem__(self, i: int) -> np.ndarray:
        self.calls += 1
        return self.x


def test_steps_bounds_the_data_pass() -> None:
    source = Exploding(3)
    report = maskcheck.audit(floats_model(True), source, steps=3, progress=False)
    assert source.served == 3
    assert report.meta["samples_seen"] == 24
    assert any("read the first 3 batches" in n and "steps=3" in n for n in report.notes), report.notes
    assert_clean(report)


def test_repeated_dataset_is_bounded_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("maskcheck.data.source.DEFAULT_MAX_BATCHES", 4)
    ds = padded_batch_floats().repeat()
    report = maskcheck.audit(floats_model(True), ds, progress=False)
    assert report.meta["samples_seen"] == 32
    assert any("no known length" in n and "steps=" in n for n in report.notes), report.notes
    assert_clean(report)
    broken = maskcheck.audit(floats_model(False), padded_batch_floats().repeat(), steps=2, progress=False)
    assert "MC211" in broken.codes


def test_pydataset_without_num_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("maskcheck.data.source.DEFAULT_MAX_BATCHES", 5)
    ds = Endless()
    report = maskcheck.audit(floats_model(True), ds, progress=False)
    assert ds.calls == 5
    assert any("no known length" in n for n in report.notes)
    assert_clean(report)
    assert "MC211" in maskcheck.audit(floats_model(False), Endless(), steps=2, progress=False).codes


def test_steps_on_a_sized_source_names_its_length() -> None:
    report = maskcheck.audit(ids_model(True), PerBatchIds(), steps=2, progress=False)
    assert any("the first 2 of 5 batches of X (16 sequences): steps=2" in n for n in report.notes), (
        report.notes
    )
    assert report.meta["samples_seen"] == 16


def test_a_finite_source_is_read_whole_without_a_note() -> None:
    report = maskcheck.audit(floats_model(True), padded_batch_floats(), progress=False)
    assert not any("batches of X" in n for n in report.notes)
    assert DEFAULT_MAX_BATCHES == 1000


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_steps_is_a_positive_integer(bad: Any) -> None:
    with pytest.raises(MaskcheckError, match="steps"):
        maskcheck.audit(floats_model(True), padded_batch_floats(), steps=bad)


# ---- shapes of elements --------------------------------------------------------------------------


def test_unbatched_dataset_is_told_to_batch() -> None:
    ds = tf.data.Dataset.from_tensor_slices(_pad_post(FLOAT_SEQS))
    with pytest.raises(MaskcheckError, match=r"call `\.batch"):
        maskcheck.audit(floats_model(True), ds)
    ids = tf.data.Dataset.from_tensor_slices(_pad_post(ID_SEQS))
    with pytest.raises(MaskcheckError, match=r"call `\.batch"):
        maskcheck.audit(ids_model(True), ids)


def test_ragged_batches_are_told_to_pad() -> None:
    """`.batch()` over ragged sequences yields ragged batches, which the model cannot take either:
    the audit names the fix, `padded_batch`."""
    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant(ID_SEQS)).batch(8)
    with pytest.raises(MaskcheckError, match=r"^X: expected dense batches.*padded_batch.*got a dataset of ragged batches"):
        maskcheck.audit(ids_model(True), ds)
    with pytest.raises(MaskcheckError, match=r"^X: expected dense batches"):
        maskcheck.audit(ids_model(True), tf.ragged.constant(ID_SEQS))
    padded = tf.data.Dataset.from_tensor_slices(tf.ragged.constant(ID_SEQS)).map(lambda r: r).padded_batch(8)
    assert_clean(maskcheck.audit(ids_model(True), padded))


def test_generator_yielding_a_list_is_x_and_y() -> None:
    x = _pad_post(FLOAT_SEQS)
    y = np.zeros((len(x), 1), "float32")
    report = maskcheck.audit(floats_model(True), iter([[x[:20], y[:20]], [x[20:], y[20:]]]), progress=False)
    assert_clean(report)
    assert report.meta["samples_seen"] == 40


# ---- strings through preprocessing layers --------------------------------------------------------


def text_model(mask_zero: bool, layer: str = "TextVectorization") -> tuple[keras.Model, Any]:
    if layer == "TextVectorization":
        pre = L.TextVectorization(max_tokens=20)
        pre.adapt(TEXTS)
        inp = keras.Input((1,), dtype="string")
        X: Any = np.array(TEXTS)[:, None]
    elif layer == "StringLookup":
        pre = L.StringLookup(vocabulary=WORDS, mask_token="")
        inp = keras.Input((None,), dtype="string")
        X = np.array([(t.split() + [""] * 12)[:11] for t in TEXTS])
    elif layer == "IntegerLookup":
        pre = L.IntegerLookup(vocabulary=list(range(100, 119)), mask_token=0)
        inp = keras.Input((None,), dtype="int64")
        X = _pad_post([s.astype("int64") + 99 for s in ID_SEQS])
        X[X == 99] = 0
    else:
        pre = L.Hashing(num_bins=20, mask_value="")
        inp = keras.Input((None,), dtype="string")
        X = np.array([(t.split() + [""] * 12)[:11] for t in TEXTS])
    ids = pre(inp)
    h = L.Embedding(21, 4, mask_zero=mask_zero)(ids)
    return keras.Model(inp, L.Dense(1)(L.LSTM(4)(h))), X


@pytest.mark.parametrize("layer", ["TextVectorization", "StringLookup", "IntegerLookup", "Hashing"])
def test_raw_inputs_through_preprocessing_layers(layer: str) -> None:
    model, X = text_model(True, layer)
    report = maskcheck.audit(model, X, progress=False)
    assert_clean(report)
    assert any(layer in n for n in report.notes), report.notes
    broken, X = text_model(False, layer)
    assert "MC207" in maskcheck.audit(broken, X, progress=False).codes


def test_an_input_read_by_more_than_the_preprocessing_is_audited_whole() -> None:
    from maskcheck.data import front

    ids = keras.Input((None,), dtype="int64")
    h = L.Embedding(21, 4, mask_zero=True)(L.IntegerLookup(vocabulary=list(range(100, 119)))(ids))
    h2 = L.Embedding(200, 4, mask_zero=True)(ids)
    model = keras.Model(ids, L.Dense(1)(L.GRU(3)(L.Add()([h, h2]))))
    assert front(model) is None
    assert front(text_model(True)[0]) is not None


def test_strings_in_a_dataset_and_without_x() -> None:
    model, X = text_model(True)
    ds = tf.data.Dataset.from_tensor_slices((X, np.zeros((len(X), 1), "float32"))).batch(8)
    assert_clean(maskcheck.audit(model, ds, progress=False))
    synthesized = maskcheck.audit(model, progress=False)
    assert synthesized.meta["synthesized"]
    assert_clean(synthesized)


def test_text_with_a_second_input_and_a_compiled_loss() -> None:
    vectorize = L.TextVectorization(max_tokens=20, output_sequence_length=12)
    vectorize.adapt(TEXTS)
    ids = np.asarray(vectorize(np.array(TEXTS)))
    y = np.where(ids > 0, ids % 3 + 1, 0)
    for mask_zero in (True, False):
        text, meta = keras.Input((), dtype="string", name="text"), keras.Input((4,), name="meta")
        h = L.GRU(3)(L.Embedding(20, 4, mask_zero=mask_zero)(vectorize(text)))
        model = keras.Model([text, meta], L.Dense(1)(L.Concatenate()([h, meta])))
        X = {"meta": np.ones((len(TEXTS), 4), "float32"), "text": np.array(TEXTS)}
        report = maskcheck.audit(model, X, progress=False)
        assert errors(report) == ([] if mask_zero else ["MC207"]), report.to_text()

        inp = keras.Input((), dtype="string")
        h = L.GRU(3, return_sequences=True)(L.Embedding(20, 4, mask_zero=mask_zero)(vectorize(inp)))
        tagger = keras.Model(inp, L.Dense(4, activation="softmax")(h))
        tagger.compile(loss="sparse_categorical_crossentropy")
        report = maskcheck.audit(tagger, TEXTS, y, progress=False)
        assert errors(report) == ([] if mask_zero else ["MC207", "MC305"]), report.to_text()
    with pytest.raises(MaskcheckError, match="2 arrays for inputs"):
        maskcheck.audit(model, [np.array(TEXTS)], progress=False)
    sequential = keras.Sequential(
        [keras.Input((), dtype="string"), vectorize, L.Embedding(20, 4), L.GRU(3), L.Dense(1)]
    )
    assert "MC207" in maskcheck.audit(sequential, TEXTS, progress=False).codes


def test_tf_keras_text_model() -> None:
    tf_keras = pytest.importorskip("tf_keras")
    vectorize = tf_keras.layers.TextVectorization(max_tokens=20)
    vectorize.adapt(TEXTS)
    for mask_zero in (True, False):
        inp = tf_keras.Input((1,), dtype="string")
        h = tf_keras.layers.Embedding(20, 4, mask_zero=mask_zero)(vectorize(inp))
        model = tf_keras.Model(inp, tf_keras.layers.Dense(1)(tf_keras.layers.GRU(3)(h)))
        report = maskcheck.audit(model, np.array(TEXTS)[:, None], progress=False)
        assert errors(report) == ([] if mask_zero else ["MC207"]), report.to_text()


# ---- keras-hub tasks with their preprocessor -----------------------------------------------------


def test_keras_hub_task_runs_its_preprocessor() -> None:
    keras_hub = pytest.importorskip("keras_hub")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab)
    pre = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=14)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=14,
    )
    task = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=pre)
    y = RNG.integers(0, 2, size=len(TEXTS))
    report = maskcheck.audit(task, TEXTS, y, progress=False)
    assert_clean(report)
    assert any("BertTextClassifierPreprocessor" in n for n in report.notes), report.notes
    assert report.meta["samples_seen"] == len(TEXTS)
    ds = tf.data.Dataset.from_tensor_slices((TEXTS, y)).batch(8)
    assert_clean(maskcheck.audit(task, ds, progress=False))

    class MeanPooled(keras_hub.models.TextClassifier):
        """Averages the sequence output over every step, padding included."""

        def __init__(self, backbone: Any, preprocessor: Any = None, **kwargs: Any) -> None:
            self.backbone, self.preprocessor = backbone, preprocessor
            inputs = backbone.input
            pooled = L.GlobalAveragePooling1D()(backbone(inputs)["sequence_output"])
            keras_hub.models.Task.__init__(self, inputs=inputs, outputs=L.Dense(2)(pooled), **kwargs)

    broken = maskcheck.audit(MeanPooled(backbone, preprocessor=pre), TEXTS, y, progress=False)
    assert "MC104" in broken.codes, broken.to_text()


def test_keras_hub_causal_lm_takes_labels_and_weights_from_its_preprocessor() -> None:
    """GPT2CausalLMPreprocessor makes y (the next tokens) and sample_weight (the padding mask), as
    in fit; the task's default weighted accuracy is weighted by them, a plain metric is not."""
    keras_hub = pytest.importorskip("keras_hub")
    chars = sorted(set("".join(WORDS)) | {"Ġ"})
    vocab = {"<|endoftext|>": 0, **{c: i + 1 for i, c in enumerate(chars)}, "th": len(chars) + 1}
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=["t h"])
    pre = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=24)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocab),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=24,
    )
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=pre)
    texts = [t for t in TEXTS if len(t) < 20]
    report = maskcheck.audit(lm, texts, progress=False)
    assert report.codes == [], report.to_text()
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    lm.compile(loss=xent, metrics=[keras.metrics.SparseCategoricalCrossentropy(from_logits=True)])
    assert "MC307" in maskcheck.audit(lm, texts, progress=False).codes


# ---- progress ------------------------------------------------------------------------------------


def test_progress_for_the_data_pass_and_a_slow_model_part(monkeypatch: pytest.MonkeyPatch) -> None:
    import maskcheck.data as data

    class Instant(data.Progress):
        def __init__(self, total: int, enabled: bool, delay: float = 0.0) -> None:
            super().__init__(total, enabled, delay=0.0)

    monkeypatch.setattr("maskcheck.engine.Progress", Instant)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    maskcheck.audit(floats_model(True), padded_batch_floats(), progress=True)
    text = err.getvalue()
    assert "scanning X" in text and "auditing the model" in text
    err.truncate(0)
    maskcheck.audit(floats_model(True), padded_batch_floats(), progress=False)
    assert err.getvalue() == ""
