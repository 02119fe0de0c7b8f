"""A zoo of real-world sequence models at tiny sizes, each in a correct and a broken variant.

Two families (issue 12, "A real-model zoo in the test suite"):

* keras-hub backbones built from small configs (no downloads), fed the keras-hub convention
  `{"token_ids", "padding_mask"}`. Correct as shipped; broken variants: a `padding_mask` of all
  ones, a custom head that pools over padding, and (GPT-2) the LM fitted without `sample_weight`.
* The masking-related keras-io examples re-created in our own code at tiny sizes (vocab ~30,
  T 8-12, dims 8, one layer); the file each comes from is named in its `source`. Where the
  official example lets padding leak, the as-shipped model is the broken variant and the fixed
  model the correct one.

Nothing here imports maskcheck: the ground truth (tests/zoo/oracle.py) must not depend on it.
Every builder returns a `ZooCase`; `case.model, case.X, case.y, case.kwargs, case.source` are the
five things an audit needs, the rest tells the oracle where the padding is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import keras
import numpy as np
from keras import layers, ops

VOCAB = 30  # keras-io recreations
HUB_VOCAB = 50  # keras-hub configs
N = 16  # samples
T = 10  # steps
DIM = 8


@dataclass
class ZooCase:
    """One zoo model with its data, and where the oracle finds the padding."""

    model: Any
    X: Any
    y: Any | None
    kwargs: dict[str, Any]
    source: str
    name: str = ""
    variant: str = "correct"  # "correct" | "broken"
    root: str | None = None  # the root-cause code expected first on a broken variant (None: any error)
    # --- for the oracle ---
    pads: dict[Any, np.ndarray] = field(default_factory=dict)  # X key -> bool (n, T): padded positions
    method: str = "ids"  # "ids": perturb ids at pads; "row": perturb pad rows; "append": add pad steps
    rows: Callable[[Any], list[Any]] | None = None  # "row": the token-embedding variables
    pad_id: int = 0
    vocab: int = VOCAB
    out_pad: list[np.ndarray | None] = field(default_factory=list)  # per flat output: padded positions
    y_pad: np.ndarray | None = None  # padded label positions (label perturbation), None: no y check
    n_classes: int = 0

    @property
    def id(self) -> str:
        return f"{self.name}-{self.variant}"


# --------------------------------------------------------------------------- data


def lengths(n: int = N, t: int = T, lo: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lens = rng.integers(lo, t, size=n)  # every sequence padded (at least one pad step)
    lens[0] = t - 1
    return lens


def ids_for(lens: np.ndarray, t: int = T, vocab: int = VOCAB, pre: bool = False, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((len(lens), t), dtype="int32")
    for i, n in enumerate(lens):
        real = rng.integers(1, vocab, size=n)
        if pre:
            out[i, t - n :] = real
        else:
            out[i, :n] = real
    return out


def step_pad(ids: np.ndarray, pad_id: int = 0) -> np.ndarray:
    """Padded positions of post- or pre-padded ids: the run of pad_id at either end."""
    pad = np.zeros(ids.shape, dtype=bool)
    for i, row in enumerate(ids):
        nz = np.flatnonzero(row != pad_id)
        if len(nz) == 0:
            pad[i] = True
            continue
        pad[i, : nz[0]] = True
        pad[i, nz[-1] + 1 :] = True
    return pad


def row_case(
    model: Any, ids: np.ndarray, y: Any, source: str, name: str, variant: str, **extra: Any
) -> ZooCase:
    """A case on one id input whose oracle perturbs the pad id's row of the Embedding named "emb"."""
    extra.setdefault("out_pad", [None])
    return ZooCase(
        model=model,
        X=ids,
        y=y,
        kwargs={},
        source=f"keras-io {source}",
        name=name,
        variant=variant,
        pads={None: step_pad(ids)},
        method="row",
        rows=lambda m: [m.get_layer("emb").embeddings],
        **extra,
    )


# --------------------------------------------------------------------------- keras-hub


def _hub() -> Any:
    import keras_hub

    return keras_hub


HUB_CONFIG = dict(vocabulary_size=HUB_VOCAB, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16)

