"""The Optimizer base class: learning rate (a number, a schedule or a callable, readable and
settable as Keras 3's `optimizer.learning_rate`), step count, gradient clipping, decoupled weight
decay, sparse (lazy) row updates and slot storage. Subclasses write `_update`, one step of one
weight; the update rules themselves are fastrnn.ops kernels or rules.py.

Keras 2 spellings still work: `lr=` (DeprecationWarning; an error beside `learning_rate=`),
`optimizer.lr`, and `decay=` (Keras 2's time decay lr / (1 + decay * iterations), which Keras 3
dropped).
"""
from __future__ import annotations

import math
import numbers
import sys
import warnings

import numpy as np

from ..layers.base import IndexedRows, snake_case
from . import rules, schedules


class Default(float):
    """A default argument value that remembers it was not passed (so that `lr=` can be told apart
    from an explicit `learning_rate=`); it is a float everywhere else."""

    def __repr__(self):
        return float.__repr__(self)


def _caller_level():
    """The warnings stacklevel that points at the first caller outside fastrnn.optimizers (an
    optimizer's __init__ may run through several subclasses' __init__ first)."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__package__):
        level, frame = level + 1, frame.f_back
    return level


def check_number(owner, name, value, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """float(value), or a ValueError naming the argument and the range it must lie in."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        lo = "" if low is None else f"{'[' if low_inclusive else '('}{low}, "
        hi = "" if high is None else f"{high}{']' if high_inclusive else ')'}"
        where = f" in {lo or '(-inf, '}{hi or 'inf)'}" if (low is not None or high is not None) else ""
        raise ValueError(f"{owner}: argument '{name}' must be a finite number{where}, got {value!r}")
    return float(value)


