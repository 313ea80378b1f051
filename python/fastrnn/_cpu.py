"""The "cpu" backend: fastrnn.ops' kernel table over the C++ core (_core).

Validation is shared with the NumPy twin (validation.py); this module only maps a prepared call
onto the core's functions, which allocate the results and release the GIL. What the core does
not take (integer tables, non-contiguous or read-only weights to update in place) is passed to
the NumPy twin, whose results are the same bits. conv1d arranges its inputs for the core's GEMM
here (one product per kernel tap on slices of x at stride 1; im2col otherwise).
"""
from __future__ import annotations

import numpy as np

from . import reference
from ._native import core, error

if core is None:
    raise ImportError(f"fastrnn's C++ core is not available: {error}")
from .validation import (ACTIVATIONS, Conv1DGrads, GRUGrads, LSTMGrads, SimpleRNNGrads, prepare_backward,
                         prepare_conv1d_backward, prepare_conv1d_forward, prepare_forward)

_FLOATS = (np.float32, np.float64)


def _code(name: str) -> int:
    return ACTIVATIONS.index(name)


def _sequences(call) -> tuple:
    return call.lengths, call.starts, call.order, call.order_steps


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", lengths=None, mask=None,
                       reverse=False, time_major=False, training=True):
    call = prepare_forward("simple_rnn", x, kernel, recurrent_kernel, bias, h0, None, activation=activation,
                           recurrent_activation="sigmoid", lengths=lengths, mask=mask, reverse=reverse,
                           time_major=time_major)
    outputs, h, saved = core.simple_rnn_forward(call.x, call.kernel, call.recurrent_kernel, call.bias, call.h0,
                                                _sequences(call), _code(call.activation), call.reverse,
                                                call.time_major, training)
    if not training:
        return outputs, h, None
    call.backend, call.outputs = "cpu", saved  # a copy: the caller may modify outputs
    return outputs, h, call


def simple_rnn_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> SimpleRNNGrads:
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h})
    c = cache
    grads = core.simple_rnn_backward(c.x, c.kernel, c.recurrent_kernel, c.h0, c.outputs, _sequences(c),
                                     _code(c.activation), c.reverse, c.time_major, d_outputs, states["d_h"],
                                     input_gradient)
    return SimpleRNNGrads(*grads)


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, activation="tanh",
                 recurrent_activation="sigmoid", lengths=None, mask=None, reverse=False, time_major=False,
                 training=True):
    call = prepare_forward("lstm", x, kernel, recurrent_kernel, bias, h0, c0, activation=activation,
                           recurrent_activation=recurrent_activation, lengths=lengths, mask=mask, reverse=reverse,
                           time_major=time_major)
    outputs, h, c, gates, cells, saved = core.lstm_forward(
        call.x, call.kernel, call.recurrent_kernel, call.bias, call.h0, call.c0, _sequences(call),
        _code(call.activation), _code(call.recurrent_activation), call.reverse, call.time_major, training)
    if not training:
        return outputs, (h, c), None
    call.backend, call.outputs, call.gates, call.cells = "cpu", saved, gates, cells  # saved: a copy of outputs
    return outputs, (h, c), call


def lstm_backward(cache, d_outputs=None, d_h=None, d_c=None, *, input_gradient=True) -> LSTMGrads:
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h, "d_c": d_c})
    c = cache
    grads = core.lstm_backward(c.x, c.kernel, c.recurrent_kernel, c.h0, c.c0, c.outputs,
                               np.ascontiguousarray(c.gates), np.ascontiguousarray(c.cells), _sequences(c),
                               _code(c.activation), _code(c.recurrent_activation), c.reverse, c.time_major,
                               d_outputs, states["d_h"], states["d_c"], input_gradient)
    return LSTMGrads(*grads)