HUB_BACKBONES: dict[str, Callable[[], Any]] = {
    "bert": lambda: _hub().models.BertBackbone(**HUB_CONFIG, max_sequence_length=16),
    "distilbert": lambda: _hub().models.DistilBertBackbone(**HUB_CONFIG, max_sequence_length=16),
    "roberta": lambda: _hub().models.RobertaBackbone(**HUB_CONFIG, max_sequence_length=16),
    "albert": lambda: _hub().models.AlbertBackbone(**HUB_CONFIG, embedding_dim=8, max_sequence_length=16),
    "debertav3": lambda: _hub().models.DebertaV3Backbone(**HUB_CONFIG, max_sequence_length=16, bucket_size=4),
    "electra": lambda: _hub().models.ElectraBackbone(
        vocab_size=HUB_VOCAB,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        embedding_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    ),
    "gpt2": lambda: _hub().models.GPT2Backbone(**HUB_CONFIG, max_sequence_length=16),
    "bart": lambda: _hub().models.BartBackbone(**HUB_CONFIG, max_sequence_length=16),
    "t5": lambda: _hub().models.T5Backbone(**HUB_CONFIG, key_value_dim=4),
}
HUB_SOURCE = {
    "bert": "keras_hub/src/models/bert/bert_backbone.py",
    "distilbert": "keras_hub/src/models/distil_bert/distil_bert_backbone.py",
    "roberta": "keras_hub/src/models/roberta/roberta_backbone.py",
    "albert": "keras_hub/src/models/albert/albert_backbone.py",
    "debertav3": "keras_hub/src/models/deberta_v3/deberta_v3_backbone.py",
    "electra": "keras_hub/src/models/electra/electra_backbone.py",
    "gpt2": "keras_hub/src/models/gpt2/gpt2_backbone.py",
    "bart": "keras_hub/src/models/bart/bart_backbone.py",
    "t5": "keras_hub/src/models/t5/t5_backbone.py",
}
ENC_DEC = ("bart", "t5")


@cache
def hub_backbone(name: str) -> Any:
    keras.utils.set_random_seed(0)
    return HUB_BACKBONES[name]()


def _hub_inputs(model: Any, ones_mask: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """X for a keras-hub model and the padded positions of each token-id input."""
    names = {i.name for i in model.inputs}
    X: dict[str, np.ndarray] = {}
    pads: dict[str, np.ndarray] = {}
    prefixes = ["encoder_", "decoder_"] if "encoder_token_ids" in names else [""]
    for k, p in enumerate(prefixes):
        ids = ids_for(lengths(seed=k), vocab=HUB_VOCAB, seed=10 + k)
        pad = step_pad(ids)
        X[p + "token_ids"] = ids
        mask = ~pad
        if ones_mask and k == 0:  # the bug: a mask that marks the padding as real
            mask = np.ones_like(mask)
        X[p + "padding_mask"] = mask.astype("int32")
        pads[p + "token_ids"] = pad
    if "segment_ids" in names:
        X["segment_ids"] = np.zeros_like(X["token_ids"])
    return X, pads


def _flat_out_pad(model: Any, pads: dict[str, np.ndarray]) -> list[np.ndarray | None]:
    """For each flat output (keras.tree order): padded steps of the ids it is aligned with."""
    struct = model.output
    if isinstance(struct, dict):
        keys = sorted(struct)
        out = []
        for k in keys:
            if k.startswith("decoder"):
                out.append(pads["decoder_token_ids"])
            elif k.startswith("encoder"):
                out.append(pads["encoder_token_ids"])
            elif k == "sequence_output":
                out.append(pads["token_ids"])
            else:  # pooled_output: a function of the [CLS] step, compared whole
                out.append(None)
        return out
    key = "token_ids" if "token_ids" in pads else "decoder_token_ids"
    return [pads[key] if len(struct.shape) >= 3 else None]


def hub_case(name: str, variant: str) -> ZooCase:
    """variant: "correct" | "ones_mask" | "max_head"."""
    backbone = hub_backbone(name)
    model = backbone
    if variant == "max_head":
        # A custom head on the sequence output: GlobalMaxPooling1D ignores padding_mask and
        # takes the max over the hidden states of the padded positions too.
        key = "encoder_sequence_output" if name in ENC_DEC else "sequence_output"
        seq = backbone.output[key] if isinstance(backbone.output, dict) else backbone.output
        pooled = layers.GlobalMaxPooling1D()(seq)
        model = keras.Model(backbone.input, layers.Dense(2)(pooled), name=f"{name}_max_head")
    X, pads = _hub_inputs(model, ones_mask=variant == "ones_mask")
    return ZooCase(
        model=model,
        X=X,
        y=None,
        kwargs={},
        source=HUB_SOURCE[name],
        name=f"hub_{name}" + ("" if variant == "correct" else f"_{variant}"),
        variant="correct" if variant == "correct" else "broken",
        root={"correct": None, "ones_mask": "MC212", "max_head": "MC104"}[variant],
        pads=pads,
        method="ids",
        vocab=HUB_VOCAB,
        out_pad=_flat_out_pad(model, pads),
    )


def gpt2_lm_case(variant: str) -> ZooCase:
    """keras_hub.models.GPT2CausalLM, backbone only (no preprocessor), fitted the keras-hub way:
    x = tokens[:-1], y = tokens[1:], sample_weight = padding_mask[1:]. Broken: sample_weight forgotten."""
    lm = _gpt2_lm()
    # GPT-2's convention: the end token also pads (keras-hub's preprocessor pads with end_token_id
    # and its padding_mask marks the real tokens and the first end token).
    end = HUB_VOCAB - 1
    lens = lengths(t=T, lo=3)
    toks = ids_for(lens, t=T + 1, vocab=end, seed=3)
    real = np.zeros(toks.shape, dtype=bool)
    for i, n in enumerate(lens):
        toks[i, n:] = end
        real[i, : n + 1] = True
    X = {"token_ids": toks[:, :-1], "padding_mask": real[:, :-1].astype("int32")}
    y = toks[:, 1:]
    sw = real[:, 1:].astype("float32")
    return ZooCase(
        model=lm,
        X=X,
        y=y,
        kwargs={"sample_weight": sw} if variant == "correct" else {},
        source="keras_hub/src/models/gpt2/gpt2_causal_lm.py",
        name="hub_gpt2_causal_lm" + ("" if variant == "correct" else "_no_sample_weight"),
        variant=variant,
        root=None if variant == "correct" else "MC305",
        pads={"token_ids": ~real[:, :-1]},
        method="ids",
        vocab=end,
        out_pad=[~real[:, :-1]],
        y_pad=~real[:, 1:],
        n_classes=HUB_VOCAB,
    )


@cache
def _gpt2_lm() -> Any:
    hub = _hub()
    keras.utils.set_random_seed(0)
    backbone = hub.models.GPT2Backbone(**HUB_CONFIG, max_sequence_length=16)
    lm = hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    lm.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="adam",
        weighted_metrics=["accuracy"],
    )
    return lm


