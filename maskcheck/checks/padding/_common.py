"""Shared by the MC2xx checks: the base class that reads the input layouts, and message helpers."""

from __future__ import annotations

import numpy as np

from maskcheck.checks.base import Check
from maskcheck.facts.context import AuditContext
from maskcheck.facts.layout import InputLayout
from maskcheck.facts.steps import is_uniform


class DataCheck(Check):
    """A check of the padding in X: it reads `ctx.layouts`, the streamed layout pass over X."""

    family = "padding"

    def layouts(self, ctx: AuditContext) -> list[InputLayout]:
        """The layouts of the inputs that held any sample."""
        return [lay for lay in ctx.layouts if lay.samples]

    def multi(self, ctx: AuditContext) -> bool:
        return len(ctx.layouts) > 1


def where(lay: InputLayout, multi: bool) -> str:
    """How a message names the input: "X", or "input 'name'" when the model has several."""
    return f"input '{lay.name}'" if multi else "X"


def listed(indices: list[int], total: int) -> str:
    """Sample indices as "[1, 4, ...]", with "..." when `total` is more than those listed."""
    text = ", ".join(str(i) for i in indices)
    return f"[{text}{', ...' if total > len(indices) else ''}]"


def uniform_pad(lay: InputLayout) -> bool:
    """The pad vector holds one value in every feature."""
    return lay.pad is not None and is_uniform(lay.pad)


def pad_literal(lay: InputLayout) -> str:
    """The pad value as Python source, for a fix (its first entry; "0.0" when there is none)."""
    if lay.pad is None:
        return "0.0"
    v = float(np.asarray(lay.pad).ravel()[0])
    return "float('nan')" if np.isnan(v) else f"{v:g}"
