"""keras.utils.timeseries_dataset_from_array on NumPy: sliding windows over a series, batched,
as an iterable that can be iterated again every epoch (no tf.data).

Window i starts at start_index + i * sequence_stride and takes sequence_length steps
sampling_rate apart; its target is targets[start_index + i * sequence_stride], as Keras.
"""
from __future__ import annotations

import numpy as np


def _positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"timeseries_dataset_from_array: argument '{name}' must be an int >= 1"
                         f"{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


class TimeseriesDataset:
    """Batches of windows, (inputs, targets) or inputs alone; iterate it once per epoch.

    With shuffle, the first pass visits the windows in the order Keras' seeded RandomState gives
    them and each later pass reshuffles (Keras then also shuffles through tf.data's buffer, whose
    order cannot be reproduced: the windows of each epoch are Keras', not their order).
    """

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size, shuffle, seed):
        self.data, self.targets, self._starts = data, targets, starts
        self._offsets = np.arange(sequence_length) * sampling_rate
        self.batch_size, self.shuffle = batch_size, shuffle
        if shuffle and seed is None:  # as Keras: drawn from NumPy's global generator (set_random_seed seeds it)
            seed = np.random.randint(1_000_000)
        self._random = np.random.RandomState(seed) if shuffle else None

    def __len__(self):
        """Batches per pass (windows when batch_size is None)."""
        if self.batch_size is None:
            return len(self._starts)
        return -(-len(self._starts) // self.batch_size)

    def __iter__(self):
        starts = self._starts.copy()
        if self.shuffle:
            self._random.shuffle(starts)
        step = self.batch_size or 1
        for i in range(0, len(starts), step):
            chosen = starts[i:i + step]
            inputs = self.data[chosen[:, None] + self._offsets]
            batch = inputs if self.targets is None else (inputs, self.targets[chosen])
            if self.batch_size is None:
                batch = inputs[0] if self.targets is None else (inputs[0], batch[1][0])
            yield batch


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
    """Sliding windows over a series, batched, as Keras' function (NumPy batches).

    Args:
        data: array of shape (steps, ...) (windows are taken along the first axis).
        targets: array indexed like data (targets[start_index + i * sequence_stride] goes with
            window i), or None (batches are inputs alone).
        sequence_length: steps per window. sequence_stride: steps between window starts.
        sampling_rate: steps between the samples of a window.
        batch_size: windows per batch (default 128; None: single windows).
        shuffle, seed: shuffle the windows (seeded as Keras' first shuffle).
        start_index, end_index: use data[start_index:end_index] only.

    Returns:
        A TimeseriesDataset: iterate it for (inputs, targets) batches of shapes
        (batch, sequence_length, ...) and (batch, ...); len() is the number of batches.

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(100), np.arange(100), sequence_length=10, batch_size=32)
        >>> inputs, targets = next(iter(ds)); inputs[1], targets[1]
        (array([ 1,  2,  3,  4,  5,  6,  7,  8,  9, 10]), 1)
    """
    data = np.asarray(data)
    if data.ndim < 1:
        raise ValueError("timeseries_dataset_from_array: argument 'data' must be an array of shape (steps, ...), "
                         "got a scalar")
    if targets is not None:
        targets = np.asarray(targets)
        if targets.ndim < 1:
            raise ValueError("timeseries_dataset_from_array: argument 'targets' must be an array indexed like data "
                             "or None, got a scalar")
    sequence_length = _positive_int("sequence_length", sequence_length)
    sequence_stride = _positive_int("sequence_stride", sequence_stride)
    sampling_rate = _positive_int("sampling_rate", sampling_rate)
    batch_size = _positive_int("batch_size", batch_size, allow_none=True)
    n = len(data)
    for name, value in (("start_index", start_index), ("end_index", end_index)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise ValueError(f"timeseries_dataset_from_array: argument '{name}' must be an int or None, got {value!r}")
    # the limits Keras checks, with its messages' meaning
    if start_index and not 0 <= start_index < n:
        raise ValueError(f"timeseries_dataset_from_array: 'start_index' must lie in [0, {n}), got {start_index}")
    if end_index is not None and not (0 < end_index < n and (not start_index or end_index > start_index)):
        raise ValueError(f"timeseries_dataset_from_array: 'end_index' must lie in ({start_index or 0}, {n}), "
                         f"got {end_index}")
    if sampling_rate >= n or sequence_stride >= n:
        raise ValueError(f"timeseries_dataset_from_array: 'sampling_rate' ({sampling_rate}) and 'sequence_stride' "
                         f"({sequence_stride}) must be lower than the length of the data ({n})")
    start = start_index or 0
    stop = n if end_index is None else end_index
    count = stop - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets))  # Keras' limit, whatever start_index is
    starts = start + np.arange(0, max(count, 0), sequence_stride, dtype=np.int64)
    if targets is not None and len(starts) and starts[-1] >= len(targets):
        raise ValueError(f"timeseries_dataset_from_array: targets has {len(targets)} entries, but window starts go "
                         f"up to {starts[-1]}")
    return TimeseriesDataset(data, targets, starts, sequence_length, sampling_rate, batch_size, shuffle, seed)
