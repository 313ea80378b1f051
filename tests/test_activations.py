"""The C++ core's tanh and sigmoid (csrc/activations.h), through _core.activate: within 2 ulp
(float32) or 3 ulp (float64, whose multiply-adds round twice) of the correctly rounded value,
exact at saturation, NaN kept, and the same bits on every SIMD level
this CPU runs; and the recurrent kernels' gradients exactly zero where an activation saturates.
(bench/activation_error.py checks every float32, which takes minutes; here a sample.)"""
import numpy as np
import pytest

from conftest import CELLS, GATES, backward, forward

import fastrnn
from fastrnn import ops

core = fastrnn._core
pytestmark = pytest.mark.skipif(core is None, reason="the C++ core is not built")
CODES = {"tanh": 0, "sigmoid": 2}
LEVELS = ("baseline", "avx2", "avx512")


def available_levels():
    best = LEVELS.index(core.detected_simd_level())
    return LEVELS[:best + 1]


@pytest.fixture
def simd_level():
    """Restores the SIMD level a test changes."""
    before = core.simd_level()
    yield
    core.set_simd_level(before)


def exact(name, x):
    """The function in extended precision (x87's 64-bit mantissa)."""
    x = x.astype(np.longdouble)
    if name == "tanh":
        return np.tanh(x)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def sample(dtype, n=400_000, seed=0):
    """Values over the whole range: random bit patterns, and dense where the functions bend."""
    rng = np.random.default_rng(seed)
    ints = np.uint32 if dtype == np.float32 else np.uint64
    bits = rng.integers(0, np.iinfo(ints).max, n, dtype=ints, endpoint=True).view(dtype)
    dense = np.concatenate([rng.uniform(-20, 20, n), rng.uniform(-1, 1, n), rng.standard_normal(n) * 1e-3,
                            rng.uniform(-100, 100, n)]).astype(dtype)
    x = np.concatenate([bits, dense])
    return x[np.isfinite(x)]


def ulps_from_correctly_rounded(y, reference, dtype):
    """|y - round(reference)| in units of the spacing at round(reference); results below the
    smallest normal number are left out (the kernels flush them to zero)."""
    rounded = reference.astype(dtype)
    normal = np.abs(reference) >= np.finfo(dtype).tiny
    spacing = np.spacing(np.abs(rounded)).astype(np.longdouble)
    return (np.abs(y.astype(np.longdouble) - rounded.astype(np.longdouble)) / spacing)[normal]


@pytest.mark.parametrize("name", CODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_within_a_few_ulp_of_the_correctly_rounded_value(name, dtype):
    x = sample(dtype)
    error = ulps_from_correctly_rounded(core.activate(x, CODES[name]), exact(name, x), dtype)
    assert error.max() <= (2 if dtype == np.float32 else 3), f"{name} {np.dtype(dtype).name}: {error.max()} ulp"
    assert np.mean(error == 0) > 0.5  # most are the correctly rounded value itself


@pytest.mark.parametrize("name", CODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_on_every_simd_level(simd_level, name, dtype):
    x = sample(dtype, n=100_000, seed=1)
    results = []
    for level in available_levels():
        core.set_simd_level(level)
        results.append(core.activate(x, CODES[name]))
    for other in results[1:]:
        np.testing.assert_array_equal(other.view(np.uint8), results[0].view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_at_saturation_and_special_values(dtype):
    finfo = np.finfo(dtype)
    big = np.geomspace(9.02 if dtype == np.float32 else 19.07, finfo.max, 2000).astype(dtype)
    big = np.concatenate([big, [np.inf]]).astype(dtype)
    np.testing.assert_array_equal(core.activate(big, 0), 1)
    np.testing.assert_array_equal(core.activate(-big, 0), -1)
    one = np.geomspace(17.4 if dtype == np.float32 else 37.5, finfo.max, 2000).astype(dtype)
    np.testing.assert_array_equal(core.activate(np.append(one, np.inf).astype(dtype), 2), 1)
    zero = -np.geomspace(88.73 if dtype == np.float32 else 708.4, finfo.max, 2000).astype(dtype)
    np.testing.assert_array_equal(core.activate(np.append(zero, -np.inf).astype(dtype), 2), 0)
    specials = np.array([np.nan, -0.0, 0.0], dtype)
    t = core.activate(specials, 0)
    assert np.isnan(t[0]) and np.signbit(t[1]) and t[2] == 0 and not np.signbit(t[2])
    s = core.activate(specials, 2)
    assert np.isnan(s[0]) and s[1] == s[2] == 0.5


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_units_get_exactly_the_references_zero_gradient(rng, cell, dtype):
    """Where tanh saturates, 1 - tanh^2 is exactly 0, as in the NumPy reference: a tanh that stopped
    at 0.9999997 left an LSTM kernel gradient of 1e28 where the reference has 0."""
    G, B, T, D, H = GATES[cell], 4, 6, 3, 32
    x = (rng.standard_normal((B, T, D)) * 1e4).astype(dtype)  # every pre-activation far past saturation
    weights = dict(kernel=np.sign(rng.standard_normal((D, G * H))).astype(dtype),
                   recurrent_kernel=np.zeros((H, G * H), dtype), bias=None)
    grads = {}
    for backend in ("cpu", "numpy"):
        out, _, cache = forward(cell, x, weights, {}, backend=backend)
        grads[backend] = backward(cell, cache, np.full_like(out, 1e30), ())
    for name in ("x", "kernel", "recurrent_kernel", "bias"):
        got, want = getattr(grads["cpu"], name), getattr(grads["numpy"], name)
        np.testing.assert_array_equal(got[want == 0], 0, err_msg=name)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max(), err_msg=name)
