"""How much an audit costs, measured against `model.predict`.

    python benchmarks/bench_audit.py                 # audit / predict on the same traced sample
    python benchmarks/bench_audit.py --sizes 1000 10000 100000   # and the N-dependent ratio
    python benchmarks/bench_audit.py --budget        # and time_budget on a larger BERT

The honest measure is the first: the audit traces at most `max_samples` sequences, so it is
divided by one `predict` over exactly those sequences. The floor is about 2x (one traced pass
and one padding probe). Models: a BiLSTM tagger (T = 100, with labels and a compiled loss), a
GRU regressor over T = 2,000, a Transformer classifier on ids (T = 128), a small keras-hub BERT
backbone (T = 128, when keras-hub is installed), Conv1D -> GRU, a GRU over T = 5,000, and the
BiLSTM tagger again with a variable time axis (MC108's length probes run too).

The second table divides the audit of all of X (the data checks stream over every sequence) by
`predict` over all of X, for a BiLSTM tagger and a Transformer at T = 32.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np

import maskcheck
from maskcheck.bridge import keras

layers = keras.layers
T, F, VOCAB = 32, 8, 1000


def bilstm() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((T, F)),
            layers.Masking(0.0),
            layers.Bidirectional(layers.LSTM(16, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(3, activation="softmax")),
        ]
    )


def transformer() -> keras.Model:
    inp = keras.Input((T,), dtype="int32")
    e = layers.Embedding(VOCAB, 32, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(4, 8)(e, e)
    x = layers.LayerNormalization()(layers.Add()([e, a]))
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inp, out)


def data(kind: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    lengths = rng.integers(T // 4, T + 1, size=n)
    pad = np.arange(T)[None, :] >= lengths[:, None]
    if kind == "bilstm":
        x = rng.random((n, T, F), dtype=np.float32) + 0.5
        x[pad] = 0.0
        return x
    ids = rng.integers(1, VOCAB, size=(n, T)).astype("int32")
    ids[pad] = 0
    return ids


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def interleaved(first, second, repeat: int) -> tuple[float, float]:
    """The best of `repeat` timings of each, taken in turns: a shared machine's load drifts, and
    timing all of one and then all of the other puts the drift into the ratio."""
    a = b = float("inf")
    for _ in range(repeat):
        a = min(a, best_of(first, 1))
        b = min(b, best_of(second, 1))
    return a, b


def padded(n: int, t: int, f: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(t // 3, t + 1, size=n)
    x = rng.random((n, t, f), dtype=np.float32) + 0.5
    x[np.arange(t)[None, :] >= lengths[:, None]] = 0.0
    return x


def padded_ids(n: int, t: int, vocab: int = VOCAB, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(t // 3, t + 1, size=n)
    ids = rng.integers(1, vocab, size=(n, t)).astype("int32")
    ids[np.arange(t)[None, :] >= lengths[:, None]] = 0
    return ids


def case_bilstm_tagger() -> tuple[str, keras.Model, object, object]:
    x = padded(256, 100, 8)
    model = keras.Sequential(
        [
            keras.Input((100, 8)),
            layers.Masking(0.0),
            layers.Bidirectional(layers.LSTM(16, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(3, activation="softmax")),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    y = (x.sum(-1) > 4).astype("int32") + (x.any(-1)).astype("int32")
    return "BiLSTM tagger, T=100, N=256, with y", model, x, y


def case_bilstm_variable_t(t: int = 100) -> tuple[str, keras.Model, object, object]:
    """The tagger with a variable time axis: MC108 also runs the sequences lengthened by padded
    steps and trimmed to their real length (two more shapes)."""
    x = padded(256, t, 8)
    model = keras.Sequential(
        [
            keras.Input((None, 8)),
            layers.Masking(0.0),
            layers.Bidirectional(layers.LSTM(16, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(3, activation="softmax")),
        ]
    )
    return f"BiLSTM tagger, variable T ({t} here), N=256", model, x, None


def case_short_tagger() -> tuple[str, keras.Model, object, object]:
    """Short sentences (an NER tagger): loops of a few dozen steps."""
    return case_bilstm_variable_t(30)


def _gru(t: int, n: int, conv: bool = False) -> tuple[keras.Model, np.ndarray]:
    inp = keras.Input((t, 4))
    h = layers.Masking(0.0)(inp)
    if conv:
        h = layers.Conv1D(8, 1)(h)
    out = layers.Dense(1)(layers.GRU(16)(h))
    return keras.Model(inp, out), padded(n, t, 4)


def case_hierarchical() -> tuple[str, keras.Model, object, object]:
    """A hierarchical document classifier: TimeDistributed over a sentence encoder (Embedding with
    mask_zero -> BiGRU) over 20 sentences of 30 words, then a GRU over the sentences."""
    s, w = 20, 30
    words = keras.Input((w,), dtype="int32")
    emb = layers.Embedding(VOCAB, 32, mask_zero=True)(words)
    encoder = keras.Model(words, layers.Bidirectional(layers.GRU(16))(emb), name="encoder")
    doc = keras.Input((s, w), dtype="int32")
    h = layers.TimeDistributed(encoder)(doc)
    model = keras.Model(doc, layers.Dense(3, activation="softmax")(layers.GRU(16)(h)))
    x = np.random.default_rng(0).integers(1, VOCAB, size=(256, s, w)).astype("int32")
    for i in range(256):
        x[i, :, 5 + i % 25 :] = 0
        x[i, 4 + i % 16 :, :] = 0
    return "Hierarchical: TimeDistributed(BiGRU encoder), 20x30", model, x, None


class _Attention(layers.Layer):
    """The attention of a hierarchical attention network (richliao/textClassifier's `AttLayer`),
    masked: the user's code, as in every published HAN."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)
        self.supports_masking = True

    def build(self, shape: tuple[int, ...]) -> None:
        self.w = self.add_weight(shape=(shape[-1], 16))
        self.u = self.add_weight(shape=(16, 1))

    def call(self, x: object, mask: object = None) -> object:
        score = keras.ops.squeeze(keras.ops.tanh(x @ self.w) @ self.u, -1)
        if mask is not None:
            score = keras.ops.where(mask, score, -1e9)
        return keras.ops.sum(x * keras.ops.softmax(score, axis=-1)[..., None], axis=1)

    def compute_mask(self, x: object, mask: object = None) -> None:
        return None


def case_han() -> tuple[str, keras.Model, object, object]:
    """A hierarchical attention network: TimeDistributed over (Embedding(mask_zero) -> BiGRU ->
    the user's attention), then BiGRU -> attention, over 20 sentences of 30 words."""
    s, w = 20, 30
    words = keras.Input((w,), dtype="int32")
    h = layers.Bidirectional(layers.GRU(16, return_sequences=True))(layers.Embedding(VOCAB, 32, mask_zero=True)(words))
    encoder = keras.Model(words, _Attention()(h), name="encoder")
    doc = keras.Input((s, w), dtype="int32")
    h = layers.Bidirectional(layers.GRU(16, return_sequences=True))(layers.TimeDistributed(encoder)(doc))
    model = keras.Model(doc, layers.Dense(3, activation="softmax")(_Attention()(h)))
    x = np.random.default_rng(0).integers(1, VOCAB, size=(256, s, w)).astype("int32")
    for i in range(256):
        x[i, :, 5 + i % 25 :] = 0
        x[i, 4 + i % 16 :, :] = 0
    return "HAN: TimeDistributed(BiGRU + user attention), 20x30", model, x, None


def case_seq2seq() -> tuple[str, keras.Model, object, object]:
    """keras-io's LSTM seq2seq on ids (the encoder's states start the decoder), two variable-length
    inputs, 40 and 30 steps, compiled with a sparse loss, with labels."""
    enc_in, dec_in = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    _, h, c = layers.LSTM(32, return_state=True)(layers.Embedding(VOCAB, 32, mask_zero=True)(enc_in))
    dec = layers.LSTM(32, return_sequences=True)(layers.Embedding(VOCAB, 32, mask_zero=True)(dec_in), initial_state=[h, c])
    model = keras.Model([enc_in, dec_in], layers.Dense(50, activation="softmax")(dec))
    model.compile("adam", "sparse_categorical_crossentropy")
    target = padded_ids(256, 30)
    return "LSTM seq2seq on ids, 40 -> 30 steps, with y", model, [padded_ids(256, 40), target], target % 50


def case_gru_2000() -> tuple[str, keras.Model, object, object]:
    model, x = _gru(2000, 32)
    return "GRU regressor, T=2,000, N=32", model, x, None


def case_gru_5000() -> tuple[str, keras.Model, object, object]:
    model, x = _gru(5000, 8)
    return "GRU, T=5,000, N=8", model, x, None


def case_conv_gru() -> tuple[str, keras.Model, object, object]:
    model, x = _gru(200, 256, conv=True)
    return "Conv1D(k=1) -> GRU, T=200, N=256", model, x, None


def case_transformer() -> tuple[str, keras.Model, object, object]:
    inp = keras.Input((128,), dtype="int32")
    e = layers.Embedding(VOCAB, 32, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(4, 8)(e, e)
    x = layers.LayerNormalization()(layers.Add()([e, a]))
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    return "Transformer classifier on ids, T=128, N=256", keras.Model(inp, out), padded_ids(256, 128), None


def case_bert() -> tuple[str, keras.Model, object, object] | None:
    try:
        import keras_hub
    except ImportError:
        return None
    model = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64, max_sequence_length=128
    )
    ids = padded_ids(256, 128)
    return "keras-hub BERT backbone (2 layers), T=128, N=256", model, {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids != 0).astype("int32")}, None


