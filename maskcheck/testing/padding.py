"""Builders shared by the cases of the padding checks (MC2xx)."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from maskcheck.checks.base import CaseInput
from maskcheck.demo import make_data
from maskcheck.synth import padded_floats, padded_ids


def tagger_on(x: np.ndarray, mask_value: float = 0.0) -> CaseInput:
    """Masking(mask_value) -> LSTM -> Dense per step, fed `x` of shape (samples, steps, features)."""
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            layers.Masking(mask_value),
            layers.LSTM(4, return_sequences=True),
            layers.Dense(2),
        ]
    )
    return CaseInput(model, x)


def ids_tagger(
    x: np.ndarray, input_dim: int = 20, mask_zero: bool = True, per_step: bool = True
) -> CaseInput:
    """Embedding(input_dim, mask_zero) -> LSTM -> Dense, fed the token ids `x` (samples, steps)."""
    inp = keras.Input(x.shape[1:], dtype="int32")
    e = layers.Embedding(input_dim, 4, mask_zero=mask_zero)(inp)
    out = layers.Dense(2)(layers.LSTM(3, return_sequences=per_step)(e))
    return CaseInput(keras.Model(inp, out), x)


def seed_case(fixed: bool) -> CaseInput:
    """The motivating seed (`maskcheck.demo`): X reshaped from (features, time), or transposed right."""
    data = make_data(n=64, seed=1)
    x = data.X_fixed if fixed else data.X_broken
    model = keras.Sequential(
        [
            keras.Input((20, 5)),
            layers.Masking(0.0),
            layers.LSTM(4, return_sequences=True),
            layers.Dense(2),
        ]
    )
    return CaseInput(model, x)


def int_padded(truncated: bool) -> CaseInput:
    """Float features padded with 0 and stored as int32: standardised ones (truncated to mostly 0)
    or large ones (that keep their information)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 10, 3)) * (0.6 if truncated else 40) + (0 if truncated else 100)
    x[:, 7:] = 0
    model = keras.Sequential(
        [keras.Input((10, 3)), layers.Masking(0.0), layers.LSTM(3, return_sequences=True)]
    )
    return CaseInput(model, x.astype("int32"))


def masking_on(steps_axis: bool) -> CaseInput:
    """Masking(0.) on univariate series: given as (batch, 10, 1) into an LSTM, or as (batch, 10)
    into a Dense."""
    x = padded_floats(n=16, f=1)
    if steps_axis:
        model = keras.Sequential([keras.Input((10, 1)), layers.Masking(0.0), layers.LSTM(3), layers.Dense(1)])
        return CaseInput(model, x)
    model = keras.Sequential([keras.Input((10,)), layers.Masking(0.0), layers.Dense(1)])
    return CaseInput(model, x[..., 0])


# Data of the cases (shape (samples, 10, 3) floats or (samples, 10) ids unless said otherwise).


def relu_like() -> np.ndarray:
    """ReLU-like features: many zero entries, but no step that is zero in every feature."""
    rng = np.random.default_rng(3)
    x = np.maximum(rng.normal(size=(64, 10, 3)), 0).astype("float32")
    x[..., 0][np.all(x == 0, axis=-1)] = 0.5
    return x


def one_hot() -> np.ndarray:
    """One-hot features without padding."""
    rng = np.random.default_rng(4)
    return np.eye(3, dtype="float32")[rng.integers(0, 3, size=(64, 10))]


def scaled_padding() -> np.ndarray:
    """Zero-padded floats standardised per feature over the padded array, as a StandardScaler
    fitted on it would: the padding becomes `-mean / std`, a different value per feature."""
    x = padded_floats(n=32)
    flat = x.reshape(-1, x.shape[-1])
    mean, std = flat.mean(0), flat.std(0)
    return ((x - mean) / std).astype("float32")


def with_holes() -> np.ndarray:
    """Zero-padded floats with an all-zero step inside sequences 0 and 5."""
    x = padded_floats(n=32)
    x[0, 3] = 0.0
    x[5, 1] = 0.0
    return x


def with_empty() -> np.ndarray:
    """Zero-padded floats where sequences 4 and 9 are padding only."""
    x = padded_floats(n=32)
    x[[4, 9]] = 0.0
    return x


def ids_padded_with(pad: int) -> np.ndarray:
    """Token ids 1..19 padded with `pad` instead of 0."""
    x = padded_ids(n=32)
    x[x == 0] = pad
    return x


def ids_with_zero_tokens() -> np.ndarray:
    """Zero-padded token ids where every third sequence has a real token 0 at step 1."""
    x = padded_ids(n=32)
    x[::3, 1] = 0
    return x


