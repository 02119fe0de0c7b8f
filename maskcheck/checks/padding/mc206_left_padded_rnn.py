"""MC206 left-padded-rnn: pre- or mixed padding into a cuDNN-eligible LSTM/GRU on TensorFlow."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck import bridge as kb
from maskcheck.bridge.kinds import CUDNN_RNN, is_kind
from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, listed, where
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity
from maskcheck.trace import CallEvent


def cudnn_rnns(ctx: AuditContext) -> list[CallEvent]:
    """The calls of LSTM/GRU layers that received a mask and would take the cuDNN kernel."""
    found = []
    for ev in ctx.events:
        layer = ev.layer
        if not is_kind(layer, CUDNN_RNN) or not ev.any_mask_in:
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


class LeftPaddedRnn(DataCheck):
    """## What it does
    Finds masks that are not strictly right-padded (pre-padding, padding on both sides, holes)
    feeding an LSTM or GRU that would use cuDNN on the TensorFlow backend.

    ## Why is this bad?
    Keras 3 on the TensorFlow backend asserts that cuDNN RNN masks are right-padded
    (`_assert_valid_mask` in `keras/src/backend/tensorflow/rnn.py`): on a GPU, training fails with
    "You are passing a RNN mask that does not correspond to right-padded sequences", or you pass
    `use_cudnn=False` and get the slow kernel. On JAX and PyTorch this check does not apply.

    ## Known problems
    Whether an LSTM or GRU would take the cuDNN kernel is read from some of its settings
    (`use_cudnn`, tanh and sigmoid activations, no `unroll`, no recurrent dropout); a layer with
    `use_bias=False`, or a GRU with `reset_after=False`, which Keras runs without cuDNN, is still
    counted. Which RNN a
    given input's mask reaches is not traced: any eligible RNN that received a mask is enough for
    every input that is not right-padded. The layout is compared with the mask value of the
    `Masking` or `Embedding` layer that reads the input, not with the mask the RNN receives. On
    other backends it reports nothing and adds a note instead. No named thresholds.

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

    INVALID = (
        Invalid(
            "pre-padded sequences into an LSTM",
            lambda t: t.padding.tagger_on(t.padded_floats(n=32, side="pre")),
            backends=("tensorflow",),
        ),
    )
    VALID = (
        Valid("post-padded sequences into an LSTM", lambda t: t.padding.tagger_on(t.padded_floats(n=32))),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        rnns = cudnn_rnns(ctx)
        if kb.backend_name() != "tensorflow":
            if rnns and any(
                lay.by_mask and (lay.by_mask.pre + lay.by_mask.mixed) for lay in self.layouts(ctx)
            ):
                ctx.note(
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
                f"{where(lay, self.multi(ctx))}: {bad} of {st.samples} sequences are not right-padded "
                f"({st.pre} pre-padded, {st.mixed} padded on both sides or with holes), e.g. "
                f"{listed(st.not_right_idx[:8], bad)}. {names} would use cuDNN on a TensorFlow GPU, which "
                "asserts that masks are right-padded (on CPU, JAX and PyTorch it runs, more slowly).",
                '`pad_sequences(seqs, padding="post")`, or `layers.LSTM(..., use_cudnn=False)` to accept the slow kernel',
                layer=rnns[0].path,
                samples=st.not_right_idx,
            )
