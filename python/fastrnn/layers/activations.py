"""Element-wise activations for Dense (relu, sigmoid, softmax, tanh, linear): forward and the
backward product written in terms of the output, as Keras names them.

Not for recurrent layers: their activations are applied inside fastrnn.ops kernels.
"""
from __future__ import annotations

import numpy as np

NAMES = ("linear", "relu", "sigmoid", "softmax", "tanh")


def get(name):
    """Normalise an activation name (None means linear); unknown names raise ValueError.

    Example:
        >>> activations.get("relu")
        'relu'
    """
    name = "linear" if name is None else name
    if name not in NAMES:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(NAMES)}")
    return name


def sigmoid(z: np.ndarray) -> np.ndarray:
    """A numerically stable logistic function."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the max for stability."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def forward(z: np.ndarray, name: str) -> np.ndarray:
    """y = act(z)."""
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "softmax":
        return softmax(z)
    if name == "tanh":
        return np.tanh(z)
    return z


def backward(dy: np.ndarray, y: np.ndarray, name: str) -> np.ndarray:
    """dz from dy, with y = act(z)."""
    if name == "relu":
        return dy * (y > 0)
    if name == "sigmoid":
        return dy * y * (1 - y)
    if name == "softmax":
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    if name == "tanh":
        return dy * (1 - y * y)
    return dy
