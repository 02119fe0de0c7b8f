"""MC2xx: the padding in the data against the masks the model makes of it (needs X)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
from keras import layers

from maskcheck import bridge as kb
from maskcheck import testing as C
from maskcheck.checks._legacy import Case, register
from maskcheck.checks.base import CaseInput, Check
from maskcheck.facts.context import AuditContext
from maskcheck.facts.graph import creators
from maskcheck.facts.layout import InputLayout, LayoutAccumulator, is_uniform, mask_sources, vector_repr
from maskcheck.report import Finding, Severity


def data_consumers(model: Any, source: Any) -> list[LayoutAccumulator]:
    """One streaming layout accumulator per model input."""
    sources = mask_sources(model)
    specs = source.specs or []
    n = len(specs) if specs else 1
    accs = []
    for i in range(n):
        src = sources[i] if i < len(sources) else None
        dtype = specs[i].dtype if specs else "float32"
        name = specs[i].name if specs else "X"
        accs.append(LayoutAccumulator(i, name, src, dtype))
    return accs


def _masked_anywhere(ctx: AuditContext) -> bool:
    """Some layer makes a mask or receives one (also one computed by hand and passed as mask=)."""
    return bool(creators(ctx.trace)) or any(e.any_mask_in for e in ctx.events)


def _where(lay: InputLayout, multi: bool) -> str:
    return f"input '{lay.name}'" if multi else "X"


def _idx(indices: list[int], total: int) -> str:
    text = ", ".join(str(i) for i in indices)
    return f"[{text}{', ...' if total > len(indices) else ''}]"


class DataCheck(Check):
    family = "padding"

    def layouts(self, ctx: AuditContext) -> list[InputLayout]:
        return [lay for lay in ctx.layouts if lay.samples]

    def multi(self, ctx: AuditContext) -> bool:
        return len(ctx.layouts) > 1


def _seed_case(fixed: bool, lengths: tuple[int, int] = (8, 21)) -> Any:
    def build() -> CaseInput:
        from maskcheck.demo import make_data

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

    return build


def _tagger_on(x_factory: Any, mask_value: float = 0.0, t: int = 10, f: int = 3) -> Any:
    def build() -> CaseInput:
        model = keras.Sequential(
            [
                keras.Input((t, f)),
                layers.Masking(mask_value),
                layers.LSTM(4, return_sequences=True),
                layers.Dense(2),
            ]
        )
        return CaseInput(model, x_factory())

    return build


def _relu_like() -> np.ndarray:
    rng = np.random.default_rng(3)
    x = np.maximum(rng.normal(size=(64, 10, 3)), 0).astype("float32")
    x[..., 0][np.all(x == 0, axis=-1)] = 0.5  # no all-zero step, just sparse zero entries
    return x


def _one_hot() -> np.ndarray:
    rng = np.random.default_rng(4)
    return np.eye(3, dtype="float32")[rng.integers(0, 3, size=(64, 10))]


@register
class PaddingMisreshaped(DataCheck):
    """## What it does
    Finds padding scattered inside timesteps in a pattern that an axis swap makes clean: the
    sequences were built as (samples, features, time), padded along time, and then reshaped
    to (samples, time, features). Some steps end up part pad, part data; only a few happen to be
    all pad. It names the transform that fixes the layout and how many steps the mask covers now
    and after the fix.

    ## Why is this bad?
    `Masking` only masks steps whose features *all* equal `mask_value`. After the wrong reshape
    almost no step is all pad, so the real padding is fed to the model as data, and the values
    of every step are a mix of different timesteps.

    ## Example
    ```python
    X = X_ft.reshape(-1, 20, 5)          # X_ft is (samples, 5 features, 20 steps)
    ```

    ## Use instead
    ```python
    X = X_ft.transpose(0, 2, 1)          # or np.swapaxes(X_ft, 1, 2)
    ```
    """

    code = "MC201"
    name = "padding-misreshaped"
    severity = Severity.ERROR
    summary = "padding scattered inside steps: the array was reshaped instead of transposed"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            if lay.transform is None or lay.after_fix is None:
                continue
            st = lay.by_mask or lay.by_pad
            assert st is not None
            t, f = lay.shape[0], lay.shape[1]
            now, after = st.full_steps, lay.after_fix.full_steps
            if lay.transform == "reshape":
                fix = (
                    f"build the array with a transpose, not a reshape: `X = X_ft.transpose(0, 2, 1)` "
                    f"(or `np.swapaxes(X_ft, 1, 2)`) where X_ft is (samples, {f}, {t}); for the array "
                    f"you passed: `X = X.reshape(-1, {f}, {t}).transpose(0, 2, 1)`"
                )
            else:
                fix = "swap the time and feature axes: `X = X.transpose(0, 2, 1)` (or `np.swapaxes(X, 1, 2)`)"
            yield self.finding(
                f"{_where(lay, self.multi(ctx))}: {st.partial_samples} of {lay.samples} sequences have steps that "
                f"are part padding, part data ({st.partial_steps} steps), e.g. samples "
                f"{_idx(st.partial_idx[:8], st.partial_samples)}. Read as (features, time) the padding "
                f"becomes a clean block at the sequence ends in {lay.transform_clean:.0%} of them. "
                f"The mask covers {now} of {st.steps} steps now and would cover {after} after the fix.",
                fix,
                layer=lay.mask_source_name,
                samples=st.partial_idx,
                masked_steps_now=now,
                masked_steps_after_fix=after,
                transform=lay.transform,
            )


PaddingMisreshaped.INVALID = (
    Case("the seed: (features, time) batches reshaped to (time, features)", _seed_case(False), True),
)
PaddingMisreshaped.VALID = (
    Case("the same data transposed correctly", _seed_case(True), False),
    Case("ReLU-like features with sparse zero entries, no padding", _tagger_on(_relu_like), False),
    Case("one-hot features, no padding", _tagger_on(_one_hot), False),
)


@register
class MaskCoversNothing(DataCheck):
    """## What it does
    Finds a `Masking` layer whose `mask_value` matches no (or almost no) complete timestep while
    the data clearly hold padding: constant runs at the sequence ends, or steps that are part
    pad. Also warns when the data are padded and no layer in the model makes a mask at all.

    ## Why is this bad?
    The model trains and predicts on padding as if it were data; masking "does nothing", which
    is exactly what users observe when accuracy is the same with and without `Masking`.

    ## Example
    ```python
    X = pad_sequences(seqs, padding="post", value=-1.0, dtype="float32")
    model = keras.Sequential([keras.Input((20, 5)), layers.Masking(0.0), ...])
    ```

    ## Use instead
    ```python
    model = keras.Sequential([keras.Input((20, 5)), layers.Masking(-1.0), ...])
    ```
    """

    code = "MC202"
    name = "mask-covers-nothing"
    severity = Severity.ERROR
    summary = "the Masking layer's mask_value matches (almost) no complete step, yet X is padded"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        any_source = _masked_anywhere(ctx)
        for lay in self.layouts(ctx):
            if lay.mask_source == "Masking" and lay.by_mask is not None:
                st = lay.by_mask
                evidence = []
                if lay.by_pad is not None and not lay.pad_matches_mask and lay.by_pad.padded_samples:
                    evidence.append(
                        f"{lay.by_pad.padded_samples} sequences end in runs of the constant vector "
                        f"{lay.pad_repr()}"
                    )
                if lay.transform is not None and lay.by_pad is not None:
                    evidence.append(
                        f"{lay.by_pad.partial_samples} sequences have steps that are part padding"
                    )
                if not evidence or st.full_share > 0.01:
                    continue
                mv = float(np.asarray(lay.mask_value).ravel()[0]) if lay.mask_value is not None else 0.0
                yield self.finding(
                    f"{_where(lay, self.multi(ctx))}: Masking(mask_value={mv:g}) matches {st.full_steps} of "
                    f"{st.steps} steps ({st.full_share:.1%}), yet {'; '.join(evidence)}. The mask covers "
                    "nothing and the model trains on padding.",
                    "fix the layout first (see MC201), then check that padded steps equal mask_value"
                    if lay.transform
                    else f"make mask_value equal the padding: `layers.Masking(mask_value={_pad_literal(lay)})`"
                    if _uniform(lay)
                    else "pad after scaling, with the mask value (see MC203)",
                    layer=lay.mask_source_name,
                )
            elif (
                lay.mask_source is None and not any_source and lay.by_pad is not None and lay.kind == "floats"
            ):
                st = lay.by_pad
                if st.padded_samples < max(1, 0.05 * st.samples):
                    continue
                yield self.finding(
                    f"{_where(lay, self.multi(ctx))}: {st.padded_samples} of {st.samples} sequences end in runs of "
                    f"the constant vector {lay.pad_repr()} (padding), but no layer of the model makes a mask.",
                    f"add `layers.Masking(mask_value={_pad_literal(lay)})` right after the input",
                    severity=Severity.WARNING,
                )


def _uniform(lay: InputLayout) -> bool:
    return lay.pad is not None and is_uniform(lay.pad)


def _pad_literal(lay: InputLayout) -> str:
    if lay.pad is None:
        return "0.0"
    v = float(np.asarray(lay.pad).ravel()[0])
    return "float('nan')" if np.isnan(v) else f"{v:g}"


def _pad_minus_one() -> np.ndarray:
    return C.padded_floats(n=32, pad=-1.0)


MaskCoversNothing.INVALID = (
    Case("padded with -1, Masking(0.)", _tagger_on(_pad_minus_one, mask_value=0.0), True),
)
MaskCoversNothing.VALID = (
    Case("padded with -1, Masking(-1.)", _tagger_on(_pad_minus_one, mask_value=-1.0), False),
    Case("padded with 0, Masking(0.)", _tagger_on(lambda: C.padded_floats(n=32)), False),
)


@register
class PadValueMismatch(DataCheck):
    """## What it does
    Finds the constant vector that fills the sequence ends (the real pad vector) and compares it
    with the mask value: padding with -1 under `Masking(0.)`, NaN padding (NaN never equals
    anything), padding that a scaler fitted on the padded array turned into `(0 - mean) / std`
    per feature, or token padding other than 0 under `Embedding(mask_zero=True)`.

    ## Why is this bad?
    The mask never matches the padding, so padded steps are treated as data.

    ## Example
    ```python
    X = pad_sequences(seqs, padding="post", dtype="float32")
    X = StandardScaler().fit_transform(X.reshape(-1, 5)).reshape(X.shape)  # pad is now -mean/std
    ```

    ## Use instead
    ```python
    scaled = [scaler.transform(s) for s in seqs]        # fit the scaler on real steps only
    X = pad_sequences(scaled, padding="post", dtype="float32", value=0.0)
    ```
    """

    code = "MC203"
    name = "pad-value-mismatch"
    severity = Severity.ERROR
    summary = "the constant vector filling the sequence ends differs from mask_value"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            if lay.pad is None or lay.mask_value is None or lay.by_pad is None or lay.pad_matches_mask:
                continue
            if lay.transform is not None:
                continue  # MC201 explains it: the pad is scattered, not different
            st = lay.by_pad
            pad = np.asarray(lay.pad, dtype="float64").ravel()
            uniform = _uniform(lay)
            if lay.mask_source == "Embedding":
                fix = (
                    f"pad with 0 (`pad_sequences(seqs, value=0)`) and keep real ids >= 1, or map the pad id "
                    f"{_pad_literal(lay)} to 0 before the model"
                )
            elif uniform and np.isnan(pad[0]):
                fix = "replace NaN padding: `X = np.nan_to_num(X, nan=0.0)` with `layers.Masking(0.0)` (NaN never equals NaN)"
            elif uniform:
                fix = f"`layers.Masking(mask_value={_pad_literal(lay)})`, or pad with the mask value"
            else:
                fix = (
                    "the padding was transformed per feature (a scaler fitted on the padded array): scale "
                    "the real steps only, then pad, e.g. `X[pad_steps] = 0.0` after scaling with "
                    "`pad_steps = np.all(X == pad_vector, axis=-1)`"
                )
            mv = vector_repr(lay.mask_value)
            yield self.finding(
                f"{_where(lay, self.multi(ctx))}: {st.padded_samples} of {st.samples} sequences are padded "
                f"({lay.pad_side}) with {lay.pad_repr()}, but the mask value is {mv}; the mask "
                f"covers {lay.by_mask.full_steps if lay.by_mask else 0} of the {st.full_steps} padded steps.",
                fix,
                layer=lay.mask_source_name,
                pad_vector=[float(v) for v in pad[:64]],
                samples=st.fully_idx or st.not_right_idx,
            )


def _scaled_padding() -> np.ndarray:
    x = C.padded_floats(n=32)
    flat = x.reshape(-1, x.shape[-1])
    mean, std = flat.mean(0), flat.std(0)
    return ((x - mean) / std).astype("float32")


def _nan_padding() -> np.ndarray:
    return C.padded_floats(n=32, pad=float("nan"))


def _ids_padded_with(pad: int) -> Any:
    def build() -> CaseInput:
        x = C.padded_ids(n=32)
        x[x == 0] = pad
        inp = keras.Input((10,), dtype="int32")
        e = layers.Embedding(30, 4, mask_zero=True)(inp)
        out = layers.Dense(2)(layers.LSTM(3, return_sequences=True)(e))
        return CaseInput(keras.Model(inp, out), x)

    return build


PadValueMismatch.INVALID = (
    Case("padded with -1, Masking(0.)", _tagger_on(_pad_minus_one), True),
    Case("StandardScaler fitted on the padded array", _tagger_on(_scaled_padding), True),
    Case("NaN padding", _tagger_on(_nan_padding), True),
    Case("token ids padded with 29 under Embedding(mask_zero=True)", _ids_padded_with(29), True),
)
PadValueMismatch.VALID = (
    Case("padded with 0, Masking(0.)", _tagger_on(lambda: C.padded_floats(n=32)), False),
    Case("padded with -1, Masking(-1.)", _tagger_on(_pad_minus_one, mask_value=-1.0), False),
    Case("token ids padded with 0", _ids_padded_with(0), False),
)


@register
class HolesInMask(DataCheck):
    """## What it does
    Finds masked steps between real steps: data steps that happen to equal `mask_value` in
    every feature, or the id 0 used for a real token under `Embedding(mask_zero=True)`.

    ## Why is this bad?
    Those steps are silently skipped by RNNs, attention and the loss. With token ids it usually
    means the vocabulary starts at 0, so one real word is treated as padding everywhere.

    ## Example
    ```python
    ids = tokenizer(texts)        # ids 0..V-1, 0 is a real word
    layers.Embedding(V, 32, mask_zero=True)
    ```

    ## Use instead
    ```python
    ids = tokenizer(texts) + 1    # 0 is reserved for padding
    layers.Embedding(V + 1, 32, mask_zero=True)
    ```
    """

    code = "MC204"
    name = "holes-in-mask"
    severity = Severity.WARNING
    summary = "masked steps between real steps (genuine all-pad data or id 0 used as a real token)"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            st = lay.by_mask
            if st is None or not st.holes or lay.transform is not None:
                continue
            if lay.mask_source == "Embedding":
                fix = "reserve id 0 for padding: shift real ids by one (`ids + 1`) and use `input_dim = vocab_size + 1`"
            else:
                fix = (
                    "make sure real steps never equal mask_value in every feature, e.g. pad with a value "
                    "that cannot occur (`pad_sequences(..., value=-10.0)` and `layers.Masking(-10.0)`)"
                )
            yield self.finding(
                f"{_where(lay, self.multi(ctx))}: {st.holes} of {st.samples} sequences have masked steps "
                f"between real steps, e.g. samples {_idx(st.hole_idx[:8], st.holes)}; the model skips them.",
                fix,
                layer=lay.mask_source_name,
                samples=st.hole_idx,
                count=st.holes,
            )


def _with_holes() -> np.ndarray:
    x = C.padded_floats(n=32)
    x[0, 3] = 0.0
    x[5, 1] = 0.0
    return x


def _ids_with_zero_tokens() -> Any:
    def build() -> CaseInput:
        x = C.padded_ids(n=32)
        x[::3, 1] = 0
        inp = keras.Input((10,), dtype="int32")
        out = layers.Dense(2)(
            layers.LSTM(3, return_sequences=True)(layers.Embedding(20, 4, mask_zero=True)(inp))
        )
        return CaseInput(keras.Model(inp, out), x)

    return build


HolesInMask.INVALID = (
    Case("all-zero steps inside two sequences", _tagger_on(_with_holes), True),
    Case("id 0 used for a real token", _ids_with_zero_tokens(), True),
)
HolesInMask.VALID = (Case("clean post padding", _tagger_on(lambda: C.padded_floats(n=32)), False),)


@register
class FullyMaskedSamples(DataCheck):
    """## What it does
    Counts and lists samples with no real step at all: every step equals the mask value.

    ## Why is this bad?
    Masked means over such a sample divide by zero (NaN losses), pooled outputs are meaningless,
    and cuDNN RNN kernels on the TensorFlow backend refuse fully masked sequences.

    ## Example
    ```python
    X = pad_sequences([[], [3, 4], [5]], maxlen=20)   # the first sequence is empty
    ```

    ## Use instead
    ```python
    seqs = [s for s in seqs if len(s) > 0]            # drop empty sequences before padding
    ```
    """

    code = "MC205"
    name = "fully-masked-samples"
    severity = Severity.WARNING
    summary = "samples with no real step at all"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            st = lay.by_mask
            if st is None or not st.fully_padded:
                continue
            yield self.finding(
                f"{_where(lay, self.multi(ctx))}: {st.fully_padded} of {st.samples} sequences are padding "
                f"only, indices {_idx(st.fully_idx, st.fully_padded)}.",
                "drop empty sequences before padding: `keep = np.any(X != pad_value, axis=(1, 2))`, "
                "`X, y = X[keep], y[keep]`",
                layer=lay.mask_source_name,
                samples=st.fully_idx,
                count=st.fully_padded,
            )


def _with_empty() -> np.ndarray:
    x = C.padded_floats(n=32)
    x[[4, 9]] = 0.0
    return x


FullyMaskedSamples.INVALID = (Case("two empty sequences", _tagger_on(_with_empty), True),)
FullyMaskedSamples.VALID = (
    Case("every sequence has real steps", _tagger_on(lambda: C.padded_floats(n=32)), False),
)


def _cudnn_rnns(ctx: AuditContext) -> list[Any]:
    found = []
    for ev in ctx.events:
        layer = ev.layer
        if type(layer).__name__ not in ("LSTM", "GRU") or not ev.any_mask_in:
            continue
        if getattr(layer, "use_cudnn", "auto") not in ("auto", True):
            continue
        cell = getattr(layer, "cell", None)
        act = getattr(getattr(cell, "activation", None), "__name__", "tanh")
        rec = getattr(getattr(cell, "recurrent_activation", None), "__name__", "sigmoid")
        if (
            act == "tanh"
            and rec == "sigmoid"
            and not getattr(layer, "unroll", False)
            and not getattr(cell, "recurrent_dropout", 0)
        ):
            found.append(ev)
    return found


@register
class LeftPaddedRnn(DataCheck):
    """## What it does
    Finds masks that are not strictly right-padded (pre-padding, padding on both sides, holes)
    feeding an LSTM or GRU that would use cuDNN on the TensorFlow backend.

    ## Why is this bad?
    Keras 3 on the TensorFlow backend asserts that cuDNN RNN masks are right-padded
    (`_assert_valid_mask` in `keras/src/backend/tensorflow/rnn.py`): on a GPU, training fails with
    "You are passing a RNN mask that does not correspond to right-padded sequences", or you pass
    `use_cudnn=False` and get the slow kernel. On JAX and PyTorch this check does not apply.

    ## Example
    ```python
    X = pad_sequences(seqs)                     # padding="pre" is the default
    ```

    ## Use instead
    ```python
    X = pad_sequences(seqs, padding="post")
    ```
    """

    code = "MC206"
    name = "left-padded-rnn"
    severity = Severity.WARNING
    summary = "pre- or mixed padding into a cuDNN-eligible LSTM/GRU on TensorFlow"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        rnns = _cudnn_rnns(ctx)
        if kb.backend_name() != "tensorflow":
            if rnns and any(
                lay.by_mask and (lay.by_mask.pre + lay.by_mask.mixed) for lay in self.layouts(ctx)
            ):
                ctx._cache.setdefault("notes", []).append(
                    f"MC206 does not apply on the {kb.backend_name()} backend (no cuDNN mask assertion); "
                    "the same model and pre-padded data would fail on a TensorFlow GPU."
                )
            return
        if not rnns:
            return
        for lay in self.layouts(ctx):
            st = lay.by_mask
            if st is None or lay.transform is not None:
                continue
            bad = st.pre + st.mixed + st.holes
            if not bad:
                continue
            names = ", ".join(f"'{e.path}'" for e in rnns[:3])
            yield self.finding(
                f"{_where(lay, self.multi(ctx))}: {bad} of {st.samples} sequences are not right-padded "
                f"({st.pre} pre-padded, {st.mixed} padded on both sides or with holes), e.g. "
                f"{_idx(st.not_right_idx[:8], bad)}. {names} would use cuDNN on a TensorFlow GPU, which "
                "asserts that masks are right-padded (on CPU, JAX and PyTorch it runs, more slowly).",
                '`pad_sequences(seqs, padding="post")`, or `layers.LSTM(..., use_cudnn=False)` to accept the slow kernel',
                layer=rnns[0].path,
                samples=st.not_right_idx,
            )


LeftPaddedRnn.INVALID = (
    Case(
        "pre-padded sequences into an LSTM",
        _tagger_on(lambda: C.padded_floats(n=32, side="pre")),
        True,
        ("tensorflow",),
    ),
)
LeftPaddedRnn.VALID = (
    Case("post-padded sequences into an LSTM", _tagger_on(lambda: C.padded_floats(n=32)), False),
)


@register
class EmbeddingUnmaskedPadding(DataCheck):
    """## What it does
    Finds `Embedding(mask_zero=False)` fed ids with runs of 0 at the sequence ends while no
    other layer makes a mask.

    ## Why is this bad?
    Padding id 0 gets a trained embedding vector like any word; RNNs, pooling and the loss all
    see the padding.

    ## Example
    ```python
    layers.Embedding(vocab_size, 32)              # mask_zero defaults to False
    ```

    ## Use instead
    ```python
    layers.Embedding(vocab_size, 32, mask_zero=True)   # real ids must start at 1
    ```
    """

    code = "MC207"
    name = "embedding-unmasked-padding"
    severity = Severity.ERROR
    summary = "Embedding(mask_zero=False) fed zero-padded ids and nothing masks them"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if _masked_anywhere(ctx):
            return
        for lay in self.layouts(ctx):
            if lay.mask_source != "Embedding" or lay.mask_zero or lay.by_pad is None or lay.pad is None:
                continue
            if float(np.asarray(lay.pad).ravel()[0]) != 0.0:
                continue
            st = lay.by_pad
            yield self.finding(
                f"{_where(lay, self.multi(ctx))}: {st.padded_samples} of {st.samples} sequences end in runs of "
                f"id 0 ({lay.pad_side}-padded), but '{lay.mask_source_name}' has mask_zero=False and no "
                "layer makes a mask.",
                f"`layers.Embedding({lay.input_dim}, ..., mask_zero=True)` (ids of real tokens must start at 1)",
                layer=lay.mask_source_name,
                samples=st.not_right_idx or st.fully_idx,
            )


def _emb_model(mask_zero: bool, input_dim: int = 20) -> Any:
    def build() -> CaseInput:
        inp = keras.Input((10,), dtype="int32")
        e = layers.Embedding(input_dim, 4, mask_zero=mask_zero)(inp)
        out = layers.Dense(2)(layers.LSTM(3, return_sequences=True)(e))
        return CaseInput(keras.Model(inp, out), C.padded_ids(n=32))

    return build


EmbeddingUnmaskedPadding.INVALID = (
    Case("zero-padded ids, Embedding(mask_zero=False)", _emb_model(False), True),
)
EmbeddingUnmaskedPadding.VALID = (
    Case("zero-padded ids, Embedding(mask_zero=True)", _emb_model(True), False),
)


@register
class EmbeddingIdOutOfRange(DataCheck):
    """## What it does
    Finds token ids < 0 or >= `input_dim` of the Embedding that reads them, over all of X,
    before the model runs (so the lookup cannot crash the audit). With `mask_zero=True` real
    ids start at 1, so a vocabulary of V words needs `input_dim = V + 1`.

    ## Why is this bad?
    On CPU TensorFlow raises an error deep inside `fit`; on GPU out-of-range lookups silently
    return zeros.

    ## Example
    ```python
    layers.Embedding(vocab_size, 32, mask_zero=True)    # ids go up to vocab_size
    ```

    ## Use instead
    ```python
    layers.Embedding(vocab_size + 1, 32, mask_zero=True)
    ```
    """

    code = "MC208"
    name = "embedding-id-out-of-range"
    severity = Severity.ERROR
    summary = "token ids < 0 or >= the Embedding's input_dim"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            if lay.mask_source != "Embedding" or not lay.out_of_range or lay.input_dim is None:
                continue
            need = (lay.id_max or 0) + 1
            yield self.finding(
                f"{_where(lay, self.multi(ctx))}: {lay.out_of_range} of {lay.samples} sequences hold ids outside "
                f"[0, {lay.input_dim}) of '{lay.mask_source_name}' (min {lay.id_min}, max {lay.id_max}), e.g. "
                f"samples {_idx(lay.out_of_range_idx[:8], lay.out_of_range)}. The audit clipped them to trace the model.",
                f"`layers.Embedding(input_dim={need}, ...)` (max id + 1)"
                + ("; negative ids must be remapped" if (lay.id_min or 0) < 0 else ""),
                layer=lay.mask_source_name,
                samples=lay.out_of_range_idx,
                id_min=lay.id_min,
                id_max=lay.id_max,
            )


def _ids_up_to(top: int) -> Any:
    def build() -> CaseInput:
        x = C.padded_ids(n=32, vocab=top + 1)
        x[0, 0] = top
        inp = keras.Input((10,), dtype="int32")
        out = layers.Dense(2)(layers.LSTM(3)(layers.Embedding(20, 4, mask_zero=True)(inp)))
        return CaseInput(keras.Model(inp, out), x)

    return build


EmbeddingIdOutOfRange.INVALID = (Case("ids up to 20 with input_dim=20", _ids_up_to(20), True),)
EmbeddingIdOutOfRange.VALID = (Case("ids up to 19 with input_dim=20", _ids_up_to(19), False),)


@register
class MaskingOnRank2(DataCheck):
    """## What it does
    Finds a `Masking` layer applied to (batch, features) data.

    ## Why is this bad?
    Masking reduces over the last axis, so on rank-2 input it masks whole samples, not steps.
    A univariate series given as (batch, time) is read as one step with `time` features.

    ## Example
    ```python
    model = keras.Sequential([keras.Input((20,)), layers.Masking(0.0), layers.Dense(1)])
    ```

    ## Use instead
    ```python
    X = X[..., None]                                      # (batch, time, 1)
    model = keras.Sequential([keras.Input((20, 1)), layers.Masking(0.0), layers.LSTM(8)])
    ```
    """

    code = "MC209"
    name = "masking-on-rank2"
    severity = Severity.WARNING
    summary = "Masking on (batch, features) data masks whole samples"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for ev in ctx.events:
            if ev.class_name != "Masking" or not ev.first_inputs:
                continue
            s = kb.shape_of(ev.first_inputs[0])
            if len(s) != 2:
                continue
            yield self.finding(
                f"'{ev.path}' gets rank-2 input {s}: it masks whole samples (all features equal to "
                "mask_value), not timesteps.",
                f"add a feature axis: `X = X[..., None]` and `keras.Input(({s[1]}, 1))`, then an RNN or "
                "other sequence layer after Masking",
                layer=ev.path,
            )


def _rank2(t_first: bool) -> Any:
    def build() -> CaseInput:
        if t_first:
            model = keras.Sequential(
                [keras.Input((10, 1)), layers.Masking(0.0), layers.LSTM(3), layers.Dense(1)]
            )
            return CaseInput(model, C.padded_floats(n=16, f=1))
        model = keras.Sequential([keras.Input((10,)), layers.Masking(0.0), layers.Dense(1)])
        return CaseInput(model, C.padded_floats(n=16, f=1)[..., 0])

    return build


MaskingOnRank2.INVALID = (Case("Masking on (batch, 10)", _rank2(False), True),)
MaskingOnRank2.VALID = (Case("Masking on (batch, 10, 1)", _rank2(True), False),)


@register
class PaddedAsIntegers(DataCheck):
    """## What it does
    Finds float features stored in an integer array feeding a float input, typically from
    `keras.utils.pad_sequences`, whose default `dtype` is `"int32"`.

    ## Why is this bad?
    The real values were truncated towards zero: features in (-1, 1) became 0 and now equal the
    pad value, so whole real steps are masked and the rest lost their fractional part.

    ## Example
    ```python
    X = pad_sequences(float_seqs, padding="post")                  # dtype="int32"
    ```

    ## Use instead
    ```python
    X = pad_sequences(float_seqs, padding="post", dtype="float32")
    ```
    """

    code = "MC210"
    name = "padded-as-integers"
    severity = Severity.ERROR
    summary = "float features stored in an integer array (pad_sequences' default dtype)"

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in ctx.layouts:
            arr = ctx.inputs[lay.index]
            if lay.kind != "floats" or arr.dtype.kind not in "iu" or arr.ndim < 3:
                continue
            st = lay.by_mask or lay.by_pad
            zero_share = st.pad_entries_in_real / st.entries_in_real if st and st.entries_in_real else 0.0
            suspicious = st is not None and (st.holes or st.fully_padded or zero_share >= 0.25)
            if not suspicious:
                continue
            yield self.finding(
                f"{_where(lay, self.multi(ctx))} is {lay.dtype} but feeds a float input"
                + (f" ({zero_share:.0%} of the values in real steps equal the pad value" if st else "")
                + (f", {st.holes} sequences have masked holes" if st and st.holes else "")
                + "): float features were truncated to integers.",
                '`pad_sequences(seqs, padding="post", dtype="float32")`',
                layer=lay.mask_source_name,
            )


def _int_padded(truncated: bool) -> Any:
    def build() -> CaseInput:
        rng = np.random.default_rng(5)
        x = rng.normal(size=(32, 10, 3)) * (0.6 if truncated else 40) + (0 if truncated else 100)
        x[:, 7:] = 0
        model = keras.Sequential(
            [keras.Input((10, 3)), layers.Masking(0.0), layers.LSTM(3, return_sequences=True)]
        )
        return CaseInput(model, x.astype("int32"))

    return build


PaddedAsIntegers.INVALID = (
    Case("standardised floats through pad_sequences(dtype='int32')", _int_padded(True), True),
)
PaddedAsIntegers.VALID = (
    Case("integer counts far from the pad value", _int_padded(False), False),
    Case("float32 features", _tagger_on(lambda: C.padded_floats(n=32)), False),
)
