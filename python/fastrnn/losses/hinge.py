"""Keras' hinge losses with their (sub)gradients: hinge and squared hinge for targets in {-1, 1}
(a batch of 0/1 targets is mapped to -1/1, as Keras does), and categorical hinge for one-hot
targets. At the kink the gradient taken is 0.
"""
from __future__ import annotations

import numpy as np

from .base import Loss


class _Signed(Loss):
    """Targets in {-1, 1}: a batch whose targets are all 0 or 1 becomes 2y - 1 (Keras' rule)."""

    def prepare(self, y_true, y_pred):
        y = super().prepare(y_true, y_pred)
        return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


class Hinge(_Signed):
    """mean(max(1 - y p, 0)) over the last axis.

    Example:
        >>> Hinge()(np.array([[1.0, -1.0]]), np.array([[0.3, -2.0]]))   # (0.7 + 0) / 2
        0.35
    """

    name = "hinge"

    def per_sample(self, y, p):
        return np.mean(np.maximum(1 - y * p, 0), axis=-1)

    def gradient(self, y, p):
        return -y * (1 - y * p > 0) / p.shape[-1]


class SquaredHinge(_Signed):
    """mean(max(1 - y p, 0)^2) over the last axis.

    Example:
        >>> SquaredHinge()(np.array([[1.0, -1.0]]), np.array([[0.3, -2.0]]))   # 0.49 / 2
        0.245
    """

    name = "squared_hinge"

    def per_sample(self, y, p):
        return np.mean(np.maximum(1 - y * p, 0) ** 2, axis=-1)

    def gradient(self, y, p):
        return -2 * y * np.maximum(1 - y * p, 0) / p.shape[-1]


class CategoricalHinge(Loss):
    """max(neg - pos + 1, 0) with pos = sum(y p) and neg = max((1 - y) p) over the classes.

    Example:
        >>> CategoricalHinge()(np.array([[0.0, 1.0]]), np.array([[0.4, 0.6]]))   # 0.4 - 0.6 + 1
        0.8
    """

    name = "categorical_hinge"

    def per_sample(self, y, p):
        pos = np.sum(y * p, axis=-1)
        neg = np.max((1 - y) * p, axis=-1)
        return np.maximum(neg - pos + 1, 0)

    def gradient(self, y, p):
        others = (1 - y) * p
        active = (np.max(others, axis=-1) - np.sum(y * p, axis=-1) + 1 > 0)[..., None]
        # neg's gradient goes to the largest competitor, as autodiff of max does (first of ties)
        top = np.argmax(others, axis=-1)[..., None]
        d_neg = np.zeros_like(p)
        np.put_along_axis(d_neg, top, np.take_along_axis(1 - y, top, axis=-1), axis=-1)
        return active * (d_neg - y)