def ids_up_to(top: int) -> np.ndarray:
    """Zero-padded token ids whose largest id is `top`."""
    x = padded_ids(n=32, vocab=top + 1)
    x[0, 0] = top
    return x


def nested_embedding(masked: bool, n: int = 32, t: int = 10, vocab: int = 40) -> CaseInput:
    """keras-io's token+position embedding layer (an Embedding nested in a custom layer) -> LSTM ->
    Dense per step; `masked`: the custom layer passes `ids != 0` on as the mask."""
    from maskcheck.testing.custom_layers import TokenAndPosition

    inp = keras.Input((t,), dtype="int32")
    x = TokenAndPosition(t, vocab, 4, masked=masked)(inp)
    out = layers.Dense(2)(layers.LSTM(3, return_sequences=True)(x))
    return CaseInput(keras.Model(inp, out), padded_ids(n, t, vocab))


def encoder_decoder_ids(decoder_mask_zero: bool, n: int = 32, t: int = 10) -> CaseInput:
    """Encoder Embedding(mask_zero=True) -> LSTM state -> decoder Embedding(mask_zero=?) -> LSTM:
    the decoder's padding is judged on its own, whatever masks the encoder."""
    enc_in = keras.Input((t,), dtype="int32", name="encoder_ids")
    dec_in = keras.Input((t,), dtype="int32", name="decoder_ids")
    _, h, c = layers.LSTM(4, return_state=True)(layers.Embedding(20, 4, mask_zero=True)(enc_in))
    d = layers.Embedding(20, 4, mask_zero=decoder_mask_zero)(dec_in)
    out = layers.Dense(3)(layers.LSTM(4, return_sequences=True)(d, initial_state=[h, c]))
    model = keras.Model([enc_in, dec_in], out)
    return CaseInput(model, [padded_ids(n, t, seed=1), padded_ids(n, t, seed=2)])


def ids_with_attention_mask(n: int = 32, t: int = 10) -> CaseInput:
    """No Keras mask: the padding reaches attention only as `attention_mask=(ids != 0)[:, None, :]`
    and the pooling is masked by hand."""
    inp = keras.Input((t,), dtype="int32")
    keep = keras.ops.not_equal(inp, 0)
    x = layers.Embedding(20, 8)(inp)
    a = layers.MultiHeadAttention(2, 4)(x, x, attention_mask=keep[:, None, :])
    w = keras.ops.cast(keep, "float32")[..., None]
    pooled = keras.ops.sum(a * w, axis=1) / keras.ops.maximum(keras.ops.sum(w, axis=1), 1.0)
    return CaseInput(keras.Model(inp, layers.Dense(2)(pooled)), padded_ids(n, t))


def ids_and_padding_mask(
    mask: str = "right",
    n: int = 32,
    t: int = 10,
    pool: str = "masked",
    attend_to_padding: bool = False,
    mask_name: str = "padding_mask",
) -> CaseInput:
    """The keras-hub convention: `token_ids` and a `padding_mask` input, an Embedding without
    mask_zero, attention masked by `padding_mask`. mask: "right" (ids != 0), "ones" (np.ones_like),
    "shifted" (one step short), "first_pad" (also the first pad step: GPT-2's end-token convention).
    pool: "masked" (mean over real steps by the padding mask), "max" (GlobalMaxPooling1D over
    every step, padding included). attend_to_padding: attention gets no `attention_mask` (it
    mixes the padded keys into real steps, and no pooling is to blame). mask_name: the mask
    input's name ("keep": not named like a mask, found because attention consumes it)."""
    ids_in = keras.Input((t,), dtype="int32", name="token_ids")
    mask_in = keras.Input((t,), dtype="int32", name=mask_name)
    x = layers.Embedding(20, 8)(ids_in)
    keep = keras.ops.cast(mask_in, "bool")
    attention = layers.MultiHeadAttention(2, 4)
    a = attention(x, x) if attend_to_padding else attention(x, x, attention_mask=keep[:, None, :])
    if pool == "max":
        # Over the residual stream, as a Transformer head would: the padded steps' own embeddings
        # reach the max whatever attention does at padded query positions (Keras versions differ).
        pooled = layers.GlobalMaxPooling1D()(layers.Add()([x, a]))
    else:
        w = keras.ops.cast(mask_in, "float32")[..., None]
        pooled = keras.ops.sum(a * w, axis=1) / keras.ops.maximum(keras.ops.sum(w, axis=1), 1.0)
    model = keras.Model({"token_ids": ids_in, mask_name: mask_in}, layers.Dense(2)(pooled))
    ids = padded_ids(n, t)
    real = ids != 0
    if mask == "ones":
        m = np.ones_like(ids)
    elif mask == "shifted":  # one step short: the last real token is marked as padding
        m = np.concatenate([real[:, 1:], np.zeros_like(real[:, :1])], axis=1).astype("int32")
    elif mask == "first_pad":  # GPT-2's convention: the first pad (end) token is marked real
        m = (real | np.concatenate([np.ones_like(real[:, :1]), real[:, :-1]], axis=1)).astype("int32")
    else:
        m = real.astype("int32")
    return CaseInput(model, {"token_ids": ids, mask_name: m})


