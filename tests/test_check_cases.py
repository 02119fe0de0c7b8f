"""Every check's own firing (INVALID) and quiet (VALID) cases, generated from the registry."""

from __future__ import annotations

import pytest

from maskcheck import testing
from maskcheck.checks import Invalid, all_checks
from maskcheck.checks.base import DOC_SECTIONS

pytestmark = pytest.mark.backends

CASES = [
    pytest.param(
        check, case, id=f"{check.code}-{'fires' if isinstance(case, Invalid) else 'quiet'}-{case.name}"
    )
    for check in all_checks()
    for case in check.cases()
]


@pytest.mark.parametrize(("check", "case"), CASES)
def test_case(check, case) -> None:
    if not testing.applies(case):
        pytest.skip(f"{check.code}: this case applies to {case.backends} only")
    testing.assert_case(check, case)


def test_every_check_has_firing_and_quiet_cases() -> None:
    for check in all_checks():
        assert check.INVALID, f"{check.code} has no firing case"
        assert check.VALID, f"{check.code} has no quiet case"


def test_every_check_is_documented() -> None:
    for check in all_checks():
        sections = check.doc_sections()
        expected = [s for s in DOC_SECTIONS if s in sections]
        assert list(sections) == expected, check.code
        assert list(sections) == list(DOC_SECTIONS), check.code
        assert all(body.strip() for body in sections.values()), check.code
