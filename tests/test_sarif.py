"""Output formats: SARIF 2.1.0 (`maskcheck.render.sarif`) and the documented JSON schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import maskcheck
from maskcheck import testing as C
from maskcheck.bridge import keras
from maskcheck.checks import all_checks
from maskcheck.render.sarif import SARIF_SCHEMA, artifact_uri, level, to_sarif
from maskcheck.report import SCHEMA_VERSION, Finding, Report, Severity

DOCS = Path(__file__).resolve().parent.parent / "docs" / "json-schema.md"


@pytest.fixture(scope="module")
def broken_report() -> Report:
    model = keras.Sequential(
        [C.seq_input(), keras.layers.Masking(0.0), keras.layers.Conv1D(4, 1), keras.layers.LSTM(3)],
        name="broken",
    )
    return maskcheck.audit(model, C.padded_floats())


def synthetic_report() -> Report:
    return Report(
        model_name="tagger",
        layers=[],
        findings=[
            Finding("MC101", "mask-dropped", Severity.ERROR, "mask lost", "move Masking", layer="outer/conv"),
            Finding("MC204", "holes-in-mask", Severity.WARNING, "holes", "pad at the end", details={"n": 2}),
            Finding("MC999", "made-up", Severity.INFO, "just so", "nothing to do"),
        ],
        notes=["X was synthesized"],
        meta={"keras": "3.x"},
    )


def test_sarif_log_shape_and_rules() -> None:
    log = json.loads(to_sarif(synthetic_report(), artifact="models/tagger.keras"))
    assert log["version"] == "2.1.0"
    assert log["$schema"] == SARIF_SCHEMA and log["$schema"].startswith("https://")
    assert "sarif-schema-2.1.0.json" in log["$schema"]
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "maskcheck" and driver["version"] == maskcheck.__version__
    checks = all_checks()
    assert [r["id"] for r in driver["rules"]] == [c.code for c in checks]
    for rule, check in zip(driver["rules"], checks, strict=True):
        assert rule["name"] == check.name
        assert rule["shortDescription"]["text"] == check.summary
        what = " ".join(check.doc_sections()["What it does"].split())
        assert rule["fullDescription"]["text"] == what
        for title, body in check.doc_sections().items():
            assert f"## {title}\n{body}" in rule["help"]["markdown"]
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] == level(check.severity)
    assert run["artifacts"] == [{"location": {"uri": "models/tagger.keras"}}]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == ["X was synthesized"]


def test_sarif_results() -> None:
    report = synthetic_report()
    run = json.loads(to_sarif(report, artifact="models/tagger.keras"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["MC101", "MC204", "MC999"]
    assert [r["level"] for r in results] == ["error", "warning", "note"]
    first = results[0]
    assert rules[first["ruleIndex"]]["id"] == "MC101"
    assert first["message"]["text"] == "mask lost\nFix: move Masking"
    (loc,) = first["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "models/tagger.keras"
    assert loc["logicalLocations"][0]["name"] == "outer/conv"
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == "tagger/outer/conv"
    # a model-level finding names the model; an unknown code has no ruleIndex
    assert results[1]["locations"][0]["logicalLocations"][0]["name"] == "tagger"
    assert results[1]["properties"]["details"] == {"n": 2}
    assert "ruleIndex" not in results[2]


def test_sarif_from_a_real_audit(broken_report: Report) -> None:
    log = json.loads(to_sarif(broken_report, artifact="/abs/dir/my model.keras"))
    results = log["runs"][0]["results"]
    assert len(results) == len(broken_report.findings) > 0
    for result, finding in zip(results, broken_report.findings, strict=True):
        assert result["ruleId"] == finding.code
        assert result["level"] == {"error": "error", "warning": "warning", "info": "note"}[finding.severity]
        assert finding.fix in result["message"]["text"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == "file:///abs/dir/my%20model.keras"
        assert result["locations"][0]["logicalLocations"][0]["name"] == finding.layer
    assert "MC101" in [r["ruleId"] for r in results]


def test_sarif_without_artifact() -> None:
    run = json.loads(to_sarif(synthetic_report(), artifact=None))["runs"][0]
    assert "artifacts" not in run
    for result in run["results"]:
        assert "physicalLocation" not in result["locations"][0]
        assert result["locations"][0]["logicalLocations"]


def test_level_and_uri_helpers() -> None:
    assert [level(s) for s in ("error", "warning", "info")] == ["error", "warning", "note"]
    assert artifact_uri("./sub/../m.keras") == "m.keras"
    assert artifact_uri("https://example.org/m.keras") == "https://example.org/m.keras"


# -- the JSON schema documentation ---------------------------------------------------------------


def documented_fields() -> dict[str, list[str]]:
    """`## section` -> the backticked names in the first column of its table."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif current and (m := re.match(r"^\| `([a-z_]+)` \|", line)):
            sections[current].append(m.group(1))
    return sections


def test_json_matches_the_documented_schema(broken_report: Report) -> None:
    doc = json.loads(broken_report.to_json())
    fields = documented_fields()
    assert f"schema version {SCHEMA_VERSION}" in DOCS.read_text(encoding="utf-8").splitlines()[0]
    assert doc["schema_version"] == SCHEMA_VERSION
    assert fields["Top level"] == list(doc)
    assert set(doc["meta"]) <= set(fields["meta"]), "document every meta key"
    assert doc["layers"] and doc["findings"]
    for layer in doc["layers"]:
        assert fields["layers"] == list(layer)
    for finding in doc["findings"]:
        assert set(fields["findings"]) == set(finding)
        assert finding["severity"] in {"error", "warning", "info"}
    roles: set[Any] = {layer["role"] for layer in doc["layers"]}
    assert roles <= {"creates", "propagates", "consumes", "drops", "none"}
