"""SARIF 2.1.0 output, for code-scanning dashboards (GitHub, GitLab, VS Code SARIF viewer).

One run, tool `maskcheck`, one rule per registered check (id = code, with the catalogue's
documentation as help) and one result per finding. A result points at the model file (when one
is given) and names the layer as a logical location `model/layer`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from maskcheck.report import Report, Severity

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def level(severity: Severity | str) -> str:
    """The SARIF level of a maskcheck severity: error, warning, note."""
    return LEVELS[Severity(severity)]


def artifact_uri(artifact: str) -> str:
    """A relative path stays a relative URI reference (forward slashes, percent-encoded);
    an absolute path becomes a file:// URI."""
    if "://" in artifact:
        return artifact
    path = PurePath(artifact)
    if path.is_absolute():
        return Path(artifact).as_uri()
    return quote(PurePath(os.path.normpath(artifact)).as_posix())


def _rule(check: Any) -> dict[str, Any]:
    sections: dict[str, str] = check.doc_sections()
    what = sections.get("What it does", check.summary).strip()
    help_md = "\n\n".join(f"## {title}\n{body}" for title, body in sections.items()) or check.summary
    return {
        "id": check.code,
        "name": check.name,
        "shortDescription": {"text": check.summary},
        "fullDescription": {"text": " ".join(what.split())},
        "help": {"text": help_md, "markdown": help_md},
        "defaultConfiguration": {"level": level(check.severity)},
        "properties": {
            "tags": ["maskcheck", str(getattr(check, "family", ""))],
            "precision": "high",
        },
    }


def _result(report: Report, finding: Any, rule_index: int | None, uri: str | None) -> dict[str, Any]:
    logical_name = finding.layer or report.model_name
    logical: dict[str, Any] = {
        "name": logical_name,
        "fullyQualifiedName": (
            f"{report.model_name}/{finding.layer}" if finding.layer else report.model_name
        ),
        "kind": "object",
    }
    location: dict[str, Any] = {"logicalLocations": [logical]}
    if uri is not None:
        location["physicalLocation"] = {"artifactLocation": {"uri": uri, "index": 0}}
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "level": level(finding.severity),
        "message": {"text": f"{finding.message}\nFix: {finding.fix}"},
        "locations": [location],
        "partialFingerprints": {
            "maskcheck/v1": f"{finding.code}:{report.model_name}:{finding.layer or ''}",
        },
        "properties": {"name": finding.name, "severity": str(finding.severity), "details": finding.details},
    }
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    return result


def to_sarif_dict(report: Report, artifact: str | None = None) -> dict[str, Any]:
    """The SARIF log as a dict (see `to_sarif`)."""
    from maskcheck._version import __version__
    from maskcheck.checks import all_checks

    checks = all_checks()
    rules = [_rule(c) for c in checks]
    index = {c.code: i for i, c in enumerate(checks)}
    uri = artifact_uri(artifact) if artifact else None
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "maskcheck",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {"level": "note", "message": {"text": note}} for note in report.notes
                ],
            }
        ],
        "results": [_result(report, f, index.get(f.code), uri) for f in report.findings],
        "properties": {"model": report.model_name, "ok": report.ok, "meta": report.meta},
    }
    if uri is not None:
        run["artifacts"] = [{"location": {"uri": uri}}]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def to_sarif(report: Report, artifact: str | None = None) -> str:
    """The report as a SARIF 2.1.0 log (JSON text). `artifact` is the model file the results
    point at (a path or URI); without it results carry only the layer's logical location."""
    return json.dumps(to_sarif_dict(report, artifact), indent=2, default=str)


__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "level", "to_sarif", "to_sarif_dict"]
