"""MC108 output-depends-on-padding: perturbing what the model sees at padded steps changes real outputs."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Check, Invalid, Threshold, Valid
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class OutputDependsOnPadding(Check):
    """## What it does
    A metamorphic test: in a second inference call, the values the model sees at padded steps
    (the outputs of Masking, Embedding(mask_zero=True) and other mask sources) are replaced with
    noise while the mask stays the same. If the outputs at real steps, or a pooled output,
    change, padding leaks into the result, whatever the cause. No weight or input is modified.

    Where the model accepts a variable time axis, two more calls on copies of the traced sample:
    every sequence with a few more padded steps appended (a hand-written masked mean that divides
    by T instead of the real length changes), and the most padded sequences trimmed to their real
    length, the definitive padding-invariance test (a hand-made backward RNN merged without
    flipping it back changes, though the padded values never reach it).

    With an explicit padding-mask input (keras-hub's `padding_mask`), the token ids are changed
    where that mask says padding, the mask unchanged, and the real-step outputs compared.

    ## Why is this bad?
    The model's answer for a sequence depends on how much padding it was given. Predictions
    change with batch composition and padding length, and the model learns from padding.

    ## Known problems
    It costs a second forward pass on at most 64 of the traced sequences (those with padding,
    spread from the least to the most padded; all of them for a model with a fixed batch size),
    two more on at most 32 sequences each with a variable time axis, and is skipped when the
    audit is run without the perturbation (`perturb=False`). A leak that shows only in sequences
    the probe did not re-run is missed. Only the outputs of layers that
    create a mask are perturbed: a mask computed by hand and passed as `mask=` is not, so a leak
    past it goes unseen. The noise is drawn once, from the audit's seed; a leak that this one
    draw happens not to move is missed. An output that is aligned with a mask source's time axis
    is compared at its real steps only, any other output everywhere. The length probes run only
    where one model input has the masked time axis and the model does not fix its length, its
    masked steps all hold one pad step (appended as is), and, for trimming, some sequences are
    post-padded; a model that rejects the other length (or returns NaN for it: a position table of
    fixed size) is skipped. A change counts when it
    exceeds `ATOL + RTOL * (the output's largest absolute value)`. At most ten sample indices are
    listed.

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

    ATOL = Threshold(
        1e-5,
        "the absolute part of the tolerance: a real-step output must move by more than this. "
        "Padding legitimately moves results by ~1e-6 through reduction order (a sum over more "
        "zeros); lower reports that float noise, higher misses small leaks",
    )
    RTOL = Threshold(
        1e-4,
        "the part of the tolerance relative to the output's largest absolute value, for outputs "
        "far from 1 (logits in the hundreds). Lower reports float noise on large outputs",
    )

    INVALID = (
        Invalid(
            "Embedding(mask_zero) -> Flatten -> Dense",
            lambda t: t.propagation.reducer(t.layers.Flatten(), ids=True),
        ),
        Invalid(
            "Masking -> Conv1D(kernel 3) -> Dense",
            lambda t: t.propagation.reducer(t.layers.Conv1D(4, 3, padding="same")),
        ),
        Invalid(
            "variable T: a hand-written masked mean dividing by T, not the real length",
            lambda t: t.propagation.variable_length(t.custom_layers.MaskedMean(by_steps=True)),
        ),
        Invalid(
            "variable T: a hand-made backward LSTM merged without flipping it back",
            lambda t: t.propagation.variable_length(t.custom_layers.HandMadeBiLSTM(rereverse=False)),
        ),
        Invalid(
            "explicit padding_mask: attention not given it (padded keys reach real steps)",
            lambda t: t.padding.ids_and_padding_mask(attend_to_padding=True),
        ),
    )
    VALID = (
        Valid(
            "explicit padding_mask: attention and the mean both masked by it",
            lambda t: t.padding.ids_and_padding_mask(),
        ),
        Valid(
            "variable T: a hand-written masked mean dividing by the real length",
            lambda t: t.propagation.variable_length(t.custom_layers.MaskedMean()),
        ),
        Valid(
            "variable T: a hand-made bidirectional LSTM, the backward outputs flipped back",
            lambda t: t.propagation.variable_length(t.custom_layers.HandMadeBiLSTM()),
        ),
        Valid(
            "variable T: Masking -> Bidirectional(LSTM) per step",
            lambda t: t.propagation.variable_length(
                t.layers.Bidirectional(t.layers.LSTM(3, return_sequences=True)), ids=False
            ),
        ),
        Valid(
            "variable T: Embedding(mask_zero) -> GlobalAveragePooling1D",
            lambda t: t.propagation.variable_length(t.layers.GlobalAveragePooling1D()),
        ),
        Valid(
            "variable T: Transformer block pooled with GlobalAveragePooling1D",
            lambda t: t.propagation.transformer(t=None),
        ),
        Valid(
            "variable T: Transformer block with a per-step head",
            lambda t: t.propagation.transformer(per_step=True, t=None),
        ),
        Valid(
            "Embedding(mask_zero) -> LSTM -> Dense",
            lambda t: t.propagation.reducer(t.layers.LSTM(3), ids=True),
        ),
        Valid(
            "Embedding(mask_zero) -> GlobalAveragePooling1D",
            lambda t: t.propagation.reducer(t.layers.GlobalAveragePooling1D(), ids=True),
        ),
        Valid(
            "variable T, but a position table of exactly T rows: longer inputs are not valid",
            lambda t: t.propagation.fixed_position_table(),
        ),
        Valid("Masking -> BiLSTM -> TimeDistributed tagger", lambda t: t.propagation.tagger()),
        Valid("Transformer block pooled with GlobalAveragePooling1D", lambda t: t.propagation.transformer()),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if not ctx.options.perturb:
            return
        yield from self._explicit(ctx)
        leak = ctx.leak(self.ATOL, self.RTOL)
        if not leak.any_leak:
            return
        said: list[str] = []
        samples: list[int] = []
        outputs: list[int] = []
        if leak.leaked_outputs:
            outs = _outs(ctx, leak.leaked_outputs, leak.max_change)
            said.append(
                f"replacing the output of {', '.join(repr(s) for s in leak.sources)} at padded steps "
                f"(mask unchanged) changed model output(s) {outs} at real steps for samples {leak.samples}."
            )
            samples, outputs = list(leak.samples), list(leak.leaked_outputs)
        for probe, what in (
            (leak.extended, "appending {n} padded steps to the padded sequences"),
            (leak.trimmed, "trimming the sequences of real length {n} to that length"),
        ):
            if probe is None or not probe.leaked_outputs:
                continue
            said.append(
                f"{what.format(n=probe.steps).capitalize() if said else what.format(n=probe.steps)} "
                f"changed model output(s) {_outs(ctx, probe.leaked_outputs, probe.max_change)} at real steps "
                f"for samples {probe.samples}."
            )
            samples = samples or list(probe.samples)
            outputs = sorted(set(outputs) | set(probe.leaked_outputs))
        where = (
            f" The first layer whose real-step output changed is '{leak.first_layer}' ({leak.first_class})."
            if leak.first_layer
            else ""
        )
        text = " ".join(said)
        yield self.finding(
            text + where,
            "make every layer between the mask source and the output mask-aware: replace Flatten/"
            "GlobalMaxPooling1D with `layers.GlobalAveragePooling1D()` or an RNN, divide masked sums "
            "by the real length, flip reversed sequences back, and keep the mask flowing (see the "
            "MC101-MC106 findings)",
            layer=leak.first_layer,
            samples=samples,
            outputs=outputs,
        )


    def _explicit(self, ctx: AuditContext) -> Iterable[Finding]:
        """Explicit padding masks (keras-hub's `padding_mask`): the ids are changed where the mask
        says padding, the mask stays; real-step outputs must not move."""
        for m in ctx.explicit_masks:
            pads = ~m.real
            if not pads.any() or pads.all():
                continue
            res = ctx.explicit_probe(m)
            if not res.changed_outputs:
                continue
            first = res.first
            where = f" The first layer whose real-step output changed is '{first.path}' ({first.class_name})." if first else ""
            yield self.finding(
                f"changing the ids where '{m.name}' marks padding (the mask unchanged) changed model "
                f"output(s) {_outs(ctx, res.changed_outputs, res.max_change)} at real steps for samples "
                f"{res.samples[:10]}.{where}",
                f"make every layer after the ids read '{m.name}': pass it on as `padding_mask=` / "
                "`attention_mask=`, pool with the mask (`keras.ops.sum(x * m[..., None], 1) / "
                "keras.ops.sum(m, 1, keepdims=True)`), and never reduce over the padded steps",
                layer=first.path if first else None,
                samples=res.samples[:10],
                outputs=list(res.changed_outputs),
            )


def _outs(ctx: AuditContext, indices: list[int], changes: list[float]) -> str:
    """The outputs by index, or by name in a model with several named outputs."""
    return ", ".join(
        f"{ctx.output(i).label.removeprefix('output ')} (max change {c:.3g})"
        for i, c in zip(indices, changes, strict=False)
    )
