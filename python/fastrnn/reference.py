"""The pure-NumPy twin of every fastrnn kernel, under the kernel's own name: the specification,
the test oracle, and the "numpy" backend.

Same signatures and results as fastrnn.ops. Written for clarity over speed: the recurrences one
step at a time, vectorised over the batch, with each cell's math in a function of its own and
one time loop shared by the cells (which positions each sequence reads at each step: RNNCall).
Never imports the C++ core.

    h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)                 (SimpleRNN)
    z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias = [z_i|z_f|z_c|z_o]   (LSTM)
    i, f, o = ra(z_i), ra(z_f), ra(z_o); g = act(z_c); c_t = f c_{t-1} + i g; h_t = o act(c_t)
    [x_z|x_r|x_h] = x_t @ kernel + b; [r_z|r_r|r_h] = h_{t-1} @ recurrent_kernel + b_r   (GRU)
    z, r = ra(x_z + r_z), ra(x_r + r_r); hh = act(x_h + r r_h); h_t = z h_{t-1} + (1 - z) hh
    (reset_after=False: hh = act(x_h + (r h_{t-1}) @ recurrent_kernel_h + b_h), no b_r)
    y[:, t] = bias + sum_k x_padded[:, t * strides + k * dilation_rate] @ kernel[k]           (Conv1D)
"""
from __future__ import annotations

import functools

import numpy as np

from .validation import (GATES, Conv1DCall, Conv1DGrads, GRUGrads, LSTMGrads, RNNCall, SimpleRNNGrads,
                         prepare_backward, prepare_conv1d_backward, prepare_conv1d_forward, prepare_forward)


# --- element-wise -----------------------------------------------------------------------------

def activate(x, activation):
    """activation(x) element-wise (NumPy twin of fastrnn.ops.activate)."""
    z = np.asarray(x)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0)
    if activation == "sigmoid":
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-z))
    if activation == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return np.clip(z + 3, 0, 6) / 6
    return z.copy()  # linear


def activation_gradient(grad, y, name):
    """grad * act'(z), with the derivative written in terms of y = act(z)."""
    if name == "tanh":
        return grad * (1 - y * y)
    if name == "relu":
        return grad * (y > 0).astype(y.dtype)
    if name == "sigmoid":
        return grad * (y * (1 - y))
    if name == "hard_sigmoid":
        return grad * np.where((y > 0) & (y < 1), 1 / 6, 0).astype(y.dtype)
    return grad


# --- the time loop both cells share ---------------------------------------------------------

def _schedule(call: RNNCall):
    """(positions, active), both (T, B): the position sequence b reads at step s (once it has
    ended, one of its padding positions, where its output is zero), and whether it still runs."""
    T, B = call.steps_batch
    s = np.arange(T)[:, None]
    lengths = np.full(B, T) if call.lengths is None else call.lengths.astype(np.int64)
    active = s < lengths
    if call.order is not None:
        return call.order.T.astype(np.int64), active
    starts = np.zeros(B, np.int64) if call.starts is None else call.starts.astype(np.int64)
    running = starts + (lengths - 1 - s if call.reverse else s)
    padding = np.where(s - lengths < starts, s - lengths, s)
    return np.where(active, running, padding), active


def _rows(a: np.ndarray) -> np.ndarray:
    """A (batch, time, width) array in either layout as (positions, width), sizes of zero included."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


def _time_major(a: np.ndarray, call: RNNCall) -> np.ndarray:
    """A (T, B, ...) view of a sequence array in the call's layout."""
    return a if call.time_major else a.swapaxes(0, 1)


def _from_time_major(a: np.ndarray, call: RNNCall) -> np.ndarray:
    return np.ascontiguousarray(a if call.time_major else a.swapaxes(0, 1))


def _forward(call: RNNCall, cell, states, training: bool):
    """Runs `cell(z, states, call) -> (h, states, cache rows)` over the schedule. Returns the
    outputs (x's layout), the final states, and the per-position cache rows (T, B, *) stacked."""
    T, B = call.steps_batch
    H, G = call.units, GATES[call.cell]
    projection = _time_major((_rows(call.x) @ call.kernel).reshape(call.sequence_shape(G * H)), call)
    outputs = np.zeros((T, B, H), call.x.dtype)
    caches = None
    positions, active = _schedule(call)
    batch = np.arange(B)
    for s in range(T):
        p, run = positions[s], active[s]
        z = projection[p, batch] + states[0] @ call.recurrent_kernel + call.bias
        h, new_states, rows = cell(z, states, call)
        states = [np.where(run[:, None], n, old) for n, old in zip(new_states, states)]
        outputs[p[run], batch[run]] = h[run]
        if training and rows:
            caches = caches or [np.zeros((T, B, r.shape[1]), r.dtype) for r in rows]
            for cache, r in zip(caches, rows):
                cache[p[run], batch[run]] = r[run]
    if training:
        call.backend, call.outputs = "numpy", _from_time_major(outputs, call)
    return _from_time_major(outputs, call), states, caches


