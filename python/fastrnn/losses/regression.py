"""Keras' regression losses with their gradients: mean squared error, mean absolute error, Huber
(delta) and log-cosh, each the mean over the last axis of a function of the error p - y.
"""
from __future__ import annotations

import math

import numpy as np

from .base import Loss


class MeanSquaredError(Loss):
    """mean((y - p)^2) over the last axis.

    Example:
        >>> MeanSquaredError()(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]))
        2.0
    """

    name = "mean_squared_error"

    def per_sample(self, y, p):
        return np.mean((p - y) ** 2, axis=-1)

    def gradient(self, y, p):
        return 2 * (p - y) / p.shape[-1]


class MeanAbsoluteError(Loss):
    """mean(|y - p|) over the last axis.

    Example:
        >>> MeanAbsoluteError()(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]))
        1.0
    """

    name = "mean_absolute_error"

    def per_sample(self, y, p):
        return np.mean(np.abs(p - y), axis=-1)

    def gradient(self, y, p):
        return np.sign(p - y) / p.shape[-1]


class Huber(Loss):
    """mean over the last axis of 0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2 (e = p - y).

    Args:
        delta: where the loss turns from quadratic to linear (> 0, default 1). reduction, name:
            as Loss.

    Example:
        >>> Huber(delta=1.0)(np.array([[0.0, 0.0]]), np.array([[0.5, 3.0]]))  # (0.125 + 2.5) / 2
        1.3125
    """

    name = "huber_loss"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating)) or not delta > 0:
            raise ValueError(f"Huber: argument 'delta' must be a number > 0, got {delta!r}")
        self.delta = float(delta)

    def per_sample(self, y, p):
        e = np.abs(p - y)
        d = self.delta
        return np.mean(np.where(e <= d, 0.5 * e * e, d * e - 0.5 * d * d), axis=-1)

    def gradient(self, y, p):
        e = p - y
        return np.where(np.abs(e) <= self.delta, e, self.delta * np.sign(e)) / p.shape[-1]

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class LogCosh(Loss):
    """mean over the last axis of log(cosh(p - y)), computed as x + softplus(-2x) - log 2 (no
    overflow for large errors); its gradient is tanh(p - y).

    Example:
        >>> LogCosh()(np.array([[0.0]]), np.array([[1.0]]))   # log(cosh(1))
        0.43378...
    """

    name = "log_cosh"

    def per_sample(self, y, p):
        x = p - y
        return np.mean(x + np.logaddexp(0, -2 * x) - math.log(2), axis=-1)

    def gradient(self, y, p):
        return np.tanh(p - y) / p.shape[-1]
