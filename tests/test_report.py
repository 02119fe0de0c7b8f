"""Report: text table, JSON schema, assert_ok."""

from __future__ import annotations

import json

import pytest

import maskcheck
from maskcheck import testing
from maskcheck.checks import get_check
from maskcheck.report import SCHEMA_VERSION, Severity


@pytest.fixture(scope="module")
def broken() -> maskcheck.Report:
    case = get_check("MC101").INVALID[0].build(testing)
    return maskcheck.audit(case.model, case.X)


def test_text_has_table_and_findings(broken: maskcheck.Report) -> None:
    text = str(broken)
    assert text == broken.to_text()
    assert "conv1d" in text and "drops" in text and "creates" in text
    assert "MC101 mask-dropped (error)" in text and "fix:" in text


def test_json_schema(broken: maskcheck.Report) -> None:
    data = json.loads(broken.to_json())
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["ok"] is False
    assert set(data) == {"schema_version", "model", "ok", "meta", "notes", "layers", "findings", "mask_map"}
    row = data["layers"][0]
    assert set(row) == {
        "path",
        "class_name",
        "input_shape",
        "output_shape",
        "input_mask",
        "output_mask",
        "masked_share",
        "supports_masking",
        "role",
        "received_mask",
        "symbolic_output_mask",
        "calls",
    }
    f = data["findings"][0]
    assert set(f) == {"code", "name", "severity", "message", "fix", "layer", "details"}
    assert f["severity"] in {"error", "warning", "info"}
    assert data["meta"]["keras"] and data["meta"]["backend"]


def test_assert_ok_raises_with_table(broken: maskcheck.Report) -> None:
    with pytest.raises(maskcheck.MaskcheckFailure) as info:
        broken.assert_ok()
    assert isinstance(info.value, AssertionError)
    assert "conv1d" in str(info.value) and "MC101" in str(info.value)
    broken.assert_ok(ignore=[c for c in broken.codes])


def test_findings_sorted_by_severity(broken: maskcheck.Report) -> None:
    ranks = [f.severity.rank for f in broken.findings]
    assert ranks == sorted(ranks, reverse=True)
    assert all(isinstance(f.severity, Severity) for f in broken.findings)
    assert broken.at_least("error") == [f for f in broken.findings if f.severity == "error"]


def test_select_and_ignore() -> None:
    case = get_check("MC101").INVALID[0].build(testing)
    only = maskcheck.audit(case.model, case.X, select=["MC101"])
    assert set(only.codes) == {"MC101"}
    none = maskcheck.audit(case.model, case.X, ignore="MC1")
    assert not [c for c in none.codes if c.startswith("MC1")]
