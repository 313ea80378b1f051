"""SimpleRNN, LSTM and GRU layers: Keras' arguments, weights and masking semantics, run by the fused
sequence kernels in fastrnn.ops (this file does no recurrent math of its own; recurrent_dropout,
which changes the recurrent input every step, runs the same kernels one step at a time).

A mask (Keras': from Embedding(mask_zero=True) or Masking; left or right padding, or holes)
goes to the kernels, which skip the masked steps, carrying the state over them. Keras then
outputs at a masked step what the last unmasked step output (zeros before the first), which
`_carry_outputs` applies to the kernels' outputs.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import numpy as np

from .. import ops, utils
from ..reference import activation_gradient
from . import initializers
from .base import Layer


def _last_valid_step(mask):
    """(B, T): for each step, the last step at or before it that the mask keeps, or -1."""
    steps = np.where(mask, np.arange(mask.shape[1]), -1)
    return np.maximum.accumulate(steps, axis=1)


def _carry_outputs(outputs, mask):
    """Keras' outputs at masked steps: the output of the last unmasked step before (0 before any)."""
    last = _last_valid_step(mask)
    carried = np.take_along_axis(outputs, np.maximum(last, 0)[..., None], axis=1)
    return carried * (last >= 0)[..., None].astype(outputs.dtype)


def _carry_outputs_backward(d_outputs, mask):
    """The adjoint of _carry_outputs: each step's gradient goes to the step whose output it repeats."""
    last = _last_valid_step(mask)
    d = np.zeros_like(d_outputs)
    b, t = np.nonzero(last >= 0)
    np.add.at(d, (b, last[b, t]), d_outputs[b, t])
    return d


class _Steps(NamedTuple):
    """The cache of a step-by-step run: per step (kernel cache, rows active), and the recurrent keep-mask."""

    caches: list
    keep: np.ndarray


