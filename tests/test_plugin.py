"""The pytest plugin: `maskcheck` fixture, marker, ini options and [tool.maskcheck], end to end
with pytester (one in-process inner run), plus fast unit tests of the fixture object."""

from __future__ import annotations

import textwrap

import pytest

from maskcheck.errors import MaskcheckError
from maskcheck.pytest_plugin import MaskcheckFixture
from maskcheck.report import Finding, Report, Severity

INNER = """
import keras
import pytest

from maskcheck import testing as C
from maskcheck.pytest_plugin import MaskcheckFixture


def broken():
    return keras.Sequential(
        [
            C.seq_input(),
            keras.layers.Masking(0.0, name="masking"),
            keras.layers.Conv1D(4, 1, name="conv"),  # fixed names: the report is matched below
            keras.layers.LSTM(3, name="lstm"),
        ],
        name="broken",
    )


def test_configuration(maskcheck):
    assert isinstance(maskcheck, MaskcheckFixture)
    assert maskcheck.max_samples == 4  # [tool.maskcheck]
    assert maskcheck.ignore == ("MC205", "MC3", "MC204")  # [tool.maskcheck] + ini, added up
    assert maskcheck.min_severity == "warning"  # the ini option wins over [tool.maskcheck]


def test_clean(maskcheck):
    report = maskcheck.assert_clean(C.masked_tagger(), C.padded_floats())
    assert report.ok and maskcheck.last is report and maskcheck.reports == [report]
    assert report.meta["samples_traced"] == 4


def test_broken(maskcheck):
    maskcheck.assert_clean(broken(), C.padded_floats())


@pytest.mark.maskcheck(ignore=["MC101", "MC108"], min_severity="error", max_samples=2)
def test_marker(maskcheck):
    report = maskcheck.assert_clean(broken(), C.padded_floats())
    assert {"MC101", "MC108"} <= set(report.codes)  # found, but ignored by the marker
    assert report.meta["samples_traced"] == 2


def test_keyword_ignore(maskcheck):
    report = maskcheck.assert_clean(broken(), C.padded_floats(), ignore=["MC1"])
    assert "MC101" in report.codes


@pytest.mark.maskcheck(max_samples=20, time_budget=1e-9)
def test_time_budget_marker(maskcheck):
    assert maskcheck.time_budget == 1e-9
    report = maskcheck.audit(broken(), C.padded_floats(n=20))
    assert report.meta["samples_traced"] < 20 and report.meta["time_budget"] == 1e-9


@pytest.mark.maskcheck(min_severity="fatal")
def test_bad_marker(maskcheck):
    pass
"""

PYPROJECT = """
[tool.pytest.ini_options]
addopts = "--strict-markers -p no:cacheprovider"
maskcheck_ignore = ["MC204"]
maskcheck_min_severity = "warning"

[tool.maskcheck]
ignore = ["MC205", "MC3"]
min_severity = "error"
max_samples = 4
"""


def test_plugin_end_to_end(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(textwrap.dedent(PYPROJECT))
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-q")
    result.assert_outcomes(passed=5, failed=1, errors=1)
    out = result.stdout.str()
    # the failure is readable: message, the layer table and each finding with its fix
    result.stdout.fnmatch_lines(
        [
            "*test_broken*",
            "E * maskcheck.errors.MaskcheckFailure: maskcheck found 2 finding(s) at or above 'warning'"
            " (MC101, MC108) in model 'broken':",
            "E *maskcheck report for model 'broken' (4 sequences traced)",
            "E *layer*class*input*output*mask in*mask out*",
            "E *conv *Conv1D*drops*",
            "E *MC101 mask-dropped (error) [[]conv]",
            "E *fix: move the mask source after `conv`*",
        ]
    )
    assert "pytest_plugin.py" not in out.split("short test summary")[0]  # internals hidden
    # a bad marker is a clear setup error, not a crash deep inside
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_bad_marker*",
            "maskcheck configuration: @pytest.mark.maskcheck(min_severity=...)*fatal*",
        ]
    )


def report_with(*severities: str) -> Report:
    findings = [
        Finding(f"MC10{i}", "x", Severity(s), "msg", "fix", layer="l") for i, s in enumerate(severities, 1)
    ]
    return Report(model_name="m", layers=[], findings=findings)


def test_fixture_object_thresholds_and_ignores() -> None:
    assert MaskcheckFixture(time_budget="none").time_budget == float("inf")
    assert MaskcheckFixture().time_budget == 30.0
    fx = MaskcheckFixture(ignore=["mc102"], min_severity="warning", max_samples=8)
    report = report_with("error", "warning", "info")  # MC101 error, MC102 warning, MC103 info
    assert fx.ignore == ("MC102",)
    assert [f.code for f in fx.failing(report)] == ["MC101"]
    assert [f.code for f in fx.failing(report, min_severity="info")] == ["MC101", "MC103"]
    assert fx.failing(report, ignore=["MC1"]) == []
    assert fx.failing(report, ignore="MC101") == []
    assert "min_severity='warning'" in repr(fx)


def test_fixture_object_rejects_bad_settings() -> None:
    with pytest.raises(MaskcheckError, match="min_severity"):
        MaskcheckFixture(min_severity="fatal")
    with pytest.raises(MaskcheckError, match="max_samples"):
        MaskcheckFixture(max_samples=0)


def test_plugin_is_registered(pytestconfig: pytest.Config) -> None:
    """The entry point `pytest11: maskcheck` loads the plugin in every session."""
    assert pytestconfig.pluginmanager.has_plugin("maskcheck")
    assert any(m.startswith("maskcheck(") for m in pytestconfig.getini("markers"))
