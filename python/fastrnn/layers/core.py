"""Shape, regularisation and element-wise layers without weights: Flatten, Dropout, Masking,
Activation, RepeatVector.

Masking makes the mask (steps whose features all equal mask_value) that recurrent layers
consume; Dropout is the inverted kind (scaled at training time, identity at inference).
"""
from __future__ import annotations

import numpy as np

from .. import utils
from . import activations
from .base import Layer


class Flatten(Layer):
    """Flattens every axis but the batch one; drops any mask.

    Example:
        >>> Flatten()(np.zeros((2, 3, 4))).shape
        (2, 12)
    """

    def forward(self, x, training=False, mask=None):
        x = np.asarray(x)
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        return dy.reshape(self._shape)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))


class Dropout(Layer):
    """Zeroes a fraction `rate` of inputs during training and scales the rest by 1/(1-rate).

    Args:
        rate: fraction in [0, 1) to drop.
        noise_shape: shape of the keep-mask, broadcast to the input (None: the input's shape).

    Example:
        >>> model.add(Dropout(0.5))
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must lie in [0, 1), got {rate!r}")
        self.rate, self.noise_shape = float(rate), noise_shape
        self._keep = None

    def forward(self, x, training=False, mask=None):
        x = np.asarray(x)
        if not training or self.rate == 0:
            self._keep = None
            return x
        shape = x.shape if self.noise_shape is None else tuple(
            d if d is not None else x.shape[i] for i, d in enumerate(self.noise_shape))
        self._keep = (utils.rng().random(shape) >= self.rate).astype(x.dtype) / (1 - self.rate)
        return x * self._keep

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        return dy if self._keep is None else dy * self._keep

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape}


class Masking(Layer):
    """Masks time steps whose features all equal `mask_value` (and zeroes them in the output).

    Args:
        mask_value: the padding value (default 0.0).

    Example:
        >>> model.add(Masking(mask_value=0.0, input_shape=(None, 3)))
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self._mask = None

    def forward(self, x, training=False, mask=None):
        x = np.asarray(x)
        self._mask = self.compute_mask(x, mask)
        return x * self._mask[..., None].astype(x.dtype)

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        return dy * self._mask[..., None]

    def compute_mask(self, x, mask):
        return np.any(np.asarray(x) != self.mask_value, axis=-1)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


class Activation(Layer):
    """Applies an activation element-wise (softmax: over the last axis); passes masks on, as Keras.

    Args:
        activation: "linear" (also None), "relu", "sigmoid", "softmax" or "tanh".
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> Activation("relu")(np.array([[-3.0, 2.0]]))
        array([[0., 2.]], dtype=float32)
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._y = None

    def forward(self, x, training=False, mask=None):
        y = activations.forward(np.asarray(x, self.dtype), self.activation)
        self._y = y if training else None
        return y

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        return activations.backward(dy, self._y, self.activation) if input_gradient else None

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class RepeatVector(Layer):
    """Repeats each (batch, features) row n times: (batch, n, features). Drops any mask, as Keras.

    Args:
        n: how many times (a positive int).
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> RepeatVector(3)(np.zeros((2, 32))).shape
        (2, 3, 32)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"RepeatVector: argument 'n' must be an int, got {n!r}")
        if n < 1:
            raise ValueError(f"RepeatVector: argument 'n' must be a positive int, got {n!r}")
        self.n = int(n)

    def forward(self, x, training=False, mask=None):
        x = np.asarray(x, self.dtype)
        if x.ndim != 2:
            raise ValueError(f"layer {self.name!r} expects 2-D inputs (batch, features), got shape {x.shape}")
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        return dy.sum(axis=1) if input_gradient else None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}