# --------------------------------------------------------------------------- keras-io: shared layers


class TokenAndPositionEmbedding(layers.Layer):
    """examples/nlp/text_classification_with_transformer.py (also ner_transformers.py,
    text_generation_with_miniature_gpt.py). `mask=True` is the fix: mask_zero on the token
    embedding and a compute_mask that passes it on."""

    def __init__(self, maxlen: int, vocab_size: int, embed_dim: int, mask: bool = False, **kw: Any):
        super().__init__(**kw)
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim, mask_zero=mask)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)
        self.masked = mask

    def call(self, x: Any) -> Any:
        maxlen = ops.shape(x)[-1]
        positions = self.pos_emb(ops.arange(0, maxlen, 1))
        return self.token_emb(x) + positions

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        return ops.not_equal(x, 0) if self.masked else None


class TransformerBlock(layers.Layer):
    """examples/nlp/text_classification_with_transformer.py. `masked=True` is the fix: consume the
    mask as MHA's attention_mask and pass it on (supports_masking)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        masked: bool = False,
        causal: bool = False,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.supports_masking = masked
        self.causal = causal

    def call(self, inputs: Any, mask: Any = None) -> Any:
        attention_mask = None
        if mask is not None:
            attention_mask = ops.cast(mask[:, None, :], "int32")
        attn = self.att(inputs, inputs, attention_mask=attention_mask, use_causal_mask=self.causal)
        out1 = self.layernorm1(inputs + attn)
        return self.layernorm2(out1 + self.ffn(out1))


def _sparse_labels(pad: np.ndarray, n_classes: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.integers(1, n_classes, size=pad.shape).astype("int32")
    y[pad] = 0
    return y


# --------------------------------------------------------------------------- keras-io recreations


def text_classification_case(variant: str) -> ZooCase:
    """examples/nlp/text_classification_with_transformer.py: token+position embedding, one
    Transformer block, GlobalAveragePooling1D, softmax over 2 classes. pad_sequences pre-pads.
    As shipped no mask at all: the pooled output averages over the padding."""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    inputs = layers.Input(shape=(T,), dtype="int32")
    x = TokenAndPositionEmbedding(T, VOCAB, DIM, mask=fixed, name="tok_pos")(inputs)
    x = TransformerBlock(DIM, 2, DIM, masked=fixed)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(8, activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ids = ids_for(lengths(), pre=True)
    pad = step_pad(ids)
    return ZooCase(
        model=model,
        X=ids,
        y=(ids.sum(1) % 2).astype("int32"),
        kwargs={},
        source="keras-io examples/nlp/text_classification_with_transformer.py",
        name="kio_text_classification_transformer",
        variant=variant,
        root=None if fixed else "MC207",
        pads={None: pad},
        method="row",
        rows=lambda m: [m.get_layer("tok_pos").token_emb.embeddings],
        out_pad=[None],
    )


class NERModel(keras.Model):
    """examples/nlp/ner_transformers.py: a subclassed model, no mask as shipped (the custom loss
    masks y > 0 by hand, but attention still reads the padding)."""

    def __init__(self, num_tags: int, vocab_size: int, maxlen: int, masked: bool):
        super().__init__()
        self.embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, DIM, mask=masked)
        self.transformer_block = TransformerBlock(DIM, 2, DIM, masked=masked)
        self.ff = layers.Dense(DIM, activation="relu")
        self.ff_final = layers.Dense(num_tags, activation="softmax")

    def call(self, inputs: Any, training: bool = False) -> Any:
        x = self.embedding_layer(inputs)
        x = self.transformer_block(x)
        x = self.ff(x)
        return self.ff_final(x)


class NERLoss(keras.losses.Loss):
    """The example's CustomLoss: cross-entropy averaged over y_true > 0."""

    def __init__(self, name: str = "custom_ner_loss"):
        super().__init__(name=name)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
        loss = loss_fn(y_true, y_pred)
        mask = ops.cast(y_true > 0, "float32")
        return ops.sum(loss * mask) / ops.sum(mask)


