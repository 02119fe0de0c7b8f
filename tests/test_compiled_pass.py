"""On JAX the instrumented pass (and each padding probe) is compiled once per model and shape, as
`predict` compiles its own: it must record exactly what the eager pass records, use the current
weights, fall back to the eager pass where the model cannot be compiled, and never change the
model."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

import maskcheck
from maskcheck import bridge as kb
from maskcheck.bridge import jit, keras
from maskcheck.synth import padded_ids
from maskcheck.trace import Trace, _run, run_traced, runs_compiled

pytestmark = pytest.mark.backends
jax_only = pytest.mark.skipif(kb.backend_name() != "jax", reason="passes are compiled on JAX only")

layers = keras.layers
T, VOCAB = 10, 30


def _attention_tagger() -> Any:
    """Embedding(mask_zero) -> self-attention -> per-step head: the mask reaches the output (correct)."""
    inp = keras.Input((None,), dtype="int32")
    e = layers.Embedding(VOCAB, 8, mask_zero=True, name="embed")(inp)
    h = layers.LayerNormalization(name="norm")(layers.MultiHeadAttention(2, 4, name="attend")(e, e))
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="head")(h))


def _conv_pooled() -> Any:
    """Embedding(mask_zero) -> Conv1D -> pooling: the convolution drops the mask and mixes padded
    steps into real ones (MC101, MC108)."""
    inp = keras.Input((T,), dtype="int32")
    e = layers.Embedding(VOCAB, 8, mask_zero=True, name="embed")(inp)
    h = layers.Conv1D(4, 3, padding="same", name="conv")(e)
    return keras.Model(inp, layers.Dense(1, name="head")(layers.GlobalAveragePooling1D(name="pool")(h)))


class _HostRoundTrip(layers.Layer):
    """Computes through NumPy: fine eagerly, impossible inside a compiled function."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x: Any) -> Any:
        return keras.ops.convert_to_tensor(np.asarray(x) * 2.0)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def _host_model() -> Any:
    inp = keras.Input((T,), dtype="int32")
    h = _HostRoundTrip()(layers.Embedding(VOCAB, 8, mask_zero=True)(inp))
    h = layers.Conv1D(4, 3, padding="same")(h)
    return keras.Model(inp, layers.Dense(1)(layers.GlobalAveragePooling1D()(h)))


def _x(n: int = 12) -> np.ndarray:
    return padded_ids(n=n, t=T, vocab=VOCAB)


def _summary(trace: Trace) -> list[tuple[Any, ...]]:
    def arrays(ts: list[Any]) -> list[Any]:
        return [None if t is None else np.asarray(kb.to_numpy(t)) for t in ts]

    rows = []
    for ev in trace.events:
        producers = [trace.producer[id(t)].path if id(t) in trace.producer else None for t in ev.inputs]
        rows.append(
            (
                ev.path,
                ev.nth,
                ev.calls,
                producers,
                arrays(ev.input_masks),
                arrays(ev.received_masks),
                arrays(ev.outputs),
                arrays(ev.output_masks),
                [None if kb.get_mask(t) is None else np.asarray(kb.to_numpy(kb.get_mask(t))) for t in ev.outputs],
            )
        )
    return rows


def _assert_same_record(a: Trace, b: Trace) -> None:
    sa, sb = _summary(a), _summary(b)
    assert [r[:4] for r in sa] == [r[:4] for r in sb]
    for ra, rb in zip(sa, sb, strict=True):
        for xs, ys in zip(ra[4:], rb[4:], strict=True):
            assert len(xs) == len(ys), ra[0]
            for u, v in zip(xs, ys, strict=True):
                assert (u is None) == (v is None), ra[0]
                if u is not None:
                    np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5, err_msg=ra[0])
    assert a.output_names == b.output_names
    assert [kb.get_mask(t) is None for t in a.outputs] == [kb.get_mask(t) is None for t in b.outputs]


@jax_only
def test_compiled_pass_records_what_the_eager_pass_records() -> None:
    model, x = _attention_tagger(), _x()
    before = jit.traces(model)
    compiled = run_traced(model, x)
    assert jit.traces(model) == before + 1, "the pass ran compiled"
    _assert_same_record(compiled, _run(model, x, None, None))
    mask = kb.get_mask(compiled.outputs[0])
    assert mask is not None and np.array_equal(kb.to_numpy(mask), x != 0)