def gru_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", recurrent_activation="sigmoid",
                reset_after=True, lengths=None, mask=None, reverse=False, time_major=False, training=True):
    call = prepare_forward("gru", x, kernel, recurrent_kernel, bias, h0, None, activation=activation,
                           recurrent_activation=recurrent_activation, lengths=lengths, mask=mask, reverse=reverse,
                           time_major=time_major, reset_after=reset_after)
    b_in, b_rec = (call.bias[0], call.bias[1]) if call.reset_after else (call.bias, None)
    outputs, h, gates, saved = core.gru_forward(
        call.x, call.kernel, call.recurrent_kernel, np.ascontiguousarray(b_in),
        None if b_rec is None else np.ascontiguousarray(b_rec), call.h0, _sequences(call), _code(call.activation),
        _code(call.recurrent_activation), call.reverse, call.time_major, training, call.reset_after)
    if not training:
        return outputs, h, None
    call.backend, call.outputs, call.gates = "cpu", saved, gates
    return outputs, h, call


def gru_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> GRUGrads:
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h})
    c = cache
    grads = core.gru_backward(c.x, c.kernel, c.recurrent_kernel, c.h0, c.outputs, np.ascontiguousarray(c.gates),
                              _sequences(c), _code(c.activation), _code(c.recurrent_activation), c.reverse,
                              c.time_major, d_outputs, states["d_h"], input_gradient, c.reset_after)
    return GRUGrads(*grads)


def activate(x, activation):
    x = np.asarray(x)
    if x.dtype.type not in _FLOATS:
        return reference.activate(x, activation)
    return core.activate(np.ascontiguousarray(x), _code(activation))


def matmul(a, b, transpose_a=False, transpose_b=False):
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype.type not in _FLOATS:
        return reference.matmul(a, b, transpose_a, transpose_b)
    return core.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), transpose_a, transpose_b)


def _windows(a, steps, taps, stride, dilation):
    """im2col: (B * steps, taps * C) rows, row (b, t) holding a[b, t * stride + k * dilation] for
    k < taps, side by side: a strided view of a (B, T, C) copied once."""
    B, _, C = a.shape
    sb, st, sc = a.strides
    view = np.lib.stride_tricks.as_strided(a, (B, steps, taps, C), (sb, stride * st, dilation * st, sc),
                                           writeable=False)
    return np.ascontiguousarray(view).reshape(B * steps, taps * C)


def _padded(a, left, right):
    """a (B, T, C) with `left` and `right` zero steps on its time axis (a itself when none)."""
    if not left and not right:
        return a
    B, T, C = a.shape
    out = np.empty((B, left + T + right, C), a.dtype)
    out[:, :left], out[:, left + T:] = 0, 0
    out[:, left:left + T] = a
    return out


def _tap_rows(c):
    """At stride 1, without im2col: padded x as one (B * Tp, C) matrix, where output row b * Tp + t
    (t < steps) reads row + k * dilation for tap k, so each tap's product takes a contiguous slice
    of n = B * Tp - span rows (the rows past a sequence's steps compute unused values). None where
    strides > 1 or nothing is computed: those use im2col."""
    B, T, C = c.x.shape
    if c.strides != 1 or not B or not c.steps:
        return None
    rows = _padded(c.x, c.pad_left, c.pad_right).reshape(B * c.padded_steps, C)
    return rows, B * c.padded_steps - c.dilation_rate * (c.kernel.shape[0] - 1)


def conv1d_forward(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, training=True):
    call = prepare_conv1d_forward(x, kernel, bias, strides=strides, padding=padding, dilation_rate=dilation_rate)
    B, _, C = call.x.shape
    K, _, F = call.kernel.shape
    taps = _tap_rows(call)
    if taps is None:
        cols = _windows(_padded(call.x, call.pad_left, call.pad_right), call.steps, K, call.strides,
                        call.dilation_rate)
        y = matmul(cols, call.kernel.reshape(K * C, F)).reshape(B, call.steps, F)
    else:  # K products of inner size C summed: 1.5x faster than im2col's one of inner size K * C
        rows, n, d = *taps, call.dilation_rate
        z = matmul(rows[:n], call.kernel[0])
        for k in range(1, K):
            z += matmul(rows[k * d:k * d + n], call.kernel[k])
        item = z.itemsize
        y = np.array(np.lib.stride_tricks.as_strided(  # each sequence's first `steps` rows, copied
            z, (B, call.steps, F), (call.padded_steps * F * item, F * item, item), writeable=False))
    if call.bias is not None:
        y += call.bias
    if not training:
        return y, None
    call.backend = "cpu"
    return y, call


