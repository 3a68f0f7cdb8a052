"""Frozen-feature evaluation: weighted kNN, linear probe, collapse indicators, embedding map."""

ENCODERS = ("pretrained", "random_init", "raw_input")  # the features eval scores side by side (report keys)
