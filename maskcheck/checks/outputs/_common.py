"""Shared by the MC3xx checks: the family base class, the y perturbation at padded steps and the
steps a loss drops by its own `ignore_class`."""

from __future__ import annotations

import numpy as np

from maskcheck.checks.base import Check
from maskcheck.facts.context import AuditContext
from maskcheck.facts.outputs import OutputFacts


class OutputCheck(Check):
    """Base of the MC3xx checks (it has no code, so discovery skips it)."""

    family = "outputs"

    @staticmethod
    def outputs(ctx: AuditContext) -> range:
        return range(len(ctx.trace.outputs))


def labels_out_of_range(out: OutputFacts) -> np.ndarray | None:
    """(samples, steps) bool: the labels a sparse categorical loss would reject (outside
    [0, units) and not its `ignore_class`), or None when the output has no such loss or labels."""
    info, head, ids = out.loss, out.head, out.label_ids
    if info is None or info.kind != "sparse_categorical" or head is None or ids is None or head.units < 2:
        return None
    bad = (ids < 0) | (ids >= head.units)
    if info.ignore_class is not None:
        bad &= ids != int(info.ignore_class)
    return bad


def perturbed(y: np.ndarray, padded: np.ndarray, kind: str, units: int) -> np.ndarray:
    """y changed at the padded steps only, to another valid target of the same kind."""
    y2 = np.array(y, copy=True)
    if kind == "categorical" and y2.ndim == 3:
        y2[padded] = (
            np.roll(y2[padded], 1, axis=-1) if y2[padded].any() else np.eye(units, dtype=y2.dtype)[1 % units]
        )
    elif kind == "sparse_categorical":
        base = y2[..., 0] if y2.ndim == 3 else y2
        base[padded] = (base[padded] + 1) % max(units, 2)
    elif kind == "binary":
        base = y2 if y2.ndim == padded.ndim else y2[..., 0]
        base[padded] = 1 - base[padded]
    else:
        y2[padded] = y2[padded] + 1
    return y2


def loss_counted(out: OutputFacts, padded: np.ndarray) -> np.ndarray:
    """The padded steps the loss of `out` does not already drop through its `ignore_class`
    (a label the user declared padding: changing it would make the loss count the step)."""
    info, ids = out.loss, out.label_ids
    if info is None or info.ignore_class is None or ids is None or ids.shape != padded.shape:
        return padded
    return padded & (ids != int(info.ignore_class))