class _Recurrent(Layer):
    """What SimpleRNN and LSTM share: arguments, weights, masks, dropout, state and backward glue."""

    gates = 1
    supports_masking = True

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"{type(self).__name__}: units must be a positive int, got {units!r}")
        if activation not in ops.ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {', '.join(ops.ACTIVATIONS)}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout must lie in [0, 1), got {dropout!r}")
        if not 0 <= recurrent_dropout < 1:
            raise ValueError(f"{type(self).__name__}: recurrent_dropout must lie in [0, 1), got {recurrent_dropout!r}")
        for init in (kernel_initializer, recurrent_initializer, bias_initializer):
            initializers.get(init)
        self.units, self.activation, self.use_bias = int(units), activation, bool(use_bias)
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful = bool(go_backwards), bool(stateful)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None
        self._cache = None

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"layer {self.name!r} expects inputs of shape (batch, time, features), "
                             f"got {tuple(input_shape)}")
        width = self.gates * self.units
        self.add_weight("kernel", (input_shape[-1], width), initializers.get(self.kernel_initializer))
        self.add_weight("recurrent_kernel", (self.units, width), initializers.get(self.recurrent_initializer))
        if self.use_bias:
            self.add_weight("bias", self._bias_shape(width), self._bias_initializer())
        self.built = True

    def _bias_shape(self, width):
        return (width,)

    def _bias_initializer(self):
        return initializers.get(self.bias_initializer)

    def reset_states(self):
        """Forget the state a stateful layer carries between batches."""
        self.states = None

    def forward(self, x, training=False, mask=None, initial_state=None):
        """Run the layer; returns the outputs, or [outputs, *final states] with return_state."""
        x = np.asarray(x, self.dtype)
        kernel = self._params["kernel"]
        if x.ndim != 3 or x.shape[-1] != kernel.shape[0]:
            raise ValueError(f"layer {self.name!r} expects inputs of shape (batch, time, {kernel.shape[0]}), "
                             f"got {x.shape}")
        batch, steps = x.shape[:2]
        if mask is not None:
            mask = np.asarray(mask, bool)
            if mask.shape != (batch, steps):
                raise ValueError(f"layer {self.name!r}: mask must have shape (batch, time) = {(batch, steps)}, "
                                 f"got {mask.shape}")
        keep = None
        if training and self.dropout:
            keep = (utils.rng().random((batch, 1, x.shape[2])) >= self.dropout) / (1 - self.dropout)
            x = x * keep.astype(self.dtype)
        states = self._initial_states(batch, initial_state)
        # go_backwards (Keras: the reversed sequence, outputs in that reversed order) is the kernels'
        # reverse=True, outputs aligned with the input positions, read back to front
        if training and self.recurrent_dropout:
            keep_h = (utils.rng().random((batch, self.units)) >= self.recurrent_dropout) / (1 - self.recurrent_dropout)
            outputs, final, cache = self._run_steps(x, states, mask, keep_h.astype(self.dtype))
        else:
            outputs, final, cache = self._run(x, states, mask, self.go_backwards, training)
        if self.stateful:
            self.states = [s.copy() for s in final]
        step_mask = None if mask is None or not self._carries else (mask[:, ::-1] if self.go_backwards else mask)
        if self.return_sequences:
            outputs = outputs[:, ::-1] if self.go_backwards else outputs
            if step_mask is not None:
                outputs = _carry_outputs(outputs, step_mask)
        else:
            outputs = final[0]
        self._cache = (cache, keep, step_mask) if training else None
        return [outputs] + list(final) if self.return_state else outputs

    @property
    def _carries(self):
        """Whether masked steps repeat the last output (Keras), rather than output zeros."""
        return self.return_sequences and not self.zero_output_for_mask

    def _run_steps(self, x, states, mask, keep_h):
        """Recurrent dropout as Keras: h_{t-1} * keep_h feeds the recurrent kernel (the state itself is
        not dropped; one mask per sequence, shared by the gates), one kernel call per step in the
        order the layer consumes them; masked steps keep their state. Outputs aligned with the
        input positions, as _run's."""
        batch, steps = x.shape[:2]
        states = [np.zeros((batch, self.units), self.dtype) if s is None else s for s in states]
        outputs = np.zeros((batch, steps, self.units), self.dtype)
        caches = []
        for t in (reversed(range(steps)) if self.go_backwards else range(steps)):
            active = np.ones(batch, bool) if mask is None else mask[:, t]
            out, new, cache = self._step(x[:, t:t + 1], states, keep_h)
            states = [np.where(active[:, None], n, s) for n, s in zip(new, states)]
            outputs[:, t] = out[:, 0] * active[:, None]
            caches.append((t, cache, active))
        return outputs, states, _Steps(caches, keep_h)

    def _step(self, x, states, keep_h):
        """One step with the recurrent input h_{t-1} * keep_h: (outputs, new states, cache)."""
        return self._run(x, [states[0] * keep_h] + states[1:], None, False, True)

    def _step_backward(self, cache, d_out, d_states, keep_h):
        """Backward through _step: the gradients with h0 taken on the state before keep_h."""
        grads = self._run_backward(cache, d_out, d_states)
        return grads._replace(h0=grads.h0 * keep_h)

    def _backward_steps(self, steps, d_seq, d_states):
        """Backward through _run_steps, one kernel call per step in reverse."""
        keep_h = steps.keep
        d_states = [np.zeros_like(keep_h) if d is None else d for d in d_states]
        dx, sums = [None] * len(steps.caches), None
        for t, cache, active in reversed(steps.caches):
            rows = active[:, None]
            d_out = None if d_seq is None else d_seq[:, t:t + 1] * rows[..., None]
            grads = self._step_backward(cache, d_out, [d * rows for d in d_states], keep_h)
            dx[t] = grads.x[:, 0]
            weights = [grads.kernel, grads.recurrent_kernel, grads.bias]
            sums = weights if sums is None else [a if b is None else a + b for a, b in zip(sums, weights)]
            before = [grads.h0] + ([grads.c0] if self._state_count == 2 else [])
            d_states = [np.where(rows, b, d) for b, d in zip(before, d_states)]
        return SimpleNamespace(x=np.stack(dx, axis=1), kernel=sums[0], recurrent_kernel=sums[1], bias=sums[2],
                               h0=d_states[0], c0=d_states[-1])  # d_states: now on the initial states

    def _initial_states(self, batch, initial_state):
        if initial_state is not None:
            states = [np.asarray(s, self.dtype) for s in initial_state]
        elif self.stateful and self.states is not None:
            states = self.states
        else:
            return [None] * self._state_count
        for s in states:
            if s.shape != (batch, self.units):
                raise ValueError(f"layer {self.name!r}: state has shape {s.shape} but the batch needs "
                                 f"{(batch, self.units)} (stateful layers need a fixed batch size; "
                                 "call reset_states() to change it)")
        return states

    def backward(self, dy, input_gradient=True):
        cache, keep, step_mask = self._cache
        dy = list(dy) if self.return_state else [dy]
        d_out, d_states = dy[0], [None if d is None else np.asarray(d, self.dtype) for d in dy[1:]]
        d_states += [None] * (self._state_count - len(d_states))
        d_seq = None
        if self.return_sequences:
            d_seq = np.asarray(d_out, self.dtype)
            if step_mask is not None:
                d_seq = _carry_outputs_backward(d_seq, step_mask)
            d_seq = np.ascontiguousarray(d_seq[:, ::-1]) if self.go_backwards else d_seq  # to input positions
        elif d_out is not None:
            d_states[0] = d_out if d_states[0] is None else d_states[0] + d_out
        if isinstance(cache, _Steps):
            grads = self._backward_steps(cache, d_seq, d_states)
        else:
            grads = self._run_backward(cache, d_seq, d_states, input_gradient)
        # the gradient on the initial states, for a functional model that fed them (initial_state=)
        self.state_grads = [grads.h0] + ([grads.c0] if self._state_count == 2 else [])
        self.grads = {}
        if self.trainable:
            self.grads = {"kernel": grads.kernel, "recurrent_kernel": grads.recurrent_kernel}
            if self.use_bias:
                self.grads["bias"] = grads.bias
        if not input_gradient:
            return None
        return grads.x if keep is None else grads.x * keep

    def _weights_for_ops(self):
        p = self._params
        return p["kernel"], p["recurrent_kernel"], p.get("bias")

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        return [out] + [(batch, self.units)] * self._state_count if self.return_state else out

    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "recurrent_initializer": self.recurrent_initializer, "bias_initializer": self.bias_initializer,
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful,
                "zero_output_for_mask": self.zero_output_for_mask}


