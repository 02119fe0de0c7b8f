"""Running a check's own cases: build the model and data, audit, say whether the check fired."""

from __future__ import annotations

import sys

from maskcheck.checks.base import Check, Invalid, Valid
from maskcheck.report import Report


def backend() -> str:
    import keras

    return str(keras.backend.backend())


def applies(case: Invalid | Valid) -> bool:
    """Whether the case runs on the installed Keras backend."""
    return backend() in case.backends


def run_case(check: type[Check], case: Invalid | Valid, **audit_kwargs: object) -> Report:
    """Build `case` from the `maskcheck.testing` kit and audit it."""
    from maskcheck.checks.registry import registered
    from maskcheck.engine import audit

    built = case.build(sys.modules["maskcheck.testing"])
    with registered(check):
        return audit(built.model, built.X, built.y, **{**built.kwargs, **audit_kwargs})  # type: ignore[arg-type]


def assert_case(check: type[Check], case: Invalid | Valid) -> Report:
    """Fail (AssertionError) unless `check` fires on an `Invalid` case and stays quiet on a `Valid` one."""
    report = run_case(check, case)
    fired = report.by_code(check.code)
    if isinstance(case, Invalid):
        assert fired, f"{check.code} should fire on: {case.name}\n{report}"
        for f in fired:
            assert f.message and f.fix, "every finding says what and how to fix it"
    else:
        assert not fired, f"{check.code} should stay quiet on: {case.name}\n{report}"
    return report
