"""The pure-NumPy twin of every fastrnn kernel: the specification, the test oracle, and the
"numpy" backend.

Same signatures and results as fastrnn.ops. Written for clarity over speed: one step at a time,
vectorised over the batch. Never imports the C++ core.

    h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)                 (SimpleRNN)
    z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias = [z_i|z_f|z_c|z_o]   (LSTM)
    i, f, o = ra(z_i), ra(z_f), ra(z_o); g = act(z_c); c_t = f c_{t-1} + i g; h_t = o act(c_t)

With `lengths`, steps past a sequence's length leave its state unchanged and output zeros;
`reverse` consumes each sequence from its last valid step to its first, outputs staying aligned
with the input positions.
"""
from __future__ import annotations

import numpy as np

from .validation import GATES, LSTMGrads, RNNCall, SimpleRNNGrads, prepare_backward, prepare_forward


def activate(z: np.ndarray, name: str) -> np.ndarray:
    """The activation `name` applied element-wise."""
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-z))
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return np.clip(z + 3, 0, 6) / 6
    return z  # linear


def times_derivative(grad: np.ndarray, y: np.ndarray, name: str) -> np.ndarray:
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


def _time_major(a: np.ndarray, call: RNNCall) -> np.ndarray:
    """A (T, B, ...) view of a sequence array in the call's layout."""
    return a if call.time_major else a.swapaxes(0, 1)


def _from_time_major(a: np.ndarray, call: RNNCall) -> np.ndarray:
    return np.ascontiguousarray(a if call.time_major else a.swapaxes(0, 1))


def _step_positions(call: RNNCall, s: int):
    """For step s: which sequences are still running, and the position each one reads.

    A finished sequence gets position s, which is past its length (where its output is zero).
    """
    T, B = call.steps_batch
    lengths = np.full(B, T) if call.lengths is None else call.lengths.astype(np.int64)
    active = s < lengths
    positions = lengths - 1 - s if call.reverse else np.full(B, s)
    return active, np.where(active, positions, s)