def unmasked_floats(
    per_step_only: bool = False, masked_other: bool = False, n: int = 32, t: int = 10
) -> CaseInput:
    """Zero-padded float sequences and no Masking: LSTM (last state) -> Dense, so the output reads
    the padding; or `per_step_only` Dense per step (no step sees another). `masked_other`: a
    second, id input goes through Embedding(mask_zero=True), so masking was clearly intended."""
    x = padded_floats(n, t, 3)
    inp = keras.Input((t, 3))
    h = layers.Dense(4)(inp) if per_step_only else layers.LSTM(4)(inp)
    if not masked_other:
        return CaseInput(keras.Model(inp, layers.Dense(2)(h)), x)
    ids_in = keras.Input((t,), dtype="int32")
    e = layers.LSTM(4)(layers.Embedding(20, 4, mask_zero=True)(ids_in))
    h = layers.Concatenate()([h, e])
    return CaseInput(keras.Model([inp, ids_in], layers.Dense(2)(h)), [x, padded_ids(n, t, seed=3)])


def ids_mean_by_hand(n: int = 32, t: int = 10) -> CaseInput:
    """Embedding(mask_zero=False) -> a custom layer that averages over `ids != 0` by hand -> Dense."""
    from maskcheck.testing.custom_layers import MeanOverRealIds

    inp = keras.Input((t,), dtype="int32")
    pooled = MeanOverRealIds()([layers.Embedding(20, 4)(inp), inp])
    return CaseInput(keras.Model(inp, layers.Dense(2)(pooled)), padded_ids(n, t))


def sentence_encoder(
    mask_zero: bool, by_hand: bool = False, value_mask: bool = False, start_token: bool = False, n: int = 32
) -> CaseInput:
    """A hierarchical model on (documents, 5 sentences, 8 words) ids, padded words and padded
    sentences: TimeDistributed over a sentence encoder, Embedding(20, 4, mask_zero) -> LSTM, then
    a GRU over the sentences with their own mask (`ops.any(doc != 0, -1)`). `by_hand`: a mean over
    the ids != 0 computed inside a custom layer instead of the LSTM; `value_mask`: the
    Embedding's row 0 set to zeros and a mask read from the values after it; `start_token`: every sentence
    opens with token 0 and is padded with id 1 (RoBERTa's convention), the LSTM masked by
    `ids != 1`, no padded sentences."""
    from maskcheck.testing.custom_layers import MaskFromValues, MeanOverRealIds

    words = keras.Input((8,), dtype="int32")
    embedding = layers.Embedding(20, 4, mask_zero=mask_zero, name="word_emb")
    emb = embedding(words)
    if by_hand:
        encoded = MeanOverRealIds()([emb, words])
    elif start_token:
        encoded = layers.LSTM(4)(emb, mask=keras.ops.not_equal(words, 1))
    else:
        encoded = layers.LSTM(4)(MaskFromValues()(emb) if value_mask else emb)
    if value_mask:
        table = np.array(keras.ops.convert_to_numpy(embedding.embeddings))
        table[0] = 0.0
        embedding.embeddings.assign(table)
    encoder = keras.Model(words, encoded, name="encoder")
    doc = keras.Input((5, 8), dtype="int32")
    real = keras.ops.any(keras.ops.not_equal(doc, 0), axis=-1)
    h = layers.GRU(4)(layers.TimeDistributed(encoder, name="sentences")(doc), mask=real)
    ids = padded_ids(n * 5, 8, vocab=19 if start_token else 20).reshape(n, 5, 8)
    if start_token:
        ids = np.where(ids == 0, 1, ids + 1)  # pad id 1, tokens 2..
        ids = np.concatenate([np.zeros_like(ids[..., :1]), ids[..., :-1]], axis=-1)  # token 0 first
        return CaseInput(keras.Model(doc, layers.Dense(2)(h)), ids.astype("int32"))
    for i in range(n):
        ids[i, 2 + i % 3 :] = 0  # padded sentences
    return CaseInput(keras.Model(doc, layers.Dense(2)(h)), ids)
