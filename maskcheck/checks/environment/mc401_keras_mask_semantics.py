"""MC401 keras-mask-semantics: the installed Keras changes mask behaviour the model relies on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge.kinds import SEQUENCE_WRAPPERS, TIME_DISTRIBUTED, is_kind
from maskcheck.checks.base import CaseInput, Check, Invalid, Kit, Threshold, Valid
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import shape
from maskcheck.report import Finding, Severity


def _keras3_sequence_layer(layer: Any) -> bool:
    """An RNN, Bidirectional or TimeDistributed of Keras 3 (the finding is about the installed
    Keras 3; tf_keras, whose semantics are fixed, is covered by the legacy-loss probe)."""
    return isinstance(layer, kb.LayerBase) and is_kind(layer, SEQUENCE_WRAPPERS)


def _keeps_sequence(ev: Any) -> bool:
    if is_kind(ev.layer, TIME_DISTRIBUTED):
        return True
    return bool(getattr(ev.layer, "return_sequences", False))


def _tagger(t: Kit, lstm: Any) -> CaseInput:
    model = t.keras.Sequential([t.seq_input(), t.layers.Masking(0.0), lstm, t.layers.Dense(2)])
    return CaseInput(model, t.padded_floats())


class KerasMaskSemantics(Check):
    """## What it does
    Reports where the installed Keras handles masks differently from what the model relies on.
    Keras up to 3.15 passes the mask on through `LSTM/GRU(return_sequences=True)`,
    `Bidirectional` and `TimeDistributed`; Keras `main` after 3.15 stops doing so, which silently
    unmasks the loss of every per-step tagger. This check sees the actual behaviour in the trace:
    such a layer received a mask and returned a sequence without one.

    ## Why is this bad?
    The same code that trained a correctly masked model yesterday trains on padding after an
    upgrade, with no error and no warning.

    ## Known problems
    Only Keras 3 RNN layers, `Bidirectional` and `TimeDistributed` (and their subclasses) are
    looked at, and only when they return a sequence (`TimeDistributed` always; the others when
    `return_sequences` is set) as long as the mask. A custom subclass that drops the mask on
    purpose is reported as if Keras did it. For a tf_keras model it also probes the installed
    tf_keras, once per audit: a masked mean squared error over 2 real and 2 padded steps, each
    of error 1, is 1.0 when divided by the real steps and 0.5 when divided by all steps; a
    value below `LEGACY_LOSS_CUTOFF` (0.75, halfway) means all steps. Named thresholds:
    `LEGACY_LOSS_CUTOFF`.

    ## Example
    ```python
    # Keras main: the mask stops at the LSTM
    layers.Masking(0.0), layers.LSTM(32, return_sequences=True), layers.Dense(3, activation="softmax")
    ```

    ## Use instead
    ```python
    model.fit(X, y, sample_weight=np.any(X != 0.0, axis=-1).astype("float32"))   # works on every version
    ```
    """

    code = "MC401"
    name = "keras-mask-semantics"
    severity = Severity.INFO
    family = "environment"
    summary = "the installed Keras changes mask behaviour the model relies on"

    LEGACY_LOSS_CUTOFF = Threshold(
        0.75,
        "the probe's loss is 1.0 when tf_keras divides by real steps and 0.5 when it divides by all "
        "steps; halfway tells the two apart with the widest margin for rounding",
    )

    INVALID = (
        Invalid(
            "an LSTM that stops passing the mask on (simulated Keras main)",
            lambda t: _tagger(t, t.custom_layers.MaskStoppingLSTM(4, return_sequences=True)),
        ),
    )
    VALID = (
        Valid(
            "LSTM(return_sequences=True) on the installed Keras",
            lambda t: _tagger(t, t.layers.LSTM(4, return_sequences=True)),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        yield from self._legacy_loss(ctx)
        for ev in ctx.events:
            if not _keras3_sequence_layer(ev.layer) or not ev.any_mask_in or ev.has_output_mask:
                continue
            if not _keeps_sequence(ev) or not ev.outputs:
                continue
            mask = ev.first_input_mask()
            s_out, s_mask = shape(ev.outputs[0]), shape(mask)
            if len(s_out) < 3 or len(s_mask) < 2 or s_out[1] != s_mask[1]:
                continue
            yield self.finding(
                f"'{ev.path}' ({ev.class_name}) received a mask and returned a sequence without one: the "
                f"installed Keras {kb.KERAS_VERSION} ({kb.backend_name()} backend) does not pass masks on "
                f"through {ev.class_name}, unlike Keras 3.0-3.15. Everything after it, and the loss, see padding.",
                "pin `keras<=3.15`, or mask the loss explicitly: "
                "`model.fit(X, y, sample_weight=np.any(X != pad_value, axis=-1).astype('float32'))`",
                layer=ev.path,
                keras=kb.KERAS_VERSION,
            )

    def _legacy_loss(self, ctx: AuditContext) -> Iterable[Finding]:
        """tf_keras before the valid-mask fix divided a masked loss by all steps, padding included."""
        if not kb.is_legacy(ctx.model) or not legacy_loss_divides_by_all_steps():
            return
        for i, out in enumerate(ctx.trace.outputs):
            mask = kb.get_mask(out)
            if mask is None or len(shape(out)) < 3:
                continue
            share = 1.0 - float(np.asarray(kb.to_numpy(mask), dtype=bool).mean())
            yield self.finding(
                f"output {i} is masked, but the installed tf_keras divides a masked loss by all steps, "
                f"padded ones included ({share:.0%} of the audited steps are padded): the loss and its "
                "gradients shrink with the amount of padding and differ between batches.",
                "upgrade to tf_keras >= 2.13 (or Keras 3), or normalise yourself: "
                "`sample_weight = mask / mask.mean()` passed to `fit`",
                output=i,
                keras=kb.keras_label(ctx.model),
            )


def legacy_loss_divides_by_all_steps() -> bool:
    """Probe the installed tf_keras: a masked MSE over 2 real and 2 padded steps of error 1 is
    1.0 when divided by real steps and 0.5 when divided by all steps."""
    return kb.legacy_masked_mse_probe() < KerasMaskSemantics.LEGACY_LOSS_CUTOFF
