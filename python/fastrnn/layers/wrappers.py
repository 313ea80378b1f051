"""Bidirectional: runs a recurrent layer forwards and a go_backwards copy of it, then merges the
two outputs (concat, sum, mul or ave), as Keras' wrapper does; it takes a SimpleRNN, LSTM or GRU,
without return_state. TimeDistributed applies any layer to every step, as one call on the
(batch * steps, ...) rows.
"""
from __future__ import annotations

import numpy as np

from .base import Layer
from .recurrent import _Recurrent

MERGE_MODES = ("concat", "sum", "mul", "ave")


class Bidirectional(Layer):
    """Bidirectional wrapper for SimpleRNN, LSTM and GRU.

    Args:
        layer: the forward layer (unbuilt); the backward layer is a copy with go_backwards flipped.
        merge_mode: "concat" (default), "sum", "mul" or "ave".
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> Bidirectional(LSTM(16, return_sequences=True))(np.zeros((2, 5, 3))).shape
        (2, 5, 32)
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", **kwargs):
        if isinstance(layer, dict):  # from_config
            layer = _layer_from_config(layer)
        if not isinstance(layer, _Recurrent):
            raise ValueError(f"Bidirectional wraps a SimpleRNN, LSTM or GRU layer, got {layer!r}")
        if layer.return_state:
            raise ValueError("Bidirectional does not support return_state=True")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"unknown merge_mode {merge_mode!r}; expected one of {', '.join(MERGE_MODES)}")
        kwargs.setdefault("dtype", layer.dtype)
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        config = layer.get_config()
        config.update(zero_output_for_mask=layer.return_sequences, dtype=self.dtype)
        self.forward_layer = type(layer)(**{**config, "name": "forward_" + layer.name})
        self.backward_layer = type(layer)(**{**config, "name": "backward_" + layer.name,
                                              "go_backwards": not layer.go_backwards})
        self._layer_config = {"class_name": type(layer).__name__, "config": layer.get_config()}
        self.return_sequences = layer.return_sequences

    def build(self, input_shape):
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        self._params = {f"forward/{k}": v for k, v in self.forward_layer._params.items()}
        self._params.update({f"backward/{k}": v for k, v in self.backward_layer._params.items()})
        self.built = True

    def forward(self, x, training=False, mask=None):
        fwd = self.forward_layer.forward(x, training=training, mask=mask)
        bwd = self.backward_layer.forward(x, training=training, mask=mask)
        if self.return_sequences:
            bwd = bwd[:, ::-1]
        self._pair = (fwd, bwd) if training else None
        if self.merge_mode == "concat":
            return np.concatenate([fwd, bwd], axis=-1)
        if self.merge_mode == "sum":
            return fwd + bwd
        if self.merge_mode == "mul":
            return fwd * bwd
        return (fwd + bwd) / 2

    def backward(self, dy, input_gradient=True):
        fwd, bwd = self._pair
        if self.merge_mode == "concat":
            d_fwd, d_bwd = dy[..., :fwd.shape[-1]], dy[..., fwd.shape[-1]:]
        elif self.merge_mode == "sum":
            d_fwd = d_bwd = dy
        elif self.merge_mode == "mul":
            d_fwd, d_bwd = dy * bwd, dy * fwd
        else:
            d_fwd = d_bwd = dy / 2
        if self.return_sequences:
            d_bwd = d_bwd[:, ::-1]
        dx = self.forward_layer.backward(np.ascontiguousarray(d_fwd), input_gradient)
        d_bwd = self.backward_layer.backward(np.ascontiguousarray(d_bwd), input_gradient)
        dx = dx + d_bwd if input_gradient else None
        self.grads = {}
        if self.trainable:
            self.grads = {f"forward/{k}": v for k, v in self.forward_layer.grads.items()}
            self.grads.update({f"backward/{k}": v for k, v in self.backward_layer.grads.items()})
        return dx

    def reset_states(self):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        return shape[:-1] + (shape[-1] * 2 if self.merge_mode == "concat" else shape[-1],)

    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    def get_config(self):
        return {**super().get_config(), "layer": self._layer_config, "merge_mode": self.merge_mode}


def _layer_from_config(spec):
    from . import GRU, LSTM, SimpleRNN
    classes = {"LSTM": LSTM, "SimpleRNN": SimpleRNN, "GRU": GRU}
    if spec.get("class_name") not in classes:
        raise ValueError(f"Bidirectional cannot wrap a {spec.get('class_name')!r} layer")
    return classes[spec["class_name"]].from_config(spec["config"])


class TimeDistributed(Layer):
    """Applies a layer to every step of (batch, steps, ...) inputs: the layer sees the (batch *
    steps, ...) rows at once, so each step shares its weights (Keras' TimeDistributed).

    Args:
        layer: the layer to apply (Dense, Conv1D, Activation, Dropout, an RNN over inner steps...).
            Its weights are this layer's weights, under the same names.
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Masks pass through unchanged, as in Keras 3; the wrapped layer sees no mask (Keras 3 hands it
    a per-step (batch,) slice, which none of fastrnn's layers consumes).

    Example:
        >>> TimeDistributed(Dense(8))(np.zeros((2, 5, 3))).shape
        (2, 5, 8)
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):  # from_config
            from . import deserialize
            layer = deserialize(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: argument 'layer' must be a fastrnn layer, got {layer!r}")
        self.layer = layer  # before Layer.__init__, which sets trainable (the wrapped layer's)
        kwargs.setdefault("dtype", layer.dtype)
        kwargs.setdefault("trainable", layer.trainable)
        super().__init__(**kwargs)
        self._steps_shape = None

    @property
    def trainable(self):
        return self.layer.trainable

    @trainable.setter
    def trainable(self, value):
        self.layer.trainable = bool(value)

    def _row_shape(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"layer {self.name!r} expects inputs (batch, steps, ...) of 3 or more dimensions, "
                             f"got shape {tuple(input_shape)}")
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(self._row_shape(input_shape))
        self._params = self.layer._params  # the same arrays: set_weights and the optimizers reach the layer's
        self.built = True

    def forward(self, x, training=False, mask=None):
        x = np.asarray(x)
        self._row_shape(x.shape)
        if not self.built:
            self.build(x.shape)
        B, T = x.shape[:2]
        if mask is not None and np.shape(mask)[:2] != (B, T):
            raise ValueError(f"layer {self.name!r}: argument 'mask' must have shape (batch, steps) = {(B, T)}, "
                             f"got {np.shape(mask)}")
        y = self.layer.forward(x.reshape((B * T,) + x.shape[2:]), training=training, mask=None)
        self._steps_shape = (B, T)
        return y.reshape((B, T) + y.shape[1:])

    def backward(self, dy, input_gradient=True):
        B, T = self._steps_shape
        dx = self.layer.backward(np.ascontiguousarray(dy).reshape((B * T,) + dy.shape[2:]), input_gradient)
        self.grads = dict(self.layer.grads) if self.trainable else {}
        return None if dx is None else dx.reshape((B, T) + dx.shape[1:])

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(self._row_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def get_config(self):
        from . import serialize
        return {**super().get_config(), "layer": serialize(self.layer)}
