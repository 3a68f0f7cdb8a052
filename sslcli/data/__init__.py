"""The data path: items -> per-item views -> batches, with bad files skipped or reported."""
