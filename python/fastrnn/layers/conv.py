"""Conv1D: Keras' 1-D convolution over time, channels last, y = act(conv1d(x, kernel) + bias).

The convolution and its gradients are fastrnn.ops.conv1d_forward / conv1d_backward (on the cpu
backend, the C++ core's GEMM); the activation is applied here, as in Dense. Not
supported: data_format="channels_first", groups, regularizers and constraints. Like Keras 3, it
consumes no mask and passes none on.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..validation import PADDINGS, conv1d_geometry
from . import activations, initializers
from .base import Layer


def _size(layer: str, name: str, value) -> int:
    """An int >= 1, or a tuple/list of one (Keras' form), as an int; else a ValueError naming it."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: argument '{name}' must be a positive int or a tuple of one, got {value!r}")
    return int(value)


def _padding(layer: str, value, choices) -> str:
    """A padding name, case-insensitively (as Keras), from `choices`; else a ValueError naming it."""
    name = value.lower() if isinstance(value, str) else value
    if name not in choices:
        raise ValueError(f"{layer}: argument 'padding' must be one of {choices}, got {value!r}")
    return name


def _steps_input(layer, x) -> np.ndarray:
    """x as an array of shape (batch, steps, channels); else a ValueError naming the layer."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"layer {layer.name!r} expects 3-D inputs (batch, steps, channels), got shape {x.shape}")
    return x


class Conv1D(Layer):
    """1-D convolution over the steps of (batch, steps, channels) inputs.

    Args:
        filters: output channels (>= 1).
        kernel_size: window length (int, or a tuple of one).
        strides: step between windows (default 1). padding: "valid" (default), "same" or "causal"
            (case-insensitive). dilation_rate: spacing of the window's taps (default 1; Keras
            forbids strides > 1 together with dilation_rate > 1, and so does this layer).
        activation: "linear" (default, also None), "relu", "sigmoid", "softmax" or "tanh".
        use_bias: add a bias (default True).
        kernel_initializer: default "glorot_uniform" (fans count the window, as Keras).
        bias_initializer: default "zeros".
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Weights: kernel (kernel_size, input channels, filters), bias (filters,), as Keras.

    Example:
        >>> Conv1D(32, 7, activation="relu")(np.zeros((2, 500, 128))).shape
        (2, 494, 32)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        what = "Conv1D"
        self.filters = _size(what, "filters", filters)
        self.kernel_size = (_size(what, "kernel_size", kernel_size),)
        self.strides = (_size(what, "strides", strides),)
        self.dilation_rate = (_size(what, "dilation_rate", dilation_rate),)
        if self.strides[0] > 1 and self.dilation_rate[0] > 1:
            raise ValueError(f"{what}: strides > 1 is not supported together with dilation_rate > 1 (as Keras), "
                             f"got strides={strides!r}, dilation_rate={dilation_rate!r}")
        self.padding = _padding(what, padding, PADDINGS)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        initializers.get(kernel_initializer), initializers.get(bias_initializer)
        self._cache = None

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"layer {self.name!r} expects 3-D inputs (batch, steps, channels) with a known number "
                             f"of channels, got shape {tuple(input_shape)}")
        self.add_weight("kernel", (self.kernel_size[0], int(input_shape[-1]), self.filters),
                        initializers.get(self.kernel_initializer))
        if self.use_bias:
            self.add_weight("bias", (self.filters,), initializers.get(self.bias_initializer))
        self.built = True

    def forward(self, x, training=False, mask=None):
        x = _steps_input(self, x).astype(self.dtype, copy=False)
        kernel = self._params["kernel"]
        if x.shape[-1] != kernel.shape[1]:
            raise ValueError(f"layer {self.name!r} expects inputs with {kernel.shape[1]} channels, got shape {x.shape}")
        z, cache = ops.conv1d_forward(x, kernel, self._params.get("bias"), strides=self.strides[0],
                                      padding=self.padding, dilation_rate=self.dilation_rate[0], training=training)
        y = activations.forward(z, self.activation)
        self._cache = (cache, y) if training else None
        return y

    def backward(self, dy, input_gradient=True):
        cache, y = self._cache
        grads = ops.conv1d_backward(cache, activations.backward(dy, y, self.activation),
                                    input_gradient=input_gradient)
        self.grads = {}
        if self.trainable:
            self.grads["kernel"] = grads.kernel
            if self.use_bias:
                self.grads["bias"] = grads.bias
        return grads.x

    def compute_output_shape(self, input_shape):
        steps = conv1d_geometry(input_shape[1], self.kernel_size[0], self.strides[0], self.padding,
                                self.dilation_rate[0])[2]
        return (input_shape[0], steps, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}