def ner_case(variant: str) -> ZooCase:
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    n_tags = 6
    model = NERModel(n_tags, VOCAB, T, masked=fixed)
    ids = ids_for(lengths())
    pad = step_pad(ids)
    model(ids[:2])
    # As shipped: the custom loss. Fixed: the mask reaches the output, a plain loss honours it.
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy() if fixed else NERLoss())
    return ZooCase(
        model=model,
        X=ids,
        y=_sparse_labels(pad, n_tags),
        kwargs={},
        source="keras-io examples/nlp/ner_transformers.py",
        name="kio_ner_transformers",
        variant=variant,
        root=None if fixed else "MC207",
        pads={None: pad},
        method="row",
        rows=lambda m: [m.embedding_layer.token_emb.embeddings],
        out_pad=[pad],
        # The shipped loss finds padding from y itself (y > 0): perturbing padded labels would change
        # what it calls padding, so the oracle judges the as-shipped model by its outputs only.
        y_pad=pad if fixed else None,
        n_classes=n_tags,
    )


class PositionalEmbedding(layers.Layer):
    """examples/nlp/neural_machine_translation_with_transformer.py (Keras 3 version)."""

    def __init__(self, sequence_length: int, vocab_size: int, embed_dim: int, mask: bool = True, **kw: Any):
        super().__init__(**kw)
        self.token_embeddings = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.position_embeddings = layers.Embedding(input_dim=sequence_length, output_dim=embed_dim)
        self.masked = mask

    def call(self, inputs: Any) -> Any:
        length = ops.shape(inputs)[-1]
        positions = ops.arange(0, length, 1)
        return self.token_embeddings(inputs) + self.position_embeddings(positions)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return ops.not_equal(inputs, 0) if self.masked else None


class TransformerEncoder(layers.Layer):
    def __init__(self, embed_dim: int, dense_dim: int, num_heads: int, **kw: Any):
        super().__init__(**kw)
        self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [layers.Dense(dense_dim, activation="relu"), layers.Dense(embed_dim)]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        padding_mask = ops.cast(mask[:, None, :], dtype="int32") if mask is not None else None
        attention_output = self.attention(query=inputs, value=inputs, key=inputs, attention_mask=padding_mask)
        proj_input = self.layernorm_1(inputs + attention_output)
        return self.layernorm_2(proj_input + self.dense_proj(proj_input))


class TransformerDecoder(layers.Layer):
    def __init__(self, embed_dim: int, latent_dim: int, num_heads: int, **kw: Any):
        super().__init__(**kw)
        self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [layers.Dense(latent_dim, activation="relu"), layers.Dense(embed_dim)]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.layernorm_3 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        inputs, encoder_outputs = inputs
        causal_mask = self.get_causal_attention_mask(inputs)
        if mask is None:
            inputs_padding_mask, encoder_outputs_padding_mask = None, None
        else:
            inputs_padding_mask, encoder_outputs_padding_mask = mask
        attention_output_1 = self.attention_1(
            query=inputs, value=inputs, key=inputs, attention_mask=causal_mask, query_mask=inputs_padding_mask
        )
        out_1 = self.layernorm_1(inputs + attention_output_1)
        attention_output_2 = self.attention_2(
            query=out_1,
            value=encoder_outputs,
            key=encoder_outputs,
            query_mask=inputs_padding_mask,
            key_mask=encoder_outputs_padding_mask,
        )
        out_2 = self.layernorm_2(out_1 + attention_output_2)
        return self.layernorm_3(out_2 + self.dense_proj(out_2))

    def get_causal_attention_mask(self, inputs: Any) -> Any:
        n, t = ops.shape(inputs)[0], ops.shape(inputs)[1]
        i = ops.arange(t)[:, None]
        j = ops.arange(t)
        mask = ops.cast(i >= j, dtype="int32")
        return ops.tile(ops.reshape(mask, (1, t, t)), (n, 1, 1))


