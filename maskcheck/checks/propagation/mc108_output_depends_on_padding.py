"""MC108 output-depends-on-padding: perturbing what the model sees at padded steps changes real outputs."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Check, Invalid, Valid
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class OutputDependsOnPadding(Check):
    """## What it does
    A metamorphic test: in a second inference call, the values the model sees at padded steps
    (the outputs of Masking, Embedding(mask_zero=True) and other mask sources) are replaced with
    noise while the mask stays the same. If the outputs at real steps, or a pooled output,
    change, padding leaks into the result, whatever the cause. No weight or input is modified.

    ## Why is this bad?
    The model's answer for a sequence depends on how much padding it was given. Predictions
    change with batch composition and padding length, and the model learns from padding.

    ## Known problems
    It costs a second forward pass, and is skipped when the audit is run without the
    perturbation (`perturb=False`). Only the outputs of layers that create a mask are perturbed:
    a mask computed by hand and passed as `mask=` is not, so a leak past it goes unseen. The
    noise is drawn once, from the audit's seed; a leak that this one draw happens not to move
    is missed. An output that is aligned with a
    mask source's time axis is compared at its real steps only, any other output everywhere. A
    change counts when it exceeds the probe's tolerance, set in `maskcheck.facts.probe` (an
    absolute plus a relative part, against float noise), not here; the check itself has no
    named thresholds. At most ten sample indices are listed.

    ## Example
    ```python
    x = layers.Embedding(1000, 32, mask_zero=True)(ids)
    x = layers.Flatten()(x)                 # padded steps flow into Dense
    out = layers.Dense(1, activation="sigmoid")(x)
    ```

    ## Use instead
    ```python
    x = layers.Embedding(1000, 32, mask_zero=True)(ids)
    x = layers.GlobalAveragePooling1D()(x)  # reads the mask
    out = layers.Dense(1, activation="sigmoid")(x)
    ```
    """

    code = "MC108"
    name = "output-depends-on-padding"
    severity = Severity.ERROR
    family = "propagation"
    summary = "perturbing what the model sees at padded steps changes real outputs"

    INVALID = (
        Invalid(
            "Embedding(mask_zero) -> Flatten -> Dense",
            lambda t: t.propagation.reducer(t.layers.Flatten(), ids=True),
        ),
        Invalid(
            "Masking -> Conv1D(kernel 3) -> Dense",
            lambda t: t.propagation.reducer(t.layers.Conv1D(4, 3, padding="same")),
        ),
    )
    VALID = (
        Valid(
            "Embedding(mask_zero) -> LSTM -> Dense",
            lambda t: t.propagation.reducer(t.layers.LSTM(3), ids=True),
        ),
        Valid(
            "Embedding(mask_zero) -> GlobalAveragePooling1D",
            lambda t: t.propagation.reducer(t.layers.GlobalAveragePooling1D(), ids=True),
        ),
        Valid("Masking -> BiLSTM -> TimeDistributed tagger", lambda t: t.propagation.tagger()),
        Valid("Transformer block pooled with GlobalAveragePooling1D", lambda t: t.propagation.transformer()),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if not ctx.options.perturb:
            return
        leak = ctx.leak()
        if not leak.leaked_outputs:
            return
        where = (
            f" The first layer whose real-step output changed is '{leak.first_layer}' ({leak.first_class})."
            if leak.first_layer
            else ""
        )
        outs = ", ".join(
            f"{ctx.output(i).label.removeprefix('output ')} (max change {c:.3g})"
            for i, c in zip(leak.leaked_outputs, leak.max_change, strict=False)
        )
        yield self.finding(
            f"replacing the output of {', '.join(repr(s) for s in leak.sources)} at padded steps (mask "
            f"unchanged) changed model output(s) {outs} at real steps for samples {leak.samples}.{where}",
            "make every layer between the mask source and the output mask-aware: replace Flatten/"
            "GlobalMaxPooling1D with `layers.GlobalAveragePooling1D()` or an RNN, and keep the mask "
            "flowing (see the MC101-MC106 findings)",
            layer=leak.first_layer,
            samples=leak.samples,
            outputs=leak.leaked_outputs,
        )
