"""Train / validation / test splits: fit on the first, choose on the second, report the third once."""

from __future__ import annotations

import numpy as np


def train_val_test_split(n: int, val: float = 0.15, test: float = 0.15, seed: int = 0):
    """Disjoint index arrays (train, val, test) covering range(n), shuffled with a seeded generator."""
    if n < 3:
        raise ValueError(f"need at least 3 samples to split, got n={n}")
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(f"val and test must be fractions in (0, 1) summing below 1, got {val} and {test}")
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = max(1, round(val * n)), max(1, round(test * n))
    return order[n_val + n_test:], order[:n_val], order[n_val:n_val + n_test]
