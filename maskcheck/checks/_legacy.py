"""TRANSITIONAL: lets the old family modules run until each check has its own module.

Delete this file once nothing imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maskcheck.checks.base import ALL_BACKENDS, CaseInput, Check, Invalid, Valid


def register(cls: type[Check]) -> type[Check]:
    return cls


def Case(
    name: str, build: Callable[[], CaseInput], fires: bool, backends: tuple[str, ...] = ALL_BACKENDS
) -> Any:
    kind = Invalid if fires else Valid
    return kind(name, lambda _kit: build(), backends)
