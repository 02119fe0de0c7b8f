"""Shared by several MC1xx checks."""

from __future__ import annotations

SAMPLE_WEIGHT_FIX = (
    "or keep the model and weight the loss by the mask: "
    "`model.fit(X, y, sample_weight=np.any(X != pad_value, axis=-1).astype('float32'))`"
)
