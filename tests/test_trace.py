"""The per-layer mask view (what Keras 2's input_mask/output_mask printout gave), for every model kind."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import maskcheck
from maskcheck import bridge as kb
from maskcheck import testing as C
from maskcheck.bridge import keras
from maskcheck.report import Role

pytestmark = pytest.mark.backends

layers = keras.layers


def rows(report: maskcheck.Report) -> dict[str, maskcheck.LayerTrace]:
    return {t.path: t for t in report.layers}


def test_sequential_tagger_table() -> None:
    report = maskcheck.audit(C.masked_tagger(), C.padded_floats())
    r = rows(report)
    assert r["masking"].role is Role.CREATES and r["masking"].output_mask and not r["masking"].input_mask
    assert r["bidirectional"].role is Role.PROPAGATES
    # the inner layers of wrappers are traced, nested as outer/inner
    assert r["bidirectional/forward_lstm"].input_mask and r["bidirectional/backward_lstm"].output_mask
    # the loops of RNN and TimeDistributed layers run compiled: their per-step calls are not listed
    assert "time_distributed/dense" not in r and r["time_distributed"].output_mask
    x = C.padded_floats()
    expected = float((~x.any(-1)).mean())
    assert r["masking"].masked_share == pytest.approx(expected)
    assert report.ok and report.findings == []


def test_an_eager_loop_lists_its_per_step_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop that cannot be compiled runs eagerly under the hooks: each step's call is listed."""
    from maskcheck.bridge import patch

    monkeypatch.setattr(patch, "COMPILE_RNN_MIN_STEPS", 10**9)
    r = rows(maskcheck.audit(C.masked_tagger(), C.padded_floats()))
    assert r["time_distributed/dense"].calls == 10  # TimeDistributed calls its layer once per step
    assert "bidirectional/forward_lstm/lstm_cell" in r  # (JAX scans its steps: one traced call)


def _hierarchical(*inner: Any, masked_frames: bool = False) -> tuple[Any, np.ndarray]:
    """TimeDistributed over a sentence encoder (Embedding(mask_zero) -> `inner` -> LSTM) over 6
    sentences of 8 words, then a GRU over the sentences; the data: (16, 6, 8) ids, padded words
    and padded sentences. `masked_frames`: float word vectors under Masking instead, so the
    TimeDistributed itself receives a (batch, sentences, words) mask."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, size=(16, 6, 8)).astype("int32")
    for i in range(16):
        x[i, :, 3 + i % 5 :] = 0
        x[i, 2 + i % 4 :, :] = 0
    if masked_frames:
        words = keras.Input((8, 3))
        h = words
        for layer in inner:
            h = layer(h)
        encoder = keras.Model(words, layers.LSTM(4, name="word_rnn")(h), name="encoder")
        doc = keras.Input((6, 8, 3))
        s = layers.TimeDistributed(encoder, name="sentences")(layers.Masking(0.0)(doc))
        # The words' mask rides on the sentence vectors too: the GRU over sentences takes its own.
        sentences = keras.ops.any(keras.ops.not_equal(doc, 0.0), axis=(2, 3))
        vectors = rng.normal(size=(16, 6, 8, 3)).astype("float32") * (x[..., None] != 0)
        return keras.Model(doc, layers.Dense(2)(layers.GRU(4)(s, mask=sentences))), vectors
    words = keras.Input((8,), dtype="int32")
    h = layers.Embedding(30, 4, mask_zero=True, name="word_emb")(words)
    for layer in inner:
        h = layer(h)
    encoder = keras.Model(words, layers.LSTM(4, name="word_rnn")(h), name="encoder")
    doc = keras.Input((6, 8), dtype="int32")
    s = layers.TimeDistributed(encoder, name="sentences")(doc)
    return keras.Model(doc, layers.Dense(2)(layers.GRU(4)(s))), x


def _step_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run TimeDistributed's own loop over its steps under the hooks, as before folding."""
    from maskcheck import trace

    monkeypatch.setattr(trace, "folded_call", lambda *a: None)


def _events(tr: Any, name: str) -> list[Any]:
    return [e for e in tr.events if e.name == name]


