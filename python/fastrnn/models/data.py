"""What fit, evaluate and predict accept, made uniform for the training loop: arrays (checked once
by the model, then sliced per batch) and batch sources (Python generators and iterators,
re-iterable objects, keras-style Sequences with __len__ and __getitem__) whose batches are
checked as they come; and class_weight turned into per-sample weights as Keras does.

Not the loop (training.py), and not a pipeline: batches are drawn on the calling thread, one at a
time (Keras 2's workers / use_multiprocessing have no effect).
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import utils


def is_batch_source(data) -> bool:
    """Whether `data` yields batches (generator, iterator, Sequence, iterable) rather than being
    arrays (NumPy arrays, lists, tuples, dicts of them, anything with __array__)."""
    if data is None or isinstance(data, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(data, "__array__"):
        return False
    return hasattr(data, "__iter__") or hasattr(data, "__next__") or (
        hasattr(data, "__getitem__") and hasattr(data, "__len__"))


def as_list(model, data, names, argument, what):
    """`data` as a list aligned with `names`: one array (one name), a list or tuple with one entry
    per name, or a dict by name. Raises ValueError naming `argument` when the count is wrong."""
    if isinstance(data, dict):
        if set(data) != set(names):
            raise ValueError(f"argument {argument!r}: model {model.name!r} has the {what}s {names}; the dict has the "
                             f"keys {sorted(data, key=str)}")
        return [data[k] for k in names]
    if len(names) > 1:
        if not isinstance(data, (list, tuple)) or len(data) != len(names):
            got = f"{len(data)} arrays" if isinstance(data, (list, tuple)) else "one array"
            raise ValueError(f"model {model.name!r} has {len(names)} {what}s ({', '.join(names)}): argument "
                             f"{argument!r} must hold one array per {what} (a list or a dict by name), got {got}")
        return list(data)
    if isinstance(data, (list, tuple)) and data and all(isinstance(a, np.ndarray) for a in data):
        if len(data) != 1:
            raise ValueError(f"model {model.name!r} has one {what}, but argument {argument!r} holds {len(data)} arrays")
        return [data[0]]
    return [data]


def sample_count(arrays, argument_names):
    """The shared first dimension of `arrays` (None entries skipped), or ValueError."""
    counts = [(name, len(a)) for name, a in zip(argument_names, arrays) if a is not None]
    if len({n for _, n in counts}) > 1:
        x_count = next((n for name, n in counts if name == "x"), None)
        y_count = next((n for name, n in counts if name == "y"), None)
        if x_count is not None and y_count is not None and x_count != y_count:
            raise ValueError(f"x and y must have the same number of samples, got {x_count} and {y_count}")
        raise ValueError("x, y and sample_weight must have the same number of samples, got "
                         + ", ".join(f"{n} in {name}" for name, n in counts))
    return counts[0][1] if counts else 0


def check_class_weight(class_weight, output_shape):
    """class_weight as {class: float}, checked against the output's classes (its width, 2 for
    one sigmoid unit). Raises ValueError naming class_weight."""
    if not isinstance(class_weight, dict) or not class_weight:
        raise ValueError(f"argument 'class_weight' must be a non-empty dict {{class index: weight}}, "
                         f"got {class_weight!r}")
    if len(output_shape) > 2:
        raise ValueError(f"argument 'class_weight' applies to one label per sample, but the output has shape "
                         f"{tuple(output_shape)} (one per step): pass sample_weight of shape (samples, steps)")
    width = output_shape[-1] if len(output_shape) > 1 else None
    classes = None if width is None else (2 if width == 1 else width)
    out = {}
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral) or key < 0 or (classes and key >= classes):
            bound = f"an int in [0, {classes})" if classes else "an int >= 0"
            raise ValueError(f"argument 'class_weight': class {key!r} is not a class of this output (each key must "
                             f"be {bound})")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"argument 'class_weight': the weight of class {key} must be a finite number, "
                             f"got {value!r}")
        out[int(key)] = float(value)
    return out


def class_sample_weight(class_weight, y):
    """Per-sample weights from targets, as Keras: one-hot rows by argmax, labels rounded;
    classes missing from class_weight weigh 1."""
    y = np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else y[..., 0]
    if y.ndim != 1:
        raise ValueError(f"argument 'class_weight' needs one label per sample, got targets of shape {y.shape}")
    labels = np.round(y).astype(np.int64)
    table = np.ones(max(labels.max(initial=0), max(class_weight)) + 1)
    table[list(class_weight)] = list(class_weight.values())
    return np.where(labels >= 0, table[np.maximum(labels, 0)], 1.0)


class ArrayFeed:
    """Arrays already checked: batches are rows sliced out of them.

    Args:
        xs, ys, sws: lists of arrays (ys and sws entries may be None), one first dimension.
        batch_size: rows per batch. steps: batches per epoch (None: all).
    """

    def __init__(self, xs, ys, sws, batch_size, steps=None):
        self.xs, self.ys, self.sws, self.batch_size = xs, ys, sws, batch_size
        self.n = len(xs[0])
        available = -(-self.n // batch_size)
        if steps is not None and steps > available:
            raise ValueError(f"argument 'steps' (or steps_per_epoch / validation_steps) asks for {steps} batches, "
                             f"but {self.n} samples in batches of {batch_size} make {available}")
        self.steps = available if steps is None else steps
        self.ran_out = False

    def rows(self, start, stop, steps=None, batch_size=None) -> "ArrayFeed":
        """The feed of rows [start, stop) (steps batches per epoch, of batch_size or this feed's)."""
        cut = lambda arrays: [None if a is None else a[start:stop] for a in arrays]  # noqa: E731
        return ArrayFeed(cut(self.xs), cut(self.ys), cut(self.sws), batch_size or self.batch_size, steps)

    def take(self, index):
        pick = lambda arrays: [None if a is None else a[index] for a in arrays]  # noqa: E731
        return pick(self.xs), pick(self.ys), pick(self.sws)

    def epoch(self, shuffle=False, strategy=None):
        """Yield (xs, ys, sws, rows of the global batch, this rank's share of it) per batch."""
        order = utils.rng().permutation(self.n) if shuffle else np.arange(self.n)
        if strategy is not None and shuffle:  # rank 0's order: dropout draws may desynchronize the generators
            order = strategy.broadcast(order, "shuffle broadcast")
        for j in range(self.steps):
            index = order[j * self.batch_size:(j + 1) * self.batch_size]
            rows, share = len(index), 1.0
            if strategy is not None:
                index, share = strategy.shard(index)
            yield (*self.take(index), rows, share)

    def end_epoch(self):
        pass


class BatchFeed:
    """Batches drawn from a source and checked by `check(item, step)` -> (xs, ys, sws).

    A Sequence (len and [i]) or a re-iterable object gives one pass per epoch (steps: that many
    batches, carrying on where the last epoch stopped and starting a new pass when one ends); an
    iterator or generator is drawn from continuously, and running out stops training.
    """

    def __init__(self, source, check, steps=None, shuffle=False, what="x"):
        self.source, self.check, self.shuffle, self.what = source, check, shuffle, what
        self.indexed = hasattr(source, "__getitem__") and hasattr(source, "__len__") and not hasattr(source, "__next__")
        self.iterator = hasattr(source, "__next__") or (not self.indexed and iter(source) is source)
        length = len(source) if hasattr(source, "__len__") and not self.iterator else None
        self.steps, self.fixed = (length, False) if steps is None else (steps, True)
        self._current, self.ran_out = None, False

    def _fresh(self):
        if self.indexed:
            n = len(self.source)
            order = utils.rng().permutation(n) if self.shuffle else range(n)
            return (self.source[int(i)] for i in order)
        return iter(self.source)

    def epoch(self, shuffle=None, strategy=None):
        if strategy is not None:
            raise ValueError("argument 'distribute' needs array data: a generator or Sequence cannot be split over "
                             "the ranks")
        if self._current is None or not self.fixed:
            self._current = self.source if self.iterator else self._fresh()
        step, pass_start = 0, -1
        while self.steps is None or step < self.steps:
            try:
                item = next(self._current)
            except StopIteration:
                if self.iterator or not self.fixed or pass_start == step:  # (an empty pass: nothing to cycle)
                    self._ran_out(step)
                    return
                self._current, pass_start = self._fresh(), step  # a new pass of a Sequence / iterable
                continue
            xs, ys, sws = self.check(item, step)
            yield xs, ys, sws, len(xs[0]), 1.0
            step += 1

    def _ran_out(self, step):
        if (self.iterator and (self.fixed or step == 0)) or (self.fixed and step < self.steps):
            self.ran_out = True
            warnings.warn(f"the {self.what} ran out of data after {step} batch(es) of this epoch; stopping. Make "
                          "sure it can yield steps_per_epoch * epochs batches (or use a Sequence)", stacklevel=4)
        self._current = None

    def end_epoch(self):
        """Keras' Sequence.on_epoch_end, called after every training epoch."""
        if self.indexed and hasattr(self.source, "on_epoch_end"):
            self.source.on_epoch_end()