def _previous(call: RNNCall, per_position: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """(T, B, W): for every position, the row of per_position (T, B, W) its step followed (the
    initial value for a sequence's first step; zero at padding positions)."""
    T, B = call.steps_batch
    positions, active = _schedule(call)
    batch = np.arange(B)
    out = np.zeros_like(per_position)
    for s in range(T):
        p, run = positions[s], active[s]
        before = initial if s == 0 else per_position[positions[s - 1], batch]
        out[p[run], batch[run]] = before[run]
    return out


def _backward(call: RNNCall, cell_backward, d_outputs, carries):
    """Backward through _forward: `cell_backward(dh, carries, s, p, call) -> (dz, carries)` at
    each step, last to first; the weight gradients from dz at every position. Returns dx, the
    carried gradients into the initial states, dkernel, drecurrent_kernel, dbias."""
    T, B = call.steps_batch
    H, G = call.units, GATES[call.cell]
    d_out = None if d_outputs is None else _time_major(d_outputs, call)
    dz = np.zeros((T, B, G * H), call.x.dtype)
    positions, active = _schedule(call)
    batch = np.arange(B)
    for s in reversed(range(T)):
        p, run = positions[s], active[s]
        dh = carries[0] + (0 if d_out is None else d_out[p, batch])
        dz_step, new_carries = cell_backward(dh, carries, p, call)
        dz_step = np.where(run[:, None], dz_step, 0)  # (a cache's padding rows may hold anything)
        dz[p, batch] = dz_step
        new_carries[0] = dz_step @ call.recurrent_kernel.T
        carries = [np.where(run[:, None], n, old) for n, old in zip(new_carries, carries)]
    h_prev = _previous(call, _time_major(call.outputs, call), call.h0)
    dz_rows, h_rows = _rows(_from_time_major(dz, call)), _rows(_from_time_major(h_prev, call))
    dx = (dz_rows @ call.kernel.T).reshape(call.x.shape)
    return dx, carries, _rows(call.x).T @ dz_rows, h_rows.T @ dz_rows, dz_rows.sum(axis=0)


# --- SimpleRNN ------------------------------------------------------------------------------

def _simple_rnn_cell(z, states, call):
    h = activate(z, call.activation)
    return h, [h], []


def _simple_rnn_cell_backward(dh, carries, positions, call):
    outputs = _time_major(call.outputs, call)
    y = outputs[positions, np.arange(len(positions))]
    return activation_gradient(dh, y, call.activation), [None]


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", lengths=None, mask=None,
                       reverse=False, time_major=False, training=True):
    """SimpleRNN over a batch of sequences (NumPy twin of fastrnn.ops.simple_rnn_forward)."""
    call = prepare_forward("simple_rnn", x, kernel, recurrent_kernel, bias, h0, None, activation=activation,
                           recurrent_activation="sigmoid", lengths=lengths, mask=mask, reverse=reverse,
                           time_major=time_major)
    outputs, (h,), _ = _forward(call, _simple_rnn_cell, [call.h0.copy()], training)
    return outputs, h, call if training else None


def simple_rnn_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> SimpleRNNGrads:
    """Gradients of a SimpleRNN call (NumPy twin of fastrnn.ops.simple_rnn_backward)."""
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h})
    B, H = cache.steps_batch[1], cache.units
    carry = np.zeros((B, H), cache.x.dtype) if states["d_h"] is None else states["d_h"].copy()
    dx, (dh0,), dkernel, drecurrent, dbias = _backward(cache, _simple_rnn_cell_backward, d_outputs, [carry])
    return SimpleRNNGrads(dx if input_gradient else None, dh0, dkernel, drecurrent, dbias)


# --- LSTM -----------------------------------------------------------------------------------

