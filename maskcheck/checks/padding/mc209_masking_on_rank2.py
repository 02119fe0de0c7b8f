"""MC209 masking-on-rank2: Masking on (batch, features) data masks whole samples."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck import bridge as kb
from maskcheck.bridge.kinds import MASKING, is_kind
from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class MaskingOnRank2(DataCheck):
    """## What it does
    Finds a `Masking` layer applied to (batch, features) data.

    ## Why is this bad?
    Masking reduces over the last axis, so on rank-2 input it masks whole samples, not steps.
    A univariate series given as (batch, time) is read as one step with `time` features.

    ## Known problems
    It looks at the shape `Masking` receives on the traced forward pass, so it also fires when
    masking whole samples is what was meant (rare, and better done with `sample_weight`). No
    named thresholds.

    ## Example
    ```python
    model = keras.Sequential([keras.Input((20,)), layers.Masking(0.0), layers.Dense(1)])
    ```

    ## Use instead
    ```python
    X = X[..., None]                                      # (batch, time, 1)
    model = keras.Sequential([keras.Input((20, 1)), layers.Masking(0.0), layers.LSTM(8)])
    ```
    """

    code = "MC209"
    name = "masking-on-rank2"
    severity = Severity.WARNING
    summary = "Masking on (batch, features) data masks whole samples"

    INVALID = (Invalid("Masking on (batch, 10)", lambda t: t.padding.masking_on(steps_axis=False)),)
    VALID = (Valid("Masking on (batch, 10, 1)", lambda t: t.padding.masking_on(steps_axis=True)),)

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for ev in ctx.events:
            if not is_kind(ev.layer, MASKING) or not ev.first_inputs:
                continue
            s = kb.shape_of(ev.first_inputs[0])
            if len(s) != 2:
                continue
            yield self.finding(
                f"'{ev.path}' gets rank-2 input {s}: it masks whole samples (all features equal to "
                "mask_value), not timesteps.",
                f"add a feature axis: `X = X[..., None]` and `keras.Input(({s[1]}, 1))`, then an RNN or "
                "other sequence layer after Masking",
                layer=ev.path,
            )
