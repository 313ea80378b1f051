"""Shared test fixtures: a seeded random generator and RNN problems with Keras-layout weights."""
import numpy as np
import pytest

import fastrnn

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3, "gru_reset_before": 3}
CELLS = list(GATES)  # "gru": reset_after=True (Keras 3, PyTorch); "gru_reset_before": reset_after=False


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def tune():
    """fastrnn.tuning.set for this test; the knobs are put back after it."""
    before = fastrnn.tuning.get()
    yield fastrnn.tuning.set
    fastrnn.tuning.set(**before)


def make_problem(rng, cell, B, T, D, H, dtype=np.float64, time_major=False, scale=0.5):
    """Random inputs, weights and initial states for one layer call, in the given layout."""
    G = GATES[cell]
    x = rng.standard_normal((T, B, D) if time_major else (B, T, D))
    weights = {
        "kernel": rng.standard_normal((D, G * H)) * scale / np.sqrt(D),
        "recurrent_kernel": rng.standard_normal((H, G * H)) * scale / np.sqrt(H),
        "bias": rng.standard_normal((2, G * H) if cell == "gru" else G * H) * 0.1,
    }
    states = {"h0": rng.standard_normal((B, H)) * 0.5}
    if cell == "lstm":
        states["c0"] = rng.standard_normal((B, H)) * 0.5
    cast = lambda a: a.astype(dtype)
    return cast(x), {k: cast(v) for k, v in weights.items()}, {k: cast(v) for k, v in states.items()}


def forward(cell, x, weights, states, **kw):
    """ops.<cell>_forward with a uniform return: (outputs, final states tuple, cache)."""
    if cell == "lstm":
        out, (h, c), cache = fastrnn.ops.lstm_forward(x, **weights, **states, **kw)
        return out, (h, c), cache
    if cell.startswith("gru"):
        out, h, cache = fastrnn.ops.gru_forward(x, **weights, **states, reset_after=cell == "gru", **kw)
        return out, (h,), cache
    out, h, cache = fastrnn.ops.simple_rnn_forward(x, **weights, **states, **kw)
    return out, (h,), cache


def backward(cell, cache, d_outputs, d_states, **kw):
    """ops.<cell>_backward with d_states a tuple (d_h,) or (d_h, d_c)."""
    if cell == "lstm":
        return fastrnn.ops.lstm_backward(cache, d_outputs, *d_states, **kw)
    if cell.startswith("gru"):
        return fastrnn.ops.gru_backward(cache, d_outputs, *d_states, **kw)
    return fastrnn.ops.simple_rnn_backward(cache, d_outputs, *d_states, **kw)


def numeric_grad(f, array, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of `array` (in place)."""
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        old = array[i]
        array[i] = old + eps
        up = f()
        array[i] = old - eps
        down = f()
        array[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad
