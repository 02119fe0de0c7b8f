"""Test helpers for maskcheck and for packages that write their own checks.

Never imported by an audit. A check's cases receive this module as their `t` argument::

    class MyCheck(Check):
        INVALID = (Invalid("Masking -> Conv1D", lambda t: t.CaseInput(t.conv_model(), t.padded_floats())),)

and `maskcheck.testing.assert_case(MyCheck, case)` runs one of them.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from maskcheck.checks.base import CaseInput, Invalid, Valid
from maskcheck.checks.registry import registered
from maskcheck.synth import lengths_for, padded_floats, padded_ids, step_labels
from maskcheck.testing import outputs, padding
from maskcheck.testing.cases import applies, assert_case, backend, run_case
from maskcheck.testing.models import masked_tagger, seq_input

__all__ = [
    "CaseInput",
    "Invalid",
    "Valid",
    "applies",
    "assert_case",
    "backend",
    "keras",
    "layers",
    "lengths_for",
    "masked_tagger",
    "ops",
    "outputs",
    "padded_floats",
    "padded_ids",
    "padding",
    "registered",
    "run_case",
    "seq_input",
    "step_labels",
]