class SimpleRNN(_Recurrent):
    """Fully connected RNN: h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias).

    Args:
        units: state size H.
        activation: default "tanh" (any name in fastrnn.ops.ACTIVATIONS).
        use_bias, kernel_initializer ("glorot_uniform"), recurrent_initializer ("orthogonal"),
        bias_initializer ("zeros"): as in Keras.
        dropout: fraction of input features dropped (one mask per sequence, as Keras).
        recurrent_dropout: fraction of the state's units dropped where it feeds the recurrent kernel
            (one mask per sequence, as Keras); training then runs one kernel call per step (slower).
        return_sequences: output every step (batch, time, H) instead of the last (batch, H).
        return_state: also return the final state (not usable inside Sequential).
        go_backwards: process the sequence reversed (outputs in reversed order, as Keras).
        stateful: carry the final state of each batch into the next one (fixed batch size).
        **kwargs: name, trainable, dtype, input_shape (see Layer).

    Example:
        >>> SimpleRNN(32, return_sequences=True)(np.zeros((2, 5, 8))).shape
        (2, 5, 32)
    """

    _state_count = 1

    def _run(self, x, states, mask, reverse, training):
        out, h, cache = ops.simple_rnn_forward(x, *self._weights_for_ops(), states[0], activation=self.activation,
                                               mask=mask, reverse=reverse, training=training)
        return out, [h], cache

    def _run_backward(self, cache, d_seq, d_states, input_gradient=True):
        return ops.simple_rnn_backward(cache, d_outputs=d_seq, d_h=d_states[0], input_gradient=input_gradient)


class _Gated(_Recurrent):
    """What LSTM and GRU add: the gates' recurrent_activation (default "sigmoid")."""

    def __init__(self, units, recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, **kwargs)
        if recurrent_activation not in ops.ACTIVATIONS:
            raise ValueError(f"unknown recurrent_activation {recurrent_activation!r}; "
                             f"expected one of {', '.join(ops.ACTIVATIONS)}")
        self.recurrent_activation = recurrent_activation

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation}


