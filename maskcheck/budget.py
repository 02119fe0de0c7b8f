"""The adaptive sample: an expensive model is traced on fewer sequences so that the model part of
an audit (the traced pass and the padding probes) stays within `time_budget` seconds.

Most models never pay for this decision: a cheap estimate from the weights and the sequence
length says the whole sample fits easily. Only where the estimate comes near the budget does a
pilot trace of `PILOT` sequences measure what one sequence really costs (twice, when the first,
which pays one-off compile costs, says the sample does not fit).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge.graph import all_layers
from maskcheck.bridge.kinds import EMBEDDING, is_kind
from maskcheck.data.types import Sample
from maskcheck.facts.probe import PROBE_ROWS, take_rows
from maskcheck.trace import run_traced

PILOT = 8  # sequences the pilot trace runs on
# A conservative rate for an eager forward pass on a CPU, in multiply-adds times two per second.
# Only gates the pilot: an estimate above an eighth of the budget is measured, never trusted.
EAGER_FLOPS_PER_S = 1e10


def estimated_seconds(model: Any, xs: list[np.ndarray]) -> float:
    """A rough cost of one eager pass over `xs`: every weight outside an Embedding table used once
    per step (and per pixel, for frames), two operations each."""
    tables: set[int] = set()
    for layer in all_layers(model):
        if is_kind(layer, EMBEDDING):
            tables.update(id(w) for w in layer.weights)
    seen: set[int] = set()
    params = 0
    for w in getattr(model, "weights", None) or []:
        if id(w) in seen or id(w) in tables:
            continue
        seen.add(id(w))
        params += math.prod(int(d) for d in kb.shape_of(w) if d is not None)
    n = int(xs[0].shape[0]) if xs else 0
    steps = max((math.prod(x.shape[1:-1]) if x.ndim >= 3 else x.shape[1] for x in xs if x.ndim >= 2), default=1)
    return 2.0 * params * steps * n / EAGER_FLOPS_PER_S


def passes(n: int) -> int:
    """Sequences the model part runs through the model for a sample of `n`: the trace, the padding
    probe and an explicit-mask probe (each on at most `PROBE_ROWS` of them)."""
    return n + 2 * min(n, PROBE_ROWS)


def fit_to_budget(model: Any, sample: Sample, budget: float) -> str | None:
    """Cut `sample` to the sequences the budget allows (never fewer than `PILOT`); a note saying so,
    or None when the whole sample fits."""
    n = int(sample.xs[0].shape[0])
    if math.isinf(budget) or n <= PILOT:
        return None
    if estimated_seconds(model, sample.xs) < budget / 8:
        return None
    pilot_inputs = take_rows(sample.model_inputs(), np.arange(PILOT))
    per_sequence = math.inf
    for _ in range(2):
        # The first pilot also pays one-off costs (compiling RNN loops, JAX's per-shape op
        # compiles); a second, only when the first says the sample does not fit, measures warm.
        start = time.perf_counter()
        pilot = run_traced(model, pilot_inputs)
        per_sequence = min(per_sequence, (time.perf_counter() - start) / PILOT)
        if pilot.error is not None or per_sequence * passes(n) <= budget:
            return None  # a model that fails is reported by the real trace
    fits = [m for m in range(PILOT, n) if per_sequence * passes(m) <= budget]
    keep = fits[-1] if fits else PILOT
    sample.keep(keep)
    return (
        f"time_budget: one traced sequence costs about {per_sequence:.2g} s, so the model ran on the "
        f"first {keep} of {n} sequences to keep the traced pass and the probes within {budget:g} s "
        f"(pass a larger time_budget, or time_budget=None, to trace all {n})."
    )
