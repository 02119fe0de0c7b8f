"""Public result types: findings, per-layer traces and the report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from maskcheck.errors import MaskcheckError

SCHEMA_VERSION = 1


class Severity(StrEnum):
    """How bad a finding is. `error`: the model trains or scores on padding, or data is wrong."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]

    @classmethod
    def parse(cls, value: Any, argument: str = "min_severity") -> Severity:
        """`value` as a Severity: a Severity or its name in any case ("WARNING" works)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        names = ", ".join(repr(s.value) for s in cls)
        raise MaskcheckError(argument, f"one of {names} (any case)", repr(value))


class Role(StrEnum):
    """What a layer call does with the mask."""

    CREATES = "creates"
    PROPAGATES = "propagates"
    CONSUMES = "consumes"
    DROPS = "drops"
    NONE = "none"


class MaskState(IntEnum):
    """The state of one step in `Report.mask_map`."""

    REAL = 0  # a real step
    PADDED = 1  # padded and masked
    UNMASKED_PAD = 2  # padded but NOT masked
    HOLE = 3  # masked between real steps
    PARTIAL = 4  # part pad, part data (the padding was scattered by a reshape, MC201)


@dataclass(frozen=True)
class Finding:
    """One problem found by a check."""

    code: str
    name: str
    severity: Severity
    message: str
    fix: str
    layer: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = str(self.severity)
        return d

    def __str__(self) -> str:
        where = f" [{self.layer}]" if self.layer else ""
        return f"{self.code} {self.name} ({self.severity}){where}: {self.message}\n    fix: {self.fix}"


@dataclass(frozen=True)
class LayerTrace:
    """One layer call of the real forward pass, as maskcheck observed it."""

    path: str
    class_name: str
    input_shape: str
    output_shape: str
    input_mask: bool
    output_mask: bool
    masked_share: float | None
    supports_masking: bool
    role: Role
    received_mask: bool = False
    symbolic_output_mask: bool | None = None
    calls: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["role"] = str(self.role)
        return d


@dataclass(frozen=True)
class Report:
    """The result of `maskcheck.audit`: a per-layer mask table and findings."""

    model_name: str
    layers: list[LayerTrace]
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    # per-step states (`MaskState` values) of up to 64 traced samples
    mask_map: list[list[int]] | None = None

    @property
    def ok(self) -> bool:
        """True when there is no `error` finding."""
        return not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def codes(self) -> list[str]:
        """The codes of all findings, in report order (repeats kept)."""
        return [f.code for f in self.findings]

    def by_code(self, code: str) -> list[Finding]:
        """The findings with this code (case-insensitive, as `select` and `explain` are)."""
        if not isinstance(code, str):
            raise MaskcheckError("code", "a check code such as 'MC101'", repr(code))
        wanted = code.strip().upper()
        return [f for f in self.findings if f.code == wanted]

    def at_least(self, min_severity: str | Severity) -> list[Finding]:
        """The findings at or above `min_severity` ("info", "warning", "error", any case)."""
        threshold = Severity.parse(min_severity, "min_severity").rank
        return [f for f in self.findings if f.severity.rank >= threshold]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model_name,
            "ok": self.ok,
            "meta": self.meta,
            "notes": list(self.notes),
            "layers": [t.to_dict() for t in self.layers],
            "findings": [f.to_dict() for f in self.findings],
            "mask_map": None if self.mask_map is None else [list(r) for r in self.mask_map],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def to_text(self) -> str:
        from maskcheck.render.text import render_text

        return render_text(self)

    def __str__(self) -> str:
        return self.to_text()

    def to_html(self) -> str:
        """A self-contained HTML page: the mask map, the mask flow, the findings, the layer table."""
        from maskcheck.render.page import render_html

        return render_html(self)

    def _repr_html_(self) -> str:
        """Jupyter shows the report as the HTML of `to_html()` (without the page around it)."""
        from maskcheck.render.page import render_html

        return render_html(self, full=False)

    def plot(self, path: str | None = None) -> str:
        """The mask map, the mask flow and the findings as one SVG; written to `path` if given."""
        from maskcheck.render.svg import render_svg

        svg = render_svg(self)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(svg)
        return svg

    def assert_ok(
        self, min_severity: str | Severity = "error", ignore: tuple[str, ...] | list[str] | str = ()
    ) -> None:
        """Raise `MaskcheckFailure` (an AssertionError) if a finding reaches `min_severity`.

        `ignore` takes codes or prefixes ("MC104", "MC3"), as `audit(ignore=...)` does, and is
        checked the same way (an unknown code is a `MaskcheckError`)."""
        from maskcheck.settings import Settings

        settings = Settings().merge({"min_severity": min_severity, "ignore": ignore})
        bad = settings.failing(self)
        if bad:
            raise settings.failure(self, bad)


def failure_message(
    report: Report, findings: list[Finding], min_severity: Severity, lead: str = "maskcheck found"
) -> str:
    """The message of every `MaskcheckFailure`: the count, the codes and the full text report."""
    codes = ", ".join(dict.fromkeys(f.code for f in findings))
    return (
        f"{lead} {len(findings)} finding(s) at or above '{min_severity}' ({codes}) "
        f"in model '{report.model_name}':\n\n{report.to_text()}"
    )
