"""MC4xx: the installed Keras and its mask semantics."""
