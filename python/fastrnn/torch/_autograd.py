"""One recurrent layer in one direction as a torch.autograd.Function over fastrnn.ops.

CPU tensors are handed to the kernels as NumPy views (Tensor.numpy(), no copy) and results come
back through torch.from_numpy (no copy). PyTorch's weight_ih (G*H, D) is Keras' kernel (D, G*H)
transposed. LSTM and RNN: the gate orders agree (LSTM i, f, g, o = Keras i, f, c, o) and PyTorch's
two biases are summed into the kernels' one, both getting its gradient. GRU: PyTorch's r, z, n
blocks are Keras' z, r, h with the first two swapped (a copy of the weights), and its two biases
are the kernels' (2, 3H) reset_after bias. No math here beyond that sum and those swaps.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .. import ops


class Call(NamedTuple):
    """What one kernel call needs besides tensors."""

    cell: str  # "lstm", "gru" or "simple_rnn"
    activation: str  # the RNN's nonlinearity; "tanh" for the LSTM and GRU
    lengths: Optional[np.ndarray]  # (B,) valid steps per sequence, or None: all T
    reverse: bool
    time_major: bool


def _numpy(t):
    """A NumPy view of a CPU tensor (None stays None)."""
    return None if t is None else t.detach().numpy()


def _tensor(a):
    """A tensor sharing `a`'s memory (a read-only array is copied: torch tensors are writable)."""
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def _swap_zr(a, axis):
    """A GRU's gate blocks with the first two swapped along `axis`: PyTorch's r, z, n <-> Keras'
    z, r, h (the same swap both ways). A C-contiguous copy."""
    first, second, candidate = np.split(a, 3, axis=axis)
    return np.concatenate([second, first, candidate], axis=axis)


def _forward(call, x, w_ih, w_hh, b_ih, b_hh, h0, c0, training):
    """(outputs, h_T, c_T or None, cache) of ops' forward on the tensors' NumPy views."""
    common = dict(lengths=call.lengths, reverse=call.reverse, time_major=call.time_major, training=training)
    if call.cell == "gru":
        kernel, recurrent = _swap_zr(_numpy(w_ih), 0).T, _swap_zr(_numpy(w_hh), 0).T
        bias = None if b_ih is None else np.stack([_swap_zr(_numpy(b_ih), 0), _swap_zr(_numpy(b_hh), 0)])
        out, h, cache = ops.gru_forward(_numpy(x), kernel, recurrent, bias, _numpy(h0), reset_after=True, **common)
        return out, h, None, cache
    kernel, recurrent = _numpy(w_ih).T, _numpy(w_hh).T
    bias = None if b_ih is None else (b_ih.detach() + b_hh.detach()).numpy()
    if call.cell == "lstm":
        out, (h, c), cache = ops.lstm_forward(_numpy(x), kernel, recurrent, bias, _numpy(h0), _numpy(c0), **common)
        return out, h, c, cache
    out, h, cache = ops.simple_rnn_forward(_numpy(x), kernel, recurrent, bias, _numpy(h0),
                                           activation=call.activation, **common)
    return out, h, None, cache


def _weight_gradients(cell, grads, has_bias):
    """(d_weight_ih, d_weight_hh, d_bias_ih, d_bias_hh) in PyTorch's layout from the kernels' grads."""
    if cell == "gru":
        d_ih = torch.from_numpy(_swap_zr(grads.kernel.T, 0))
        d_hh = torch.from_numpy(_swap_zr(grads.recurrent_kernel.T, 0))
        if not has_bias:
            return d_ih, d_hh, None, None
        return d_ih, d_hh, torch.from_numpy(_swap_zr(grads.bias[0], 0)), torch.from_numpy(_swap_zr(grads.bias[1], 0))
    d_ih = torch.from_numpy(np.ascontiguousarray(grads.kernel.T))
    d_hh = torch.from_numpy(np.ascontiguousarray(grads.recurrent_kernel.T))
    if not has_bias:
        return d_ih, d_hh, None, None
    # one tensor per bias: autograd may keep a gradient as the .grad it accumulates into
    d_bias = _tensor(grads.bias)
    return d_ih, d_hh, d_bias, d_bias.clone()


class RecurrentFunction(torch.autograd.Function):
    """apply(call, x, w_ih, w_hh, b_ih, b_hh, h0, c0) -> (outputs, h_T) or (outputs, h_T, c_T).

    x is (T, B, D) (call.time_major) or (B, T, D); b_ih, b_hh, h0, c0 may be None (c0 always for
    an RNN or GRU). Backward runs ops' backward on the cache the forward kept.
    """

    @staticmethod
    def forward(ctx, call, x, w_ih, w_hh, b_ih, b_hh, h0, c0):
        out, h, c, cache = _forward(call, x, w_ih, w_hh, b_ih, b_hh, h0, c0, training=True)
        ctx.call, ctx.cache, ctx.has_bias = call, cache, b_ih is not None
        # saved only so that backward fails, as PyTorch's own layers do, if they change in place
        ctx.save_for_backward(x, w_ih, w_hh, b_ih, b_hh)
        ctx.set_materialize_grads(False)  # unused results get None, which the kernels skip
        outputs = (_tensor(out), _tensor(h))
        return outputs if c is None else outputs + (_tensor(c),)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h, d_c=None):
        ctx.saved_tensors  # raises if an input was modified in place after the forward
        needs = ctx.needs_input_grad  # (call, x, w_ih, w_hh, b_ih, b_hh, h0, c0)
        d = [_numpy(g) for g in (d_out, d_h, d_c)]
        if ctx.call.cell == "lstm":
            grads = ops.lstm_backward(ctx.cache, *d, input_gradient=needs[1])
        else:
            backward = ops.gru_backward if ctx.call.cell == "gru" else ops.simple_rnn_backward
            grads = backward(ctx.cache, d[0], d[1], input_gradient=needs[1])
        dx = _tensor(grads.x) if needs[1] else None
        d_ih, d_hh, d_bias, d_bias_hh = _weight_gradients(ctx.call.cell, grads, ctx.has_bias)
        dh0 = _tensor(grads.h0) if needs[6] else None
        dc0 = _tensor(grads.c0) if needs[7] and ctx.call.cell == "lstm" else None
        return None, dx, d_ih, d_hh, d_bias, d_bias_hh, dh0, dc0


def run(call, x, w_ih, w_hh, b_ih, b_hh, h0, c0):
    """One layer-direction: through RecurrentFunction when autograd records, else the kernels'
    inference call (no cache kept). Returns (outputs, h_T, c_T or None) as tensors."""
    tensors = [t for t in (x, w_ih, w_hh, b_ih, b_hh, h0, c0) if t is not None]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        results = RecurrentFunction.apply(call, x, w_ih, w_hh, b_ih, b_hh, h0, c0)
        return results if len(results) == 3 else (results[0], results[1], None)
    out, h, c, _ = _forward(call, x, w_ih, w_hh, b_ih, b_hh, h0, c0, training=False)
    return _tensor(out), _tensor(h), None if c is None else _tensor(c)
