"""Process-wide helpers for the Keras-style API: the seeded random generator that initializers,
dropout and shuffling draw from, `set_random_seed` to make runs reproducible, and keras.utils'
data helpers: `to_categorical`, `get_file` (finds files already in Keras' cache; never
downloads), `timeseries_dataset_from_array` and `pad_sequences`.

Not the kernels' business: fastrnn.ops is deterministic and never draws random numbers.
"""
from __future__ import annotations

import random

import numpy as np

from ..preprocessing.sequence import pad_sequences
from .files import get_file
from .numerical import to_categorical
from .timeseries import TimeseriesDataset, timeseries_dataset_from_array

__all__ = ["set_random_seed", "rng", "to_categorical", "get_file", "timeseries_dataset_from_array",
           "TimeseriesDataset", "pad_sequences"]

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed everything fastrnn's layers, models and examples draw from (and Python's `random`).

    Args:
        seed: a non-negative int.

    Example:
        >>> fastrnn.utils.set_random_seed(0)   # same weights, shuffles and dropout masks each run
    """
    global _rng
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed!r}")
    _rng = np.random.default_rng(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def rng() -> np.random.Generator:
    """The generator seeded by set_random_seed (fresh entropy until it is called)."""
    return _rng
