"""fastrnn's functional API: SimpleRNN and LSTM forward and backward, NumPy arrays in and out.

Weights use the Keras layout: kernel (D, G*H), recurrent_kernel (H, G*H), bias (G*H,), with
G = 1 (SimpleRNN) or 4 (LSTM, gates i, f, c, o). x is (B, T, D), or (T, B, D) with
time_major=True; outputs follow x's layout. Every function takes `backend=` ("cpu", "numpy",
"cuda"); without it the current backend (fastrnn.set_backend) is used. Backward runs on the
backend that made the cache unless `backend=` says otherwise (caches are interchangeable).

Dtypes: the arrays are promoted together as NumPy would; integers and bools compute in float64,
float16 is upcast to float32. Results have that dtype.
"""
from __future__ import annotations

import numpy as np

from .backend import implementation
from .validation import ACTIVATIONS, LSTMGrads, RNNCall, SimpleRNNGrads

__all__ = ["simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward", "ACTIVATIONS",
           "SimpleRNNGrads", "LSTMGrads", "RNNCall"]


def _check_flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"argument {name!r} must be True or False, got {value!r}")


def _backend_of(cache, backend):
    if backend is not None:
        return backend
    return getattr(cache, "backend", None) or None


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", lengths=None,
                       reverse=False, time_major=False, training=True, backend=None):
    """Run a SimpleRNN, h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias), over a batch.

    Args:
        x: (B, T, D) inputs, or (T, B, D) with time_major=True.
        kernel: (D, H). recurrent_kernel: (H, H). bias: (H,) or None for no bias.
        h0: (B, H) initial state, or None for zeros.
        activation: "tanh" (default), "relu", "sigmoid", "linear" or "hard_sigmoid".
        lengths: (B,) integers in [0, T]: valid steps per (right-padded) sequence. Past its length
            a sequence keeps its state and outputs zeros.
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
        x, kernel, recurrent_kernel, bias, h0, activation=activation, lengths=lengths, reverse=reverse,
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
                 recurrent_activation="sigmoid", lengths=None, reverse=False, time_major=False, training=True,
                 backend=None):
    """Run an LSTM (Keras gate order i, f, c, o) over a batch of sequences.

    z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias; i, f, o = ra(z_i), ra(z_f), ra(z_o);
    g = act(z_c); c_t = f * c_{t-1} + i * g; h_t = o * act(c_t).

    Args:
        x: (B, T, D), or (T, B, D) with time_major=True.
        kernel: (D, 4H). recurrent_kernel: (H, 4H). bias: (4H,) or None.
        h0, c0: (B, H) initial states, or None for zeros.
        activation: act, default "tanh". recurrent_activation: ra, default "sigmoid" (also
            "hard_sigmoid", Keras 3's relu6(x + 3) / 6, or any name in ACTIVATIONS).
        lengths, reverse, time_major, training, backend: as in simple_rnn_forward.

    Returns:
        outputs, (h_T, c_T), cache.

    Example:
        >>> out, (h, c), cache = ops.lstm_forward(x, W, U, b)
        >>> grads = ops.lstm_backward(cache, d_h=np.ones_like(h))
    """
    return implementation(backend).lstm_forward(
        x, kernel, recurrent_kernel, bias, h0, c0, activation=activation,
        recurrent_activation=recurrent_activation, lengths=lengths, reverse=reverse, time_major=time_major,
        training=training)


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
