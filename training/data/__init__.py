"""Training data: readers of real datasets (and, later, synthetic renders). Readers need no torch."""
