"""Keras integration: `from maskcheck.keras import AuditCallback`.

This module is `maskcheck.keras`; inside the package every import is absolute, so `import keras`
still means the real Keras.
"""

from __future__ import annotations

from maskcheck.callback import AuditCallback

__all__ = ["AuditCallback"]
