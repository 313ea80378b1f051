"""Weight initializers with Keras' names and formulas (glorot_uniform, orthogonal, uniform,
zeros, ones, ...), drawing from fastrnn.utils' seeded generator.

Not Keras' initializer objects: an initializer here is a name resolved to a function of
(shape, dtype) returning a NumPy array.
"""
from __future__ import annotations

import numpy as np

from .. import utils


def _fans(shape):
    if len(shape) < 2:
        return shape[0] if shape else 1, shape[0] if shape else 1
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def zeros(shape, dtype):
    return np.zeros(shape, dtype)


def ones(shape, dtype):
    return np.ones(shape, dtype)


def uniform(shape, dtype):
    """Keras' RandomUniform(-0.05, 0.05), the Embedding default."""
    return utils.rng().uniform(-0.05, 0.05, shape).astype(dtype)


def glorot_uniform(shape, dtype):
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return utils.rng().uniform(-limit, limit, shape).astype(dtype)


def glorot_normal(shape, dtype):
    fan_in, fan_out = _fans(shape)
    std = np.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978  # truncated-normal correction
    return _truncated_normal(shape, std).astype(dtype)


def he_uniform(shape, dtype):
    limit = np.sqrt(6.0 / _fans(shape)[0])
    return utils.rng().uniform(-limit, limit, shape).astype(dtype)


def orthogonal(shape, dtype):
    """Keras' Orthogonal(gain=1): Q of a QR of a Gaussian matrix, sign-corrected by diag(R)."""
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    a = utils.rng().normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape).astype(dtype)


def _truncated_normal(shape, std):
    out = utils.rng().normal(0, std, shape)
    bad = np.abs(out) > 2 * std
    while bad.any():
        out[bad] = utils.rng().normal(0, std, bad.sum())
        bad = np.abs(out) > 2 * std
    return out


_ALL = {f.__name__: f for f in (zeros, ones, uniform, glorot_uniform, glorot_normal, he_uniform, orthogonal)}
_ALL["random_uniform"] = uniform


def get(name):
    """The initializer called `name` (a callable (shape, dtype) -> array is returned as is).

    Example:
        >>> initializers.get("orthogonal")((4, 16), "float32").shape
        (4, 16)
    """
    if callable(name):
        return name
    if name not in _ALL:
        raise ValueError(f"unknown initializer {name!r}; expected one of {', '.join(sorted(_ALL))}")
    return _ALL[name]
