"""Datasets (one reader per on-disk format), the P×K sampler, transforms and the features file."""