def budget_case() -> None:
    """A model expensive enough for the time budget: a 4-layer BERT over 512 tokens."""
    try:
        import keras_hub
    except ImportError:
        return
    model = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=4, num_heads=4, hidden_dim=128, intermediate_dim=512, max_sequence_length=512
    )
    ids = padded_ids(256, 512)
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids != 0).astype("int32")}
    print()
    print("time_budget: keras-hub BERT (4 layers, hidden 128), T=512, N=256")
    t_pred = best_of(lambda: model.predict(x, batch_size=256, verbose=0), 2)
    print(f"  predict on all 256: {t_pred:.2f} s")
    for budget in (5.0, None):
        start = time.perf_counter()
        report = maskcheck.audit(model, x, time_budget=budget)
        took = time.perf_counter() - start
        print(
            f"  audit, time_budget={budget}: {took:.2f} s, {report.meta['samples_traced']} sequences traced, "
            f"{len(report.at_least('error'))} errors",
            flush=True,
        )


def same_sample(only: list[str]) -> None:
    print("audit / predict on the same sample; cold: the first call of each (graph tracing included),")
    print("warm: the best of five later calls, taken in turns (the audit's compiled passes and loops are cached)")
    print(f"{'model':50s} {'predict cold':>12s} {'audit cold':>10s} {'ratio':>6s} {'predict warm':>12s} {'audit warm':>10s} {'ratio':>6s}")
    cases = (case_bilstm_tagger, case_bilstm_variable_t, case_short_tagger, case_gru_2000, case_transformer, case_bert, case_conv_gru, case_gru_5000, case_hierarchical, case_han, case_seq2seq)
    for make in cases:
        if only and not any(word in make.__name__ for word in only):
            continue
        built = make()
        if built is None:
            continue
        name, model, x, y = built
        p_cold = best_of(lambda m=model, d=x: m.predict(d, batch_size=256, verbose=0), 1)
        a_cold = best_of(lambda m=model, d=x, t=y: maskcheck.audit(m, d, t), 1)
        p_warm, a_warm = interleaved(
            lambda m=model, d=x: m.predict(d, batch_size=256, verbose=0),
            lambda m=model, d=x, t=y: maskcheck.audit(m, d, t),
            5,
        )
        print(
            f"{name:50s} {p_cold:12.2f} {a_cold:10.2f} {a_cold / p_cold:6.2f} "
            f"{p_warm:12.2f} {a_warm:10.2f} {a_warm / p_warm:6.2f}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[])
    ap.add_argument("--budget", action="store_true", help="also show time_budget on a larger BERT")
    ap.add_argument("--only", nargs="*", default=[], help="the cases whose function name holds one of these words")
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; keras {keras.__version__} ({keras.backend.backend()})"
    )
    same_sample(args.only)
    if args.budget:
        budget_case()
    if not args.sizes:
        return
    print()
    print(f"{'model':12s} {'N':>8s} {'predict s':>10s} {'audit s':>9s} {'ratio':>6s}")
    for name, build in (("bilstm", bilstm), ("transformer", transformer)):
        model = build()
        for n in args.sizes:
            x = data(name, n)
            model.predict(x[:256], verbose=0)  # warm-up: graph tracing is not what we measure
            maskcheck.audit(model, x[:256])
            repeat = 3 if n <= 10_000 else 1
            t_pred = best_of(lambda m=model, d=x: m.predict(d, batch_size=256, verbose=0), repeat)
            t_audit = best_of(lambda m=model, d=x: maskcheck.audit(m, d), repeat)
            print(f"{name:12s} {n:8d} {t_pred:10.2f} {t_audit:9.2f} {t_audit / t_pred:6.2f}")


if __name__ == "__main__":
    main()
