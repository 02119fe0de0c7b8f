"""MC107 nested-mask-divergence: the symbolic graph and the real forward pass disagree about a mask."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck import bridge as kb
from maskcheck.checks.base import CaseInput, Check, Invalid, Kit, Valid
from maskcheck.checks.propagation._common import SAMPLE_WEIGHT_FIX
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


def _nested(t: Kit) -> CaseInput:
    inner = t.keras.Sequential([t.layers.LSTM(4, return_sequences=True), t.layers.Dense(2)])
    inp = t.seq_input()
    out = inner(t.layers.Masking(0.0)(inp))
    return CaseInput(t.keras.Model(inp, out), t.padded_floats())


class NestedMaskDivergence(Check):
    """## What it does
    Compares the masks of the symbolic graph (`model.outputs[i]._keras_mask`, what Keras 2 users
    printed as `output_mask`) with the masks on the tensors of the real forward pass. Warns when
    the graph says an output is masked but the real output tensor, which the compiled loss reads,
    is not. Seen with MultiHeadAttention, which clears the masks of its inputs during the call,
    and with nested models.

    ## Why is this bad?
    Inspecting the graph tells you the model is masked; training says otherwise. The runtime
    answer is the truth.

    ## Known problems
    Only model outputs are compared, and only in one direction: graph masked, run time not. A
    subclassed model has no symbolic outputs and is never reported. The layer named as where
    the two first diverge is the first layer, in call order, whose symbolic output is masked
    and whose real output is not; in a model with several branches it may lie on another
    branch than the output's. No named thresholds.

    ## Example
    ```python
    e = layers.Embedding(1000, 32, mask_zero=True)(ids)
    a = layers.MultiHeadAttention(2, 16)(e, e)   # clears e's mask at run time
    x = layers.Add()([e, a])                     # graph: masked, runtime: not
    out = layers.Dense(5, activation="softmax")(x)
    ```

    ## Use instead
    ```python
    mask = keras.ops.not_equal(ids, 0)
    model.fit(X, y, sample_weight=mask.astype("float32"))   # or pool with GlobalAveragePooling1D
    ```
    """

    code = "MC107"
    name = "nested-mask-divergence"
    severity = Severity.WARNING
    family = "propagation"
    summary = "the symbolic graph and the real forward pass disagree about a mask"

    INVALID = (
        Invalid(
            "MultiHeadAttention + Add -> per-step Dense output",
            lambda t: t.propagation.transformer(per_step=True),
        ),
    )
    VALID = (
        Valid("nested Sequential inside a Functional model, runtime mask survives", _nested),
        Valid("Transformer block pooled with GlobalAveragePooling1D", lambda t: t.propagation.transformer()),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        trace = ctx.trace
        for i, out in enumerate(trace.outputs):
            sym = ctx.symbolic_output_mask(i)
            if sym is not True or kb.get_mask(out) is not None:
                continue
            diverged = [
                e
                for e in ctx.events
                if ctx.symbolic.get(id(e.layer)) is True and not e.has_output_mask and not e.is_op
            ]
            first = diverged[0] if diverged else None
            where = f" It first diverges at '{first.path}' ({first.class_name})." if first else ""
            yield self.finding(
                f"the functional graph says model {ctx.output(i).label} is masked, but the real output tensor "
                f"has no mask, and that is what the compiled loss reads.{where}",
                "don't rely on the graph's masks: "
                + SAMPLE_WEIGHT_FIX.removeprefix("or keep the model and "),
                layer=first.path if first else None,
                output=i,
            )
