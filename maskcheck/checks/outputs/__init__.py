"""MC3xx: outputs, labels, loss and metrics (need y and/or a compiled model)."""
