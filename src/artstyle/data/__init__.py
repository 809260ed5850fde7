"""Data layer: scan, decode, cache, audit, balance, synthetic data, device batches."""