def _previous_states(call: RNNCall, states_tm: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """(T, B, H): the state each position consumed (zero past a sequence's length)."""
    T, B = call.steps_batch
    previous = np.zeros_like(states_tm)
    batch = np.arange(B)
    for s in range(T):
        active, positions = _step_positions(call, s)
        if s == 0:
            before = initial
        else:
            _, last = _step_positions(call, s - 1)
            before = states_tm[last, batch]
        previous[positions[active], batch[active]] = before[active]
    return previous


def _rows(a: np.ndarray) -> np.ndarray:
    """A (batch, time, width) array in either layout as (positions, width), sizes of zero included."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


def _forward(call: RNNCall, training: bool):
    """Run the recurrence; fills call.outputs/gates/cells when training. Returns outputs, h, c."""
    T, B = call.steps_batch
    H, G = call.units, GATES[call.cell]
    dtype = call.x.dtype
    projection = _time_major((_rows(call.x) @ call.kernel).reshape(call.sequence_shape(G * H)), call)
    outputs = np.zeros((T, B, H), dtype)
    gates = np.zeros((T, B, G * H), dtype)
    cells = np.zeros((T, B, H), dtype)
    h = call.h0.copy()
    c = None if call.c0 is None else call.c0.copy()
    batch = np.arange(B)
    for s in range(T):
        active, positions = _step_positions(call, s)
        z = projection[positions, batch] + h @ call.recurrent_kernel + call.bias
        if call.cell == "simple_rnn":
            h_new = activate(z, call.activation)
        else:
            ra = call.recurrent_activation
            i, f, g, o = (activate(z[:, k * H:(k + 1) * H], ra if k != 2 else call.activation) for k in range(4))
            c_new = f * c + i * g
            h_new = o * activate(c_new, call.activation)
            gates[positions[active], batch[active]] = np.concatenate([i, f, g, o], axis=1)[active]
            cells[positions[active], batch[active]] = c_new[active]
            c = np.where(active[:, None], c_new, c)
        h = np.where(active[:, None], h_new, h)
        outputs[positions[active], batch[active]] = h_new[active]
    outputs = _from_time_major(outputs, call)
    if training:
        call.backend = "numpy"
        call.outputs = outputs.copy()
        if call.cell == "lstm":
            call.gates, call.cells = _from_time_major(gates, call), _from_time_major(cells, call)
    return outputs, h, c


def _weight_gradients(call: RNNCall, dz_tm: np.ndarray, h_prev_tm: np.ndarray):
    """dx, dkernel, drecurrent_kernel, dbias from dz at all positions at once."""
    dz = _rows(_from_time_major(dz_tm, call))
    x = _rows(call.x)
    h_prev = _rows(_from_time_major(h_prev_tm, call))
    dx = (dz @ call.kernel.T).reshape(call.x.shape)
    return dx, x.T @ dz, h_prev.T @ dz, dz.sum(axis=0)


def _backward(call: RNNCall, d_outputs, d_h, d_c):
    T, B = call.steps_batch
    H, G = call.units, GATES[call.cell]
    dtype = call.x.dtype
    outputs = _time_major(call.outputs, call)
    d_out = None if d_outputs is None else _time_major(d_outputs, call)
    if call.cell == "lstm":
        gates, cells = call.lstm_caches(time_major=True)
        c_prev_all = _previous_states(call, cells, call.c0)
    carry_h = np.zeros((B, H), dtype) if d_h is None else d_h.copy()
    carry_c = np.zeros((B, H), dtype) if d_c is None else d_c.copy()
    dz = np.zeros((T, B, G * H), dtype)
    batch = np.arange(B)
    for s in reversed(range(T)):
        active, positions = _step_positions(call, s)
        rows = (positions[active], batch[active])
        dh = carry_h[active] + (0 if d_out is None else d_out[rows])
        if call.cell == "simple_rnn":
            dz_step = times_derivative(dh, outputs[rows], call.activation)
        else:
            i, f, g, o = (gates[rows][:, k * H:(k + 1) * H] for k in range(4))
            cell_act = activate(cells[rows], call.activation)
            d_o = dh * cell_act
            dc = carry_c[active] + times_derivative(dh * o, cell_act, call.activation)
            ra = call.recurrent_activation
            dz_step = np.concatenate([
                times_derivative(dc * g, i, ra),
                times_derivative(dc * c_prev_all[rows], f, ra),
                times_derivative(dc * i, g, call.activation),
                times_derivative(d_o, o, ra),
            ], axis=1)
            carry_c[active] = dc * f
        dz[rows] = dz_step
        full = np.zeros((B, G * H), dtype)
        full[active] = dz_step
        carry_h[active] = (full @ call.recurrent_kernel.T)[active]
    h_prev = _previous_states(call, outputs, call.h0)
    dx, dkernel, drecurrent, dbias = _weight_gradients(call, dz, h_prev)
    return dx, carry_h, carry_c, dkernel, drecurrent, dbias


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", lengths=None,
                       reverse=False, time_major=False, training=True):
    """SimpleRNN over a batch of sequences (NumPy twin of fastrnn.ops.simple_rnn_forward)."""
    call = prepare_forward("simple_rnn", x, kernel, recurrent_kernel, bias, h0, None, activation=activation,
                           recurrent_activation="sigmoid", lengths=lengths, reverse=reverse, time_major=time_major)
    outputs, h, _ = _forward(call, training)
    return outputs, h, call if training else None


def simple_rnn_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> SimpleRNNGrads:
    """Gradients of a SimpleRNN call (NumPy twin of fastrnn.ops.simple_rnn_backward)."""
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h})
    dx, dh0, _, dkernel, drecurrent, dbias = _backward(cache, d_outputs, states["d_h"], None)
    return SimpleRNNGrads(dx if input_gradient else None, dh0, dkernel, drecurrent, dbias)


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, activation="tanh",
                 recurrent_activation="sigmoid", lengths=None, reverse=False, time_major=False, training=True):
    """LSTM over a batch of sequences (NumPy twin of fastrnn.ops.lstm_forward)."""
    call = prepare_forward("lstm", x, kernel, recurrent_kernel, bias, h0, c0, activation=activation,
                           recurrent_activation=recurrent_activation, lengths=lengths, reverse=reverse,
                           time_major=time_major)
    outputs, h, c = _forward(call, training)
    return outputs, (h, c), call if training else None


def lstm_backward(cache, d_outputs=None, d_h=None, d_c=None, *, input_gradient=True) -> LSTMGrads:
    """Gradients of an LSTM call (NumPy twin of fastrnn.ops.lstm_backward)."""
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h, "d_c": d_c})
    dx, dh0, dc0, dkernel, drecurrent, dbias = _backward(cache, d_outputs, states["d_h"], states["d_c"])
    return LSTMGrads(dx if input_gradient else None, dh0, dc0, dkernel, drecurrent, dbias)
