"""pytest plugin: the `maskcheck` fixture, the `maskcheck` marker and ini options.

Installed with maskcheck (entry point `pytest11`), nothing to configure::

    def test_tagger(maskcheck):
        maskcheck.assert_clean(model, X, y)

    @pytest.mark.maskcheck(ignore=["MC304"], min_severity="warning")
    def test_strict(maskcheck):
        maskcheck.assert_clean(model, X, y)

Configuration, later wins: `[tool.maskcheck]` in pyproject.toml, then the ini options
`maskcheck_ignore`, `maskcheck_min_severity`, `maskcheck_max_samples`, `maskcheck_time_budget`,
then the marker, then
the keyword arguments of `assert_clean`. Ignored codes add up across all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from maskcheck.report import Finding, Report
    from maskcheck.settings import Settings

MARKER_KEYS = ("ignore", "min_severity", "max_samples", "time_budget")


class MaskcheckFixture:
    """What the `maskcheck` fixture returns: audit and assert with the test's configuration.

    Attributes: `ignore` (codes or prefixes never failing `assert_clean`), `min_severity`
    (lowest severity that fails), `max_samples` (sequences traced), `time_budget` (seconds the
    traced pass and probes may take; `math.inf`: no limit), `select` (codes to run, or None for
    all) and `reports` (every report this test produced, in order). Every value is
    validated by `maskcheck.settings`, as `audit` validates its own.
    """

    def __init__(
        self,
        ignore: Iterable[str] | str = (),
        min_severity: str = "error",
        max_samples: int = 256,
        select: Iterable[str] | str | None = None,
        time_budget: float | str | None = None,
    ) -> None:
        from maskcheck.settings import Settings

        self.settings = Settings().merge(
            {
                "ignore": ignore,
                "min_severity": min_severity,
                "max_samples": max_samples,
                "select": select,
                "time_budget": time_budget,
            }
        )
        self.reports: list[Report] = []

    @property
    def ignore(self) -> tuple[str, ...]:
        return self.settings.ignore

    @property
    def min_severity(self) -> str:
        return str(self.settings.min_severity)

    @property
    def max_samples(self) -> int:
        return self.settings.max_samples

    @property
    def time_budget(self) -> float:
        return self.settings.time_budget

    @property
    def select(self) -> tuple[str, ...] | None:
        return self.settings.select or None

    def __repr__(self) -> str:
        return (
            f"MaskcheckFixture(ignore={list(self.ignore)!r}, min_severity={self.min_severity!r}, "
            f"max_samples={self.max_samples!r}, time_budget={self.time_budget!r})"
        )

    @property
    def last(self) -> Report | None:
        """The most recent report of this test, or None."""
        return self.reports[-1] if self.reports else None

    def audit(self, model: Any, X: Any = None, y: Any = None, **kwargs: Any) -> Report:
        """`maskcheck.audit(model, X, y, **kwargs)` with the configured `max_samples`/`time_budget`/
        `select`; the report is also appended to `reports`."""
        from maskcheck.engine import audit

        kwargs.setdefault("max_samples", self.max_samples)
        kwargs.setdefault("time_budget", self.time_budget)
        if self.select is not None:
            kwargs.setdefault("select", self.select)
        report = audit(model, X, y, **kwargs)
        self.reports.append(report)
        return report

    def _call_settings(self, ignore: Iterable[str] | str, min_severity: str | None) -> Settings:
        """The configured settings with `assert_clean`'s keyword arguments on top."""
        return self.settings.merge({"ignore": ignore, "min_severity": min_severity})

    def failing(
        self, report: Report, *, ignore: Iterable[str] | str = (), min_severity: str | None = None
    ) -> list[Finding]:
        """The findings of `report` that `assert_clean` would fail on."""
        return self._call_settings(ignore, min_severity).failing(report)

    def assert_clean(
        self,
        model: Any,
        X: Any = None,
        y: Any = None,
        *,
        ignore: Iterable[str] | str = (),
        min_severity: str | None = None,
        **kwargs: Any,
    ) -> Report:
        """Audit and fail the test with `maskcheck.MaskcheckFailure` (an AssertionError whose
        message holds the full report: layer table and findings) when a finding reaches
        `min_severity` (default: the configured one) and is not ignored. Ignored codes and
        prefixes add to the configured ones. Returns the report when clean."""
        __tracebackhide__ = True
        settings = self._call_settings(ignore, min_severity)  # a bad argument fails before the audit
        report = self.audit(model, X, y, **kwargs)
        bad = settings.failing(report)
        if bad:
            raise settings.failure(report, bad)
        return report


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "maskcheck_ignore",
        "maskcheck codes or prefixes that never fail assert_clean (space or comma separated)",
        type="args",
        default=[],
    )
    parser.addini(
        "maskcheck_min_severity", "lowest severity that fails assert_clean: info, warning, error", default=""
    )
    parser.addini("maskcheck_max_samples", "sequences traced through the model (default 256)", default="")
    parser.addini(
        "maskcheck_time_budget",
        "seconds the traced pass and probes may take before fewer sequences are traced (default 30; none: no limit)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "maskcheck(ignore=[...], min_severity='error', max_samples=256, time_budget=30): "
        "configure the maskcheck fixture for this test",
    )


def fixture_for(config: pytest.Config, marker: pytest.Mark | None = None) -> MaskcheckFixture:
    """Build the fixture object: `[tool.maskcheck]`, then the ini options, then the marker."""
    from maskcheck.errors import MaskcheckError
    from maskcheck.settings import load_settings

    settings = load_settings(config.rootpath).merge(
        {key: config.getini(f"maskcheck_{key}") for key in MARKER_KEYS},
        lambda key: f"maskcheck_{key}",
        source="pytest ini options",
        text=True,
    )
    if marker is not None:
        unknown = set(marker.kwargs) - set(MARKER_KEYS)
        if marker.args or unknown:
            raise MaskcheckError(
                "@pytest.mark.maskcheck",
                "keyword arguments ignore=, min_severity=, max_samples=, time_budget=",
                f"positional {list(marker.args)!r}, unknown keywords {sorted(unknown)!r}",
            )
        settings = settings.merge(
            marker.kwargs, lambda key: f"@pytest.mark.maskcheck({key}=...)", source="@pytest.mark.maskcheck"
        )
    fixture = MaskcheckFixture()
    fixture.settings = settings
    return fixture


@pytest.fixture
def maskcheck(request: pytest.FixtureRequest) -> MaskcheckFixture:
    """Audit Keras models in a test: `maskcheck.assert_clean(model, X, y)`."""
    from maskcheck.errors import MaskcheckError

    try:
        return fixture_for(request.config, request.node.get_closest_marker("maskcheck"))
    except MaskcheckError as exc:  # a configuration mistake: one clear line, no plugin traceback
        problem = str(exc)
    pytest.fail(f"maskcheck configuration: {problem}", pytrace=False)


__all__ = ["MaskcheckFixture", "fixture_for", "maskcheck"]