def _lstm_cell(z, states, call):
    H = call.units
    ra = call.recurrent_activation
    i, f, g, o = (activate(z[:, k * H:(k + 1) * H], ra if k != 2 else call.activation) for k in range(4))
    c = f * states[1] + i * g
    h = o * activate(c, call.activation)
    return h, [h, c], [np.concatenate([i, f, g, o], axis=1), c]


def _lstm_cell_backward(dh, carries, positions, call, previous_cells):
    H, act, ra = call.units, call.activation, call.recurrent_activation
    batch = np.arange(len(positions))
    gates, cells = call.gates[positions, batch], call.cells[positions, batch]
    c_prev = previous_cells[positions, batch]
    i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
    cell_act = activate(cells, act)
    dc = carries[1] + activation_gradient(dh * o, cell_act, act)
    dz = np.concatenate([activation_gradient(dc * g, i, ra), activation_gradient(dc * c_prev, f, ra),
                         activation_gradient(dc * i, g, act), activation_gradient(dh * cell_act, o, ra)], axis=1)
    return dz, [None, dc * f]


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, activation="tanh",
                 recurrent_activation="sigmoid", lengths=None, mask=None, reverse=False, time_major=False,
                 training=True):
    """LSTM over a batch of sequences (NumPy twin of fastrnn.ops.lstm_forward)."""
    call = prepare_forward("lstm", x, kernel, recurrent_kernel, bias, h0, c0, activation=activation,
                           recurrent_activation=recurrent_activation, lengths=lengths, mask=mask, reverse=reverse,
                           time_major=time_major)
    outputs, (h, c), caches = _forward(call, _lstm_cell, [call.h0.copy(), call.c0.copy()], training)
    if training:
        T, B = call.steps_batch
        call.gates, call.cells = caches or [np.zeros((T, B, w), call.x.dtype) for w in (4 * call.units, call.units)]
    return outputs, (h, c), call if training else None


def lstm_backward(cache, d_outputs=None, d_h=None, d_c=None, *, input_gradient=True) -> LSTMGrads:
    """Gradients of an LSTM call (NumPy twin of fastrnn.ops.lstm_backward)."""
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h, "d_c": d_c})
    B, H = cache.steps_batch[1], cache.units
    carries = [np.zeros((B, H), cache.x.dtype) if states[k] is None else states[k].copy() for k in ("d_h", "d_c")]
    cell = functools.partial(_lstm_cell_backward, previous_cells=_previous(cache, cache.cells, cache.c0))
    dx, (dh0, dc0), dkernel, drecurrent, dbias = _backward(cache, cell, d_outputs, carries)
    return LSTMGrads(dx if input_gradient else None, dh0, dc0, dkernel, drecurrent, dbias)


# --- GRU: its own loops (the h gate takes x's part and h's part apart, and reset_after=False makes
# two products per step) ----------------------------------------------------------------------

def _gru_biases(call: RNNCall):
    """(input bias (3H,), recurrent bias (3H,)); without reset_after the recurrent one is zero."""
    if call.reset_after:
        return call.bias[0], call.bias[1]
    return call.bias, np.zeros_like(call.bias)


def gru_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", recurrent_activation="sigmoid",
                reset_after=True, lengths=None, mask=None, reverse=False, time_major=False, training=True):
    """GRU over a batch of sequences (NumPy twin of fastrnn.ops.gru_forward)."""
    call = prepare_forward("gru", x, kernel, recurrent_kernel, bias, h0, None, activation=activation,
                           recurrent_activation=recurrent_activation, lengths=lengths, mask=mask, reverse=reverse,
                           time_major=time_major, reset_after=reset_after)
    T, B = call.steps_batch
    H = call.units
    b_in, b_rec = _gru_biases(call)
    projection = _time_major((_rows(call.x) @ call.kernel).reshape(call.sequence_shape(3 * H)), call) + b_in
    U = call.recurrent_kernel
    outputs, gates = np.zeros((T, B, H), call.x.dtype), np.zeros((T, B, 4 * H), call.x.dtype)
    h = call.h0.copy()
    positions, active = _schedule(call)
    batch = np.arange(B)
    for s in range(T):
        p, run = positions[s], active[s]
        xz, xr, xh = np.split(projection[p, batch], 3, axis=1)
        r_zr = h @ U[:, :2 * H] + b_rec[:2 * H]
        z = activate(xz + r_zr[:, :H], recurrent_activation)
        r = activate(xr + r_zr[:, H:], recurrent_activation)
        r_h = (h @ U[:, 2 * H:] + b_rec[2 * H:]) if call.reset_after else (r * h) @ U[:, 2 * H:]
        hh = activate(xh + (r * r_h if call.reset_after else r_h), activation)
        h_new = z * h + (1 - z) * hh
        gates[p[run], batch[run]] = np.concatenate([z, r, hh, r_h if call.reset_after else r * h], axis=1)[run]
        outputs[p[run], batch[run]] = h_new[run]
        h = np.where(run[:, None], h_new, h)
    outputs = _from_time_major(outputs, call)
    if not training:
        return outputs, h, None
    call.backend, call.outputs, call.gates = "numpy", outputs.copy(), gates
    return outputs, h, call


