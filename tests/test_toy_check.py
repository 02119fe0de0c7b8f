"""Adding a check touches one file: this one defines a toy check, and discovery, the case runner,
the settings (select/ignore) and the docs sections pick it up with nothing else listed anywhere."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

import maskcheck
from maskcheck import testing as T
from maskcheck.checks.base import DOC_SECTIONS, CaseInput, Check, Invalid, Threshold, Valid
from maskcheck.checks.registry import all_checks, get_check, registered
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


def _gru_tagger(t: Any) -> CaseInput:
    model = t.keras.Sequential([t.seq_input(), t.layers.Masking(0.0), t.layers.GRU(2, return_sequences=True)])
    return t.CaseInput(model, t.padded_floats(n=8))


class ToyGruCount(Check):
    """## What it does
    Reports every GRU that receives a mask (a toy check for this test).

    ## Why is this bad?
    It is not; the check exists to show what adding a check takes.

    ## Known problems
    `MIN_MASKED` (the share of masked steps below which it stays quiet) is arbitrary.

    ## Example
    ```python
    layers.GRU(2)(layers.Masking(0.0)(x))
    ```

    ## Use instead
    ```python
    layers.LSTM(2)(layers.Masking(0.0)(x))
    ```
    """

    code = "MC901"
    name = "toy-gru"
    severity = Severity.INFO
    family = "toy"
    summary = "a GRU receives a mask"
    MIN_MASKED = Threshold(0.0, "below this share of masked steps the GRU is not reported")

    INVALID = (Invalid("Masking -> GRU", _gru_tagger),)
    VALID = (Valid("Masking -> BiLSTM tagger", lambda t: t.CaseInput(t.masked_tagger(), t.padded_floats(n=8))),)

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for ev in ctx.events:
            if not ev.is_op and type(ev.layer).__name__ == "GRU" and ev.any_mask_in:
                yield self.finding(f"'{ev.path}' receives a mask.", "use `layers.LSTM(units)`", layer=ev.path)


@pytest.mark.parametrize("case", ToyGruCount.cases(), ids=lambda c: c.name)
def test_toy_cases_run_through_the_shared_runner(case: Invalid | Valid) -> None:
    T.assert_case(ToyGruCount, case)


def test_toy_check_is_known_only_while_registered() -> None:
    data = T.padded_floats(n=8)
    model = _gru_tagger(T).model
    with registered(ToyGruCount):
        assert get_check("mc901") is ToyGruCount
        assert ToyGruCount in all_checks()
        report = maskcheck.audit(model, data, select=["MC901"])
        assert [f.code for f in report.findings] == ["MC901"]
        assert maskcheck.audit(model, data, ignore=["MC9"]).by_code("MC901") == []
    assert ToyGruCount not in all_checks()
    with pytest.raises(maskcheck.MaskcheckError, match="select"):
        maskcheck.audit(model, data, select=["MC901"])


def test_toy_docs_sections_and_thresholds() -> None:
    assert list(ToyGruCount.doc_sections()) == list(DOC_SECTIONS)
    assert list(ToyGruCount.thresholds()) == ["MIN_MASKED"]
    assert "arbitrary" in ToyGruCount.doc_sections()["Known problems"]
