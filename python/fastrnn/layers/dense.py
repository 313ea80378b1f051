"""Dense: y = act(x @ kernel + bias) on the last axis (so it also applies per time step).

The products go through fastrnn.ops.matmul (the C++ core's BLAS on the cpu backend). The loss may fuse the last Dense's sigmoid/softmax with crossentropy by calling
backward_logits.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from . import activations, initializers
from .base import Layer


class Dense(Layer):
    """A fully connected layer.

    Args:
        units: output width.
        activation: "linear" (default, also None), "relu", "sigmoid", "softmax" or "tanh".
        use_bias: add a bias (default True).
        kernel_initializer: default "glorot_uniform". bias_initializer: default "zeros".
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> model.add(Dense(1, activation="sigmoid"))
    """

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        initializers.get(kernel_initializer), initializers.get(bias_initializer)
        self._cache = self.logits = None

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.units), initializers.get(self.kernel_initializer))
        if self.use_bias:
            self.add_weight("bias", (self.units,), initializers.get(self.bias_initializer))
        self.built = True

    def forward(self, x, training=False, mask=None):
        x = np.asarray(x, self.dtype)
        kernel = self._params["kernel"]
        if x.shape[-1] != kernel.shape[0]:
            raise ValueError(f"layer {self.name!r} expects inputs with last dimension {kernel.shape[0]}, "
                             f"got shape {x.shape}")
        z = ops.matmul(x.reshape(-1, x.shape[-1]), kernel).reshape(x.shape[:-1] + (self.units,))
        if self.use_bias:
            z += self._params["bias"]
        y = activations.forward(z, self.activation)
        self._cache = (x, y) if training else None
        self.logits = z  # the last call's pre-activation, for losses fused with the activation
        return y

    def backward(self, dy, input_gradient=True):
        y = self._cache[1]
        return self.backward_logits(activations.backward(dy, y, self.activation), input_gradient)

    def backward_logits(self, dz, input_gradient=True):
        """Backward from the gradient on the pre-activation z = x @ kernel + bias."""
        x = self._cache[0]
        x2, dz2 = x.reshape(-1, x.shape[-1]), dz.reshape(-1, self.units)
        if self.trainable:
            self.grads = {"kernel": ops.matmul(x2, dz2, transpose_a=True)}
            if self.use_bias:
                self.grads["bias"] = dz2.sum(axis=0)
        if not input_gradient:
            return None
        return ops.matmul(dz2, self._params["kernel"], transpose_b=True).reshape(dz.shape[:-1] + (x.shape[-1],))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}
