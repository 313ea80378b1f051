"""Stateful metrics with Keras 3's API (update_state / result / reset_state): the Metric base
class, Mean, and MeanMetricWrapper, which turns a per-sample function into the weighted mean a
training loop reports over an epoch (sample_weight and masks of per-step outputs honoured).

A metric's state is `variables`, NumPy arrays that are sums: states of several shards (MPI ranks)
merge by adding them (state_arrays / set_state_arrays, as fit's allreduce does). No
confusion-matrix metrics here (confusion.py).
"""
from __future__ import annotations

import numpy as np

from ..losses.base import broadcast_sample_weight


def sample_weights(owner, shape, sample_weight=None, mask=None):
    """The weights of per-sample values of `shape` (None: all 1): sample_weight (a scalar,
    (batch,) applied to every step of its sample, or `shape`, a trailing axis of 1 dropped) times
    the mask (bools of `shape`: False weighs 0)."""
    weights = broadcast_sample_weight(f"metric {owner!r}", shape, sample_weight)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != tuple(shape):
            raise ValueError(f"metric {owner!r}: a mask of shape {m.shape} does not fit values of shape "
                             f"{tuple(shape)}")
        weights = m.astype(np.float64) if weights is None else weights * m.astype(bool)
    return weights


class Metric:
    """Base class: a state (NumPy arrays in `variables`) that update_state accumulates and
    result reads; reset_state starts over (fit does it each epoch).

    Args:
        name: the name fit reports (and History keys).

    Example:
        >>> m = metrics.AUC()
        >>> for xb, yb in batches:
        ...     m.update_state(yb, model.predict(xb))
        >>> m.result()
    """

    def __init__(self, name=None):
        if name is not None and not isinstance(name, str):
            raise ValueError(f"{type(self).__name__}: argument 'name' must be a str, got {name!r}")
        self.name = name or getattr(self, "default_name", type(self).__name__.lower())

    @property
    def variables(self) -> list:
        """The state arrays (sums; changing them in place changes the state)."""
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def reset_state(self) -> None:
        for v in self.variables:
            v[...] = 0

    def state_arrays(self) -> list:
        """Copies of the state (float64 arrays, sums): states of shards of the data (MPI ranks)
        merge by adding these, then set_state_arrays.

        Example:
            >>> a.set_state_arrays([x + y for x, y in zip(a.state_arrays(), b.state_arrays())])  # a: both shards
        """
        return [np.array(v, dtype=np.float64) for v in self.variables]

    def set_state_arrays(self, arrays) -> None:
        """Replace the state by `arrays`, one per variable with its shape (as state_arrays gives them).

        Raises:
            ValueError: the count or a shape differs, naming the argument.
        """
        arrays, variables = list(arrays), self.variables
        if len(arrays) != len(variables):
            raise ValueError(f"metric {self.name!r}: argument 'arrays' holds {len(arrays)} arrays, the state "
                             f"{len(variables)}")
        for k, (v, a) in enumerate(zip(variables, arrays)):
            if np.shape(a) != v.shape:
                raise ValueError(f"metric {self.name!r}: argument 'arrays': entry {k} has shape {np.shape(a)}, the "
                                 f"state's is {v.shape}")
        for v, a in zip(variables, arrays):
            v[...] = a

    def reset_states(self) -> None:
        """Keras 2's name of reset_state."""
        self.reset_state()

    def __call__(self, y_true, y_pred, sample_weight=None):
        """update_state, then result (Keras' call; the state keeps accumulating)."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Mean(Metric):
    """The weighted mean of all values given: update_state(values, sample_weight=None).

    Example:
        >>> m = Mean(); m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0]); m.result()
        2.0
    """

    default_name = "mean"

    def __init__(self, name=None):
        super().__init__(name)
        self.total, self.count = np.zeros(()), np.zeros(())

    @property
    def variables(self):
        return [self.total, self.count]

    def update_state(self, values, sample_weight=None, mask=None):
        values = np.asarray(values, dtype=np.float64)
        weights = sample_weights(self.name, values.shape, sample_weight, mask)
        if weights is None:
            self.total += np.sum(values)
            self.count += values.size
        else:
            self.total += np.sum(values * weights)
            self.count += np.sum(weights)

    def result(self):
        return float(self.total / self.count) if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The running weighted mean of a per-sample function fn(y_true, y_pred, **kwargs): what fit
    reports for 'acc', 'mae', ... (values of (batch,) or per step (batch, time)).

    Args:
        fn: a function returning one value per sample (or step). name: default fn's name.
        **kwargs: passed to fn (e.g. k for top-k accuracy).

    Example:
        >>> acc = MeanMetricWrapper(metrics.binary_accuracy, name="acc")
        >>> acc.update_state(y, p, mask=x != 0); acc.result()
    """

    def __init__(self, fn, name=None, **kwargs):
        if not callable(fn):
            raise ValueError(f"MeanMetricWrapper: argument 'fn' must be a function (y_true, y_pred), got {fn!r}")
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn, self.fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        """Add fn's values on this batch, weighted by sample_weight and the mask (bools of the
        values' shape: the outputs' shape without the last axis)."""
        super().update_state(self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight, mask)

    def get_config(self):
        return {"name": self.name, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config):
        if cls is MeanMetricWrapper:
            raise ValueError("a MeanMetricWrapper of an arbitrary function cannot be rebuilt from its config; "
                             "rebuild it with MeanMetricWrapper(fn, ...)")
        return cls(**config)