def test_a_sentence_encoder_under_time_distributed_is_traced_inside() -> None:
    """A hierarchical model (TimeDistributed over a sentence encoder that makes its own mask): the
    encoder runs once on sentences folded into the batch, under the hooks, so its layers and
    masks are listed, one row each, with what the first sentence of every document gave."""
    model, x = _hierarchical()
    report = maskcheck.audit(model, x)
    r = rows(report)
    emb, rnn = r["sentences/encoder/word_emb"], r["sentences/encoder/word_rnn"]
    assert emb.output_mask and rnn.received_mask and emb.calls == rnn.calls == 6
    assert emb.masked_share == pytest.approx(float((x[:, 0] == 0).mean()), abs=1e-4)
    assert [t.path for t in report.layers].count("sentences/encoder/word_emb") == 1
    assert report.ok, report


class _Doubled(layers.Layer):
    """A layer of the user's that works row by row (and passes the mask on)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.supports_masking = True

    def call(self, x: Any) -> Any:
        return x * 2.0


class _BatchCentred(_Doubled):
    """Subtracts the batch mean: a row's output depends on the other rows, as no Keras layer's
    does at inference."""

    def call(self, x: Any) -> Any:
        return x - keras.ops.mean(x, axis=0, keepdims=True)


def _time_distributed(model: Any) -> Any:
    return model.get_layer("sentences")


def _checked_on_eager_backends(model: Any, verdict: bool) -> None:
    """The folded call of a layer holding user code is checked against Keras' own first step,
    except inside a pass JAX compiles, where the step loop runs unchecked."""
    from maskcheck.bridge.patch import fold_checked
    from maskcheck.trace import runs_compiled

    assert fold_checked(_time_distributed(model)) is (None if runs_compiled(model) else verdict)


@pytest.mark.parametrize(
    ("masked_frames", "user_code"),
    [(False, False), (True, False), (False, True)],
    ids=["ids", "masked-frames", "user-layer"],
)
def test_folding_the_sentences_records_what_the_step_loop_records(
    monkeypatch: pytest.MonkeyPatch, masked_frames: bool, user_code: bool
) -> None:
    """Folded or step by step, the same outputs, the same first-step masks in and out of every
    inner layer, the same call counts; with a mask on the TimeDistributed's own input too, and
    with a layer of the user's inside (checked against Keras' own first step, and kept)."""
    from maskcheck.trace import run_traced

    model, x = _hierarchical(*([_Doubled(name="doubled")] if user_code else []), masked_frames=masked_frames)
    folded = run_traced(model, x)
    if user_code:
        _checked_on_eager_backends(model, True)
    _step_loop(monkeypatch)
    stepped = run_traced(model, x)
    np.testing.assert_allclose(kb.to_numpy(folded.outputs[0]), kb.to_numpy(stepped.outputs[0]), atol=1e-5)
    assert len(_events(stepped, "word_rnn")) == len(_events(folded, "word_rnn")) == 1  # one row each
    names = ("encoder", "word_rnn", *(() if masked_frames else ("word_emb",)), *(("doubled",) if user_code else ()))
    for name in names:
        one, first = _events(folded, name)[0], _events(stepped, name)[0]
        assert one.calls == first.calls == 6
        for attr in ("received_masks", "input_masks", "output_masks"):
            got, want = getattr(one, attr), getattr(first, attr)
            assert [m is None for m in got] == [m is None for m in want], (name, attr)
            for a, b in zip(got, want, strict=True):
                if a is not None:
                    np.testing.assert_array_equal(kb.to_numpy(a), kb.to_numpy(b))
    if masked_frames:  # the encoder received the first sentence's word mask
        received = kb.to_numpy(_events(folded, "encoder")[0].received_masks[0])
        np.testing.assert_array_equal(received, (x[:, 0] != 0).any(-1))


@pytest.mark.parametrize("user_code", [False, True], ids=["keras-layers", "user-layer"])
def test_a_leaking_sentence_encoder_is_found_folded_as_step_by_step(
    monkeypatch: pytest.MonkeyPatch, user_code: bool
) -> None:
    """A Conv1D inside the encoder reads the padded words: the same findings either way, at the
    encoder's layer (the padding probe folds what the trace checked)."""
    extra = [_Doubled(name="doubled")] if user_code else []
    model, x = _hierarchical(*extra, layers.Conv1D(4, 3, padding="same", name="word_conv"))
    folded = maskcheck.audit(model, x)
    if user_code:
        _checked_on_eager_backends(model, True)
    _step_loop(monkeypatch)
    stepped = maskcheck.audit(model, x)
    assert not folded.ok and folded.codes == stepped.codes == ["MC101", "MC108", "MC104"]
    assert [f.layer for f in folded.findings] == [f.layer for f in stepped.findings]
    assert folded.by_code("MC101")[0].layer == "sentences/encoder/word_conv"


