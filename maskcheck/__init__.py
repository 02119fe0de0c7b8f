"""maskcheck: find masking and padding bugs in Keras sequence models.

Importing the package is cheap: Keras (and TensorFlow) load on first use of `audit`, so the
pytest plugin and `maskcheck --help` cost nothing in environments that never audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maskcheck._version import __version__
from maskcheck.errors import MaskcheckError, MaskcheckFailure
from maskcheck.report import Finding, LayerTrace, Report, Role, Severity

if TYPE_CHECKING:
    from maskcheck.engine import audit

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


def __getattr__(name: str) -> Any:
    if name == "audit":
        from maskcheck.engine import audit

        return audit
    raise AttributeError(f"module 'maskcheck' has no attribute {name!r}")
