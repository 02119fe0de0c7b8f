"""Exceptions raised by maskcheck."""

from __future__ import annotations


class MaskcheckError(ValueError):
    """Bad input to maskcheck: names the argument and what was expected."""

    def __init__(self, argument: str, expected: str, got: str | None = None) -> None:
        self.argument = argument
        self.expected = expected
        self.got = got
        text = f"{argument}: expected {expected}"
        if got:
            text += f", got {got}"
        super().__init__(text)


class MaskcheckFailure(AssertionError):
    """Raised by `Report.assert_ok` when findings reach the severity threshold."""
