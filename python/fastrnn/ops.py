"""fastrnn's functional API: every kernel, NumPy arrays in and out. The recurrent cells' forward and
backward (SimpleRNN, LSTM), and the kernels the layers and optimizers run on (matmul, activate,
conv1d_forward and conv1d_backward for Conv1D, gather_rows and sum_rows_by_id for embeddings, the
Adam, RMSprop and momentum updates).

Weights use the Keras layout: kernel (D, G*H), recurrent_kernel (H, G*H), bias (G*H,), with
G = 1 (SimpleRNN) or 4 (LSTM, gates i, f, c, o). x is (B, T, D), or (T, B, D) with
time_major=True; outputs follow x's layout. Every function takes `backend=` ("cpu", "numpy",
"cuda"); without it the current backend (fastrnn.set_backend) is used. Backward runs on the
backend that made the cache unless `backend=` says otherwise (caches are interchangeable).
`KERNELS` lists the table; fastrnn.backend picks the implementation.

Dtypes: the arrays are promoted together as NumPy would; integers and bools compute in float64,
float16 is upcast to float32. Results have that dtype.
"""
from __future__ import annotations

import numpy as np

from .backend import KERNELS, implementation
from .validation import (ACTIVATIONS, PADDINGS, Conv1DCall, Conv1DGrads, GRUGrads, LSTMGrads, RNNCall,
                         SimpleRNNGrads, check_choice)

__all__ = list(KERNELS) + ["KERNELS", "ACTIVATIONS", "PADDINGS", "SimpleRNNGrads", "LSTMGrads", "GRUGrads",
                          "RNNCall", "Conv1DGrads", "Conv1DCall"]


def _check_flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"argument {name!r} must be True or False, got {value!r}")


def _backend_of(cache, backend):
    if backend is not None:
        return backend
    return getattr(cache, "backend", None) or None


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", lengths=None, mask=None,
                       reverse=False, time_major=False, training=True, backend=None):
    """Run a SimpleRNN, h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias), over a batch.

    Args:
        x: (B, T, D) inputs, or (T, B, D) with time_major=True.
        kernel: (D, H). recurrent_kernel: (H, H). bias: (H,) or None for no bias.
        h0: (B, H) initial state, or None for zeros.
        activation: "tanh" (default), "relu", "sigmoid", "linear" or "hard_sigmoid".
        lengths: (B,) integers in [0, T]: valid steps per (right-padded) sequence. Past its length
            a sequence keeps its state and outputs zeros.
        mask: (B, T) bools, instead of lengths: the steps each sequence consumes (left or right
            padding, or holes: Keras masks); at the others the state carries over and the output
            is zero.
        reverse: consume each sequence from its last valid step to its first; output t is still the
            state after consuming input t.
        training: keep the cache backward needs (False: cache is None).
        backend: "cpu", "numpy" or "cuda" for this call.

    Returns:
        outputs (B, T, H) or (T, B, H), h_T (B, H) the state after each sequence's last valid step,
        and the cache for simple_rnn_backward.

    Example:
        >>> out, h, cache = ops.simple_rnn_forward(x, W, U, b)
        >>> grads = ops.simple_rnn_backward(cache, d_outputs=np.ones_like(out))
    """
    return implementation(backend).simple_rnn_forward(
        x, kernel, recurrent_kernel, bias, h0, activation=activation, lengths=lengths, mask=mask, reverse=reverse,
        time_major=time_major, training=training)


def simple_rnn_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True, backend=None) -> SimpleRNNGrads:
    """Backpropagate through a SimpleRNN call.

    Args:
        cache: the third result of simple_rnn_forward(training=True).
        d_outputs: gradient on outputs (same shape), or None. d_h: gradient on h_T (B, H), or None.
        input_gradient: False skips the gradient on x (grads.x is None), as for a first layer
            fed with data; the cpu backend then saves one product.

    Returns:
        SimpleRNNGrads with fields x, h0, kernel, recurrent_kernel, bias (h0's gradient is returned
        even when h0 was None).
    """
    _check_flag("input_gradient", input_gradient)
    return implementation(_backend_of(cache, backend)).simple_rnn_backward(cache, d_outputs, d_h,
                                                                           input_gradient=input_gradient)


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, activation="tanh",
                 recurrent_activation="sigmoid", lengths=None, mask=None, reverse=False, time_major=False,
                 training=True, backend=None):
    """Run an LSTM (Keras gate order i, f, c, o) over a batch of sequences.

    z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias; i, f, o = ra(z_i), ra(z_f), ra(z_o);
    g = act(z_c); c_t = f * c_{t-1} + i * g; h_t = o * act(c_t).

    Args:
        x: (B, T, D), or (T, B, D) with time_major=True.
        kernel: (D, 4H). recurrent_kernel: (H, 4H). bias: (4H,) or None.
        h0, c0: (B, H) initial states, or None for zeros.
        activation: act, default "tanh". recurrent_activation: ra, default "sigmoid" (also
            "hard_sigmoid", Keras 3's relu6(x + 3) / 6, or any name in ACTIVATIONS).
        lengths, mask, reverse, time_major, training, backend: as in simple_rnn_forward.

    Returns:
        outputs, (h_T, c_T), cache.

    Example:
        >>> out, (h, c), cache = ops.lstm_forward(x, W, U, b)
        >>> grads = ops.lstm_backward(cache, d_h=np.ones_like(h))
    """
    return implementation(backend).lstm_forward(
        x, kernel, recurrent_kernel, bias, h0, c0, activation=activation,
        recurrent_activation=recurrent_activation, lengths=lengths, mask=mask, reverse=reverse,
        time_major=time_major, training=training)


