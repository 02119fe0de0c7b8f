"""MC2xx: the padding in the data against the masks the model makes of it (needs X)."""
