"""The C++ kernels (backend "cpu") against the NumPy twin on a grid of shapes, layouts,
lengths, directions and activations, forward and backward, in float32 and float64."""
import itertools

import numpy as np
import pytest

import fastrnn
from fastrnn.validation import ACTIVATIONS

from conftest import CELLS, backward, forward, make_problem

SIZES = [(5, 4), (1, 17), (33, 3), (70, 5)]  # (D, H): odd, below and above one SIMD vector; D = 70:
# x wider than the 4 vectors of the narrow-x input gradient (weight_gradients.h), so dx comes from BLAS
GRID = list(itertools.product(CELLS, [1, 3, 64], [1, 7, 50], [False, True], [False, True],
                              [False, True]))


def tolerance(dtype):
    # float64 runs the same math as the reference; float32 is compared with the float64 reference
    # (its own rounding, fast tanh/exp and a different summation order in the BLAS).
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)


def make_lengths(rng, B, T):
    lengths = rng.integers(0, T + 1, size=B)
    lengths[0] = T  # at least one full sequence
    return lengths


def run_both(cell, x, weights, states, seed, **kw):
    """(reference results in float64, cpu results in x's dtype) for forward + backward."""
    rng = np.random.default_rng(seed)
    results = []
    for backend, cast in (("numpy", np.float64), ("cpu", x.dtype)):
        c = lambda a: a.astype(cast)
        out, finals, cache = forward(cell, c(x), {k: c(v) for k, v in weights.items()},
                                     {k: c(v) for k, v in states.items()}, backend=backend, **kw)
        d_out = c(np.random.default_rng(seed).standard_normal(out.shape))
        d_states = tuple(c(np.random.default_rng(seed + 1 + i).standard_normal(f.shape)) for i, f in enumerate(finals))
        grads = backward(cell, cache, d_out, d_states)
        results.append((out, finals, grads))
    return results


def assert_close(got, want, dtype, what):
    np.testing.assert_allclose(got, want, err_msg=what, **tolerance(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell,B,T,time_major,reverse,use_lengths", GRID)
def test_cpu_matches_reference(rng, dtype, cell, B, T, time_major, reverse, use_lengths):
    case = GRID.index((cell, B, T, time_major, reverse, use_lengths))
    D, H = SIZES[case % len(SIZES)]
    activation = ACTIVATIONS[case % len(ACTIVATIONS)]
    x, weights, states = make_problem(rng, cell, B, T, D, H, time_major=time_major)
    kw = dict(activation=activation, reverse=reverse, time_major=time_major,
              lengths=make_lengths(rng, B, T) if use_lengths else None)
    if cell == "lstm":
        kw["recurrent_activation"] = ("sigmoid", "hard_sigmoid")[case % 2]
    ref, got = run_both(cell, x.astype(dtype), weights, states, seed=case, **kw)
    assert got[0].dtype == dtype
    assert_close(got[0], ref[0], dtype, "outputs")
    for g, r in zip(got[1], ref[1]):
        assert_close(g, r, dtype, "final state")
    for name, g, r in zip(ref[2]._fields, got[2], ref[2]):
        assert g.dtype == dtype and g.shape == r.shape, name
        assert_close(g, r, dtype, f"gradient of {name}")


@pytest.mark.parametrize("activation,recurrent_activation", itertools.product(ACTIVATIONS, ACTIVATIONS))
def test_lstm_every_activation_pair(rng, activation, recurrent_activation):
    x, weights, states = make_problem(rng, "lstm", 3, 6, 5, 19)
    ref, got = run_both("lstm", x, weights, states, seed=7, activation=activation,
                        recurrent_activation=recurrent_activation)
    for r, g in zip([ref[0], *ref[1], *ref[2]], [got[0], *got[1], *got[2]]):
        assert_close(g, r, np.float64, f"{activation}/{recurrent_activation}")


def test_long_sequence_float32(rng):
    x, weights, states = make_problem(rng, "lstm", 4, 300, 8, 24)
    ref, got = run_both("lstm", x.astype(np.float32), weights, states, seed=3)
    assert_close(got[0], ref[0], np.float32, "outputs")
    for name, g, r in zip(ref[2]._fields, got[2], ref[2]):
        assert_close(g, r, np.float32, name)


@pytest.mark.parametrize("level", ["baseline", "avx2", "avx512"])
@pytest.mark.parametrize("cell", CELLS)
def test_every_simd_level(rng, level, cell):
    core = fastrnn._core
    order = ["baseline", "avx2", "avx512"]
    if order.index(level) > order.index(core.detected_simd_level()):
        pytest.skip(f"this CPU does not support {level} (best: {core.detected_simd_level()})")
    # H = 37 leaves a remainder after 16- and 8-wide vectors and splits unevenly across threads
    x, weights, states = make_problem(rng, cell, 5, 9, 7, 37)
    previous = core.simd_level()
    try:
        core.set_simd_level(level)
        for dtype in (np.float32, np.float64):
            ref, got = run_both(cell, x.astype(dtype), weights, states, seed=11,
                                lengths=np.array([9, 4, 0, 9, 1]), reverse=True)
            for r, g in zip([ref[0], *ref[1], *ref[2]], [got[0], *got[1], *got[2]]):
                assert_close(g, r, dtype, level)
    finally:
        core.set_simd_level(previous)


def test_fast_activations_accuracy():
    """The float32 kernels' tanh/sigmoid stay within a few float32 ulps of the exact values, down
    to the smallest normal floats (where x * tanh's numerator once underflowed)."""
    tiny = np.logspace(-37.9, -3, 2001)
    z = np.concatenate([np.linspace(-20, 20, 200001), tiny, -tiny]).astype(np.float32)
    eye = np.eye(1, dtype=np.float32)
    for act, exact in [("tanh", np.tanh), ("sigmoid", lambda v: 1 / (1 + np.exp(-v)))]:
        # a SimpleRNN step with identity kernel and zero state computes act(x) exactly once
        out, _, _ = fastrnn.ops.simple_rnn_forward(z.reshape(-1, 1, 1), eye, eye * 0, np.zeros(1, np.float32),
                                                   activation=act, training=False)
        want = exact(z.astype(np.float64))
        err = np.abs(out.ravel() - want) / np.maximum(np.abs(want), np.finfo(np.float32).tiny)
        ulp_scale = np.finfo(np.float32).eps
        assert np.max(err[np.abs(want) >= np.finfo(np.float32).tiny]) < 8 * ulp_scale, act
