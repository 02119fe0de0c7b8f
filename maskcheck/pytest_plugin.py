"""pytest plugin: the `maskcheck` fixture, the `maskcheck` marker and ini options.

def test_tagger(maskcheck):
    maskcheck.assert_clean(model, X, y)

@pytest.mark.maskcheck(ignore=["MC304"], min_severity="warning")
def test_strict(maskcheck):
    maskcheck.assert_clean(model, X, y)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from maskcheck.types import Report


class MaskcheckFixture:
    """What the `maskcheck` fixture returns: audit and assert with the test's configuration."""

    def __init__(
        self, ignore: Iterable[str] = (), min_severity: str = "error", max_samples: int = 256
    ) -> None:
        self.ignore = tuple(ignore)
        self.min_severity = min_severity
        self.max_samples = max_samples
        self.reports: list[Report] = []

    def audit(self, model: Any, X: Any = None, y: Any = None, **kwargs: Any) -> Report:
        from maskcheck.audit import audit

        kwargs.setdefault("max_samples", self.max_samples)
        report = audit(model, X, y, **kwargs)
        self.reports.append(report)
        return report

    def assert_clean(
        self,
        model: Any,
        X: Any = None,
        y: Any = None,
        *,
        ignore: Iterable[str] = (),
        min_severity: str | None = None,
        **kwargs: Any,
    ) -> Report:
        """Audit and fail the test (MaskcheckFailure, an AssertionError) on findings at or above
        `min_severity`, except the ignored codes."""
        report = self.audit(model, X, y, **kwargs)
        report.assert_ok(min_severity=min_severity or self.min_severity, ignore=(*self.ignore, *ignore))
        return report


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("maskcheck_ignore", "maskcheck codes to ignore by default", type="args", default=[])
    parser.addini("maskcheck_min_severity", "lowest severity that fails assert_clean", default="")
    parser.addini("maskcheck_max_samples", "sequences traced through the model", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "maskcheck(ignore=[...], min_severity='error'): configure the maskcheck fixture for this test",
    )


@pytest.fixture
def maskcheck(request: pytest.FixtureRequest) -> MaskcheckFixture:
    from maskcheck.config import load_config

    cfg = load_config(request.config.rootpath)
    ignore = list(cfg.get("ignore", ())) + list(request.config.getini("maskcheck_ignore"))
    min_sev = request.config.getini("maskcheck_min_severity") or cfg.get("min_severity", "error")
    max_samples = int(request.config.getini("maskcheck_max_samples") or cfg.get("max_samples", 256))
    marker = request.node.get_closest_marker("maskcheck")
    if marker is not None:
        ignore += list(marker.kwargs.get("ignore", ()))
        min_sev = marker.kwargs.get("min_severity", min_sev)
        max_samples = int(marker.kwargs.get("max_samples", max_samples))
    return MaskcheckFixture(ignore=ignore, min_severity=min_sev, max_samples=max_samples)