def nmt_case(variant: str) -> ZooCase:
    """examples/nlp/neural_machine_translation_with_transformer.py, Keras 3 version: correct as
    shipped (PositionalEmbedding.compute_mask, encoder attention_mask, decoder query/key masks).
    Broken: PositionalEmbedding without compute_mask (the mask forgotten), so attention, the
    decoder and the loss all read the padding. Source and target have the same length (T)."""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    enc_in = keras.Input(shape=(None,), dtype="int64", name="encoder_inputs")
    x = PositionalEmbedding(T, VOCAB, DIM, mask=fixed, name="enc_emb")(enc_in)
    enc_out = TransformerEncoder(DIM, 16, 2)(x)
    dec_in = keras.Input(shape=(None,), dtype="int64", name="decoder_inputs")
    x = PositionalEmbedding(T, VOCAB, DIM, mask=fixed, name="dec_emb")(dec_in)
    x = TransformerDecoder(DIM, 16, 2)([x, enc_out])
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(VOCAB, activation="softmax")(x)
    model = keras.Model({"encoder_inputs": enc_in, "decoder_inputs": dec_in}, out, name="transformer")
    model.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    src = ids_for(lengths(seed=1), seed=11)
    # target "[start] w1 .. wn [end]" of length T + 1: decoder_inputs = spa[:, :-1], y = spa[:, 1:]
    spa = ids_for(lengths(t=T + 1, lo=4, seed=2), t=T + 1, seed=12)
    dec, y = spa[:, :-1], spa[:, 1:]
    dec_pad = step_pad(dec)
    return ZooCase(
        model=model,
        X={"encoder_inputs": src, "decoder_inputs": dec},
        y=y,
        kwargs={},
        source="keras-io examples/nlp/neural_machine_translation_with_transformer.py",
        name="kio_nmt_transformer",
        variant=variant,
        root=None if fixed else "MC207",
        pads={"encoder_inputs": step_pad(src), "decoder_inputs": dec_pad},
        method="row",
        rows=lambda m: [
            m.get_layer("enc_emb").token_embeddings.embeddings,
            m.get_layer("dec_emb").token_embeddings.embeddings,
        ],
        out_pad=[dec_pad],
        y_pad=dec_pad,  # the output carries the decoder's mask; y's padding is where it is padded
        n_classes=VOCAB,
    )


def lstm_seq2seq_case(variant: str) -> ZooCase:
    """examples/nlp/lstm_seq2seq.py: character-level one-hot inputs, Input(shape=(None, tokens)),
    encoder LSTM(return_state) -> decoder LSTM(initial_state) -> softmax, categorical_crossentropy.
    As shipped the sequences are padded with the one-hot of " " and nothing is masked: the encoder
    state and the loss read the padding. Fixed: pad with zero vectors and mask with Masking(0.)."""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    n_tok, space = 12, 1
    enc_in = keras.Input(shape=(None, n_tok))
    e = layers.Masking(0.0)(enc_in) if fixed else enc_in
    _, h, c = layers.LSTM(DIM, return_state=True)(e)
    dec_in = keras.Input(shape=(None, n_tok))
    d = layers.Masking(0.0)(dec_in) if fixed else dec_in
    d = layers.LSTM(DIM, return_sequences=True)(d, initial_state=[h, c])
    out = layers.Dense(n_tok, activation="softmax")(d)
    model = keras.Model([enc_in, dec_in], out)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])

    rng = np.random.default_rng(4)
    enc_ids = ids_for(lengths(seed=3), vocab=n_tok, seed=13)
    enc_ids[enc_ids == space] = 2
    tgt_lens = lengths(t=T + 1, lo=4, seed=4)
    tgt = ids_for(tgt_lens, t=T + 1, vocab=n_tok, seed=14)
    tgt[tgt == space] = 2
    del rng

    def onehot(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pad = ids == 0
        oh = np.eye(n_tok, dtype="float32")[ids]
        oh[pad] = 0.0
        if not fixed:
            oh[pad, space] = 1.0  # the example pads with " "
        return oh, pad

    enc, enc_pad = onehot(enc_ids)
    dec_all, tgt_pad = onehot(tgt)
    dec, y = dec_all[:, :-1], dec_all[:, 1:]
    pad_vec = np.zeros(n_tok, dtype="float32")
    if not fixed:
        pad_vec[space] = 1.0
    return ZooCase(
        model=model,
        X=[enc, dec],
        y=y,
        kwargs={},
        source="keras-io examples/nlp/lstm_seq2seq.py",
        name="kio_lstm_seq2seq",
        variant=variant,
        root=None if fixed else "MC211",
        pads={0: enc_pad, 1: tgt_pad[:, :-1]},
        method="append",
        out_pad=[tgt_pad[:, :-1]],
        # The output carries the decoder input's mask: the step fed the last character has the pad
        # label as its target, and the example (like the NMT one) scores that step.
        y_pad=tgt_pad[:, :-1],
        n_classes=n_tok,
        vocab=n_tok,
        pad_id=space,
    )


def bilstm_imdb_case(variant: str) -> ZooCase:
    """examples/nlp/bidirectional_lstm_imdb.py: Embedding (no mask_zero) -> 2 x Bidirectional(LSTM)
    -> sigmoid, on pad_sequences' default pre-padding. Fixed: mask_zero=True."""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(VOCAB, DIM, mask_zero=fixed, name="emb")(inputs)
    x = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(4))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    ids = ids_for(lengths(), pre=True)
    return row_case(
        model,
        ids,
        (ids.sum(1) % 2).astype("float32"),
        "examples/nlp/bidirectional_lstm_imdb.py",
        "kio_bidirectional_lstm_imdb",
        variant,
        root=None if fixed else "MC207",
    )


