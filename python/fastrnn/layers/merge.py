"""Merge layers: Concatenate (along an axis) and Add (elementwise, size-1 axes broadcast), with
Keras 3's mask rules, and their functional forms concatenate() and add().

They take a list of inputs of one rank (no rank broadcasting) and have no weights: they compute
in their inputs' dtype, and backward returns one gradient per input.
"""
from __future__ import annotations

import numpy as np

from .base import Layer
from .input_layer import is_symbolic


class _Merge(Layer):
    """What Concatenate and Add share: a list of inputs, checked shapes, a list of input gradients."""

    supports_masking = True

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes a list of inputs, "
                             f"got {type(inputs).__name__}")
        if not self.built and not is_symbolic(inputs, kwargs):
            self.build([tuple(np.shape(t)) for t in inputs])
        return super().__call__(list(inputs), training=training, mask=mask, **kwargs)

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def _check(self, shapes):
        """Raise ValueError unless `shapes` is a list of shapes this layer can merge."""
        if not isinstance(shapes, (list, tuple)) or not shapes or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes a list of at least one input, "
                             f"got shapes {shapes!r}")
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(f"layer {self.name!r}: inputs must have the same rank, got shapes {list(shapes)}")
        batches = {s[0] for s in shapes} - {None}
        if len(batches) > 1:
            raise ValueError(f"layer {self.name!r}: inputs must have the same batch size, got shapes {list(shapes)}")

    def _inputs(self, x):
        x = [np.asarray(t) for t in x]
        self._check([t.shape for t in x])
        return x

    def get_config(self):
        config = super().get_config()
        config.pop("batch_input_shape", None)
        return config


class Concatenate(_Merge):
    """Concatenates a list of inputs along `axis`; their other axes must match.

    Mask (Keras 3): None if no input has one; else each input's mask (all True where it has
    none) spread over its features, concatenated along `axis`, any() over the last axis.

    Args:
        axis: the axis to join along (default -1). **kwargs: name (see Layer).

    Example:
        >>> Concatenate()([np.zeros((2, 3)), np.ones((2, 4))]).shape
        (2, 7)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Concatenate: argument 'axis' must be an int, got {axis!r}")
        self.axis = int(axis)
        self._sizes = None

    def _check(self, shapes):
        super()._check(shapes)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"layer {self.name!r}: axis {self.axis} is not a non-batch axis of inputs of rank {rank}")
        axis = self.axis % rank
        for i in range(1, rank):
            sizes = {s[i] for s in shapes} - {None}
            if i != axis and len(sizes) > 1:
                raise ValueError(f"layer {self.name!r}: inputs must match on every axis but the concatenation axis "
                                 f"{self.axis}, got shapes {list(shapes)}")

    def forward(self, x, training=False, mask=None):
        x = self._inputs(x)
        self._sizes = [t.shape[self.axis] for t in x]
        return np.concatenate(x, axis=self.axis)

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        if not input_gradient:
            return [None] * len(self._sizes)
        return np.split(dy, np.cumsum(self._sizes)[:-1], axis=self.axis)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        out = list(input_shape[0])
        sizes = [s[self.axis] for s in input_shape]
        out[self.axis] = None if None in sizes else sum(sizes)
        for i in range(1, len(out)):  # a known size where some input knows it
            if out[i] is None and i != self.axis % len(out):
                out[i] = next((s[i] for s in input_shape if s[i] is not None), None)
        return tuple(out)

    def compute_mask(self, x, mask):
        if mask is None or all(m is None for m in mask):
            return None
        masks = []
        for t, m in zip(x, mask):
            shape = np.shape(t)
            if m is None:
                masks.append(np.ones(shape, bool))
            else:
                m = np.asarray(m, bool)
                masks.append(np.broadcast_to(m[..., None], shape) if m.ndim < len(shape) else m)
        return np.any(np.concatenate(masks, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _broadcast(layer, shapes):
    """The elementwise result shape of `shapes` (sizes of 1 broadcast; None where unknown)."""
    out = [shapes[0][0]] + [None] * (len(shapes[0]) - 1)
    for i in range(1, len(out)):
        sizes = {s[i] for s in shapes} - {None}
        if len(sizes - {1}) > 1:
            raise ValueError(f"layer {layer.name!r}: inputs of shapes {list(shapes)} cannot be added elementwise")
        known = sizes - {1}
        out[i] = known.pop() if known else (1 if sizes and all(s[i] == 1 for s in shapes) else None)
    return tuple(out)


class Add(_Merge):
    """Adds a list of inputs elementwise (axes of size 1 broadcast, as NumPy).

    Mask (Keras 3): None if some input has none, else the OR of the inputs' masks.

    Example:
        >>> Add()([np.ones((2, 3)), np.ones((2, 3))])[0]
        array([2., 2., 2.])
    """

    def _check(self, shapes):
        super()._check(shapes)
        _broadcast(self, shapes)

    def forward(self, x, training=False, mask=None):
        x = self._inputs(x)
        self._shapes = [t.shape for t in x]
        out = x[0]
        for t in x[1:]:
            out = out + t
        return out

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        if not input_gradient:
            return [None] * len(self._shapes)
        return [_unbroadcast(dy, shape) for shape in self._shapes]

    def compute_output_shape(self, input_shape):
        return _broadcast(self, input_shape)

    def compute_mask(self, x, mask):
        if mask is None or any(m is None for m in mask):
            return None
        return np.logical_or.reduce([np.asarray(m, bool) for m in mask])


def _unbroadcast(dy, shape):
    """The gradient of an input of `shape` that was broadcast to dy's shape: summed over the
    axes it was repeated along."""
    axes = tuple(i for i, (n, m) in enumerate(zip(shape, dy.shape)) if n == 1 and m != 1)
    return dy.sum(axis=axes, keepdims=True) if axes else dy


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of Concatenate: Concatenate(axis, **kwargs)(inputs).

    Example:
        >>> merged = concatenate([encoded_a, encoded_b])
    """
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    """Functional form of Add: Add(**kwargs)(inputs).

    Example:
        >>> residual = add([x, Dense(8)(x)])
    """
    return Add(**kwargs)(inputs)
