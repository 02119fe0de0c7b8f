"""Everything a check may look at, computed once per audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskcheck.trace import CallEvent, Trace


@dataclass
class AuditOptions:
    max_samples: int = 256
    seed: int = 0
    perturb: bool = True


@dataclass
class AuditContext:
    model: Any
    inputs: list[np.ndarray]
    input_names: list[str]
    trace: Trace
    symbolic: dict[int, bool]
    y: list[np.ndarray] | None = None
    sample_weight: Any = None
    synthesized: bool = False
    options: AuditOptions = field(default_factory=AuditOptions)
    layouts: list[Any] = field(default_factory=list)
    structure: str = "single"
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> list[CallEvent]:
        return self.trace.layer_events()

    def model_inputs(self) -> Any:
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    def leak(self) -> Any:
        """The padding-perturbation probe (MC108), run once."""
        if "leak" not in self._cache:
            from maskcheck.facts.probe import probe

            self._cache["leak"] = probe(self.model, self.model_inputs(), self.trace, self.options.seed)
        return self._cache["leak"]

    def symbolic_output_mask(self, i: int) -> bool | None:
        outs = getattr(self.model, "outputs", None)
        if not outs or i >= len(outs):
            return None
        from maskcheck import bridge as kb

        try:
            return kb.get_mask(outs[i]) is not None
        except Exception:
            return None