class LSTM(_Gated):
    """Long short-term memory layer (Keras gate order i, f, c, o).

    Args:
        units: state size H.
        activation: default "tanh". recurrent_activation: default "sigmoid".
        unit_forget_bias: start the forget-gate bias at 1 (default True, as Keras).
        Other arguments as SimpleRNN; return_state returns [outputs, h, c].

    Example:
        >>> LSTM(32)(np.zeros((2, 5, 8))).shape
        (2, 32)
    """

    gates = 4
    _state_count = 2

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        base = initializers.get(self.bias_initializer)
        if not self.unit_forget_bias:
            return base

        def init(shape, dtype):
            h = self.units
            return np.concatenate([base((h,), dtype), np.ones(h, dtype), base((2 * h,), dtype)])
        return init

    def _run(self, x, states, mask, reverse, training):
        out, (h, c), cache = ops.lstm_forward(x, *self._weights_for_ops(), states[0], states[1],
                                              activation=self.activation,
                                              recurrent_activation=self.recurrent_activation,
                                              mask=mask, reverse=reverse, training=training)
        return out, [h, c], cache

    def _run_backward(self, cache, d_seq, d_states, input_gradient=True):
        return ops.lstm_backward(cache, d_outputs=d_seq, d_h=d_states[0], d_c=d_states[1],
                                 input_gradient=input_gradient)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


def _host(array):
    """A NumPy view of a cache array (the CUDA backend keeps its caches on the device)."""
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else array


class GRU(_Gated):
    """Gated recurrent unit (Keras gate order z, r, h): h_t = z * h_{t-1} + (1 - z) * hh.

    Args:
        units: state size H.
        activation: default "tanh". recurrent_activation: default "sigmoid".
        reset_after: apply the reset gate after the recurrent product (default True: Keras 3's
            default and PyTorch's nn.GRU; the bias is then (2, 3H), input and recurrent bias);
            False is Keras 2's original GRU (bias (3H,)).
        Other arguments as SimpleRNN; return_state returns [outputs, h]. recurrent_dropout drops
        h_{t-1} where it enters the recurrent products, not in the z * h_{t-1} blend (as Keras).

    Example:
        >>> GRU(32)(np.zeros((2, 5, 8))).shape
        (2, 32)
    """

    gates = 3
    _state_count = 1

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self, width):
        return (2, width) if self.reset_after else (width,)

    def _run(self, x, states, mask, reverse, training):
        out, h, cache = ops.gru_forward(x, *self._weights_for_ops(), states[0], activation=self.activation,
                                        recurrent_activation=self.recurrent_activation, reset_after=self.reset_after,
                                        mask=mask, reverse=reverse, training=training)
        return out, [h], cache

    def _run_backward(self, cache, d_seq, d_states, input_gradient=True):
        return ops.gru_backward(cache, d_outputs=d_seq, d_h=d_states[0], input_gradient=input_gradient)

    # The kernel blends the state it is given, h_{t-1} * keep_h; Keras blends the undropped
    # h_{t-1}, which adds z * h_{t-1} * (1 - keep_h) to the step (and its gradient below).
    def _step(self, x, states, keep_h):
        h = states[0]
        out, (h_kernel,), cache = self._run(x, [h * keep_h], None, False, True)
        z = _host(cache.gates)[0, :, :self.units]
        extra = z * h * (1 - keep_h)
        return out + extra[:, None], [h_kernel + extra], (cache, h, z)

    def _step_backward(self, step_cache, d_out, d_states, keep_h):
        cache, h, z = step_cache
        grads = self._run_backward(cache, d_out, d_states)
        dh = d_states[0] + (0 if d_out is None else d_out[:, 0])
        d_gate = activation_gradient(dh * h * (1 - keep_h), z, self.recurrent_activation)  # on z's input
        H, x = self.units, cache.x[:, 0]
        kernel, recurrent_kernel, bias = (_host(a) for a in (cache.kernel, cache.recurrent_kernel, cache.bias))
        d_kernel, d_recurrent, d_bias = grads.kernel.copy(), grads.recurrent_kernel.copy(), grads.bias
        d_kernel[:, :H] += _host(x).T @ d_gate
        d_recurrent[:, :H] += (h * keep_h).T @ d_gate
        if d_bias is not None:
            d_bias = d_bias.copy()
            d_bias[..., :H] += d_gate.sum(axis=0)  # both rows with reset_after: z reads b and b_r
        d_h_in = grads.h0 + d_gate @ recurrent_kernel[:, :H].T
        return grads._replace(x=grads.x + (d_gate @ kernel[:, :H].T)[:, None], kernel=d_kernel,
                              recurrent_kernel=d_recurrent, bias=d_bias, h0=d_h_in * keep_h + dh * z * (1 - keep_h))

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
