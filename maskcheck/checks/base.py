"""What a check is: a small class with a code, a docstring, named thresholds and its own cases.

A check reads facts from the `AuditContext` and yields `Finding`s. Its firing and quiet cases
are declared in the class body (`INVALID`, `VALID`), in the style of Fixit's lint rules; each
case builds its model and data from the `maskcheck.testing` kit that the runner passes in, so
production code never imports test fixtures.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from maskcheck.report import Finding, Severity

if TYPE_CHECKING:
    from maskcheck.facts.context import AuditContext

ALL_BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")
DOC_SECTIONS = ("What it does", "Why is this bad?", "Known problems", "Example", "Use instead")

# The `maskcheck.testing` module, handed to case builders (typed loosely: it is a module).
Kit = Any


@dataclass(frozen=True)
class CaseInput:
    """What one case hands to `audit`: a model, its data and extra keyword arguments."""

    model: Any
    X: Any = None
    y: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)


CaseBuilder = Callable[[Kit], CaseInput]


@dataclass(frozen=True)
class Valid:
    """A close case the check must stay quiet on."""

    name: str
    build: CaseBuilder
    backends: tuple[str, ...] = ALL_BACKENDS


@dataclass(frozen=True)
class Invalid:
    """A case the check must fire on."""

    name: str
    build: CaseBuilder
    backends: tuple[str, ...] = ALL_BACKENDS


class Threshold(float):
    """A number a heuristic depends on, with what moving it trades off (shown in the docs)."""

    why: str

    def __new__(cls, value: float, why: str) -> Threshold:
        obj = super().__new__(cls, value)
        obj.why = why
        return obj


class Check:
    """Base class. Subclasses set the class attributes and implement `run`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    family: ClassVar[str]
    summary: ClassVar[str]
    INVALID: ClassVar[tuple[Invalid, ...]] = ()
    VALID: ClassVar[tuple[Valid, ...]] = ()

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
        """The docstring split at its `## ` headings (see `DOC_SECTIONS`)."""
        doc = inspect.cleandoc(cls.__doc__ or "")
        parts = re.split(r"^## (.+)$", doc, flags=re.M)
        sections: dict[str, str] = {}
        for title, body in zip(parts[1::2], parts[2::2], strict=False):
            sections[title.strip()] = body.strip("\n")
        return sections

    @classmethod
    def thresholds(cls) -> dict[str, Threshold]:
        """The named thresholds of this check (class constants), in definition order."""
        found: dict[str, Threshold] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, Threshold):
                    found[key] = value
        return found

    @classmethod
    def cases(cls) -> list[Invalid | Valid]:
        return [*cls.INVALID, *cls.VALID]
