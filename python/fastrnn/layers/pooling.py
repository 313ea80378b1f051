"""Pooling over time, channels last, as Keras: MaxPooling1D and AveragePooling1D (windows of
pool_size steps every strides steps), GlobalMaxPooling1D and GlobalAveragePooling1D (one value
per channel).

No products here, so no kernels: vectorised NumPy over strided windows. Masks as in Keras 3:
GlobalAveragePooling1D averages the unmasked steps only; GlobalMaxPooling1D takes the maximum
over every step (Keras 3 ignores its mask); none of them passes a mask on.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..validation import conv1d_geometry
from .base import Layer
from .conv import _padding, _size, _steps_input


def _windows(a, steps, size, stride):
    """(B, steps, size, C) read-only view: [b, t, k] is a[b, t * stride + k]."""
    B, _, C = a.shape
    sb, st, sc = a.strides
    return np.lib.stride_tricks.as_strided(a, (B, steps, size, C), (sb, stride * st, st, sc), writeable=False)


class _Pooling1D(Layer):
    """Shared by MaxPooling1D and AveragePooling1D: arguments, padding, shapes, config."""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        what = type(self).__name__
        self.pool_size = (_size(what, "pool_size", pool_size),)
        self.strides = (_size(what, "strides", pool_size if strides is None else strides),)
        self.padding = _padding(what, padding, ("valid", "same"))
        self._cache = None

    def _padded(self, x, fill):
        """x with the padding's `fill` steps, and (left padding, output steps)."""
        B, T, C = x.shape
        left, right, steps = conv1d_geometry(T, self.pool_size[0], self.strides[0], self.padding, 1)
        if not left and not right:
            return x, left, steps
        padded = np.full((B, left + T + right, C), fill, x.dtype)
        padded[:, left:left + T] = x
        return padded, left, steps

    def forward(self, x, training=False, mask=None):
        x = _steps_input(self, x).astype(self.dtype, copy=False)
        y, saved = self._pool(x)
        self._cache = (x.shape, saved) if training else None
        return y

    def backward(self, dy, input_gradient=True):
        (B, T, C), (left, steps, shares) = self._cache
        self.grads = {}
        if not input_gradient:
            return None
        size, stride = self.pool_size[0], self.strides[0]
        dpadded = np.zeros((B, max(left + T, stride * (steps - 1) + size), C), dy.dtype)
        for k, share in enumerate(shares(dy)):  # each window's k-th step; they overlap when strides < pool_size
            dpadded[:, k:k + stride * steps:stride] += share
        return dpadded[:, left:left + T]

    def compute_output_shape(self, input_shape):
        steps = conv1d_geometry(input_shape[1], self.pool_size[0], self.strides[0], self.padding, 1)[2]
        return (input_shape[0], steps, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


class MaxPooling1D(_Pooling1D):
    """The maximum of each window of `pool_size` steps, every `strides` steps.

    Args:
        pool_size: window length (default 2). strides: default pool_size.
        padding: "valid" (default) or "same" (ceil(steps / strides) outputs; padding never wins).
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> MaxPooling1D(5)(np.zeros((2, 494, 32))).shape
        (2, 98, 32)
    """

    def _pool(self, x):
        padded, left, steps = self._padded(x, -np.inf)
        windows = _windows(padded, steps, self.pool_size[0], self.strides[0])
        y = windows.max(axis=2)  # 5x faster than argmax over the strided axis: the winners wait for backward

        def shares(dy):  # dy goes to each window's first maximum, as in PyTorch and TensorFlow
            taken = np.zeros(y.shape, bool)
            for k in range(windows.shape[2]):
                hit = (windows[:, :, k] == y) & ~taken
                taken |= hit
                yield np.where(hit, dy, 0)
        return y, (left, steps, shares)


class AveragePooling1D(_Pooling1D):
    """The mean of each window of `pool_size` steps, every `strides` steps; with "same" padding
    the padded steps are left out of the mean (TensorFlow's and Keras 2's rule; Keras 3 on PyTorch
    repeats the edge steps instead where the padding is uneven).

    Args:
        pool_size: window length (default 2). strides: default pool_size.
        padding: "valid" (default) or "same".
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> AveragePooling1D(2)(np.ones((1, 5, 3))).shape
        (1, 2, 3)
    """

    def _pool(self, x):
        padded, left, steps = self._padded(x, 0)
        size, stride = self.pool_size[0], self.strides[0]
        start = np.arange(steps) * stride
        counts = (np.minimum(start + size, left + x.shape[1]) - np.maximum(start, left)).astype(x.dtype)
        y = _windows(padded, steps, size, stride).sum(axis=2) / counts[:, None]
        return y, (left, steps, lambda dy: itertools.repeat(dy / counts[:, None], size))


class _GlobalPooling1D(Layer):
    """Shared by the global poolings: keepdims, shapes, config."""

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: argument 'keepdims' must be True or False, got {keepdims!r}")
        self.keepdims = bool(keepdims)
        self._cache = None

    def _result(self, y):
        return y[:, None] if self.keepdims else y

    def _incoming(self, dy):
        return dy[:, 0] if self.keepdims else dy

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, input_shape[2]) if self.keepdims else (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum over all steps, per channel: (batch, steps, channels) -> (batch, channels).

    As Keras 3, it does not consume a mask: the maximum is over every step, padding included.

    Args:
        keepdims: keep the steps axis, of length 1 (default False).
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> GlobalMaxPooling1D()(np.zeros((2, 92, 32))).shape
        (2, 32)
    """

    def forward(self, x, training=False, mask=None):
        x = _steps_input(self, x).astype(self.dtype, copy=False)
        if x.shape[1] == 0:
            raise ValueError(f"layer {self.name!r} needs at least one step, got shape {x.shape}")
        y = x.max(axis=1)
        self._cache = (x, y) if training else None
        return self._result(y)

    def backward(self, dy, input_gradient=True):
        x, y = self._cache
        self.grads = {}
        if not input_gradient:
            return None
        hit = x == y[:, None]  # tied maxima share dy equally, as Keras' max (TensorFlow's and PyTorch's)
        return np.where(hit, self._incoming(dy)[:, None] / hit.sum(axis=1, keepdims=True), 0).astype(dy.dtype)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over the steps, per channel: (batch, steps, channels) -> (batch, channels).

    With a mask (batch, steps), the mean of the unmasked steps only, as Keras (a sequence with
    every step masked gives NaN, as in Keras); the mask stops here.

    Args:
        keepdims: keep the steps axis, of length 1 (default False).
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> GlobalAveragePooling1D()(np.ones((2, 4, 3)), mask=np.array([[1, 1, 0, 0]] * 2)).shape
        (2, 3)
    """

    supports_masking = True

    def forward(self, x, training=False, mask=None):
        x = _steps_input(self, x).astype(self.dtype, copy=False)
        B, T, _ = x.shape
        keep = np.ones((B, T), bool)
        if mask is not None:
            keep = np.asarray(mask)
            if keep.shape != (B, T):
                raise ValueError(f"layer {self.name!r}: argument 'mask' must have shape (batch, steps) = {(B, T)}, "
                                 f"got {keep.shape}")
            keep = keep.astype(bool)
        count = keep.sum(axis=1, keepdims=True).astype(x.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):  # no step kept: 0 / 0, NaN as in Keras
            y = np.where(keep[:, :, None], x, 0).sum(axis=1) / count if mask is not None else x.mean(axis=1)
            self._cache = np.where(keep, 1 / count, 0).astype(x.dtype) if training else None  # d mean / d x
        return self._result(y)

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        if not input_gradient:
            return None
        return self._cache[:, :, None] * self._incoming(dy)[:, None, :]

    def compute_mask(self, x, mask):
        return None