def conv1d_backward(cache, dy, *, input_gradient=True) -> Conv1DGrads:
    dy = prepare_conv1d_backward(cache, dy)
    c = cache
    B, T, C = c.x.shape
    K, _, F = c.kernel.shape
    dy2 = dy.reshape(B * c.steps, F)
    taps = _tap_rows(c)  # the windows again rather than kept from forward: they hold K copies of x
    if taps is None:
        cols = _windows(_padded(c.x, c.pad_left, c.pad_right), c.steps, K, c.strides, c.dilation_rate)
        dkernel = matmul(cols, dy2, True, False).reshape(K, C, F)
        del cols
    else:  # dy on forward's row grid, zero on the unused rows; one product per tap
        rows, n, d = *taps, c.dilation_rate
        grid = np.zeros((B, c.padded_steps, F), dy.dtype)
        grid[:, :c.steps] = dy
        grid = grid.reshape(B * c.padded_steps, F)[:n]
        dkernel = np.stack([matmul(rows[k * d:k * d + n], grid, True, False) for k in range(K)])
    dbias = dy2.sum(axis=0) if c.bias is not None else None
    dx = None
    if input_gradient:
        # the transposed convolution: dy spread to the steps its windows start at (t * strides),
        # after span zeros, convolved at stride 1 with the kernel reversed in time, (K * F, C).
        # Its windows hold F channels where forward's hold C; strides > 1 multiply by zeros.
        span = c.dilation_rate * (K - 1)
        spread = np.zeros((B, span + c.padded_steps, F), dy.dtype)
        spread[:, span:span + c.strides * c.steps:c.strides] = dy
        flipped = np.ascontiguousarray(c.kernel[::-1].transpose(0, 2, 1)).reshape(K * F, C)
        dx = matmul(_windows(spread[:, c.pad_left:], T, K, 1, c.dilation_rate), flipped).reshape(B, T, C)
    return Conv1DGrads(dx, dkernel, dbias)


def gather_rows(table, ids):
    if table.dtype.type not in _FLOATS or table.ndim != 2:
        return reference.gather_rows(table, ids)
    return core.gather_rows(np.ascontiguousarray(table), np.ascontiguousarray(ids, np.int64))


def sum_rows_by_id(ids, dy, input_dim):
    if dy.dtype.type not in _FLOATS:
        return reference.sum_rows_by_id(ids, dy, input_dim)
    dim = dy.shape[-1]
    return core.sum_rows_by_id(np.ascontiguousarray(ids, np.int64).ravel(), np.ascontiguousarray(dy).reshape(-1, dim),
                               input_dim)


def _in_place(w, g, slots, rows) -> bool:
    """Whether the core can update w (and its slots) in place: writable, C-ordered floats of one
    dtype, g shaped like w or, with rows, like those rows of w (a table's sparse gradient)."""
    arrays = [w, g, *slots]
    if w.dtype.type not in _FLOATS or not w.flags.writeable:
        return False
    if any(a.dtype != w.dtype or not a.flags.c_contiguous for a in arrays):
        return False
    if any(s.shape != w.shape or not s.flags.writeable for s in slots):
        return False
    return g.shape == w.shape if rows is None else w.ndim >= 1 and g.shape == np.shape(rows) + w.shape[1:]


def adam_update(w, g, m, v, c1, c2, alpha, epsilon, rows=None):
    if not _in_place(w, g, (m, v), rows):
        return reference.adam_update(w, g, m, v, c1, c2, alpha, epsilon, rows)
    core.adam_update(w, g, m, v, c1, c2, alpha, epsilon, rows)


def rmsprop_update(w, g, v, rho, c, lr, epsilon, rows=None):
    if not _in_place(w, g, (v,), rows):
        return reference.rmsprop_update(w, g, v, rho, c, lr, epsilon, rows)
    core.rmsprop_update(w, g, v, rho, c, lr, epsilon, rows)


def momentum_update(w, g, m, momentum, lr, nesterov, rows=None):
    if not _in_place(w, g, (m,), rows):
        return reference.momentum_update(w, g, m, momentum, lr, nesterov, rows)
    core.momentum_update(w, g, m, momentum, lr, nesterov, rows)