def test_user_code_that_mixes_rows_runs_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A layer of the user's that mixes rows (the batch mean): folding the sentences into the
    batch changes what it computes, the check against Keras' first step sees it, and the step
    loop runs (once: the folded call's record is undone)."""
    from maskcheck import trace
    from maskcheck.trace import run_traced

    checks: list[bool] = []
    real_check = trace._same_first_step
    monkeypatch.setattr(trace, "_same_first_step", lambda *a: checks.append(real_check(*a)) or checks[-1])
    model, x = _hierarchical(_BatchCentred(name="centred"))
    tr = run_traced(model, x)
    _checked_on_eager_backends(model, False)
    assert checks == ([] if trace.runs_compiled(model) else [False])
    assert [e.calls for e in _events(tr, "encoder")] == [e.calls for e in _events(tr, "centred")] == [6]
    want = kb.to_numpy(model(x, training=False))
    np.testing.assert_allclose(kb.to_numpy(tr.outputs[0]), want, atol=1e-5)
    again = run_traced(model, x)  # found to mix rows: not folded again
    assert [e.calls for e in _events(again, "centred")] == [6] and len(checks) <= 1


def test_functional_consumes_mask() -> None:
    inp = keras.Input((10,), dtype="int32")
    x = layers.Embedding(20, 4, mask_zero=True, name="emb")(inp)
    x = layers.LSTM(3, name="rnn")(x)
    out = layers.Dense(2, name="head")(x)
    report = maskcheck.audit(keras.Model(inp, out), C.padded_ids())
    r = rows(report)
    assert r["emb"].role is Role.CREATES
    assert r["rnn"].role is Role.CONSUMES and r["rnn"].received_mask
    assert r["head"].role is Role.NONE and not r["head"].input_mask
    assert report.ok


def test_nested_model_paths_and_runtime_mask() -> None:
    inner = keras.Sequential(
        [layers.LSTM(4, return_sequences=True, name="inner_rnn"), layers.Dense(2, name="inner_head")],
        name="inner",
    )
    inp = C.seq_input()
    out = inner(layers.Masking(0.0, name="mask")(inp))
    report = maskcheck.audit(keras.Model(inp, out), C.padded_floats())
    r = rows(report)
    assert "inner/inner_rnn" in r and "inner/inner_head" in r
    assert r["inner"].output_mask, "the runtime mask survives the nested model"
    assert r["inner"].symbolic_output_mask is False, "while the graph says it does not"
    assert report.ok


def test_subclassed_model_sublayers() -> None:
    class Tagger(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.emb = layers.Embedding(20, 4, mask_zero=True, name="emb")
            self.rnn = layers.LSTM(3, return_sequences=True, name="rnn")
            self.head = layers.Dense(2, name="head")

        def call(self, x: Any) -> Any:
            return self.head(self.rnn(self.emb(x)))

    model = Tagger()
    model(C.padded_ids()[:2])
    report = maskcheck.audit(model, C.padded_ids())
    r = rows(report)
    assert [t.path for t in report.layers if "/" not in t.path] == ["emb", "rnn", "head"]
    assert "rnn/lstm_cell" not in r  # the RNN's loop runs compiled: its cell's steps are not listed
    assert all(r[p].output_mask for p in ("emb", "rnn", "head"))
    assert report.ok


def test_multi_input_multi_output() -> None:
    a = keras.Input((10,), dtype="int32", name="tokens")
    b = keras.Input((10, 3), name="feats")
    ea = layers.Embedding(20, 3, mask_zero=True)(a)
    mb = layers.Masking(0.0)(b)
    x = layers.Concatenate()([ea, mb])
    seq = layers.TimeDistributed(layers.Dense(2), name="per_step")(layers.LSTM(4, return_sequences=True)(x))
    pooled = layers.Dense(1, name="pooled")(layers.GlobalAveragePooling1D()(x))
    model = keras.Model([a, b], [seq, pooled])
    ids = C.padded_ids()
    feats = C.padded_floats()
    feats[ids == 0] = 0.0
    feats[ids != 0] = np.where(feats[ids != 0] == 0, 1.0, feats[ids != 0])
    report = maskcheck.audit(model, {"tokens": ids, "feats": feats})
    assert report.ok, report
    report2 = maskcheck.audit(model, [ids, feats])
    assert [t.path for t in report2.layers] == [t.path for t in report.layers]


def _patch_state(model: Any) -> tuple[Any, Any, list[bool]]:
    return (
        kb.LayerBase.__dict__["__call__"],
        kb.OperationBase.__dict__["__call__"],
        ["call" in layer.__dict__ for layer in model._flatten_layers(include_self=True, recursive=True)],
    )


def test_patches_are_undone() -> None:
    model = C.masked_tagger()
    before = _patch_state(model)
    maskcheck.audit(model, C.padded_floats())
    assert _patch_state(model) == before
    assert not any(before[2])


class Boom(layers.Layer):
    def call(self, x: Any) -> Any:
        raise RuntimeError("boom")

    def compute_output_shape(self, s: Any) -> Any:
        return s


def test_patches_are_undone_when_a_layer_raises() -> None:
    inp = C.seq_input()
    m = layers.Masking(0.0)(inp)
    model = keras.Model(inp, Boom()(m))
    before = _patch_state(model)
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(maskcheck.MaskcheckError, match="boom"):
        maskcheck.audit(model, C.padded_floats())
    assert _patch_state(model) == before
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))


