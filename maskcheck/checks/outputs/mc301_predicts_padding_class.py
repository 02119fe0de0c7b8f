"""MC301 predicts-padding-class: on real steps the model predicts the label used for padding."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Threshold, Valid
from maskcheck.checks.outputs._common import OutputCheck
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class PredictsPaddingClass(OutputCheck):
    """## What it does
    Looks at predictions on real (unpadded) steps of the audited sample and measures how many
    get the label used for padding, when that label never occurs on real steps. Fires when it is
    the majority: the seed's "the model predicts 0 for every step".

    ## Why is this bad?
    The model learned that the padding class is the safest answer, because padding dominated
    the loss: the mask did not reach the loss, or the labels and the head give padding its own
    class.

    ## Known problems
    It needs per-step labels y whose padding label it can infer: the label at the steps that
    a mask source masks off (when at least 90% of them hold one label), else the label filling
    the padded ends of y. A padding label that also occurs on real steps is not reported (the
    predictions cannot tell padding from data then). Whether the model was trained is read from
    its predictions, not from its optimizer (weights loaded with `load_weights` come from
    training the optimizer never saw): an untrained head is near chance, a learned padding class
    is predicted with confidence; a head whose outputs are neither probabilities nor logits is
    judged without this test. The predicted class is the argmax, or for one unit the output
    above 0.5 (0 for a linear head). Named thresholds: `MIN_REAL_STEPS` (the fewest real steps
    in the sample to judge on), `MIN_SHARE` (the share of real steps predicted as padding) and
    `MIN_CONFIDENCE` (how far from chance towards certain the padding label is predicted).

    ## Example
    ```python
    # 3 output units for 2 real classes + padding label 0, loss not masked
    layers.TimeDistributed(layers.Dense(3, activation="sigmoid"))
    ```

    ## Use instead
    ```python
    y = np.where(y > 0, y - 1, 0)                                   # real classes 0..n-1
    layers.TimeDistributed(layers.Dense(2, activation="softmax"))   # padding masked out of the loss
    ```
    """

    code = "MC301"
    name = "predicts-padding-class"
    severity = Severity.ERROR
    summary = "on real steps the model predicts the label used for padding"

    MIN_REAL_STEPS = Threshold(
        10,
        "Real steps the audited sample must hold before a share is judged. Lower reports on a handful "
        "of steps, where a share means little; higher stays quiet on small samples.",
    )
    MIN_SHARE = Threshold(
        0.5,
        "Share of real steps predicted as the padding label from which the check fires. Lower reports "
        "a model that merely leans towards padding; higher misses one that predicts it for most steps.",
    )

    MIN_CONFIDENCE = Threshold(
        0.5,
        "Mean probability of the padding label on the real steps predicted as padding, rescaled on a "
        "log scale from chance (0) to certain (1; 0.5 is p = 0.58 for 3 classes, 0.14 for 50), from "
        "which the model counts as trained. Lower reports an untrained "
        "head whose argmax lands on padding by chance; higher misses a model that learned padding "
        "with moderate confidence.",
    )

    INVALID = (
        Invalid(
            "head biased to the padding class 0",
            lambda t: t.outputs.labelled(t.outputs.tagger(bias=[5.0, 0.0, 0.0], loss=None)),
        ),
        Invalid(
            "trained weights loaded into a fresh compiled model (optimizer never stepped)",
            lambda t: t.outputs.labelled(t.outputs.loaded_tagger(bias=[5.0, 0.0, 0.0])),
        ),
    )
    VALID = (
        Valid(
            "head biased to real class 1",
            lambda t: t.outputs.labelled(t.outputs.tagger(bias=[0.0, 5.0, 0.0], loss=None)),
        ),
        Valid(
            "real labels include the padding label 0 (masked)",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=2, bias=[5.0, 0.0], loss=None), shift=1),
        ),
        Valid(
            "compiled but never trained (predictions near chance)",
            lambda t: t.outputs.labelled(t.outputs.untrained_tagger(pad_class=0)),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for i in self.outputs(ctx):
            out = ctx.output(i)
            lab, head = out.labels, out.head
            if lab is None or head is None or lab.pad_label in lab.real_classes:
                continue
            real = ~lab.padded
            if real.sum() < self.MIN_REAL_STEPS:
                continue
            pred = out.predicted_ids
            if pred is None:  # only without a head, ruled out above
                continue
            share = float((pred[real] == lab.pad_label).mean())
            if share < self.MIN_SHARE:
                continue
            sure = out.confidence(lab.pad_label, real & (pred == lab.pad_label))
            if sure is not None and sure < self.MIN_CONFIDENCE:
                continue  # near chance: an untrained head, whose argmax means nothing
            yield self.finding(
                f"{out.label}: {share:.0%} of the {int(real.sum())} real steps are predicted as the padding "
                f"label {lab.pad_label} ({lab.pad_label_source}), which no real step has.",
                "mask the padding out of the loss (see MC305) and give the head one unit per real class: "
                f'shift the labels (`y = np.where(y > 0, y - 1, 0)`) and use `Dense({len(lab.real_classes)}, activation="softmax")`',
                layer=head.path,
                share=share,
                pad_label=lab.pad_label,
                confidence=sure,
            )
