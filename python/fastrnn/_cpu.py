"""The "cpu" backend: fastrnn.ops' signatures over the C++ core (_core).

Validation is shared with the NumPy twin (validation.py); this module only maps a prepared
call onto the core's functions, which allocate the results and release the GIL.
"""
from __future__ import annotations

from . import _core

if _core is None:  # fastrnn/__init__.py could not load the C++ core: say why
    from . import _core_error

    raise ImportError(f"fastrnn's C++ core is not available: {_core_error}")
from .validation import ACTIVATIONS, LSTMGrads, SimpleRNNGrads, prepare_backward, prepare_forward


def _code(name: str) -> int:
    return ACTIVATIONS.index(name)


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", lengths=None,
                       reverse=False, time_major=False, training=True):
    call = prepare_forward("simple_rnn", x, kernel, recurrent_kernel, bias, h0, None, activation=activation,
                           recurrent_activation="sigmoid", lengths=lengths, reverse=reverse, time_major=time_major)
    outputs, h, saved = _core.simple_rnn_forward(call.x, call.kernel, call.recurrent_kernel, call.bias, call.h0,
                                                 call.lengths, _code(call.activation), call.reverse, call.time_major,
                                                 training)
    if not training:
        return outputs, h, None
    call.backend, call.outputs = "cpu", saved  # a copy: the caller may modify outputs
    return outputs, h, call


def simple_rnn_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> SimpleRNNGrads:
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h})
    c = cache
    grads = _core.simple_rnn_backward(c.x, c.kernel, c.recurrent_kernel, c.h0, c.outputs, c.lengths,
                                      _code(c.activation), c.reverse, c.time_major, d_outputs, states["d_h"],
                                      input_gradient)
    return SimpleRNNGrads(*grads)


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, activation="tanh",
                 recurrent_activation="sigmoid", lengths=None, reverse=False, time_major=False, training=True):
    call = prepare_forward("lstm", x, kernel, recurrent_kernel, bias, h0, c0, activation=activation,
                           recurrent_activation=recurrent_activation, lengths=lengths, reverse=reverse,
                           time_major=time_major)
    outputs, h, c, gates, cells, saved = _core.lstm_forward(
        call.x, call.kernel, call.recurrent_kernel, call.bias, call.h0, call.c0, call.lengths,
        _code(call.activation), _code(call.recurrent_activation), call.reverse, call.time_major, training)
    if not training:
        return outputs, (h, c), None
    call.backend, call.outputs, call.gates, call.cells = "cpu", saved, gates, cells  # saved: a copy of outputs
    call.caches_time_major = True  # gates and cells are (T, B, *): the C++ backward reads them by steps
    return outputs, (h, c), call


def lstm_backward(cache, d_outputs=None, d_h=None, d_c=None, *, input_gradient=True) -> LSTMGrads:
    d_outputs, states = prepare_backward(cache, d_outputs, {"d_h": d_h, "d_c": d_c})
    c = cache
    grads = _core.lstm_backward(c.x, c.kernel, c.recurrent_kernel, c.h0, c.c0, c.outputs, c.gates, c.cells,
                                c.lengths, _code(c.activation), _code(c.recurrent_activation), c.reverse,
                                c.time_major, d_outputs, states["d_h"], states["d_c"], input_gradient,
                                c.caches_time_major)
    return LSTMGrads(*grads)