class _FixedBatch(_Doubled):
    """The user's code with the batch size written in: it runs on 16 rows only."""

    def call(self, x: Any) -> Any:
        if x.shape[0] != 16:
            raise ValueError(f"expected a batch of 16, got {x.shape[0]}")
        return x

    def compute_output_shape(self, shape: Any) -> Any:
        return shape  # the model is built without calling it on a symbolic batch


def test_an_encoder_that_fails_folded_runs_step_by_step() -> None:
    """Folded into 16 * 6 rows, the user's code raises: the record is undone and the step loop
    runs, as Keras runs it (and the audit reports nothing)."""
    from maskcheck.trace import run_traced

    model, x = _hierarchical(_FixedBatch(name="fixed"))
    tr = run_traced(model, x)
    assert tr.error is None and not tr.failed
    _checked_on_eager_backends(model, False)
    assert [e.calls for e in _events(tr, "fixed")] == [e.calls for e in _events(tr, "encoder")] == [6]
    np.testing.assert_allclose(kb.to_numpy(tr.outputs[0]), kb.to_numpy(model(x, training=False)), atol=1e-5)
    assert maskcheck.audit(model, x).ok


def test_a_shared_encoder_called_twice_in_a_nested_model_keeps_both_calls() -> None:
    """Only the per-step calls of loops (RNN, TimeDistributed) are one row: a siamese model nested
    in another calls its shared encoder twice, and both calls, with the layers inside each,
    are listed."""
    from maskcheck.trace import run_traced

    enc = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="shared_dense")], name="enc")
    a, b = keras.Input((4,)), keras.Input((4,))
    siamese = keras.Model([a, b], layers.Concatenate()([enc(a), enc(b)]), name="siamese")
    x1, x2 = keras.Input((4,)), keras.Input((4,))
    outer = keras.Model([x1, x2], layers.Dense(1)(siamese([x1, x2])))
    tr = run_traced(outer, [np.ones((2, 4), "float32"), np.zeros((2, 4), "float32")])
    assert [e.calls for e in _events(tr, "enc")] == [1, 1]
    assert len(_events(tr, "shared_dense")) == 2
