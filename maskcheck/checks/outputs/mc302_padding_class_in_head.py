"""MC302 padding-class-in-head: the padding label has its own output unit but never occurs on real steps."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.outputs._common import OutputCheck
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class PaddingClassInHead(OutputCheck):
    """## What it does
    Infers the label used at padded steps (e.g. 0) and the real classes. Warns when the padding
    label never occurs on real steps but has its own output unit: the head has one class too many.

    ## Why is this bad?
    The model spends capacity on a class it must never predict on real data, and if the mask
    does not reach the loss it learns to predict it (MC301).

    ## Known problems
    The padding label is inferred from y: the label at the steps a mask source masks off (when
    at least 90% of them hold one label), else the label filling the padded ends of y. Real
    classes are those seen on real steps of the audited sample, so a rare class missing from
    the sample makes the mapping in the message incomplete. A loss with `ignore_class` equal to
    the padding label is accepted; a custom loss that drops the padding class some other way is
    not recognised. Heads with one unit are skipped. No named thresholds.

    ## Example
    ```python
    # labels 1, 2 on real steps, 0 on padding
    layers.TimeDistributed(layers.Dense(3, activation="softmax"))
    ```

    ## Use instead
    ```python
    y = np.where(y > 0, y - 1, 0)                                   # 1 -> 0, 2 -> 1
    layers.TimeDistributed(layers.Dense(2, activation="softmax"))
    # or keep the labels: loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=0)
    ```
    """

    code = "MC302"
    name = "padding-class-in-head"
    severity = Severity.WARNING
    summary = "the padding label has its own output unit but never occurs on real steps"

    INVALID = (
        Invalid(
            "labels 1, 2, padding 0, three units",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=3)),
        ),
    )
    VALID = (
        Valid(
            "labels shifted to 0, 1 with two units, padding masked",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=2), shift=1),
        ),
        Valid(
            "three units with ignore_class=0",
            lambda t: t.outputs.labelled(
                t.outputs.tagger(units=3, loss=t.keras.losses.SparseCategoricalCrossentropy(ignore_class=0))
            ),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for i in self.outputs(ctx):
            out = ctx.output(i)
            lab, head = out.labels, out.head
            if lab is None or head is None or head.units < 2:
                continue
            if lab.pad_label in lab.real_classes or not 0 <= lab.pad_label < head.units:
                continue
            info = out.loss
            if info is not None and info.ignore_class == lab.pad_label:
                continue
            n_real = len(lab.real_classes)
            mapping = ", ".join(f"{c} -> {k}" for k, c in enumerate(lab.real_classes[:6]))
            yield self.finding(
                f"{out.label}: the padding label {lab.pad_label} ({lab.pad_label_source}) never occurs on "
                f"real steps, whose classes are {lab.real_classes}, yet the head '{head.path}' has "
                f"{head.units} units: one for padding.",
                f'shift the labels ({mapping}) and use `Dense({n_real}, activation="softmax")` with the padding '
                f"masked, or keep them and use `SparseCategoricalCrossentropy(ignore_class={lab.pad_label})`",
                layer=head.path,
                pad_label=lab.pad_label,
                real_classes=lab.real_classes,
                units=head.units,
            )