class Optimizer:
    """Base optimizer.

    Args:
        learning_rate: a number >= 0, a fastrnn.optimizers.schedules.LearningRateSchedule, or a
            callable: fn(step) -> rate, or fn() -> rate (Keras 3 calls one with no argument).
        weight_decay: decoupled weight decay: before each step w *= 1 - weight_decay * lr (Keras
            3's rule, on every optimizer; a sparse gradient decays only the rows it names).
        clipnorm: clip each weight's gradient to this L2 norm. global_clipnorm: clip all gradients
            together to this norm. clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
        name: default the class name in snake case ('adam', 'rmsprop', ...).
        lr: deprecated (Keras 2) spelling of learning_rate. decay: deprecated (Keras 2) time decay.

    Example:
        >>> opt = Adam(learning_rate=schedules.ExponentialDecay(1e-3, 1000, 0.9))
        >>> opt.apply(weights, grads); opt.iterations, opt.learning_rate
    """

    slot_names: tuple = ()

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        cls = type(self).__name__
        if "lr" in kwargs:
            if not isinstance(learning_rate, Default):
                raise ValueError(f"{cls}: pass the learning rate once: 'lr' is the deprecated name of "
                                 "'learning_rate', and both were given")
            warnings.warn(f"{cls}: 'lr' is deprecated, use 'learning_rate'", DeprecationWarning,
                          stacklevel=_caller_level())
            learning_rate = kwargs.pop("lr")
        self.decay = check_number(cls, "decay", kwargs.pop("decay", 0.0), 0)
        if self.decay:
            warnings.warn(f"{cls}: 'decay' is deprecated; use learning_rate=schedules.InverseTimeDecay(lr, 1, decay)",
                          DeprecationWarning, stacklevel=_caller_level())
        if kwargs:
            raise TypeError(f"{cls}: unexpected argument(s) {', '.join(map(repr, kwargs))}")
        self.iterations = 0
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else check_number(cls, "weight_decay", weight_decay, 0)
        for arg, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None:
                check_number(cls, arg, value, 0, low_inclusive=False)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or snake_case(cls)
        self._slots: dict = {}

    # learning rate
    @property
    def learning_rate(self) -> float:
        """The rate of the next step: the schedule at `iterations` (Keras 2's decay applied)."""
        rate = self._learning_rate
        if isinstance(rate, schedules.LearningRateSchedule):
            rate = rate(self.iterations)
        elif callable(rate):
            rate = rate(self.iterations) if schedules.takes_step(rate) else rate()
        rate = float(rate)
        return rate / (1 + self.decay * self.iterations) if self.decay else rate

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(value):
            self._learning_rate = value
            return
        current = getattr(self, "_learning_rate", None)
        if callable(current):  # as Keras: a schedule is not overwritten by a number
            raise TypeError(f"{type(self).__name__} was created with a learning rate schedule, so its "
                            "learning_rate cannot be set to a number; create it with a float learning_rate")
        self._learning_rate = check_number(type(self).__name__, "learning_rate", value, 0)

    @property
    def lr(self) -> float:
        """Deprecated (Keras 2) name of learning_rate."""
        warnings.warn("optimizer.lr is deprecated, use optimizer.learning_rate", DeprecationWarning, stacklevel=2)
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        warnings.warn("optimizer.lr is deprecated, use optimizer.learning_rate", DeprecationWarning, stacklevel=2)
        self.learning_rate = value

    # steps
    def apply(self, weights, grads) -> None:
        """One update of `weights` (arrays, changed in place) from `grads` (arrays or IndexedRows).

        Args:
            weights: list of float arrays. grads: one gradient per weight, its shape, or an
                IndexedRows naming distinct rows of it.

        Example:
            >>> opt.apply(model.trainable_weights, grads)
        """
        weights, grads = list(weights), list(grads)
        if len(weights) != len(grads):
            raise ValueError(f"{type(self).__name__}.apply: {len(weights)} weights but {len(grads)} gradients")
        grads = self._clip(grads)
        lr = self.learning_rate  # Keras: the rate at the step count before this step
        self.iterations += 1
        self._begin_step()
        for w, g in zip(weights, grads):
            slots = self._slots.get(id(w))
            if slots is None:
                slots = self._slots[id(w)] = self._new_slots(w)
            rows = None
            if isinstance(g, IndexedRows):
                rows, g = np.asarray(g.indices, np.int64), g.values
            g = np.asarray(g).astype(w.dtype, copy=False)
            if g.shape != (w.shape if rows is None else rows.shape + w.shape[1:]):
                raise ValueError(f"{type(self).__name__}.apply: a gradient of shape {g.shape} for a weight of "
                                 f"shape {w.shape}" + ("" if rows is None else f" ({len(rows)} rows)"))
            if self.weight_decay:
                rules.weight_decay_update(w, 1 - self.weight_decay * lr, rows)
            self._update(w, g, slots, rows, lr)

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras' form of apply: an iterable of (gradient, weight) pairs.

        Example:
            >>> opt.apply_gradients(zip(grads, weights))
        """
        pairs = list(grads_and_vars)
        self.apply([w for _, w in pairs], [g for g, _ in pairs])

    def _begin_step(self):
        """Per-step state shared by all weights (Nadam's momentum product); none by default."""

    def _new_slots(self, w) -> dict:
        """The slots of a weight before its first update (zeros by default)."""
        return {k: np.zeros_like(w) for k in self.slot_names}

    def _clip(self, grads):
        values = [g.values if isinstance(g, IndexedRows) else np.asarray(g) for g in grads]
        if self.clipvalue is not None:
            values = [np.clip(v, -self.clipvalue, self.clipvalue) for v in values]
        if self.clipnorm is not None:
            values = [v * min(1.0, self.clipnorm / (np.linalg.norm(v) + 1e-12)) for v in values]
        if self.global_clipnorm is not None:
            total = np.sqrt(sum(float(np.sum(v * v)) for v in values))
            values = [v * min(1.0, self.global_clipnorm / (total + 1e-12)) for v in values]
        return [IndexedRows(g.indices, v) if isinstance(g, IndexedRows) else v for g, v in zip(grads, values)]

    def _update(self, w, g, slots, rows, lr):
        """One step of w (in place) at learning rate lr, or of its rows `rows` when g holds those
        rows' gradient. self.iterations already counts this step (t = 1 on the first)."""
        raise NotImplementedError

    # state and config
    def get_slots(self, weights) -> list:
        """Per weight (in the order given): its slot arrays by name ({} before its first update)."""
        return [dict(self._slots.get(id(w), {})) for w in weights]

    def set_slots(self, weights, slots) -> None:
        """Restore get_slots()'s result for the same weights in the same order."""
        for w, s in zip(weights, slots):
            if s:
                self._slots[id(w)] = {k: np.array(v, dtype=w.dtype) for k, v in s.items()}

    def get_config(self) -> dict:
        """The constructor's arguments; a schedule as {"class_name", "config"} (see schedules.serialize)."""
        rate = self._learning_rate
        config = {"name": self.name, "learning_rate": schedules.serialize(rate) if callable(rate) else rate,
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                  "global_clipnorm": self.global_clipnorm}
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """An optimizer (without state) from get_config()'s dict; custom_objects names user
        schedules and learning-rate functions."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)
