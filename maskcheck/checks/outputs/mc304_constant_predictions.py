"""MC304 constant-predictions: one class or value is predicted for every real step."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck.checks.base import Invalid, Threshold, Valid
from maskcheck.checks.outputs._common import OutputCheck
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class ConstantPredictions(OutputCheck):
    """## What it does
    Warns when one class (or one value) is predicted for every real step of the audited sample
    although the labels hold several.

    ## Why is this bad?
    The model collapsed to the majority answer: typical when padding dominates the loss or the
    activation and loss do not match.

    ## Known problems
    It needs per-step labels y whose padding it can infer (as MC301 does), and at least two
    classes on their real steps; regression outputs and per-sample outputs are not looked at.
    Whether the model was trained is read from its predictions, not from its optimizer (as MC301
    does): a constant answer given near chance is an untrained head and is skipped. The
    predicted class is the argmax, or for one unit the output above 0.5 (0 for a linear head). A model that is right to predict one class (data where one class
    truly fills the real steps of the sample) is reported too. Named thresholds:
    `MIN_REAL_STEPS` (the fewest real steps to judge on), `CONSTANT_SHARE` (the share of real
    steps that must get the same class) and `MIN_CONFIDENCE` (how far from chance towards
    certain that class is predicted).

    ## Example
    ```python
    history = model.fit(X, y)        # accuracy stuck at the share of the majority class
    ```

    ## Use instead
    ```python
    report = maskcheck.audit(model, X, y)   # fix the MC1xx/MC2xx/MC30x findings first
    ```
    """

    code = "MC304"
    name = "constant-predictions"
    severity = Severity.WARNING
    summary = "one class or value is predicted for every real step"

    MIN_REAL_STEPS = Threshold(
        20,
        "Real steps the audited sample must hold before predictions are judged. Lower reports a "
        "constant answer on a few steps, which may be chance; higher stays quiet on small samples.",
    )
    CONSTANT_SHARE = Threshold(
        0.99,
        "Share of real steps that must get the most predicted class. Lower reports models that are "
        "merely unbalanced; higher misses a collapsed model with a few stray predictions.",
    )

    MIN_CONFIDENCE = Threshold(
        0.5,
        "Mean probability of the constant class on the real steps, rescaled on a log scale from chance "
        "(0) to certain (1; 0.5 is p = 0.58 for 3 classes, 0.14 for 50), from which the model counts "
        "as trained. Lower reports an untrained head whose argmax "
        "happens to be constant; higher misses a model that collapsed with moderate confidence.",
    )

    INVALID = (
        Invalid(
            "zero kernel, bias picks class 1 everywhere",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=3, bias=[0.0, 5.0, 0.0], loss=None)),
        ),
        Invalid(
            "collapsed weights loaded into a fresh compiled model (optimizer never stepped)",
            lambda t: t.outputs.labelled(t.outputs.loaded_tagger(bias=[0.0, 5.0, 0.0])),
        ),
    )
    VALID = (
        Valid("a head that follows its input", lambda t: t.outputs.labelled(t.outputs.identity_head())),
        Valid(
            "compiled but never trained (constant argmax near chance)",
            lambda t: t.outputs.labelled(t.outputs.untrained_tagger(pad_class=1)),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for i in self.outputs(ctx):
            out = ctx.output(i)
            lab, head = out.labels, out.head
            if lab is None or head is None:
                continue
            real = ~lab.padded
            if real.sum() < self.MIN_REAL_STEPS or len(lab.real_classes) < 2:
                continue
            predicted = out.predicted_ids
            if predicted is None:  # only without a head, ruled out above
                continue
            pred = predicted[real]
            values, counts = np.unique(pred, return_counts=True)
            k = int(np.argmax(counts))
            if counts[k] / counts.sum() < self.CONSTANT_SHARE:
                continue
            sure = out.confidence(int(values[k]), real & (predicted == values[k]))
            if sure is not None and sure < self.MIN_CONFIDENCE:
                continue  # near chance: an untrained head, whose argmax means nothing
            yield self.finding(
                f"{out.label}: class {int(values[k])} is predicted for {counts[k]} of {counts.sum()} real steps, "
                f"while the labels there hold classes {lab.real_classes}.",
                "check the findings above (masking, activation/loss); then the learning rate and class balance "
                "(`class_weight=`)",
                layer=head.path,
                predicted=int(values[k]),
                confidence=sure,
            )
