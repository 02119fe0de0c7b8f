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


def test_a_sentence_encoder_under_time_distributed_is_traced_inside() -> None:
    """A hierarchical model (TimeDistributed over a sentence encoder that makes its own mask):
    its loop over sentences runs under the hooks, so the encoder's layers and masks are listed."""
    words = keras.Input((8,), dtype="int32")
    emb = layers.Embedding(30, 4, mask_zero=True, name="word_emb")(words)
    encoder = keras.Model(words, layers.LSTM(4, name="word_rnn")(emb), name="encoder")
    doc = keras.Input((6, 8), dtype="int32")
    h = layers.TimeDistributed(encoder, name="sentences")(doc)
    model = keras.Model(doc, layers.Dense(2)(layers.GRU(4)(h)))
    x = np.random.default_rng(0).integers(1, 30, size=(16, 6, 8)).astype("int32")
    for i in range(16):
        x[i, :, 3 + i % 5 :] = 0
    report = maskcheck.audit(model, x)
    r = rows(report)
    assert r["sentences/encoder/word_emb"].output_mask and r["sentences/encoder/word_rnn"].received_mask
    assert report.ok, report


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
