"""MC307 metric-counts-padding: a compiled metric ignores the mask or changes with y at padded steps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import kinds
from maskcheck.bridge.kinds import is_kind
from maskcheck.checks.base import Invalid, Threshold, Valid
from maskcheck.checks.outputs._common import OutputCheck, perturbed
from maskcheck.facts.context import AuditContext
from maskcheck.facts.outputs import by_name
from maskcheck.report import Finding, Severity


def _metrics_for(spec: Any, names: list[str], i: int, name: str | None = None) -> list[Any]:
    """The metrics that `compile(metrics=...)` (or `weighted_metrics=`) gave output i (a dict of
    them by the output's `name`, else by the output layer's name)."""
    if spec is None:
        return []
    if isinstance(spec, dict):
        v = by_name(spec, list(names), i, name)
        return [] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]
    if isinstance(spec, (list, tuple)):
        if spec and all(isinstance(s, (list, tuple)) or s is None for s in spec):
            v = spec[i] if i < len(spec) else None
            return [] if v is None else list(v)
        return list(spec)
    return [spec]


class MetricCountsPadding(OutputCheck):
    """## What it does
    Checks each compiled metric: confusion-matrix metrics (Precision, Recall, AUC, F1Score, ...)
    ignore masks in Keras 3.15; any metric whose value changes when y changes only at padded
    steps counts padding. Fresh copies of the metrics are used; the compiled ones are untouched.

    ## Why is this bad?
    The reported metric mixes padding with data: precision and recall of the padding class,
    accuracy inflated by easy padded steps.

    ## Known problems
    It needs per-step labels y whose padding it can infer (see MC301). A confusion-matrix metric
    (or a subclass of one) is reported on Keras 3 even when the change at padded steps happens
    not to move its value on the audited sample; on tf_keras, which applies the mask to metrics,
    only a changed value counts. A metric object that cannot be rebuilt from its config, or a
    metric that fails on the audited y, is skipped silently. Named thresholds: `REL_TOLERANCE` (how far apart the two metric values must be, relative to the
    first).

    ## Example
    ```python
    model.compile(loss="binary_crossentropy", metrics=[keras.metrics.Precision()])
    ```

    ## Use instead
    ```python
    # evaluate on real steps yourself
    real = np.any(X != 0.0, axis=-1)
    keras.metrics.Precision()(y[real], model.predict(X)[real])
    ```
    """

    code = "MC307"
    name = "metric-counts-padding"
    severity = Severity.WARNING
    summary = "a compiled metric ignores the mask or changes with y at padded steps"

    REL_TOLERANCE = Threshold(
        1e-6,
        "Relative difference (to the larger of 1 and the first value) from which the two metric "
        "values count as different. Lower takes float rounding for a leak; higher misses a metric "
        "that padding moves only a little.",
    )

    INVALID = (
        Invalid(
            "Precision on a masked per-step output",
            lambda t: t.outputs.binary_tagger([t.keras.metrics.Precision()]),
        ),
    )
    VALID = (
        Valid("accuracy on a masked per-step output", lambda t: t.outputs.binary_tagger(["accuracy"])),
        Valid("no metrics", lambda t: t.outputs.binary_tagger(None)),
        Valid(
            "accuracy on an encoder-decoder of one length (the output carries the decoder's mask)",
            lambda t: t.outputs.teacher_forced_seq2seq(),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        metrics, weighted = kb.compiled_metric_identifiers(ctx.model)
        if not metrics and not weighted:
            return
        names = list(getattr(ctx.model, "output_names", None) or [])
        for i in self.outputs(ctx):
            out = ctx.output(i)
            lab, head = out.labels, out.head
            if lab is None or head is None or ctx.y is None or not lab.padded.any():
                continue
            plain = _metrics_for(metrics, names, i, out.name)
            idents = plain + _metrics_for(weighted, names, i, out.name)
            y, y_pred = ctx.y[i], out.tensor
            info = out.loss
            kind = info.kind if info else ("binary" if head.units == 1 else "sparse_categorical")
            y2 = perturbed(y, lab.padded, kind, head.units)
            for k, ident in enumerate(idents):
                try:
                    legacy = kb.is_legacy(ctx.model)
                    m1 = kb.resolve_metric(ident, y, y_pred, legacy)
                    m2 = kb.resolve_metric(ident, y, y_pred, legacy)
                    # tf_keras applies the mask in its metrics container, as sample_weight
                    mask = kb.get_mask(y_pred) if legacy else None
                    sw = None if mask is None else np.asarray(kb.to_numpy(mask), dtype="float32")
                    if k >= len(plain) and ctx.weight(i) is not None:  # fit weighs these
                        given = np.asarray(ctx.weight(i), dtype="float32")
                        sw = given if sw is None else sw * given
                    m1.update_state(y, y_pred, sample_weight=sw)
                    m2.update_state(y2, y_pred, sample_weight=sw)
                    r1, r2 = (
                        float(np.mean(kb.to_numpy(m1.result()))),
                        float(np.mean(kb.to_numpy(m2.result()))),
                    )
                except Exception:
                    continue
                cls = type(m1).__name__
                changed = abs(r1 - r2) > self.REL_TOLERANCE * max(1.0, abs(r1))
                if not changed and (not is_kind(m1, kinds.CONFUSION_METRICS) or legacy):
                    continue
                why = (
                    f"changes from {r1:.4g} to {r2:.4g} when y changes only at padded steps"
                    if changed
                    else "is a confusion-matrix metric, which ignores masks in Keras 3.15"
                )
                yield self.finding(
                    f"{out.label}: metric '{m1.name}' ({cls}) {why}, so it counts padding.",
                    "compute it on real steps only, e.g. `keras.metrics."
                    f"{cls}()(y[real], y_pred[real])` with `real = np.any(X != pad_value, axis=-1)`, or "
                    "pass the mask as `sample_weight` to `evaluate`",
                    layer=head.path,
                    metric=m1.name,
                    before=r1,
                    after=r2,
                )