@jax_only
def test_each_model_and_shape_compiles_once() -> None:
    model, x = _conv_pooled(), _x(n=80)
    maskcheck.audit(model, x, seed=0)
    assert jit.traces(model) == 2  # the trace, and MC108's noise probe on 64 of the 80 sequences
    maskcheck.audit(model, x, seed=0)
    assert jit.traces(model) == 2
    maskcheck.audit(model, x[:40], seed=0)
    assert jit.traces(model) == 3  # 40 sequences: the noise probe rides in the trace's own call


@jax_only
def test_the_explicit_mask_probe_compiles_once_for_its_64_rows() -> None:
    """A `padding_mask` model over 80 sequences: the ids changed at padded steps run on 64 of them,
    a program of its own compiled on the first audit (all 80 would reuse the trace's, at the
    cost of a second whole pass on every audit), and reused by the next."""
    from maskcheck.testing.padding import ids_and_padding_mask

    case = ids_and_padding_mask(n=80)
    first = maskcheck.audit(case.model, case.X, seed=0)
    assert not first.at_least("error"), first
    assert jit.traces(case.model) == 2  # the trace, and the explicit-mask probe on 64 sequences
    again = maskcheck.audit(case.model, case.X, seed=0)
    assert jit.traces(case.model) == 2 and again.codes == first.codes
    broken = ids_and_padding_mask(n=80, pool="max")
    assert "MC108" in maskcheck.audit(broken.model, broken.X, seed=0).codes


class _ShapeCell(layers.GRUCell):
    """Records the batch size each (compile-time) call of the cell sees."""

    batches: ClassVar[list[int]] = []

    def call(self, inputs: Any, states: Any, training: bool = False) -> Any:
        type(self).batches.append(int(inputs.shape[0]))
        return super().call(inputs, states, training=training)


@jax_only
def test_a_compiled_probe_on_fewer_rows_runs_at_its_own_size() -> None:
    """An RNN loop compiled inside a whole pass runs at that pass's batch: padded up to the largest
    batch seen before (what spares an eager pass a new compile), a 64-row probe of a 256-row
    trace cost the whole trace's time."""
    from maskcheck.synth import padded_floats

    inp = keras.Input((48, 3))
    h = layers.RNN(_ShapeCell(4), return_sequences=True)(layers.Masking(0.0)(inp))
    model = keras.Model(inp, layers.Dense(2)(h))
    x = padded_floats(n=256, t=48)
    run_traced(model, x)
    _ShapeCell.batches = []
    part = run_traced(model, x[:64])
    assert _ShapeCell.batches and set(_ShapeCell.batches) == {64}, _ShapeCell.batches
    np.testing.assert_allclose(
        kb.to_numpy(part.outputs[0]), kb.to_numpy(model(x[:64], training=False)), rtol=1e-4, atol=1e-5
    )


@jax_only
def test_compiled_pass_uses_the_current_weights() -> None:
    model, x = _attention_tagger(), _x()
    first = kb.to_numpy(run_traced(model, x).outputs[0])
    np.testing.assert_allclose(first, kb.to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6)
    dense = model.layers[-1]
    dense.set_weights([w * 0.5 + 0.1 for w in dense.get_weights()])
    second = kb.to_numpy(run_traced(model, x).outputs[0])
    np.testing.assert_allclose(second, kb.to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6)
    assert not np.allclose(first, second)


def _lstm_tagger() -> Any:
    """Embedding(mask_zero) -> LSTM -> per-step softmax: masked all the way (correct), though the
    LSTM's loop is compiled inside the pass."""
    inp = keras.Input((T,), dtype="int32")
    e = layers.Embedding(VOCAB, 8, mask_zero=True, name="embed")(inp)
    h = layers.LSTM(6, return_sequences=True, name="lstm")(e)
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="head")(h))


def _conv_tagger() -> Any:
    """Embedding(mask_zero) -> Conv1D -> per-step softmax: the output has no mask, so the compiled
    loss counts the padded steps (MC305)."""
    inp = keras.Input((T,), dtype="int32")
    e = layers.Embedding(VOCAB, 8, mask_zero=True, name="embed")(inp)
    h = layers.Conv1D(6, 3, padding="same", name="conv")(e)
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="head")(h))


def _twin(build: Any) -> tuple[Any, Any]:
    """The same model twice, the second compiled with `run_eagerly=True` (the eager pass)."""
    a, b = build(), build()
    b.set_weights(a.get_weights())
    loss = "mse" if build is _conv_pooled else "sparse_categorical_crossentropy"
    a.compile(loss=loss)
    b.compile(loss=loss, run_eagerly=True)
    return a, b


