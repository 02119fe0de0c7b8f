"""Facts about one audit, derived from the trace and the data: computed once, read by checks."""
