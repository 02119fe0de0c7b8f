"""MC309 padding-label-out-of-range: y holds a label outside the sparse loss's class range."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.outputs._common import OutputCheck, labels_out_of_range
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class PaddingLabelOutOfRange(OutputCheck):
    """## What it does
    Looks at the per-step labels of every output compiled with a sparse categorical
    cross-entropy and reports labels outside the head's classes `[0, units)` that the loss's
    `ignore_class` does not cover, typically `-1` used to pad y.

    ## Why is this bad?
    The mask does not keep a label from reaching the loss: the loss looks up every label
    before the mask zeroes the padded steps. On CPU `fit` crashes with "Received a label value
    of -1 which is outside the valid range"; on GPU the lookup is not checked and the loss
    becomes NaN or garbage, silently.

    ## Known problems
    Only sparse categorical cross-entropy (as a string, function or `Loss`) is looked at, and
    only outputs with at least two units whose y can be read as integer labels per step.
    Labels outside the range on real steps are reported too (the message says how many of the
    steps are padded steps). A custom loss that drops such labels itself is not recognised.
    No named thresholds.

    ## Example
    ```python
    y = keras.utils.pad_sequences(tags, padding="post", value=-1)
    model.compile(loss="sparse_categorical_crossentropy")
    ```

    ## Use instead
    ```python
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    # or pad y with a valid class (value=0) and let the mask drop the padded steps
    ```
    """

    code = "MC309"
    name = "padding-label-out-of-range"
    severity = Severity.ERROR
    summary = "a label at padded steps is outside the loss's class range"

    INVALID = (
        Invalid(
            "y padded with -1, sparse cross-entropy without ignore_class",
            lambda t: t.outputs.minus_one_padded(),
        ),
    )
    VALID = (
        Valid(
            "y padded with -1, ignore_class=-1",
            lambda t: t.outputs.minus_one_padded(
                t.keras.losses.SparseCategoricalCrossentropy(ignore_class=-1)
            ),
        ),
        Valid("y padded with 0", lambda t: t.outputs.minus_one_padded(pad=0)),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if ctx.y is None:
            return
        for i in self.outputs(ctx):
            out = ctx.output(i)
            bad = labels_out_of_range(out)
            if bad is None or not bad.any():
                continue
            info, head, ids = out.loss, out.head, out.label_ids
            assert info is not None and head is not None and ids is not None
            units = head.units
            values = [int(v) for v in np.unique(ids[bad])[:5]]
            padded = out.labels.padded if out.labels is not None else out.step_padded
            on_padding = (
                int((bad & padded).sum()) if padded is not None and padded.shape == bad.shape else None
            )
            where = f" ({on_padding} of them padded steps)" if on_padding is not None else ""
            ignore = (
                f"its ignore_class={info.ignore_class} does not cover them"
                if info.ignore_class is not None
                else "it has no ignore_class"
            )
            yield self.finding(
                f"output {i}: y holds label(s) {values} at {int(bad.sum())} steps{where}, outside the "
                f"{units} classes [0, {units}) of the loss {info.label}, and {ignore}: the mask does not "
                "keep a label from the loss, so `fit` crashes on CPU and gives NaN or garbage on GPU.",
                f"`loss=keras.losses.SparseCategoricalCrossentropy(ignore_class={values[0]})`, or pad y "
                "with a valid class (e.g. 0) and let the mask drop the padded steps",
                layer=head.path,
                labels=values,
            )