def _codes(report: Any) -> list[tuple[str, str | None, Any, Any]]:
    def rounded(v: Any) -> Any:
        return None if v is None else round(float(v), 4)

    return sorted(
        (f.code, f.layer, f.details.get("samples"), rounded(f.details.get("loss_after"))) for f in report.findings
    )


@pytest.mark.parametrize(
    ("build", "fires"),
    [
        (_attention_tagger, set()),
        (_conv_pooled, {"MC101", "MC108"}),
        (_lstm_tagger, set()),
        (_conv_tagger, {"MC101", "MC305"}),
    ],
    ids=["attention-correct", "conv-leaky", "lstm-correct", "conv-loss-counts-padding"],
)
def test_findings_do_not_depend_on_how_the_pass_runs(build: Any, fires: set[str]) -> None:
    compiled, eager = _twin(build)
    x = _x(n=80)
    y = None if build is _conv_pooled else (x % 3).astype("int32")
    a, b = maskcheck.audit(compiled, x, y, seed=0), maskcheck.audit(eager, x, y, seed=0)
    assert _codes(a) == _codes(b)
    assert not runs_compiled(eager)
    assert runs_compiled(compiled) == (kb.backend_name() == "jax")
    assert fires <= {f.code for f in a.findings}, a
    if not fires:
        assert not a.at_least("error"), a


@jax_only
def test_a_model_that_cannot_be_compiled_runs_eagerly() -> None:
    model, x = _host_model(), _x(n=80)
    report = maskcheck.audit(model, x, seed=0)
    assert jit.failed(model)
    assert {"MC101", "MC108"} <= {f.code for f in report.findings}, report
    assert any("ran eagerly" in n and "TracerArrayConversionError" in n for n in report.notes), report.notes
    again = maskcheck.audit(model, x, seed=0)
    assert _codes(again) == _codes(report)


def test_other_backends_and_eager_models_are_not_compiled() -> None:
    model = _conv_pooled()
    model.compile(loss="mse", jit_compile=False)
    maskcheck.audit(model, _x(), seed=0)
    assert jit.traces(model) == 0
    plain = _conv_pooled()
    report = maskcheck.audit(plain, _x(), seed=0)
    assert (jit.traces(plain) > 0) == (kb.backend_name() == "jax")
    assert not any("ran eagerly" in n for n in report.notes), report.notes


def test_the_model_keeps_its_jit_settings() -> None:
    """`model.jit_compile` resolves and stores a default on first read: the audit reads around it."""
    model = _conv_pooled()
    model.compile(loss="mse")
    saved = dict(model.__dict__)
    maskcheck.audit(model, _x(), seed=0)
    assert model.__dict__.get("_jit_compile") == saved.get("_jit_compile")
    assert model.__dict__.get("_run_eagerly") == saved.get("_run_eagerly")
    assert set(model.__dict__) == set(saved)


def test_compiled_passes_do_not_keep_the_model_alive() -> None:
    import gc
    import weakref

    model = _conv_pooled()
    maskcheck.audit(model, _x(n=80), seed=0)
    assert (jit.traces(model) > 0) == (kb.backend_name() == "jax")
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


class _PositionTable(layers.Layer):
    """Adds a learned position vector from a table of exactly T rows (keras-hub's
    PositionEmbedding slices it the same way): a longer input cannot be compiled."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape: Any) -> None:
        self.table = self.add_weight(shape=(T, int(input_shape[-1])), name="table")

    def call(self, x: Any) -> Any:
        table = keras.ops.convert_to_tensor(self.table)
        return x + keras.ops.slice(table, (0, 0), (keras.ops.shape(x)[1], keras.ops.shape(table)[1]))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def test_only_a_main_pass_that_runs_eagerly_is_noted() -> None:
    """MC108's lengthened probe cannot be compiled for a position table of T rows (nor run: eager
    JAX reads NaN past the table): that probe is skipped, and the traced pass itself, compiled,
    gets no note."""
    inp = keras.Input((None,), dtype="int32")
    h = _PositionTable(name="positions")(layers.Embedding(VOCAB, 8, mask_zero=True, name="embed")(inp))
    model = keras.Model(inp, layers.Dense(1, name="head")(layers.GlobalAveragePooling1D(name="pool")(h)))
    report = maskcheck.audit(model, _x(n=40), seed=0)
    assert not report.at_least("error"), report
    assert not any("ran eagerly" in n for n in report.notes), report.notes
