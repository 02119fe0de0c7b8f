"""MC1xx: how the mask travels through the model (traced on the real forward pass)."""
