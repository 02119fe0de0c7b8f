"""What keeps an audit cheap must not change what it finds: the padding probes run on a spread
subset of the padded sequences, RNN loops run compiled with the current weights, and an expensive
model is traced on fewer sequences within `time_budget`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import maskcheck
from maskcheck import bridge as kb
from maskcheck.bridge import keras, patch
from maskcheck.errors import MaskcheckError
from maskcheck.facts.probe import PROBE_ROWS, probe_rows
from maskcheck.trace import run_traced

pytestmark = pytest.mark.backends

layers = keras.layers
T, F = 12, 3


def _late_padding(n: int = 200, first_padded: int = 120) -> np.ndarray:
    """Sequences 0..first_padded-1 fill all T steps; the later ones are post-padded to 6..11 steps."""
    rng = np.random.default_rng(0)
    x = (rng.random((n, T, F)) + 0.5).astype("float32")
    for i in range(first_padded, n):
        x[i, 6 + i % 6 :] = 0.0
    return x


def _conv_tagger(batch: int | None = None) -> Any:
    """Masking -> Conv1D(kernel 3): the convolution drops the mask and mixes padded steps into the
    last real step (MC101, and MC108 on the samples that have padding)."""
    inp = keras.Input(batch_shape=(batch, T, F))
    h = layers.Conv1D(4, 3, padding="same")(layers.Masking(0.0)(inp))
    return keras.Model(inp, layers.Dense(2)(h))


def test_probe_rows_are_padded_and_spread_over_the_padding() -> None:
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 41, size=300)
    lengths[:50] = 40  # 50 sequences without padding
    padded = np.arange(40)[None, :] >= lengths[:, None]
    rows = probe_rows(_conv_tagger(), padded)
    assert rows is not None and 0 < rows.size <= PROBE_ROWS
    assert np.array_equal(rows, np.unique(rows))  # sorted, no repeats
    amount = padded.sum(axis=1)
    assert (amount[rows] > 0).all()
    assert amount[rows].max() == amount.max() and amount[rows].min() == amount[amount > 0].min()


def test_small_samples_and_fixed_batch_models_probe_every_row() -> None:
    padded = np.zeros((PROBE_ROWS, 5), dtype=bool)
    padded[:, -1] = True
    assert probe_rows(_conv_tagger(), padded) is None  # no more than PROBE_ROWS sequences
    many = np.zeros((PROBE_ROWS * 2, 5), dtype=bool)
    many[:, -1] = True
    assert probe_rows(_conv_tagger(), many) is not None
    assert probe_rows(_conv_tagger(batch=PROBE_ROWS * 2), many) is None  # a fixed batch size
    eager = _conv_tagger()
    eager.compile(run_eagerly=True)  # on JAX a new shape would compile every operation again
    assert (probe_rows(eager, many) is None) == (kb.backend_name() == "jax")


def test_probe_subset_reports_samples_by_their_index_in_x() -> None:
    x = _late_padding()
    report = maskcheck.audit(_conv_tagger(), x, seed=0)
    leak = [f for f in report.findings if f.code == "MC108"]
    assert leak, report
    samples = leak[0].details["samples"]
    assert samples and all(s >= 120 for s in samples), samples  # only those sequences have padding


def test_fixed_batch_model_is_probed_on_its_whole_batch() -> None:
    n = PROBE_ROWS * 2
    report = maskcheck.audit(_conv_tagger(batch=n), _late_padding(n=n, first_padded=n // 2), seed=0)
    assert {"MC101", "MC108"} <= {f.code for f in report.findings}, report


def _lstm_model(t: int) -> Any:
    inp = keras.Input((t, F))
    h = layers.LSTM(4, return_sequences=True, name="lstm")(layers.Masking(0.0)(inp))
    return keras.Model(inp, layers.Dense(2)(h))


def test_compiled_rnn_loop_uses_the_current_weights() -> None:
    """The compiled loop is cached per layer: weights changed since (by `fit`) must be used."""
    from maskcheck.synth import padded_floats

    t = patch.COMPILE_RNN_MIN_STEPS + 12
    model = _lstm_model(t)
    x = padded_floats(n=6, t=t)
    first = kb.to_numpy(run_traced(model, x).outputs[0])
    np.testing.assert_allclose(first, kb.to_numpy(model(x, training=False)), rtol=1e-4, atol=1e-5)
    lstm = model.get_layer("lstm")
    if kb.backend_name() in ("tensorflow", "jax", "torch"):
        assert lstm in patch._compiled, "the LSTM's loop ran compiled (unhooked on PyTorch)"
    lstm.set_weights([w * 0.5 + 0.1 for w in lstm.get_weights()])
    second = kb.to_numpy(run_traced(model, x).outputs[0])
    np.testing.assert_allclose(second, kb.to_numpy(model(x, training=False)), rtol=1e-4, atol=1e-5)
    assert not np.allclose(first, second)


def test_probe_of_a_subset_reuses_the_compiled_loop() -> None:
    """A probe on fewer rows than the trace gives the same outputs for those rows."""
    from maskcheck.synth import padded_floats

    t = patch.COMPILE_RNN_MIN_STEPS + 12
    model = _lstm_model(t)
    x = padded_floats(n=PROBE_ROWS + 16, t=t)
    full = kb.to_numpy(run_traced(model, x).outputs[0])
    rows = np.arange(0, x.shape[0], 3)
    part = kb.to_numpy(run_traced(model, x[rows]).outputs[0])
    np.testing.assert_allclose(part, full[rows], rtol=1e-4, atol=1e-5)


# -- time_budget ---------------------------------------------------------------------------------


def test_expensive_model_is_traced_on_fewer_sequences_within_the_budget() -> None:
    x = _late_padding(n=200, first_padded=0)
    report = maskcheck.audit(_conv_tagger(), x, seed=0, time_budget=1e-6)
    assert report.meta["samples_traced"] < 200
    assert report.meta["samples_seen"] == 200
    assert any("time_budget" in note for note in report.notes), report.notes
    assert {"MC101", "MC108"} <= {f.code for f in report.findings}, report  # still found
    assert "sequences traced" in report.to_text()


def test_pilot_runs_only_when_the_estimate_comes_near_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from maskcheck import budget

    pilots: list[int] = []
    real = budget.run_traced

    def counting(*a: Any, **k: Any) -> Any:
        pilots.append(1)
        return real(*a, **k)

    monkeypatch.setattr(budget, "run_traced", counting)
    model, x = _conv_tagger(), _late_padding(n=200, first_padded=0)
    assert maskcheck.audit(model, x, time_budget=1000).meta["samples_traced"] == 200
    assert pilots == []  # the estimate is far below the budget: nothing measured
    monkeypatch.setattr(budget, "estimated_seconds", lambda *a: 1e6)
    assert maskcheck.audit(model, x, time_budget=1000).meta["samples_traced"] == 200
    assert len(pilots) == 1  # measured once, and it fits
    pilots.clear()
    assert maskcheck.audit(model, x, time_budget=1e-6).meta["samples_traced"] == budget.PILOT
    assert len(pilots) == 2  # measured again warm before cutting


def test_no_budget_traces_max_samples() -> None:
    x = _late_padding(n=200, first_padded=0)
    report = maskcheck.audit(_conv_tagger(), x, seed=0, time_budget=None)
    assert report.meta["samples_traced"] == 200
    assert not any("time_budget" in note for note in report.notes)


def test_cheap_model_is_traced_whole_under_the_default_budget() -> None:
    report = maskcheck.audit(_conv_tagger(), _late_padding(n=200), seed=0)
    assert report.meta["samples_traced"] == 200


@pytest.mark.parametrize("bad", [0, -1.5, "fast", True, float("nan")])
def test_bad_time_budget(bad: Any) -> None:
    with pytest.raises(MaskcheckError, match="time_budget"):
        maskcheck.audit(_conv_tagger(), _late_padding(n=8, first_padded=0), time_budget=bad)


def test_attention_internals_are_not_kept_but_its_masks_are() -> None:
    """MultiHeadAttention's internals hold the attention scores, the largest tensors of a
    Transformer: the trace records the layer's boundary (masks in and out) and nothing inside."""
    inp = keras.Input((T,), dtype="int32")
    e = layers.Embedding(50, 8, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(2, 4, name="mha")(e, e)
    model = keras.Model(inp, layers.Dense(2)(layers.GlobalAveragePooling1D()(layers.Add()([e, a]))))
    ids = np.random.default_rng(0).integers(1, 50, size=(16, T))
    ids[8:, 7:] = 0
    trace = run_traced(model, ids)
    mha = next(ev for ev in trace.events if ev.name == "mha")
    assert not mha.children and not any(ev.parent is mha for ev in trace.events)
    assert mha.has_received_mask and mha.has_output_mask
    report = maskcheck.audit(model, ids, seed=0)
    assert not report.at_least("error"), report
    assert [row for row in report.layers if row.path.startswith("mha/")] == []


def test_compiled_decoder_with_initial_state() -> None:
    """A seq2seq decoder called with `initial_state=[h, c]` (keras-io's pattern) runs compiled
    too, and a probe on fewer rows (padded up to the compiled batch, states included) agrees."""
    from maskcheck.synth import padded_floats

    t = patch.COMPILE_RNN_MIN_STEPS + 12
    enc_in, dec_in = keras.Input((t, F)), keras.Input((t, F))
    _, h, c = layers.LSTM(6, return_state=True, name="encoder")(layers.Masking(0.0)(enc_in))
    dec = layers.LSTM(6, return_sequences=True, name="decoder")(layers.Masking(0.0)(dec_in), initial_state=[h, c])
    model = keras.Model([enc_in, dec_in], layers.Dense(3)(dec))
    n = PROBE_ROWS + 36
    xs = [padded_floats(n=n, t=t), padded_floats(n=n, t=t, seed=1)]
    full = kb.to_numpy(run_traced(model, xs).outputs[0])
    np.testing.assert_allclose(full, kb.to_numpy(model(xs, training=False)), rtol=1e-4, atol=1e-5)
    rows = np.arange(0, n, 4)
    part = kb.to_numpy(run_traced(model, [x[rows] for x in xs]).outputs[0])
    np.testing.assert_allclose(part, full[rows], rtol=1e-4, atol=1e-5)
    decoder = model.get_layer("decoder")
    assert decoder in patch._compiled and decoder not in patch._not_compilable


class _CountingCell(layers.LSTMCell):
    """Counts its Python calls: a compiled loop calls it only while compiling, an eager loop on
    every step."""

    calls = 0

    def call(self, inputs: Any, states: Any, training: bool = False) -> Any:
        type(self).calls += 1
        return super().call(inputs, states, training=training)


def test_length_probes_reuse_the_compiled_loops() -> None:
    """With a variable time axis MC108 also runs the sequences with padded steps appended and
    trimmed to their real length: those calls go through the traced pass, whose RNN loop is
    compiled (a plain eager call stepped through it in Python on TensorFlow, and compiled the
    scan again on every call on JAX: 0.86 s and 1.2 s for a BiLSTM tagger whose `predict` takes
    0.07 s and 0.01 s)."""
    from maskcheck.synth import padded_floats

    t = patch.COMPILE_RNN_MIN_STEPS + 12
    inp = keras.Input((None, F))
    h = layers.RNN(_CountingCell(4, name="counting_cell"), return_sequences=True)(layers.Masking(0.0)(inp))
    model = keras.Model(inp, layers.Dense(2)(h))
    x = padded_floats(n=24, t=t)
    first = maskcheck.audit(model, x, seed=0)
    assert not first.at_least("error"), first
    _CountingCell.calls = 0
    second = maskcheck.audit(model, x, seed=0)
    assert [f.code for f in second.findings] == [f.code for f in first.findings]
    if kb.backend_name() == "torch":
        assert _CountingCell.calls > 0  # PyTorch loops in Python, as its `predict` does
    else:
        assert _CountingCell.calls == 0, "every pass of the second audit ran compiled loops"


# -- MC108's noise and appended steps in one pass --------------------------------------------------


def _variable_t_cases() -> list[Any]:
    from maskcheck.checks.propagation.mc108_output_depends_on_padding import OutputDependsOnPadding

    cases = (*OutputDependsOnPadding.INVALID, *OutputDependsOnPadding.VALID)
    return [c for c in cases if c.name.startswith("variable T")]


def _findings(model: Any, x: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    report = maskcheck.audit(model, x, seed=0, **kwargs)
    return [(f.code, f.layer, f.message, f.details) for f in report.findings]


@pytest.mark.parametrize("case", _variable_t_cases(), ids=lambda c: c.name)
def test_noise_and_appended_steps_together_find_what_they_find_apart(
    case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a variable time axis the noise probe runs on the lengthened sequences; when that pass
    changes a real step, both probes run apart to say which: the findings must be the same as
    when they always run apart."""
    import sys

    from maskcheck.facts import probe as probe_module
    from maskcheck.testing.cases import applies

    if not applies(case):
        pytest.skip(f"not on {kb.backend_name()}")
    built = case.build(sys.modules["maskcheck.testing"])
    together = _findings(built.model, built.X, **built.kwargs)
    monkeypatch.setattr(probe_module, "_quiet_together", lambda *a, **k: False)
    assert _findings(built.model, built.X, **built.kwargs) == together


def test_a_subset_probed_together_finds_what_the_probes_find_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 sequences: the noise probe's spread rows and the appended steps' first padded rows are
    run together; a leaking convolution is found on the same samples either way."""
    from maskcheck.facts import probe as probe_module

    inp = keras.Input((None, F))
    h = layers.Conv1D(4, 3, padding="same")(layers.Masking(0.0)(inp))
    model = keras.Model(inp, layers.Dense(2)(h))
    x = _late_padding()
    together = _findings(model, x)
    assert "MC108" in {f[0] for f in together}, together
    monkeypatch.setattr(probe_module, "_quiet_together", lambda *a, **k: False)
    assert _findings(model, x) == together


def test_a_correct_variable_length_model_pays_one_pass_for_noise_and_appended_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Noise at padding and appended padded steps used to be two passes (three on PyTorch's
    Python loops with the trace's: 3.8x `predict` for a BiLSTM tagger); a correct model now pays
    one, plus the trimmed sequences' short pass, and on JAX no noise pass rides on the trace."""
    from maskcheck import engine
    from maskcheck.facts import probe as probe_module
    from maskcheck.synth import padded_floats

    inp = keras.Input((None, F))
    h = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(layers.Masking(0.0)(inp))
    model = keras.Model(inp, layers.Dense(2)(h))
    probes: list[Any] = []
    companions: list[Any] = []
    probe_pass, main_pass = probe_module.run_traced, engine.run_traced

    def counted(m: Any, xs: Any, **kw: Any) -> Any:
        probes.append((kw.get("perturb"), kb.shape_of(xs)))
        return probe_pass(m, xs, **kw)

    def main(m: Any, xs: Any, **kw: Any) -> Any:
        companions.append(kw.get("companion"))
        return main_pass(m, xs, **kw)

    monkeypatch.setattr(probe_module, "run_traced", counted)
    monkeypatch.setattr(engine, "run_traced", main)
    x = padded_floats(n=24, t=T)
    report = maskcheck.audit(model, x, seed=0)
    assert not report.at_least("error"), report
    assert companions == [None]
    assert len(probes) == 2, probes
    (noise, longer), (plain, shorter) = probes
    assert noise is not None and longer[1] == T + probe_module.EXTRA_STEPS
    assert plain is None and shorter[1] < T


def _seq2seq(encoder_mask_zero: bool = True) -> tuple[Any, list[np.ndarray]]:
    """keras-io's LSTM seq2seq on ids: the encoder's states start the decoder; its outputs are on
    the decoder's time axis (8 steps), the encoder reads 12."""
    from maskcheck.synth import padded_ids

    enc_in, dec_in = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    _, h, c = layers.LSTM(4, return_state=True)(layers.Embedding(20, 4, mask_zero=encoder_mask_zero)(enc_in))
    dec = layers.LSTM(4, return_sequences=True)(layers.Embedding(20, 4, mask_zero=True)(dec_in), initial_state=[h, c])
    model = keras.Model([enc_in, dec_in], layers.Dense(3, activation="softmax")(dec))
    return model, [padded_ids(n=24, t=T, vocab=20), padded_ids(n=24, t=8, vocab=20, seed=1)]


def test_a_correct_seq2seq_model_pays_one_pass_for_noise_and_appended_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The noise changes the decoder's outputs at its padded steps, which its mask keeps out of the
    loss: the pass with the noise and the lengthened encoder input compares them at the decoder's
    real steps, as the noise probe does, and finds nothing; before, it compared every step and
    sent both probes to run apart (5 passes for 3: 3.5x `predict` on JAX, 2.9x on PyTorch)."""
    from maskcheck.facts import probe as probe_module

    model, xs = _seq2seq()
    probes: list[Any] = []
    probe_pass = probe_module.run_traced

    def counted(m: Any, x: Any, **kw: Any) -> Any:
        probes.append(kw.get("perturb") is not None)
        return probe_pass(m, x, **kw)

    monkeypatch.setattr(probe_module, "run_traced", counted)
    report = maskcheck.audit(model, xs, seed=0)
    assert not report.at_least("error"), report
    assert probes == [True, False], "the noise with the appended steps, then the trimmed sequences"


@pytest.mark.parametrize("encoder_mask_zero", [True, False], ids=["correct", "encoder-unmasked"])
def test_a_seq2seq_model_probed_together_finds_what_the_probes_find_apart(
    monkeypatch: pytest.MonkeyPatch, encoder_mask_zero: bool
) -> None:
    from maskcheck.facts import probe as probe_module

    model, xs = _seq2seq(encoder_mask_zero)
    together = _findings(model, xs)
    assert ("MC207" in {f[0] for f in together}) is not encoder_mask_zero, together
    monkeypatch.setattr(probe_module, "_quiet_together", lambda *a, **k: False)
    assert _findings(model, xs) == together


def test_traced_pass_records_no_autograd_graph() -> None:
    """`predict` runs under `torch.no_grad()`; an eager pass with autograd on records a graph for
    every operation (20% of a BiLSTM tagger's pass) and keeps it alive with the trace."""
    if kb.backend_name() != "torch":
        pytest.skip("autograd graphs are PyTorch's")
    from maskcheck.synth import padded_floats

    trace = run_traced(_lstm_model(T), padded_floats(n=4, t=T))
    assert trace.outputs and not any(t.requires_grad for t in trace.outputs)
    assert not any(getattr(t, "requires_grad", False) for e in trace.events for t in e.outputs)


class _LengthInEveryStep(layers.Layer):
    """Per step: feature 0 as it is, feature 1 plus 1/T (so it changes with the number of steps)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x: Any) -> Any:
        t = keras.ops.cast(keras.ops.shape(x)[1], x.dtype)
        return keras.ops.concatenate([x[..., :1], x[..., 1:] + 1.0 / t], axis=-1)


def test_large_values_in_other_rows_do_not_hide_a_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tolerance scales with an output's largest value: the pass that runs both probes
    together must judge each probe's rows with the tolerance its own rows set, or the unpadded
    rows' large values (10,000 here) hide the 1/T change in the padded ones."""
    from maskcheck.facts import probe as probe_module

    rng = np.random.default_rng(0)
    x = (rng.random((16, 10, 2)) + 0.5).astype("float32")
    x[:8, :, 0] *= 1e4
    for i in range(8, 16):
        x[i, 2 + i % 8 :] = 0.0
    inp = keras.Input((None, 2))
    model = keras.Model(inp, _LengthInEveryStep()(layers.Masking(0.0)(inp)))
    together = _findings(model, x)
    assert any(f[0] == "MC108" and "appending" in f[2] for f in together), together
    monkeypatch.setattr(probe_module, "_quiet_together", lambda *a, **k: False)
    assert _findings(model, x) == together


class _OwnLSTMCell(layers.LSTMCell):
    """A user's cell (a subclass): its steps keep going through `Layer.__call__`."""


def _cell_model(t: int, kind: str) -> Any:
    inp = keras.Input((t, F))
    h = layers.Masking(0.0)(inp)
    if kind == "subclass":
        h = layers.RNN(_OwnLSTMCell(6), return_sequences=True)(h)
    elif kind == "mixed":
        h = layers.LSTM(6, return_sequences=True, dtype="mixed_bfloat16")(h)
    else:
        h = layers.Bidirectional(getattr(layers, kind)(6, return_sequences=True))(h)
    return keras.Model(inp, layers.Dense(2, dtype="float32")(h))


@pytest.mark.parametrize(
    ("kind", "direct"),
    [("LSTM", True), ("GRU", True), ("SimpleRNN", True), ("subclass", False), ("mixed", False)],
)
def test_keras_cells_step_through_their_call_on_torch(
    kind: str, direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyTorch runs an RNN loop eagerly, as `predict` does. Through `Layer.__call__` a cell's step
    cost twice its `call`, so a Keras cell steps through its `call`, and the traced outputs are
    exactly the model's own. A subclass (a user's cell) or a cell that autocasts keeps the full
    `Layer.__call__`."""
    if kb.backend_name() != "torch":
        pytest.skip("the other backends compile the loop")
    from maskcheck.synth import padded_floats

    seen: list[bool] = []
    plain = patch._plain_cell_call

    def spy(layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        seen.append(plain(layer, args, kwargs))
        return seen[-1]

    monkeypatch.setattr(patch, "_plain_cell_call", spy)
    t = patch.COMPILE_RNN_MIN_STEPS + 4
    model = _cell_model(t, kind)
    x = padded_floats(n=5, t=t)
    trace = run_traced(model, x)
    assert trace.error is None and not trace.eager_loops
    assert seen and set(seen) == {direct}, kind
    np.testing.assert_array_equal(kb.to_numpy(trace.outputs[0]), kb.to_numpy(model(x, training=False)))
    assert not getattr(patch._state, "direct_cells", False)


def test_a_torch_hook_on_a_cell_still_fires_every_step() -> None:
    """A forward hook on the cell's `torch.nn.Module` runs in `Module.__call__`: such a cell keeps
    the full call, and the hook fires as often as in the model's own call."""
    if kb.backend_name() != "torch":
        pytest.skip("torch hooks are PyTorch's")
    from maskcheck.synth import padded_floats

    t = patch.COMPILE_RNN_MIN_STEPS + 4
    model = _lstm_model(t)
    calls: list[int] = []
    model.get_layer("lstm").cell.register_forward_hook(lambda *_: calls.append(1))
    x = padded_floats(n=3, t=t)
    model(x, training=False)
    own = len(calls)
    calls.clear()
    run_traced(model, x)
    assert own >= t and len(calls) == own


def _output_change_float64(a: np.ndarray, b: np.ndarray, real: np.ndarray | None) -> tuple[float, np.ndarray]:
    """The comparison as it was written first, in float64 with full-size temporaries."""
    x, z = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    with np.errstate(invalid="ignore"):
        d = np.where(np.isnan(x) & np.isnan(z), 0.0, np.abs(x - z))
    if real is not None:
        d = np.where(real.reshape(real.shape + (1,) * (x.ndim - 2)), d, 0.0)
    tol = 1e-5 + 1e-4 * float(np.nanmax(np.abs(x)))
    flags = (np.nan_to_num(d, nan=np.inf) > tol).reshape(d.shape[0], -1).any(axis=1)
    return float(np.nanmax(d)), flags


def test_output_change_in_float32_agrees_with_float64() -> None:
    """Outputs are compared in their own float32 (one temporary, not five in float64): the flags
    and the amount agree with the float64 comparison, NaN and infinities on either side included."""
    from maskcheck.facts.probe import output_change

    rng = np.random.default_rng(0)
    for k in range(300):
        x = (rng.standard_normal((4, 6, 3)) * 10.0 ** rng.integers(-3, 4)).astype("float32")
        z = x.copy()
        z[k % 4, k % 6, 0] += np.float32(10.0 ** rng.integers(-8, 2))
        if k % 5 == 0:
            x[1, 2, 1] = z[1, 2, 1] = np.nan  # both NaN: unchanged
            z[2, 3, 2] = np.inf  # one side infinite: changed
        if k % 7 == 0:
            x[3, 1, 1] = np.nan  # NaN in the reference only: changed
        if k % 11 == 0:
            x[0, 0, 0] = z[0, 0, 0] = -np.inf  # an infinite reference: no finite tolerance
        real = rng.random((4, 6)) < 0.6 if k % 3 else None
        amount, flags = output_change(x, z, real)
        amount64, flags64 = _output_change_float64(x, z, real)
        np.testing.assert_array_equal(flags, flags64)
        assert amount == pytest.approx(amount64, rel=1e-6, nan_ok=True)
