"""Public result types: findings, per-layer traces and the report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Severity(StrEnum):
    """How bad a finding is. `error`: the model trains or scores on padding, or data is wrong."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


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
        return [f for f in self.findings if f.code == code]

    def at_least(self, min_severity: str | Severity) -> list[Finding]:
        threshold = Severity(min_severity).rank
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
        self, min_severity: str | Severity = "error", ignore: tuple[str, ...] | list[str] = ()
    ) -> None:
        """Raise `MaskcheckFailure` (an AssertionError) if a finding reaches `min_severity`.

        `ignore` takes codes or prefixes ("MC104", "MC3"), as `audit(ignore=...)` does."""
        from maskcheck.errors import MaskcheckError, MaskcheckFailure

        prefixes = tuple(str(c).upper() for c in ignore)
        try:
            bad = [f for f in self.at_least(min_severity) if not (prefixes and f.code.startswith(prefixes))]
        except ValueError:
            raise MaskcheckError(
                "min_severity", "one of 'info', 'warning', 'error'", repr(min_severity)
            ) from None
        if bad:
            raise MaskcheckFailure(
                f"maskcheck found {len(bad)} finding(s) at or above '{min_severity}':\n" + self.to_text()
            )
