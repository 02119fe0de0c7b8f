"""MC308 sample-weight-shape: a (batch,) sample_weight with a (batch, time) mask crashes the loss."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck import bridge as kb
from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.outputs._common import OutputCheck
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import shape
from maskcheck.report import Finding, Severity


class SampleWeightShape(OutputCheck):
    """## What it does
    Finds a per-sample `sample_weight` of shape (batch,) given for an output that carries a
    (batch, time) mask.

    ## Why is this bad?
    In Keras 3.15 the loss combines the mask and the weights by broadcasting, and a (batch,)
    vector does not broadcast against (batch, time): `fit` crashes inside the loss with a shape
    error that does not mention sample weights.

    ## Known problems
    It looks at the mask the output carries on the traced forward pass, not at the loss: a
    custom loss or a Keras version that reshapes the weights itself would not crash, and is
    reported all the same. One `sample_weight` array is compared with every output, as Keras
    applies it to the loss of each; weights given per output (a dict keyed by output name, or a
    list) each with its own output. No named thresholds.

    ## Example
    ```python
    model.fit(X, y, sample_weight=w)            # w.shape == (batch,)
    ```

    ## Use instead
    ```python
    model.fit(X, y, sample_weight=w[:, None])   # (batch, 1) broadcasts over time
    ```
    """

    code = "MC308"
    name = "sample-weight-shape"
    severity = Severity.ERROR
    summary = "a (batch,) sample_weight with a (batch, time) mask crashes the loss"

    INVALID = (Invalid("sample_weight of shape (batch,)", lambda t: t.outputs.weighted("vector")),)
    VALID = (
        Valid("sample_weight of shape (batch, 1)", lambda t: t.outputs.weighted("column")),
        Valid("sample_weight of shape (batch, time)", lambda t: t.outputs.weighted("matrix")),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for i in self.outputs(ctx):
            w = ctx.weight(i)
            if w is None or np.ndim(w) != 1:
                continue
            m = kb.get_mask(ctx.output(i).tensor)
            if m is None or len(shape(m)) < 2:
                continue
            key = ctx.output(i).name or i
            given, column = ("sample_weight", "w[:, None]")
            if ctx.sample_weights is not None:  # given per output: name this output's entry
                given, column = f"sample_weight[{key!r}]", f"{{{key!r}: w[:, None], ...}}"
            yield self.finding(
                f"{given} has shape {np.shape(w)} but {ctx.output(i).label} carries a {shape(m)} mask: Keras "
                "cannot broadcast the two and `fit` fails inside the loss.",
                f"`sample_weight={column}` (shape (batch, 1)), or a (batch, time) array",
                output=i,
            )
