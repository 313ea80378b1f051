"""Finite-difference checks in float64 of every gradient of both cells, for the NumPy twin
(the specification) and the C++ kernels."""
import numpy as np
import pytest

from conftest import CELLS, backward, forward, make_problem

CONFIGS = [
    dict(),
    dict(reverse=True),
    dict(lengths=np.array([5, 2, 0])),
    dict(lengths=np.array([3, 5, 1]), reverse=True, time_major=True),
    dict(activation="sigmoid"),
    dict(activation="linear"),
]


def loss_and_grads(cell, x, weights, states, seeds, backend, **kw):
    """A scalar loss touching every output and final state, and its analytic gradients."""
    out, finals, cache = forward(cell, x, weights, states, backend=backend, **kw)
    r_out = np.random.default_rng(seeds).standard_normal(out.shape)
    r_states = [np.random.default_rng(seeds + 1 + i).standard_normal(f.shape) for i, f in enumerate(finals)]
    loss = np.sum(out * r_out) + sum(np.sum(f * r) for f, r in zip(finals, r_states))
    grads = backward(cell, cache, r_out, tuple(r_states)) if cache is not None else None
    return loss, grads


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_gradients_match_finite_differences(rng, backend, cell, config):
    kw = dict(CONFIGS[config])
    time_major = kw.get("time_major", False)
    if cell == "lstm" and config == 4:
        kw["recurrent_activation"] = "hard_sigmoid"
    x, weights, states = make_problem(rng, cell, 3, 5, 4, 3, time_major=time_major, scale=1.0)
    _, grads = loss_and_grads(cell, x, weights, states, 42, backend, **kw)
    inputs = {"x": x, **weights, **states}
    eps = 1e-6
    for name, value in inputs.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            saved = value[idx]
            value[idx] = saved + eps
            plus, _ = loss_and_grads(cell, x, weights, states, 42, backend, training=False, **kw)
            value[idx] = saved - eps
            minus, _ = loss_and_grads(cell, x, weights, states, 42, backend, training=False, **kw)
            value[idx] = saved
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(getattr(grads, name), numeric, rtol=1e-6, atol=1e-8, err_msg=name)
