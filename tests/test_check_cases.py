"""Every check's own firing (INVALID) and quiet (VALID) cases, generated from the registry."""

from __future__ import annotations

import pytest

import maskcheck
from maskcheck import bridge as kb
from maskcheck.checks import all_checks

pytestmark = pytest.mark.backends

CASES = [
    pytest.param(check, case, id=f"{check.code}-{'fires' if case.fires else 'quiet'}-{case.name}")
    for check in all_checks()
    for case in check.cases()
]


@pytest.mark.parametrize(("check", "case"), CASES)
def test_case(check, case) -> None:
    if kb.backend_name() not in case.backends:
        pytest.skip(f"{check.code}: this case applies to {case.backends} only")
    built = case.build()
    report = maskcheck.audit(built.model, built.X, built.y, **built.kwargs)
    fired = [f for f in report.findings if f.code == check.code]
    if case.fires:
        assert fired, f"{check.code} should fire on: {case.name}\n{report}"
        for f in fired:
            assert f.severity.rank >= 0
            assert f.message and f.fix, "every finding says what and how to fix it"
    else:
        assert not fired, f"{check.code} should stay quiet on: {case.name}\n{report}"


def test_every_check_has_firing_and_quiet_cases() -> None:
    for check in all_checks():
        assert check.invalid, f"{check.code} has no firing case"
        assert check.valid, f"{check.code} has no quiet case"


def test_every_check_is_documented() -> None:
    for check in all_checks():
        sections = check.doc_sections()
        assert list(sections) == ["What it does", "Why is this bad?", "Example", "Use instead"], check.code
        assert all(body.strip() for body in sections.values()), check.code
