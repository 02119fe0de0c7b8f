"""pytest plugin: the `maskcheck` fixture, the `maskcheck` marker and ini options.

Installed with maskcheck (entry point `pytest11`), nothing to configure::

    def test_tagger(maskcheck):
        maskcheck.assert_clean(model, X, y)

    @pytest.mark.maskcheck(ignore=["MC304"], min_severity="warning")
    def test_strict(maskcheck):
        maskcheck.assert_clean(model, X, y)

Configuration, later wins: `[tool.maskcheck]` in pyproject.toml, then the ini options
`maskcheck_ignore`, `maskcheck_min_severity`, `maskcheck_max_samples`, then the marker, then
the keyword arguments of `assert_clean`. Ignored codes add up across all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from maskcheck.report import Report

SEVERITIES = ("info", "warning", "error")


def _code_list(value: Any, where: str) -> list[str]:
    from maskcheck.errors import MaskcheckError

    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    try:
        codes = [str(v).strip() for v in value]
    except TypeError:
        raise MaskcheckError(where, "a list of codes such as ['MC104']", repr(value)) from None
    return [c for c in codes if c]


def _severity(value: Any, where: str) -> str:
    from maskcheck.errors import MaskcheckError

    if str(value) not in SEVERITIES:
        raise MaskcheckError(where, f"one of {', '.join(SEVERITIES)}", repr(value))
    return str(value)


def _positive_int(value: Any, where: str) -> int:
    from maskcheck.errors import MaskcheckError

    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or n < 1:
        raise MaskcheckError(where, "a positive integer", repr(value))
    return n


class MaskcheckFixture:
    """What the `maskcheck` fixture returns: audit and assert with the test's configuration.

    Attributes: `ignore` (codes or prefixes never failing `assert_clean`), `min_severity`
    (lowest severity that fails), `max_samples` (sequences traced), `select` (codes to run, or
    None for all) and `reports` (every report this test produced, in order).
    """

    def __init__(
        self,
        ignore: Iterable[str] = (),
        min_severity: str = "error",
        max_samples: int = 256,
        select: Iterable[str] | None = None,
    ) -> None:
        self.ignore: tuple[str, ...] = tuple(c.upper() for c in ignore)
        self.min_severity = _severity(min_severity, "min_severity")
        self.max_samples = _positive_int(max_samples, "max_samples")
        self.select: tuple[str, ...] | None = None if select is None else tuple(select)
        self.reports: list[Report] = []

    def __repr__(self) -> str:
        return (
            f"MaskcheckFixture(ignore={list(self.ignore)!r}, min_severity={self.min_severity!r}, "
            f"max_samples={self.max_samples!r})"
        )

    @property
    def last(self) -> Report | None:
        """The most recent report of this test, or None."""
        return self.reports[-1] if self.reports else None

    def audit(self, model: Any, X: Any = None, y: Any = None, **kwargs: Any) -> Report:
        """`maskcheck.audit(model, X, y, **kwargs)` with the configured `max_samples`/`select`;
        the report is also appended to `reports`."""
        from maskcheck.engine import audit

        kwargs.setdefault("max_samples", self.max_samples)
        if self.select is not None:
            kwargs.setdefault("select", self.select)
        report = audit(model, X, y, **kwargs)
        self.reports.append(report)
        return report

    def failing(
        self, report: Report, *, ignore: Iterable[str] = (), min_severity: str | None = None
    ) -> list[Any]:
        """The findings of `report` that `assert_clean` would fail on."""
        threshold = _severity(min_severity or self.min_severity, "min_severity")
        skip = (*self.ignore, *(c.upper() for c in _code_list(ignore, "ignore")))
        return [f for f in report.at_least(threshold) if not any(f.code.startswith(s) for s in skip)]

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
        """Audit and fail the test with `maskcheck.MaskcheckFailure` (an AssertionError whose
        message holds the full report: layer table and findings) when a finding reaches
        `min_severity` (default: the configured one) and is not ignored. Ignored codes and
        prefixes add to the configured ones. Returns the report when clean."""
        __tracebackhide__ = True
        from maskcheck.errors import MaskcheckFailure

        report = self.audit(model, X, y, **kwargs)
        threshold = min_severity or self.min_severity
        bad = self.failing(report, ignore=ignore, min_severity=threshold)
        if bad:
            codes = ", ".join(dict.fromkeys(f.code for f in bad))
            raise MaskcheckFailure(
                f"maskcheck found {len(bad)} finding(s) at or above '{threshold}' ({codes}) "
                f"in model '{report.model_name}':\n\n" + report.to_text()
            )
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "maskcheck(ignore=[...], min_severity='error', max_samples=256): "
        "configure the maskcheck fixture for this test",
    )


def fixture_for(config: pytest.Config, marker: pytest.Mark | None = None) -> MaskcheckFixture:
    """Build the fixture object from pyproject.toml, the ini options and an optional marker."""
    from maskcheck.settings import load_config

    cfg = load_config(config.rootpath)
    ignore = _code_list(cfg.get("ignore"), "[tool.maskcheck] ignore")
    ignore += _code_list(config.getini("maskcheck_ignore"), "maskcheck_ignore")
    min_sev: Any = cfg.get("min_severity", "error")
    if config.getini("maskcheck_min_severity"):
        min_sev = _severity(config.getini("maskcheck_min_severity"), "maskcheck_min_severity")
    max_samples: Any = cfg.get("max_samples", 256)
    if config.getini("maskcheck_max_samples"):
        max_samples = _positive_int(config.getini("maskcheck_max_samples"), "maskcheck_max_samples")
    select = cfg.get("select")
    if marker is not None:
        from maskcheck.errors import MaskcheckError

        unknown = set(marker.kwargs) - {"ignore", "min_severity", "max_samples"}
        if marker.args or unknown:
            raise MaskcheckError(
                "@pytest.mark.maskcheck",
                "keyword arguments ignore=, min_severity=, max_samples=",
                f"positional {list(marker.args)!r}, unknown keywords {sorted(unknown)!r}",
            )
        ignore += _code_list(marker.kwargs.get("ignore"), "@pytest.mark.maskcheck(ignore=...)")
        if "min_severity" in marker.kwargs:
            min_sev = _severity(marker.kwargs["min_severity"], "@pytest.mark.maskcheck(min_severity=...)")
        if "max_samples" in marker.kwargs:
            max_samples = _positive_int(
                marker.kwargs["max_samples"], "@pytest.mark.maskcheck(max_samples=...)"
            )
    return MaskcheckFixture(ignore=ignore, min_severity=min_sev, max_samples=max_samples, select=select)


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
