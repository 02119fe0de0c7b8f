"""MC305 loss-counts-padding: changing y only at padded steps changes the compiled loss."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import jit
from maskcheck.checks.base import Invalid, Threshold, Valid
from maskcheck.checks.outputs._common import OutputCheck, labels_out_of_range, loss_counted, perturbed
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import shape
from maskcheck.report import Finding, Severity


def _loss_values(
    ctx: AuditContext, identity: Any, loss_obj: Any, y_pred: Any, cases: list[tuple[Any, Any]]
) -> list[float]:
    values = []
    for v in jit.loss_values(ctx.model, identity, loss_obj, y_pred, cases):
        value = np.asarray(kb.to_numpy(v))
        if value.ndim:
            raise ValueError(
                f"it returns an array of shape {value.shape}, not one number (a loss with reduction=None?)"
            )
        values.append(float(value))
    return values


def _weighted(y: Any, w: Any, padded: np.ndarray) -> list[tuple[Any, Any]]:
    """y with the weights as given (all ones if none) and with the padded steps weighted twice."""
    base = np.broadcast_to(
        np.ones(padded.shape, "float32") if w is None else np.asarray(w, "float32").reshape(len(padded), -1),
        padded.shape,
    )
    return [(y, np.array(base)), (y, base * (1.0 + padded))]


def _rejected(out: Any) -> bool:
    """The loss would reject some labels (MC309 reports them): it cannot be evaluated."""
    bad = labels_out_of_range(out)
    return bad is not None and bool(bad.any())


def _weights_ok(w: Any, y_pred: Any) -> bool:
    """False for a (batch,) weight on a masked per-step output: Keras cannot apply it (MC308)."""
    if w is None:
        return True
    ws = np.shape(w)
    return not (len(ws) == 1 and kb.get_mask(y_pred) is not None and len(shape(y_pred)) >= 3)


class LossCountsPadding(OutputCheck):
    """## What it does
    The definitive test of "is my loss masked": evaluates the compiled loss on the audited
    sample twice, with y changed only at padded steps, and reports both values. The loss object
    is rebuilt exactly as `compile` builds it and called on the real output tensor (which
    carries the runtime mask); nothing is trained and no optimizer or metric state is touched.

    ## Why is this bad?
    If the value changes, the loss counts padded steps: the model is trained to predict the
    padding label, and reported losses are diluted by padding.

    ## Known problems
    The padded steps of an output are, in this order: the steps the mask it carries at run time
    switches off (in an encoder-decoder that is the decoder's mask, whatever the encoder's
    length), the zero-weight steps of a per-step `sample_weight`, the steps masked off by the
    mask sources its steps come from when they agree, and last the label filling the padded ends of y (see
    MC301). An output without a time axis, or data where none of these shows padding, is not
    tested. Padded steps whose label is the loss's `ignore_class` are left unchanged, as the
    loss drops them by design. Where the padded steps are predicted uniformly every label
    costs the same, so the check weights the padded steps double instead of changing y. A
    (batch,) `sample_weight` that Keras cannot apply to a masked per-step output is left out
    (MC308 reports it), and so is an output whose labels the loss rejects (MC309 reports
    them). A loss that cannot be evaluated (one with `reduction=None`, say) is not reported as a
    finding: the report lists MC305 among the checks that could not run. Named thresholds:
    `REL_TOLERANCE` (how far apart the two loss values must be, relative to the first).

    ## Example
    ```python
    x = layers.LSTM(32)(layers.Masking(0.0)(inp))
    out = layers.LSTM(5, return_sequences=True)(layers.RepeatVector(20)(x))   # no mask on the output
    ```

    ## Use instead
    ```python
    model.fit(X, X, sample_weight=np.any(X != 0.0, axis=-1).astype("float32"))
    ```
    """

    code = "MC305"
    name = "loss-counts-padding"
    severity = Severity.ERROR
    summary = "changing y only at padded steps changes the compiled loss"

    REL_TOLERANCE = Threshold(
        1e-6,
        "Relative difference (to the larger of 1 and the first loss) below which the two losses count "
        "as equal. Lower takes float rounding for a leak; higher misses a few padded steps in a long "
        "sample, whose share of the loss is small.",
    )

    INVALID = (
        Invalid("seq2seq autoencoder, mse on an unmasked output", lambda t: t.outputs.autoencoder()),
        Invalid(
            "tagger without Masking, padding label 0 in the loss",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=3, masked=False)),
        ),
        Invalid(
            "encoder-decoder of one length, decoder Embedding without mask_zero",
            lambda t: t.outputs.teacher_forced_seq2seq(decoder_masked=False),
        ),
        Invalid(
            "unmasked tagger whose end label also pads, no sample_weight",
            lambda t: t.outputs.end_token_padded(weighted=False),
        ),
    )
    VALID = (
        Valid(
            "masked tagger, sparse categorical cross-entropy",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=3)),
        ),
        Valid("masked per-step regressor, mse", lambda t: t.outputs.masked_regressor()),
        Valid(
            "encoder-decoder of one length: the output carries the decoder's mask (teacher forcing)",
            lambda t: t.outputs.teacher_forced_seq2seq(),
        ),
        Valid(
            "unmasked tagger, loss with ignore_class=0",
            lambda t: t.outputs.labelled(
                t.outputs.tagger(
                    units=3, masked=False, loss=t.keras.losses.SparseCategoricalCrossentropy(ignore_class=0)
                )
            ),
        ),
        Valid(
            "unmasked tagger whose end label also pads, sample_weight = the real steps",
            lambda t: t.outputs.end_token_padded(weighted=True),
        ),
    )

    def _same(self, a: float, b: float) -> bool:
        return abs(a - b) <= self.REL_TOLERANCE * max(1.0, abs(a))

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if ctx.y is None:
            return
        for i in self.outputs(ctx):
            out = ctx.output(i)
            info = out.loss
            lab, head = out.labels, out.head
            if info is None or head is None or i >= len(ctx.y):
                continue
            y = ctx.y[i]
            padded = lab.padded if lab is not None else out.step_padded
            if padded is None or not padded.any() or _rejected(out):
                continue
            padded = loss_counted(out, padded)
            if not padded.any():
                continue  # every padded step holds the loss's ignore_class
            kind = info.kind
            y_pred = out.tensor
            w = ctx.weight(i) if _weights_ok(ctx.weight(i), y_pred) else None
            if (
                w is not None
                and padded.ndim == 2
                and (np.ndim(w) == 1 or (np.ndim(w) == 2 and np.shape(w)[1] == 1))
            ):
                # (N,) or (N, 1) weights: Keras spreads them over the steps; the PyTorch backend
                # cannot broadcast them in place, so spread them here (same values).
                w = np.broadcast_to(np.asarray(w, "float32").reshape(len(padded), -1), padded.shape).copy()
            loss_obj = kb.resolve_loss(info.identifier, y, y_pred, legacy=kb.is_legacy(ctx.model))
            try:
                weighted = _weighted(y, w, padded)
            except ValueError:
                weighted = []  # raised again below if these are needed
            try:
                changed_y = [(y, w), (perturbed(y, padded, kind, head.units), w)]
                try:
                    values = _loss_values(ctx, info.identifier, loss_obj, y_pred, changed_y + weighted)
                except Exception:
                    # the weighted pair, needed only when the first agrees, may be what fails
                    values = _loss_values(ctx, info.identifier, loss_obj, y_pred, changed_y)
                before, after = values[:2]
                how = "changing y only at"
                if self._same(before, after):
                    # padded steps predicted uniformly cost the same for any label: weight them instead
                    before, after = (
                        values[2:]
                        if len(values) == 4
                        else _loss_values(ctx, info.identifier, loss_obj, y_pred, weighted or _weighted(y, w, padded))
                    )
                    how = "weighting only"
            except Exception as exc:
                ctx.could_not_run(self.code, f"the loss of {out.label} could not be evaluated: {exc}")
                continue
            if self._same(before, after):
                continue
            masked = kb.get_mask(y_pred) is not None
            yield self.finding(
                f"{out.label}: {how} the {int(padded.sum())} padded steps changes the compiled "
                f"loss {loss_obj.name} from {before:.6g} to {after:.6g}, so the loss counts padding "
                + (
                    "(the output carries a mask, but it does not cover these steps)."
                    if masked
                    else "(the output carries no mask)."
                ),
                (
                    "make the mask cover the padding: fix the data layout or mask value (see the MC2xx findings)"
                    if masked
                    else "make the output carry the mask (see MC101-MC107)"
                )
                + ", or weight the loss by the real steps: "
                "`model.fit(X, y, sample_weight=np.any(X != pad_value, axis=-1).astype('float32'))`",
                layer=head.path,
                loss_before=before,
                loss_after=after,
            )
