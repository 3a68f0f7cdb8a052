"""Frozen-feature evaluation: weighted kNN, linear probe, collapse indicators, embedding map."""