class MaskedConv1D(layers.Layer):
    """The fix for a CNN on padded ids: zero the padded steps before and after the convolution and
    pass the mask on, so neither the convolution nor the pooling reads the padding."""

    def __init__(self, filters: int, kernel_size: int, **kw: Any):
        super().__init__(**kw)
        self.conv = layers.Conv1D(filters, kernel_size, padding="same", activation="relu")
        self.supports_masking = True

    def call(self, x: Any, mask: Any = None) -> Any:
        m = ops.expand_dims(ops.cast(mask, x.dtype), -1)
        return self.conv(x * m) * m


def pretrained_cnn_case(variant: str) -> ZooCase:
    """examples/nlp/pretrained_word_embeddings.py: frozen Embedding initialised from GloVe (here a
    fixed random matrix), Conv1D(5) -> MaxPooling1D(5) -> Conv1D -> GlobalMaxPooling1D -> softmax on
    TextVectorization's post-padded ids; no mask. Fixed: mask_zero=True, masked convolutions and
    a masked GlobalAveragePooling1D."""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    t = 12
    matrix = np.random.default_rng(6).normal(size=(VOCAB, DIM)).astype("float32")
    inputs = keras.Input(shape=(None,), dtype="int64")
    emb = layers.Embedding(
        VOCAB,
        DIM,
        embeddings_initializer=keras.initializers.Constant(matrix),
        trainable=False,
        mask_zero=fixed,
        name="emb",
    )
    x = emb(inputs)
    if fixed:
        x = MaskedConv1D(8, 3)(x)
        x = MaskedConv1D(8, 3)(x)
        x = layers.GlobalAveragePooling1D()(x)
    else:
        x = layers.Conv1D(8, 3, activation="relu")(x)
        x = layers.MaxPooling1D(2)(x)
        x = layers.Conv1D(8, 3, activation="relu")(x)
        x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(8, activation="relu")(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    ids = ids_for(lengths(t=t, lo=4), t=t)
    return row_case(
        model,
        ids,
        (ids.sum(1) % 3).astype("int32"),
        "examples/nlp/pretrained_word_embeddings.py",
        "kio_pretrained_embeddings_cnn",
        variant,
        root=None if fixed else "MC207",
    )


class ZeroPadded(layers.Layer):
    """The FNet fix: zero the padded steps (ids == 0) before the Fourier mixing."""

    def call(self, inputs: Any) -> Any:
        x, ids = inputs
        return x * ops.expand_dims(ops.cast(ops.not_equal(ids, 0), x.dtype), -1)


class MaskedMean(layers.Layer):
    """The FNet fix: average over the real steps (ids != 0) only."""

    def call(self, inputs: Any) -> Any:
        x, ids = inputs
        m = ops.expand_dims(ops.cast(ops.not_equal(ids, 0), x.dtype), -1)
        return ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)