def gru_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> GRUGrads:
    """Gradients of a GRU call (NumPy twin of fastrnn.ops.gru_backward)."""
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h})
    call = cache
    T, B = call.steps_batch
    H, U = call.units, call.recurrent_kernel
    act, ra = call.activation, call.recurrent_activation
    d_out = None if d_outputs is None else _time_major(d_outputs, call)
    h_prev_all = _previous(call, _time_major(call.outputs, call), call.h0)
    carry = np.zeros((B, H), call.x.dtype) if states["d_h"] is None else states["d_h"].copy()
    dz_x, dz_h = np.zeros((T, B, 3 * H), call.x.dtype), np.zeros((T, B, 3 * H), call.x.dtype)
    positions, active = _schedule(call)
    batch = np.arange(B)
    for s in reversed(range(T)):
        p, run = positions[s], active[s]
        dh = carry + (0 if d_out is None else d_out[p, batch])
        z, r, hh, r_h = np.split(call.gates[p, batch], 4, axis=1)
        h_prev = h_prev_all[p, batch]
        dah = activation_gradient(dh * (1 - z), hh, act)
        dz = activation_gradient(dh * (h_prev - hh), z, ra)
        if call.reset_after:  # r_h is h_{t-1} @ U_h + b_h
            dr = activation_gradient(dah * r_h, r, ra)
            step_h = np.concatenate([dz, dr, dah * r], axis=1)
            new_carry = dh * z + step_h @ U.T
        else:  # r_h is r * h_{t-1}; the product (r * h_{t-1}) @ U_h comes first
            d_reset_h = dah @ U[:, 2 * H:].T
            dr = activation_gradient(d_reset_h * h_prev, r, ra)
            step_h = np.concatenate([dz, dr, dah], axis=1)
            new_carry = dh * z + d_reset_h * r + step_h[:, :2 * H] @ U[:, :2 * H].T
        dz_x[p, batch] = np.where(run[:, None], np.concatenate([dz, dr, dah], axis=1), 0)
        dz_h[p, batch] = np.where(run[:, None], step_h, 0)
        carry = np.where(run[:, None], new_carry, carry)
    x_rows = _rows(call.x)
    dx_rows, dh_rows = _rows(_from_time_major(dz_x, call)), _rows(_from_time_major(dz_h, call))
    h_rows = _rows(_from_time_major(h_prev_all, call))
    dkernel, drecurrent = x_rows.T @ dx_rows, h_rows.T @ dh_rows
    if call.reset_after:
        dbias = np.stack([dx_rows.sum(axis=0), dh_rows.sum(axis=0)])
    else:
        reset_h = _rows(_from_time_major(call.gates[..., 3 * H:], call))
        drecurrent[:, 2 * H:] = reset_h.T @ dh_rows[:, 2 * H:]
        dbias = dx_rows.sum(axis=0)
    dx = (dx_rows @ call.kernel.T).reshape(call.x.shape) if input_gradient else None
    return GRUGrads(dx, carry, dkernel, drecurrent, dbias)


# --- the layers' other kernels --------------------------------------------------------------

def matmul(a, b, transpose_a=False, transpose_b=False):
    """op(a) @ op(b) for 2-D arrays, op transposing where asked (twin of fastrnn.ops.matmul)."""
    return (a.T if transpose_a else a) @ (b.T if transpose_b else b)


def _conv1d_taps(call: Conv1DCall):
    """x with the call's zero padding, and per kernel tap k the padded steps its outputs read."""
    B, T, C = call.x.shape
    padded = np.zeros((B, call.padded_steps, C), call.x.dtype)
    padded[:, call.pad_left:call.pad_left + T] = call.x
    t = np.arange(call.steps) * call.strides
    return padded, [t + k * call.dilation_rate for k in range(call.kernel.shape[0])]


