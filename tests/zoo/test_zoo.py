"""The real-model zoo (issue 12): maskcheck must agree with a ground truth decided without it.

For every zoo model (tests/zoo/models.py), first the oracle (tests/zoo/oracle.py) must call the
correct variant correct and the broken one leaking: that validates the zoo itself. Then
`maskcheck.audit` must report no error on a correct model, and at least one error on a broken one,
with the root cause first where it is known.

Where maskcheck today raises a false error or misses the cause, the case is a strict xfail naming
the issue-12 item that fixes it: those xfails are the to-do list.
"""

from __future__ import annotations

import pytest

import maskcheck
from zoo import models as M
from zoo import oracle as O

# False errors on correct models, today.
FALSE_ERRORS: dict[str, str] = {}
# Broken models whose root cause is missed (or not first), today.
MISSES: dict[str, str] = {}

NEEDS_HUB = ("hub:", "gpt2lm:", "kio_fnet_classification:")


def _case(key: str) -> M.ZooCase:
    if key.startswith(NEEDS_HUB):
        pytest.importorskip("keras_hub")
    return M.build(key)


def _audit_params() -> list[object]:
    out: list[object] = []
    for key in M.case_ids():
        reason = FALSE_ERRORS.get(key) or MISSES.get(key)
        marks = [pytest.mark.xfail(strict=True, reason=f"issue 12 {reason}")] if reason else []
        out.append(pytest.param(key, marks=marks, id=key))
    return out


@pytest.mark.parametrize("key", M.case_ids())
def test_oracle_agrees_with_the_variant(key: str) -> None:
    case = _case(key)
    verdict = O.judge(case)
    expected = "correct" if case.variant == "correct" else "leaks"
    assert verdict.verdict == expected, f"{case.id} ({case.source}): oracle says {verdict}"


@pytest.mark.parametrize("key", _audit_params())
def test_maskcheck_agrees_with_the_oracle(key: str) -> None:
    case = _case(key)
    report = maskcheck.audit(case.model, case.X, case.y, **case.kwargs)
    errors = [f for f in report.findings if str(f.severity) == "error"]
    if case.variant == "correct":
        assert not errors, f"{case.id} ({case.source}) is correct, yet:\n" + "\n".join(map(str, errors))
        return
    assert errors, f"{case.id} ({case.source}) leaks padding, yet no error:\n{report.to_text()}"
    if case.root is not None:
        first = report.findings[0].code
        assert first == case.root, f"{case.id}: expected {case.root} first, got {report.codes}"


@pytest.mark.parametrize("key", [k for k in M.case_ids() if k.startswith("hub:") and k.endswith(":correct")])
def test_keras_hub_backbones_audit_clean_without_data(key: str) -> None:
    """X=None: the synthesized probe batch follows the backbone's inputs (a dict; `padding_mask`
    matching the ids; one segment), so a correct backbone gets no error."""
    case = _case(key)
    report = maskcheck.audit(case.model)
    assert report.meta["synthesized"] is True
    errors = [f for f in report.findings if str(f.severity) == "error"]
    assert not errors, "\n".join(map(str, errors))