def fnet_case(variant: str) -> ZooCase:
    """examples/nlp/fnet_classification_with_keras_hub.py: keras_hub TokenAndPositionEmbedding
    (mask_zero=True) -> FNetEncoder -> GlobalAveragePooling1D -> sigmoid. In keras-hub 0.32 the
    TokenAndPositionEmbedding output carries no mask despite mask_zero=True (its compute_mask is the
    default, the token embedding's mask is lost in the sum), and FNetEncoder takes no mask by design:
    the Fourier transform mixes the padded steps into every real one and the pooling averages over
    them. Fixed here by hand: zero the padded steps before the mixing, average over real steps."""
    hub = _hub()
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    input_ids = keras.Input(shape=(None,), dtype="int64", name="input_ids")
    x = hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=VOCAB, sequence_length=T, embedding_dim=DIM, mask_zero=not fixed, name="tok_pos"
    )(input_ids)
    if fixed:
        x = ZeroPadded()([x, input_ids])
    x = hub.layers.FNetEncoder(intermediate_dim=16)(inputs=x)
    x = MaskedMean()([x, input_ids]) if fixed else layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(input_ids, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    ids = ids_for(lengths())
    return ZooCase(
        model=model,
        X=ids,
        y=(ids.sum(1) % 2).astype("float32"),
        kwargs={},
        source="keras-io examples/nlp/fnet_classification_with_keras_hub.py",
        name="kio_fnet_classification",
        variant=variant,
        root=None if fixed else "MC101",
        pads={None: step_pad(ids)},
        method="row",
        rows=lambda m: [m.get_layer("tok_pos").token_embedding.embeddings],
        out_pad=[None],
    )


def miniature_gpt_case(variant: str) -> ZooCase:
    """examples/nlp/text_generation_with_miniature_gpt.py: token+position embedding, a causal
    Transformer block, per-step softmax over the vocabulary, sparse CE on post-padded sequences.
    Causal attention keeps real steps blind to later padding, but the loss counts the padded
    steps. Fixed: mask_zero + compute_mask, so the output carries the mask into the loss.
    (The example's second output, the block's activations with loss None, is left out.)"""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    inputs = layers.Input(shape=(T,), dtype="int32")
    x = TokenAndPositionEmbedding(T, VOCAB, DIM, mask=fixed, name="tok_pos")(inputs)
    x = TransformerBlock(DIM, 2, DIM, masked=fixed, causal=True)(x)
    outputs = layers.Dense(VOCAB)(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    toks = ids_for(lengths(t=T + 1, lo=4), t=T + 1, seed=7)
    x_ids, y = toks[:, :-1], toks[:, 1:]
    return ZooCase(
        model=model,
        X=x_ids,
        y=y,
        kwargs={},
        source="keras-io examples/nlp/text_generation_with_miniature_gpt.py",
        name="kio_miniature_gpt",
        variant=variant,
        root=None if fixed else "MC207",
        pads={None: step_pad(x_ids)},
        method="row",
        rows=lambda m: [m.get_layer("tok_pos").token_emb.embeddings],
        out_pad=[step_pad(x_ids)],
        y_pad=step_pad(x_ids),  # the output carries the input's mask: those are the steps it ignores
        n_classes=VOCAB,
    )


class TemporalSoftmax(layers.Layer):
    """guides/understanding_masking_and_padding.py, "Writing layers that need mask information": a
    softmax over the time axis that discards masked steps. (The guide's code sums over axis -1 of
    a (B, T, 1) tensor; its text says axis 1, which is what this does.) `use_mask=False` is the
    broken variant: a plain softmax over all steps, padding included."""

    def __init__(self, use_mask: bool = True, **kw: Any):
        super().__init__(**kw)
        self.use_mask = use_mask

    def call(self, inputs: Any, mask: Any = None) -> Any:
        if self.use_mask and mask is not None:
            m = ops.expand_dims(ops.cast(mask, "float32"), -1)
        else:
            m = ops.ones_like(inputs)
        inputs_exp = ops.exp(inputs) * m
        return inputs_exp / ops.sum(inputs_exp, axis=1, keepdims=True)


def guide_temporal_softmax_case(variant: str) -> ZooCase:
    """The guide's model: Embedding(mask_zero=True) -> Dense(1) -> TemporalSoftmax; uncompiled,
    no y (the guide only calls it)."""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=DIM, mask_zero=True, name="emb")(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax(use_mask=fixed)(x)
    model = keras.Model(inputs, outputs)
    ids = ids_for(lengths(), vocab=10)
    pad = step_pad(ids)
    return row_case(
        model,
        ids,
        None,
        "guides/understanding_masking_and_padding.py",
        "guide_temporal_softmax",
        variant,
        root=None,  # MC108 (MC102 is info: uncompiled, no y); whether MC104 should lead is open
        vocab=10,
        out_pad=[pad],
    )


class CustomEmbedding(layers.Layer):
    """guides/understanding_masking_and_padding.py, "Supporting masking in your custom layers"."""

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False, **kw: Any):
        super().__init__(**kw)
        self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, mask_zero
        self.embeddings = self.add_weight(shape=(input_dim, output_dim), initializer="random_normal")

    def call(self, inputs: Any) -> Any:
        return ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return ops.not_equal(inputs, 0) if self.mask_zero else None


class MyActivation(layers.Layer):
    """The guide's mask-passing activation; `passes=False`: supports_masking forgotten."""

    def __init__(self, passes: bool = True, **kw: Any):
        super().__init__(**kw)
        self.supports_masking = passes

    def call(self, inputs: Any) -> Any:
        return ops.relu(inputs)


def guide_custom_layers_case(variant: str) -> ZooCase:
    """The guide's CustomEmbedding(mask_zero=True) -> MyActivation -> LSTM, with a sigmoid head.
    Broken: MyActivation without supports_masking drops the mask before the LSTM."""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = CustomEmbedding(VOCAB, DIM, mask_zero=True, name="emb")(inputs)
    x = MyActivation(passes=fixed)(x)
    x = layers.LSTM(4)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", loss="binary_crossentropy")
    ids = ids_for(lengths())
    return row_case(
        model,
        ids,
        (ids.sum(1) % 2).astype("float32"),
        "guides/understanding_masking_and_padding.py",
        "guide_custom_layers",
        variant,
        root=None if fixed else "MC101",
    )


class HanAttention(layers.Layer):
    """textClassifierHATT.py's `AttLayer`: u = tanh(W h + b), a = softmax(u . u_w), the sum of
    a * h; the steps the mask marks as padding get no weight (a sentence of padding only, none)."""

    def __init__(self, dim: int, **kw: Any):
        super().__init__(**kw)
        self.dim = dim
        self.supports_masking = True

    def build(self, shape: Any) -> None:
        self.w = self.add_weight(shape=(shape[-1], self.dim), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.dim,), initializer="zeros")
        self.u = self.add_weight(shape=(self.dim, 1), initializer="glorot_uniform")

    def call(self, x: Any, mask: Any = None) -> Any:
        score = ops.squeeze(ops.matmul(ops.tanh(ops.matmul(x, self.w) + self.b), self.u), -1)
        if mask is not None:
            score = ops.where(mask, score, -1e9)
        weights = ops.softmax(score, axis=-1)
        if mask is not None:
            weights = weights * ops.cast(mask, weights.dtype)
        return ops.sum(x * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        return None


def han_case(variant: str, broken_by: str = "conv") -> ZooCase:
    """A hierarchical attention network (Yang et al. 2016) as richliao/textClassifier's
    textClassifierHATT.py builds it in Keras: a sentence encoder (Embedding -> BiGRU ->
    attention) under TimeDistributed, then BiGRU -> attention over the sentences, here with the
    sentences' own mask (`ops.any(doc != 0, -1)`) for the document level (keras-team/keras#5212
    and #7292 ask how to mask this model). Broken (`broken_by`): "conv", a Conv1D over the
    words before the BiGRU (a CNN sentence encoder: it drops the mask and reads the padding);
    "mask_zero", the word Embedding without `mask_zero`."""
    fixed = variant == "correct"
    keras.utils.set_random_seed(0)
    sentences, words = 5, 8
    word_ids = keras.Input(shape=(words,), dtype="int32")
    h = layers.Embedding(VOCAB, DIM, mask_zero=fixed or broken_by != "mask_zero", name="emb")(word_ids)
    if not fixed and broken_by == "conv":
        h = layers.Conv1D(DIM, 3, padding="same", name="word_conv")(h)
    h = layers.Bidirectional(layers.GRU(4, return_sequences=True))(h)
    encoder = keras.Model(word_ids, HanAttention(4)(h), name="sentence_encoder")
    doc = keras.Input(shape=(sentences, words), dtype="int32")
    real_sentences = ops.any(ops.not_equal(doc, 0), axis=-1)
    s = layers.TimeDistributed(encoder, name="sentences")(doc)
    s = layers.Bidirectional(layers.GRU(4, return_sequences=True))(s, mask=real_sentences)
    outputs = layers.Dense(3, activation="softmax")(HanAttention(4)(s, mask=real_sentences))
    model = keras.Model(doc, outputs)
    model.compile("adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(3)
    ids = np.zeros((N, sentences, words), dtype="int32")
    for i in range(N):
        for j in range(int(rng.integers(1, sentences))):  # every document has padded sentences
            n = int(rng.integers(2, words))
            ids[i, j, :n] = rng.integers(1, VOCAB, size=n)
    return ZooCase(
        model=model,
        X=ids,
        y=(ids.sum(axis=(1, 2)) % 3).astype("int32"),
        kwargs={},
        source="richliao/textClassifier textClassifierHATT.py",
        name="han_hierarchical_attention" + ("" if broken_by == "conv" else "_" + broken_by),
        variant=variant,
        pads={None: ids == 0},
        method="row",
        rows=lambda m: [m.get_layer("sentences").layer.get_layer("emb").embeddings],
        out_pad=[None],
        root=None if fixed else {"conv": "MC101", "mask_zero": "MC207"}[broken_by],
    )


# --------------------------------------------------------------------------- registry

KERAS_IO: dict[str, Callable[[str], ZooCase]] = {
    "kio_text_classification_transformer": text_classification_case,
    "kio_ner_transformers": ner_case,
    "kio_nmt_transformer": nmt_case,
    "kio_lstm_seq2seq": lstm_seq2seq_case,
    "kio_bidirectional_lstm_imdb": bilstm_imdb_case,
    "kio_pretrained_embeddings_cnn": pretrained_cnn_case,
    "kio_fnet_classification": fnet_case,
    "kio_miniature_gpt": miniature_gpt_case,
    "guide_temporal_softmax": guide_temporal_softmax_case,
    "guide_custom_layers": guide_custom_layers_case,
    "han_hierarchical_attention": han_case,
    "han_hierarchical_attention_mask_zero": lambda variant: han_case(variant, "mask_zero"),
}


def case_ids() -> list[str]:
    """Every zoo case, as "<name>:<variant>" keys for `build`."""
    out = []
    for name in HUB_BACKBONES:
        out += [f"hub:{name}:correct", f"hub:{name}:max_head"]
        # GPT-2 is causal and the data post-padded: a padding_mask of ones lets no real step see
        # the padding (the oracle agrees), so it is no broken variant there.
        if name != "gpt2":
            out.append(f"hub:{name}:ones_mask")
    out += ["gpt2lm:correct", "gpt2lm:broken"]
    for name in KERAS_IO:
        out += [f"{name}:correct", f"{name}:broken"]
    return out


@cache
def build(key: str) -> ZooCase:
    """Build a zoo case once per process."""
    parts = key.split(":")
    if parts[0] == "hub":
        return hub_case(parts[1], parts[2])
    if parts[0] == "gpt2lm":
        return gpt2_lm_case(parts[1])
    return KERAS_IO[parts[0]](parts[1])
