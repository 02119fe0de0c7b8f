"""MC102 output-unmasked: a time-aligned model output has no mask, so the loss counts padding."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck import bridge as kb
from maskcheck.checks.base import CaseInput, Check, Invalid, Kit, Valid
from maskcheck.checks.propagation._common import SAMPLE_WEIGHT_FIX
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import (
    creators,
    has_gaps,
    masked_samples,
    reachable_from,
    role_of,
    shape,
    time_aligned,
    time_len,
)
from maskcheck.facts.outputs import loss_identifier
from maskcheck.report import Finding, Role, Severity


def _autoencoder(t: Kit) -> CaseInput:
    inp = t.seq_input()
    x = t.layers.Masking(0.0)(inp)
    x = t.layers.LSTM(8)(x)
    x = t.layers.RepeatVector(10)(x)
    out = t.layers.LSTM(3, return_sequences=True)(x)
    return CaseInput(t.keras.Model(inp, out), t.padded_floats())


def _compiled_autoencoder(t: Kit) -> CaseInput:
    case = _autoencoder(t)
    case.model.compile(optimizer="adam", loss="mse")
    return CaseInput(case.model, case.X, case.X)


def _classifier(t: Kit) -> CaseInput:
    model = t.keras.Sequential(
        [t.seq_input(), t.layers.Masking(0.0), t.layers.LSTM(4), t.layers.Dense(2, activation="softmax")]
    )
    return CaseInput(model, t.padded_floats())


class OutputUnmasked(Check):
    """## What it does
    Finds a model output that keeps the time axis of a masked input but carries no mask at run
    time. The compiled loss and the mean-style metrics read the mask of `y_pred`; without it they
    average over padded steps. The classic case is the sequence autoencoder: the encoder
    `LSTM(return_sequences=False)` consumes the mask and `RepeatVector` rebuilds a time axis
    without one.

    ## Why is this bad?
    The loss is computed on padding as well as on data. The model learns to reproduce the pad
    value, and accuracy is inflated (or deflated) by the padded steps.

    ## Known problems
    "Aligned" means rank 3 or more with axis 1 as long as a mask source's time axis, and computed
    from that source. An output whose second axis merely has the same length (say 10 classes
    for 10 steps) is reported too. When tensor code inside a subclassed `call()` hides the data
    flow, every aligned output counts as computed from the source. Only the first matching mask
    source is named per output. It does not look at the loss: a custom loss that masks padding
    itself makes the finding moot (MC305 tests the loss directly). On a model with no compiled
    loss for the output and no `y` (say the masking guide's temporal softmax, only ever called)
    nothing counts the padding yet: the finding is then `info`, not an error. No named thresholds.

    ## Example
    ```python
    inp = keras.Input((20, 5))
    x = layers.Masking(0.0)(inp)
    x = layers.LSTM(32)(x)                      # consumes the mask
    x = layers.RepeatVector(20)(x)              # new time axis, no mask
    out = layers.LSTM(5, return_sequences=True)(x)
    ```

    ## Use instead
    ```python
    # weight the loss by the mask yourself
    model.fit(X, X, sample_weight=np.any(X != 0.0, axis=-1).astype("float32"))
    ```
    """

    code = "MC102"
    name = "output-unmasked"
    severity = Severity.ERROR
    family = "propagation"
    summary = "a time-aligned model output has no mask, so the loss counts padding"

    INVALID = (
        Invalid("seq2seq autoencoder compiled with mse: LSTM -> RepeatVector -> LSTM", _compiled_autoencoder),
        Invalid("the same autoencoder, uncompiled and without y (info: no loss yet)", _autoencoder),
    )
    VALID = (
        Valid("Masking -> BiLSTM -> TimeDistributed(Dense) tagger", lambda t: t.propagation.tagger()),
        Valid("Masking -> LSTM -> Dense: one vector per sequence", _classifier),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        trace = ctx.trace
        sources = creators(trace)
        if not sources:
            return
        reach = reachable_from(trace, sources)
        gaps = has_gaps(trace)
        for i, out in enumerate(trace.outputs):
            if kb.get_mask(out) is not None:
                continue
            for src in sources:
                mask = src.output_masks[0]
                t_len = time_len(mask)
                if not time_aligned(out, t_len) or not (id(out) in reach or gaps):
                    continue
                lost = [
                    e for e in ctx.events if role_of(e) in (Role.DROPS, Role.CONSUMES) and e.index > src.index
                ]
                where = (
                    f" The mask was last seen going into '{lost[-1].path}' ({lost[-1].class_name})."
                    if lost
                    else ""
                )
                share = 1.0 - float(np.asarray(kb.to_numpy(mask), dtype=bool).mean())
                no_loss = loss_identifier(ctx.model, i) is None and ctx.y is None
                consequence = (
                    "a loss compiled on this output would count padded steps (none is compiled "
                    "yet and no y was given)"
                    if no_loss
                    else "the compiled loss and metrics count padded steps"
                )
                yield self.finding(
                    f"model output {i} (shape {shape(out)}) is aligned with the mask of "
                    f"'{src.path}' ({share:.0%} of steps padded) but carries no mask, so "
                    f"{consequence}.{where}",
                    "make the layers up to the output carry the mask (mask-aware layers, "
                    "`return_sequences=True`, pass `mask=` explicitly), " + SAMPLE_WEIGHT_FIX,
                    layer=lost[-1].path if lost else None,
                    output=i,
                    source=src.path,
                    samples=masked_samples(mask),
                    severity=Severity.INFO if no_loss else None,
                    no_loss=no_loss,
                )
                break
