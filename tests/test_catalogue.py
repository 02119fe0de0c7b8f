"""The registered checks match the spec in ../shared/CHECKS.md: codes, names, severities."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maskcheck.checks import all_checks

SPEC = Path(__file__).resolve().parents[2] / "shared" / "CHECKS.md"


def spec_rows() -> dict[str, tuple[str, str, bool]]:
    """code -> (name, severity, planned)."""
    rows = {}
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        m = re.match(
            r"\|\s*(MC\d{3})(\s*\(planned\))?\s*\|\s*([a-z0-9-]+)\s*\|\s*(error|warning|info)\s*\|", line
        )
        if m:
            rows[m.group(1)] = (m.group(3), m.group(4), m.group(2) is not None)
    return rows


@pytest.mark.skipif(not SPEC.exists(), reason="../shared/CHECKS.md is not beside this checkout")
def test_registry_matches_spec() -> None:
    """Every shipped row is registered as specified; a planned row is either absent or
    implemented with its name and severity; nothing is registered that the spec lacks."""
    spec = spec_rows()
    registered = {c.code: (c.name, str(c.severity)) for c in all_checks()}
    shipped = {code: (name, sev) for code, (name, sev, planned) in spec.items() if not planned}
    assert {code: registered.get(code) for code in shipped} == shipped
    for code, (name, sev, planned) in spec.items():
        if planned and code in registered:
            assert registered[code] == (name, sev), code
    assert set(registered) <= set(spec)


def test_codes_are_unique_and_well_formed() -> None:
    codes = [c.code for c in all_checks()]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"MC[1-4]\d\d", c) for c in codes)
    assert all(re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", c.name) for c in all_checks())
