"""The check registry: every check is a small class registered by its code."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from maskcheck.report import Finding, Severity

if TYPE_CHECKING:
    from maskcheck.facts.context import AuditContext


@dataclass(frozen=True)
class CaseInput:
    """What one case hands to `audit`: a model, its data and extra keyword arguments."""

    model: Any
    X: Any = None
    y: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """A firing (INVALID) or quiet (VALID) example of a check, built lazily."""

    name: str
    build: Callable[[], CaseInput]
    fires: bool
    backends: tuple[str, ...] = ("tensorflow", "jax", "torch")


class Check:
    """Base class. Subclasses set the class attributes and implement `run`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    family: ClassVar[str]
    summary: ClassVar[str]
    invalid: ClassVar[tuple[Case, ...]] = ()
    valid: ClassVar[tuple[Case, ...]] = ()

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        raise NotImplementedError

    def finding(
        self,
        message: str,
        fix: str,
        layer: str | None = None,
        severity: Severity | None = None,
        **details: Any,
    ) -> Finding:
        return Finding(
            code=self.code,
            name=self.name,
            severity=severity or self.severity,
            message=message,
            fix=fix,
            layer=layer,
            details=details,
        )

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The docstring split into 'What it does', 'Why is this bad?', 'Example', 'Use instead'."""
        doc = inspect.cleandoc(cls.__doc__ or "")
        parts = re.split(r"^## (.+)$", doc, flags=re.M)
        sections: dict[str, str] = {}
        for title, body in zip(parts[1::2], parts[2::2], strict=False):
            sections[title.strip()] = body.strip("\n")
        return sections

    @classmethod
    def cases(cls) -> list[Case]:
        return list(cls.invalid) + list(cls.valid)


REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    if cls.code in REGISTRY:
        raise RuntimeError(f"duplicate check code {cls.code}")
    REGISTRY[cls.code] = cls
    return cls


def all_checks() -> list[type[Check]]:
    _load()
    return [REGISTRY[c] for c in sorted(REGISTRY)]


def get_check(code: str) -> type[Check]:
    _load()
    try:
        return REGISTRY[code.upper()]
    except KeyError:
        from maskcheck.errors import MaskcheckError

        raise MaskcheckError("code", f"one of {', '.join(sorted(REGISTRY))}", repr(code)) from None


def _load() -> None:
    from maskcheck import bridge  # noqa: F401  (imports Keras quietly before the checks do)
    from maskcheck.checks import environment, outputs, padding, propagation  # noqa: F401
