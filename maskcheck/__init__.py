"""maskcheck: find masking and padding bugs in Keras sequence models."""

from __future__ import annotations

from maskcheck.audit import audit
from maskcheck.errors import MaskcheckError, MaskcheckFailure
from maskcheck.types import Finding, LayerTrace, Report, Role, Severity

__version__ = "0.1.0"

__all__ = [
    "Finding",
    "LayerTrace",
    "MaskcheckError",
    "MaskcheckFailure",
    "Report",
    "Role",
    "Severity",
    "__version__",
    "audit",
]
