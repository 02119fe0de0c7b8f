"""Everything a check may look at, computed once per audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge.graph import named_leaves
from maskcheck.data.types import output_weight
from maskcheck.facts.flow import creators
from maskcheck.facts.layout import InputLayout
from maskcheck.facts.outputs import OutputFacts
from maskcheck.facts.probe import ATOL, RTOL, LeakResult, probe
from maskcheck.facts.sources import (
    ExplicitMask,
    InputProbe,
    covered_by_trace,
    explicit_masks,
    padded_steps,
    probe_input,
)
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
    """The one sample-weight array `fit` applies to every output's loss (None when none was given,
    or when they were given per output: see `weight`)."""
    sample_weights: list[np.ndarray | None] | None = None
    """Sample weights given per output (a dict or list), in output order."""
    synthesized: bool = False
    options: AuditOptions = field(default_factory=AuditOptions)
    layouts: list[InputLayout] = field(default_factory=list)
    structure: str = "single"
    notes: list[str] = field(default_factory=list)
    """What the checks want said in the report besides findings (see `note`)."""
    not_run: dict[str, str] = field(default_factory=dict)
    """Checks that could not do their test, by code, with why (see `could_not_run`)."""
    _leak: dict[tuple[float, float], LeakResult] = field(default_factory=dict, init=False, repr=False)
    _outputs: dict[int, OutputFacts] = field(default_factory=dict, init=False, repr=False)
    _explicit_probes: dict[int, InputProbe] = field(default_factory=dict, init=False, repr=False)

    @property
    def events(self) -> list[CallEvent]:
        return self.trace.layer_events()

    def model_inputs(self) -> Any:
        return self.structured(self.inputs)

    def structured(self, xs: list[np.ndarray]) -> Any:
        """Arrays, one per input, in the structure the model was given X in (a dict by input name)."""
        if self.structure == "dict":
            return dict(zip(self.input_names, xs, strict=True))
        return xs[0] if len(xs) == 1 else list(xs)

    def weight(self, i: int) -> np.ndarray | None:
        """The sample weights `fit` applies to the loss of output i."""
        return output_weight(self.sample_weight, self.sample_weights, i)  # type: ignore[no-any-return]

    def note(self, text: str) -> None:
        """Add a line to the report's notes (something a check could not do, or did not apply)."""
        self.notes.append(text)

    def could_not_run(self, code: str, reason: str) -> None:
        """Record that check `code` could not do its test (the report shows it; strict audits raise)."""
        self.not_run[code] = f"{self.not_run[code]}; {reason}" if code in self.not_run else reason

    def leak(self, atol: float = ATOL, rtol: float = RTOL) -> LeakResult:
        """The padding probe (MC108), run once per tolerance (a change counts above atol + rtol * scale)."""
        key = (float(atol), float(rtol))
        if key not in self._leak:
            self._leak[key] = probe(
                self.model, self.model_inputs(), self.trace, self.options.seed, atol=atol, rtol=rtol
            )
        return self._leak[key]

    def explicit_probe(self, m: ExplicitMask) -> InputProbe:
        """The ids of `m` changed where it marks padding (the mask unchanged), run once per mask:
        which outputs changed at real steps, and the first layer whose result changed."""
        if m.ids_index not in self._explicit_probes:
            self._explicit_probes[m.ids_index] = probe_input(
                self.model, self.inputs, self.structured, self.trace, m.ids_index, ~m.real, "ids", self.options.seed
            )
        return self._explicit_probes[m.ids_index]

    @cached_property
    def masked_anywhere(self) -> bool:
        """Some layer makes a mask or receives one (also one computed by hand and passed as mask=)."""
        return bool(creators(self.trace)) or any(e.any_mask_in for e in self.events)

    @cached_property
    def explicit_masks(self) -> list[ExplicitMask]:
        """Model inputs consumed as padding masks (keras-hub's `padding_mask`), with their ids input."""
        return explicit_masks(self.inputs, self.input_names, self.layouts, self.trace)

    def padded_steps(self, lay: InputLayout) -> np.ndarray | None:
        """(samples, steps) bool: the padded steps of input `lay` in the traced sample."""
        if lay.index >= len(self.inputs):
            return None
        return padded_steps(self.inputs[lay.index], lay)

    def padding_masked(self, lay: InputLayout) -> bool:
        """Something other than the input's own Masking/Embedding masks its padding: an explicit
        padding-mask input paired with it, or a mask the model computed (a Keras mask, `mask=`, an
        attention mask) that marks exactly its padded steps."""
        if any(m.ids_index == lay.index for m in self.explicit_masks):
            return True
        pads = self.padded_steps(lay)
        return pads is not None and covered_by_trace(self.trace, pads)

    def output(self, i: int) -> OutputFacts:
        """The head, loss, labels and predictions of model output i, each computed once."""
        facts = self._outputs.get(i)
        if facts is None:
            facts = self._outputs[i] = OutputFacts(self.model, self.trace, self.y, i, self.weight(i))
        return facts

    @cached_property
    def output_names(self) -> list[str | None]:
        """The name of each model output, by which `fit` pairs it with its loss, y and metrics."""
        return [self.output(i).name for i in range(len(self.trace.outputs))]

    def symbolic_output_mask(self, i: int) -> bool | None:
        """Whether the functional graph gives output i (matched by name, else by position) a mask."""
        try:
            symbolic = named_leaves(self.model.output)
        except Exception:
            symbolic = [(None, t) for t in getattr(self.model, "outputs", None) or []]
        names = [name for name, _ in symbolic]
        name = self.output(i).name
        j = names.index(name) if name is not None and name in names else i
        if j >= len(symbolic):
            return None
        try:
            return kb.get_mask(symbolic[j][1]) is not None
        except Exception:
            return None