def lstm_backward(cache, d_outputs=None, d_h=None, d_c=None, *, input_gradient=True, backend=None) -> LSTMGrads:
    """Backpropagate through an LSTM call.

    Args:
        cache: the third result of lstm_forward(training=True).
        d_outputs: gradient on outputs, or None. d_h, d_c: gradients on h_T and c_T (B, H), or None.
        input_gradient: as in simple_rnn_backward.

    Returns:
        LSTMGrads with fields x, h0, c0, kernel, recurrent_kernel, bias.
    """
    _check_flag("input_gradient", input_gradient)
    return implementation(_backend_of(cache, backend)).lstm_backward(cache, d_outputs, d_h, d_c,
                                                                     input_gradient=input_gradient)


def gru_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", recurrent_activation="sigmoid",
                reset_after=True, lengths=None, mask=None, reverse=False, time_major=False, training=True,
                backend=None):
    """Run a GRU (Keras gate order z, r, h) over a batch of sequences.

    [x_z|x_r|x_h] = x_t @ kernel + b; [r_z|r_r|r_h] = h_{t-1} @ recurrent_kernel + b_r;
    z, r = ra(x_z + r_z), ra(x_r + r_r); hh = act(x_h + r * r_h); h_t = z * h_{t-1} + (1 - z) * hh.
    With reset_after=False (Keras 2's default): hh = act(x_h + (r * h_{t-1}) @ recurrent_kernel_h + b_h),
    and no b_r.

    Args:
        x: (B, T, D), or (T, B, D) with time_major=True.
        kernel: (D, 3H). recurrent_kernel: (H, 3H).
        bias: (2, 3H), [b; b_r], with reset_after (Keras 3's default, PyTorch's nn.GRU); (3H,)
            without; or None for zeros.
        h0: (B, H) initial state, or None for zeros.
        activation, recurrent_activation: act ("tanh") and ra ("sigmoid"), names in ACTIVATIONS.
        lengths, mask, reverse, time_major, training, backend: as in simple_rnn_forward.

    Returns:
        outputs, h_T (B, H), cache.

    Example:
        >>> out, h, cache = ops.gru_forward(x, W, U, np.zeros((2, 3 * H)))
        >>> grads = ops.gru_backward(cache, d_h=np.ones_like(h))
    """
    return implementation(backend).gru_forward(
        x, kernel, recurrent_kernel, bias, h0, activation=activation, recurrent_activation=recurrent_activation,
        reset_after=reset_after, lengths=lengths, mask=mask, reverse=reverse, time_major=time_major,
        training=training)


def gru_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True, backend=None) -> GRUGrads:
    """Backpropagate through a GRU call.

    Args:
        cache: the third result of gru_forward(training=True).
        d_outputs: gradient on outputs, or None. d_h: gradient on h_T (B, H), or None.
        input_gradient: as in simple_rnn_backward.

    Returns:
        GRUGrads with fields x, h0, kernel, recurrent_kernel, bias (shaped like the call's bias).
    """
    _check_flag("input_gradient", input_gradient)
    return implementation(_backend_of(cache, backend)).gru_backward(cache, d_outputs, d_h,
                                                                    input_gradient=input_gradient)


# --- the layers' and optimizers' kernels --------------------------------------------------------

def activate(x, activation, *, backend=None):
    """activation(x) element-wise, one of ACTIVATIONS, with the recurrent kernels' own code.

    Example:
        >>> ops.activate(np.array([0.0, 20.0]), "tanh")
        array([0., 1.])
    """
    check_choice("activation", activation)
    return implementation(backend).activate(x, activation)