def conv1d_forward(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, training=True):
    """y = sum over taps k of x_padded[:, taps[k]] @ kernel[k], + bias (twin of ops.conv1d_forward)."""
    call = prepare_conv1d_forward(x, kernel, bias, strides=strides, padding=padding, dilation_rate=dilation_rate)
    padded, taps = _conv1d_taps(call)
    y = np.zeros((call.x.shape[0], call.steps, call.kernel.shape[2]), call.x.dtype)
    for k, steps in enumerate(taps):
        y += padded[:, steps] @ call.kernel[k]
    if call.bias is not None:
        y += call.bias
    if not training:
        return y, None
    call.backend = "numpy"
    return y, call


def conv1d_backward(cache, dy, *, input_gradient=True) -> Conv1DGrads:
    """Per tap k: dkernel[k] = x_padded[:, taps[k]]^T dy, and dy @ kernel[k]^T added back onto
    those steps of dx_padded (twin of ops.conv1d_backward)."""
    dy = prepare_conv1d_backward(cache, dy)
    call = cache
    padded, taps = _conv1d_taps(call)
    F = call.kernel.shape[2]
    dkernel = np.stack([padded[:, steps].reshape(-1, padded.shape[2]).T @ dy.reshape(-1, F) for steps in taps])
    dbias = dy.sum(axis=(0, 1)) if call.bias is not None else None
    dx = None
    if input_gradient:
        dpadded = np.zeros_like(padded)
        for k, steps in enumerate(taps):
            dpadded[:, steps] += dy @ call.kernel[k].T  # steps are distinct within one tap
        dx = np.ascontiguousarray(dpadded[:, call.pad_left:call.pad_left + call.x.shape[1]])
    return Conv1DGrads(dx, dkernel, dbias)


def gather_rows(table, ids):
    """table[ids]: rows of a (input_dim, dim) table at integer ids of any shape (twin of ops.gather_rows)."""
    return table[ids]


def sum_rows_by_id(ids, dy, input_dim):
    """(rows, values): the distinct ids ascending, and per id the sum of its dy rows in the order
    they occur (twin of fastrnn.ops.sum_rows_by_id)."""
    dim = dy.shape[-1]
    rows, where = np.unique(np.asarray(ids).ravel(), return_inverse=True)
    values = np.zeros((rows.size, dim), dy.dtype)
    np.add.at(values, where.ravel(), dy.reshape(-1, dim))
    return rows, values


def _update_rows(step, w, arrays, rows):
    """step(w, *arrays) on all of w, or on its rows `rows` (a table's sparse gradient), in place."""
    g, *slots = arrays
    if rows is None:
        return step(w, g, *slots)
    w_rows, slot_rows = w[rows], [s[rows] for s in slots]
    step(w_rows, g, *slot_rows)
    w[rows] = w_rows
    for s, r in zip(slots, slot_rows):
        s[rows] = r


def adam_update(w, g, m, v, c1, c2, alpha, epsilon, rows=None):
    """In place: m += c1 (g - m); v += c2 (g^2 - v); w -= alpha m / (sqrt(v) + epsilon), on w's
    rows `rows` (g then holds those rows) if given (twin of fastrnn.ops.adam_update)."""
    def step(w, g, m, v):
        m += c1 * (g - m)
        v += c2 * (g * g - v)
        w -= alpha * m / (np.sqrt(v) + epsilon)
    _update_rows(step, w, (g, m, v), rows)


def rmsprop_update(w, g, v, rho, c, lr, epsilon, rows=None):
    """In place: v = rho v + c g^2; w -= lr g / sqrt(v + epsilon) (twin of fastrnn.ops.rmsprop_update)."""
    def step(w, g, v):
        v *= rho
        v += c * g * g
        w -= lr * g / np.sqrt(v + epsilon)
    _update_rows(step, w, (g, v), rows)


def momentum_update(w, g, m, momentum, lr, nesterov, rows=None):
    """In place: m = momentum m - lr g; w += m, or Nesterov's momentum m - lr g (twin of
    fastrnn.ops.momentum_update)."""
    def step(w, g, m):
        m *= momentum
        m -= lr * g
        w += momentum * m - lr * g if nesterov else m
    _update_rows(step, w, (g, m), rows)
