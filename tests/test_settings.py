"""`maskcheck.settings`: one model for every entry point, merged in precedence order; strictness
and progress are arguments, and the library never reads or writes environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import maskcheck
from maskcheck import testing as C
from maskcheck.checks.registry import all_checks
from maskcheck.errors import MaskcheckError
from maskcheck.report import Severity
from maskcheck.settings import Settings, load_settings, strict, strict_enabled

ENV_PROBE = """
import json, os

def changes(before):
    now = dict(os.environ)
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))

before = dict(os.environ)
import maskcheck
print(json.dumps(changes(before)))
import keras  # TensorFlow sets a few variables of its own (TF2_BEHAVIOR...): not maskcheck's doing
before = dict(os.environ)
maskcheck.audit  # loads the engine and the Keras bridge
import maskcheck.keras, maskcheck.pytest_plugin, maskcheck.settings
print(json.dumps(changes(before)))
"""


def test_importing_maskcheck_leaves_the_environment_alone() -> None:
    env = {
        k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL" and not k.startswith("MASKCHECK")
    }
    proc = subprocess.run(
        [sys.executable, "-c", ENV_PROBE], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr
    on_import, on_first_use = (json.loads(line) for line in proc.stdout.splitlines()[-2:])
    assert on_import == [] and on_first_use == []


def test_merge_precedence_later_sources_win_and_ignores_add_up() -> None:
    project = Settings().merge({"ignore": "MC205", "min_severity": "error", "max_samples": 4})
    ini = project.merge(
        {"ignore": ["MC204"], "min_severity": "warning", "max_samples": ""},
        lambda k: f"maskcheck_{k}",
        text=True,
    )
    marker = ini.merge({"max_samples": 2, "ignore": None})
    call = marker.merge({"min_severity": "INFO", "ignore": ["mc1"]})
    assert project == Settings(ignore=("MC205",), max_samples=4)
    assert ini == Settings(ignore=("MC205", "MC204"), min_severity=Severity.WARNING, max_samples=4)
    assert marker.max_samples == 2 and marker.ignore == ini.ignore
    assert call.ignore == ("MC205", "MC204", "MC1") and call.min_severity is Severity.INFO
    # the command line's --ignore replaces the configured list instead
    assert project.merge({"ignore": "MC3"}, add_ignore=False).ignore == ("MC3",)
    assert Settings().merge({"max_samples": "8"}, text=True).max_samples == 8
    assert Settings().merge({"time_budget": "2.5"}, text=True).time_budget == 2.5
    assert Settings().merge({"time_budget": "none"}, text=True).time_budget == float("inf")
    assert Settings().merge({"time_budget": 10}).time_budget == 10.0


def test_one_rule_and_one_message_wherever_a_value_is_given() -> None:
    with pytest.raises(MaskcheckError, match=r"^maskcheck_max_samples: expected a positive integer"):
        Settings().merge({"max_samples": "0"}, lambda k: f"maskcheck_{k}", text=True)
    with pytest.raises(MaskcheckError, match=r"^settings: expected keys among"):
        Settings().merge({"colour": 1})
    with pytest.raises(MaskcheckError, match=r"^format: expected one of text, json, sarif"):
        Settings().merge({"format": "xml"})


def test_runs_and_failing() -> None:
    codes = [c.code for c in all_checks()]
    s = Settings().merge({"select": "MC1, MC2", "ignore": ["MC104"]})
    assert [c for c in codes if s.runs(c)] == [c for c in codes if c[:3] in ("MC1", "MC2") and c != "MC104"]


def test_pyproject_is_the_first_source(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.maskcheck]\nselect = ["mc1"]\nformat = "JSON"\n')
    assert load_settings(tmp_path) == Settings(select=("MC1",), format="json")


class Boom:
    """A check that crashes."""

    code = "MC101"

    def run(self, ctx: Any) -> list[Any]:
        raise RuntimeError("boom")


def test_strict_is_an_argument_with_a_context_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import maskcheck.engine as engine

    monkeypatch.setattr(engine, "all_checks", lambda: [Boom])
    model, x = C.masked_tagger(), C.padded_floats(n=4)
    report = maskcheck.audit(model, x, strict=False)
    assert any("MC101 could not run: RuntimeError: boom" in n for n in report.notes)
    with pytest.raises(RuntimeError, match="boom"):
        maskcheck.audit(model, x, strict=True)
    assert strict_enabled() is True  # the test session runs inside settings.strict()
    with pytest.raises(RuntimeError, match="boom"):
        maskcheck.audit(model, x)
    with strict(False):
        assert strict_enabled() is False
        assert maskcheck.audit(model, x).notes
    assert strict_enabled() is True