def matmul(a, b, transpose_a=False, transpose_b=False, *, backend=None):
    """op(a) @ op(b) for 2-D arrays, op transposing where asked (on the cpu backend, on fastrnn's
    threads: NumPy's BLAS threads keep spinning after a product and slowed the kernels 2x in fit).

    Example:
        >>> ops.matmul(x, kernel).shape == (x.shape[0], kernel.shape[1])
        True
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"arguments 'a' and 'b' must be 2-D, got shapes {a.shape} and {b.shape}")
    if (a.shape[0] if transpose_a else a.shape[1]) != (b.shape[1] if transpose_b else b.shape[0]):
        raise ValueError(f"arguments 'a' {a.shape} and 'b' {b.shape} do not multiply (transpose_a={transpose_a}, "
                         f"transpose_b={transpose_b})")
    return implementation(backend).matmul(a, b, transpose_a, transpose_b)


def conv1d_forward(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, training=True,
                   backend=None):
    """A 1-D convolution over time (Keras' Conv1D without its activation), channels last:
    y[b, t, f] = bias[f] + sum over k, c of xp[b, t * strides + k * dilation_rate, c] kernel[k, c, f],
    xp being x with the padding's zeros on its time axis.

    Args:
        x: (B, T, C) inputs.
        kernel: (K, C, F), Keras' layout (kernel_size, input channels, filters).
        bias: (F,), or None for no bias.
        strides, dilation_rate: positive ints.
        padding: "valid" (no padding; T must reach the dilated window, (K - 1) * dilation_rate + 1),
            "same" (ceil(T / strides) outputs, zeros split as TensorFlow does: the odd one on the right)
            or "causal" ((K - 1) * dilation_rate zeros on the left: output t sees no input after t).
        training: keep the cache conv1d_backward needs (False: cache is None).
        backend: "cpu", "numpy" or "cuda" for this call.

    Returns:
        y (B, T_out, F) and the cache for conv1d_backward.

    Example:
        >>> y, cache = ops.conv1d_forward(np.ones((2, 10, 3)), np.ones((7, 3, 4)), padding="same")
        >>> y.shape, ops.conv1d_backward(cache, np.ones_like(y)).kernel.shape
        ((2, 10, 4), (7, 3, 4))
    """
    return implementation(backend).conv1d_forward(x, kernel, bias, strides=strides, padding=padding,
                                                  dilation_rate=dilation_rate, training=training)


def conv1d_backward(cache, dy, *, input_gradient=True, backend=None) -> Conv1DGrads:
    """Backpropagate through a conv1d_forward call.

    Args:
        cache: the second result of conv1d_forward(training=True).
        dy: gradient on y, (B, T_out, F).
        input_gradient: False skips the gradient on x (grads.x is None), as for a first layer.

    Returns:
        Conv1DGrads with fields x (B, T, C), kernel (K, C, F), bias (F,) (None when the forward
        call had no bias).
    """
    _check_flag("input_gradient", input_gradient)
    return implementation(_backend_of(cache, backend)).conv1d_backward(cache, dy, input_gradient=input_gradient)


def gather_rows(table, ids, *, backend=None):
    """table[ids]: the rows of a (input_dim, dim) table at integer ids in [0, input_dim), any shape.

    Example:
        >>> ops.gather_rows(np.eye(3), np.array([[2, 0]])).shape
        (1, 2, 3)
    """
    return implementation(backend).gather_rows(table, ids)


def sum_rows_by_id(ids, dy, input_dim, *, backend=None):
    """An embedding's sparse gradient: (rows, values), rows (m,) the distinct ids ascending,
    values (m, dim) the sum of dy's rows where each occurs, added in the order they occur.

    Args:
        ids: integer ids in [0, input_dim), any shape. dy: ids' shape + (dim,).

    Example:
        >>> rows, values = ops.sum_rows_by_id(np.array([3, 1, 3]), np.ones((3, 2)), 5)
        >>> rows, values[0]
        (array([1, 3]), array([1., 1.]))
    """
    return implementation(backend).sum_rows_by_id(ids, dy, input_dim)


def adam_update(w, g, m, v, c1, c2, alpha, epsilon, rows=None, *, backend=None):
    """One Adam step in place: m += c1 (g - m); v += c2 (g^2 - v); w -= alpha m / (sqrt(v) + epsilon).

    Args:
        w, m, v: the weight and its slots, updated in place. g: the gradient, w's shape, or with
            rows, the rows' (a table's sparse gradient). c1, c2: 1 - beta_1, 1 - beta_2. alpha:
            the step size with the bias corrections in it. rows: distinct row indices of w, or None.
    """
    return implementation(backend).adam_update(w, g, m, v, c1, c2, alpha, epsilon, rows)


def rmsprop_update(w, g, v, rho, c, lr, epsilon, rows=None, *, backend=None):
    """One RMSprop step in place: v = rho v + c g^2 (c = 1 - rho); w -= lr g / sqrt(v + epsilon).
    rows as in adam_update."""
    return implementation(backend).rmsprop_update(w, g, v, rho, c, lr, epsilon, rows)


def momentum_update(w, g, m, momentum, lr, nesterov, rows=None, *, backend=None):
    """One SGD-with-momentum step in place: m = momentum m - lr g; w += m (Nesterov: w +=
    momentum m - lr g). rows as in adam_update."""
    return implementation(backend).momentum_update(w, g, m, momentum, lr, nesterov, rows)
