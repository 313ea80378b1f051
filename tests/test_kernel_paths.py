"""Every path the CPU kernels' dispatch can take, against the NumPy reference: each SIMD level
this CPU has, both ways of splitting the time loop between threads (by batch rows, by units;
fastrnn.tuning's split forces one), the three ways of making forward's input product (OpenBLAS before the
loop, fused into the step, from packed panels before the loop; its input_product forces one),
1-3 threads, batch sizes around the register tile (6 rows on AVX-512, 3 otherwise) and unit
counts around every vector width (2-16 lanes) and panel width."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastrnn

from conftest import CELLS, backward, forward, make_problem

core = fastrnn._core
LEVELS = ["baseline", "avx2", "avx512"]
AVAILABLE = LEVELS[: LEVELS.index(core.detected_simd_level()) + 1]
# (B, H): B below, at and past a tile (and 2 tiles + 1); H below, at and past 1, 2 and 4 vectors;
# H = 250: forward's panels (K = D + H) long enough to be multiplied in K chunks, with a remainder
SHAPES = [(1, 1), (5, 15), (6, 16), (7, 17), (13, 33), (2, 48), (3, 65), (8, 130), (7, 250)]


@pytest.fixture
def simd_level():
    previous = core.simd_level()
    yield core.set_simd_level
    core.set_simd_level(previous)


@pytest.fixture
def threads():
    previous = fastrnn.get_num_threads()
    yield fastrnn.set_num_threads
    fastrnn.set_num_threads(previous)


def run(cell, x, weights, states, lengths, reverse, backend):
    out, finals, cache = forward(cell, x, weights, states, lengths=lengths, reverse=reverse, backend=backend)
    seed = np.random.default_rng(7)
    d_out = seed.standard_normal(out.shape).astype(x.dtype)
    d_states = tuple(seed.standard_normal(f.shape).astype(x.dtype) for f in finals)
    grads = backward(cell, cache, d_out, d_states)
    return [out, *finals, *(getattr(grads, k) for k in grads._fields)]


def case(rng, cell, B, H, dtype, T=6, D=5):
    x, weights, states = make_problem(rng, cell, B, T, D, H, dtype=dtype)
    lengths = rng.integers(0, T + 1, size=B)
    lengths[0] = T
    return x, weights, states, lengths


@pytest.mark.parametrize("level", AVAILABLE)
@pytest.mark.parametrize("split", ["rows", "units"])
@pytest.mark.parametrize("input_product", ["blas", "fused", "packed"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_path_matches_reference(rng, tune, simd_level, threads, level, split, input_product, cell,
                                      dtype):
    simd_level(level)
    tune(split=split)
    tune(input_product=input_product)
    # float64 runs the reference's math; float32 also has fast exp/tanh and its own rounding
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)
    for i, (B, H) in enumerate(SHAPES):
        threads(1 + i % 3)
        x, weights, states, lengths = case(rng, cell, B, H, np.float64)
        reverse = bool(i % 2)
        want = run(cell, x, weights, states, lengths, reverse, "numpy")
        c = lambda a: a.astype(dtype)
        got = run(cell, c(x), {k: c(v) for k, v in weights.items()}, {k: c(v) for k, v in states.items()},
                  lengths, reverse, "cpu")
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, err_msg=f"B={B} H={H} threads={1 + i % 3}", **tol)


@pytest.mark.parametrize("input_product", ["blas", "fused", "packed"])
@pytest.mark.parametrize("cell", CELLS)
def test_splits_give_the_same_bits(rng, tune, threads, input_product, cell):
    # Each recurrent product is one multiply-add chain per element, whoever computes it, so what
    # the time loops make (outputs, final states, their gradients, dx) has the same bits by rows
    # or by units. The weight gradients are sums over all positions that the rows split adds up
    # inside its loop, a chunk of steps per thread, and the units split after it: equal to rounding.
    threads(2)
    tune(input_product=input_product)
    x, weights, states, lengths = case(rng, cell, 13, 40, np.float32)
    results = {}
    for split in ("rows", "units"):
        tune(split=split)
        results[split] = run(cell, x, weights, states, lengths, False, "cpu")
    grads = fastrnn.ops.LSTMGrads if cell == "lstm" else fastrnn.ops.SimpleRNNGrads
    fields = ["outputs", *states] + list(grads._fields)
    assert len(fields) == len(results["rows"])
    for name, a, b in zip(fields, results["rows"], results["units"]):
        if name in ("kernel", "recurrent_kernel", "bias"):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            assert np.array_equal(a, b), name


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("split", ["rows", "units"])
@pytest.mark.parametrize("cell", CELLS)
def test_input_product_from_packed_panels_has_the_bits_of_fused(rng, tune, threads, split, cell, reverse):
    # Made before the loop from the kernel packed into panels, x's part of each step's tile is the
    # start of the same multiply-add chain that the fused step runs over [x_t | h_{t-1}].
    threads(2)
    tune(split=split)
    x, weights, states, lengths = case(rng, cell, 7, 40, np.float32, T=9)
    results = {}
    for input_product in ("fused", "packed"):
        tune(input_product=input_product)
        results[input_product] = run(cell, x, weights, states, lengths, reverse, "cpu")
    for i, (a, b) in enumerate(zip(results["fused"], results["packed"])):
        assert np.array_equal(a, b), i


@pytest.mark.parametrize("D", [5, 70])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_in_chunks_of_steps_matches_reference(rng, tune, threads, dtype, cell, D):
    # Split by rows, with weights whose gradients fit 512 KB, backward makes the weight gradients
    # and dx a chunk of steps at a time, each chunk's dz, inputs and dx in ~512 KB per thread: here
    # 3-12 steps of 30 rows, so 40 steps take several chunks and a shorter last one. D = 5 takes dx
    # from fastrnn's narrow kernel, D = 70 from BLAS; lengths and reverse leave ended rows in chunks.
    threads(2)
    tune(split="rows")
    H = 64 if cell == "lstm" else 200
    x, weights, states, lengths = case(rng, cell, 60, H, np.float64, T=40, D=D)
    c = lambda a: a.astype(dtype)
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-3, atol=2e-4)
    for reverse in (False, True):
        want = run(cell, x, weights, states, lengths, reverse, "numpy")
        got = run(cell, c(x), {k: c(v) for k, v in weights.items()}, {k: c(v) for k, v in states.items()},
                  lengths, reverse, "cpu")
        for i, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, err_msg=f"result {i}, reverse={reverse}", **tol)
    out, finals, cache = forward(cell, c(x), {k: c(v) for k, v in weights.items()},
                                 {k: c(v) for k, v in states.items()}, lengths=lengths)
    d_out = np.ones_like(out)
    full = backward(cell, cache, d_out, tuple(np.ones_like(f) for f in finals))
    part = backward(cell, cache, d_out, tuple(np.ones_like(f) for f in finals), input_gradient=False)
    assert part.x is None
    for name in ("kernel", "recurrent_kernel", "bias"):
        assert np.array_equal(getattr(part, name), getattr(full, name)), name


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_outputs_larger_than_the_caches_match_reference(rng, threads, cell, dtype):
    # Outputs over 2 MB per thread are written with streaming stores (whole aligned vectors;
    # H = 70 leaves a partial vector per row, stored normally), and the step writes the copy
    # backward reads beside them; lengths leave ended rows too.
    threads(2)
    x, weights, states, lengths = case(rng, cell, 64, 70, np.float64, T=240, D=3)
    assert 240 * 64 * 70 * np.dtype(dtype).itemsize > 2 * (2 << 20)
    want = run(cell, x, weights, states, lengths, False, "numpy")
    c = lambda a: a.astype(dtype)
    x, weights, states = c(x), {k: c(v) for k, v in weights.items()}, {k: c(v) for k, v in states.items()}
    got = run(cell, x, weights, states, lengths, False, "cpu")
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-4)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **tol)
    out, _, cache = forward(cell, x, weights, states, lengths=lengths, backend="cpu")
    assert cache.outputs is not out and np.array_equal(cache.outputs, out)


@pytest.mark.parametrize("split", ["rows", "units"])
@pytest.mark.parametrize("D", [40, 70])
@pytest.mark.parametrize("cell", CELLS)
def test_input_gradient_larger_than_the_caches_matches_reference(rng, tune, threads, split, D, cell):
    # dx over 2 MB per thread is written with streaming stores: inside the loop's chunks (rows) or
    # after it (units), from the narrow kernel (D = 40: two whole vectors and a half, rows not all
    # 64-byte aligned) or from BLAS (D = 70).
    threads(2)
    tune(split=split)
    x, weights, states, lengths = case(rng, cell, 64, 8, np.float64, T=420, D=D)
    assert 420 * 64 * D * 4 > 2 * (2 << 20)
    want = run(cell, x, weights, states, lengths, True, "numpy")
    c = lambda a: a.astype(np.float32)
    got = run(cell, c(x), {k: c(v) for k, v in weights.items()}, {k: c(v) for k, v in states.items()},
              lengths, True, "cpu")
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=2e-3, atol=2e-4, err_msg=f"result {i}")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weight_gradients_after_the_loop_match_reference(rng, tune, threads, dtype, cell):
    # Split by units, backward makes the weight gradients after its loop, in place in one block:
    # from fastrnn's own kernel over up to 128 positions (T * B, with AVX-512) and from OpenBLAS
    # past that; H = 33 leaves partial vectors in the tiles' columns, lengths ended rows.
    threads(2)
    tune(split="units")
    c = lambda a: a.astype(dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-4)
    for T, B in ((128, 1), (129, 1), (20, 7), (3, 50)):
        x, weights, states, lengths = case(rng, cell, B, 33, np.float64, T=T, D=7)
        want = run(cell, x, weights, states, lengths, False, "numpy")
        got = run(cell, c(x), {k: c(v) for k, v in weights.items()}, {k: c(v) for k, v in states.items()},
                  lengths, False, "cpu")
        for i, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, err_msg=f"T={T} B={B} result {i}", **tol)


def test_callers_on_several_python_threads(rng):
    # The kernels release the GIL; concurrent callers share the worker pool in turns.
    x, weights, states, lengths = case(rng, "lstm", 9, 33, np.float32, T=20)
    want = run("lstm", x, weights, states, lengths, False, "cpu")
    failures = []

    def worker():
        for _ in range(5):
            got = run("lstm", x, weights, states, lengths, False, "cpu")
            if not all(np.array_equal(g, w) for g, w in zip(got, want)):
                failures.append("mismatch")

    pool = [threading.Thread(target=worker) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not failures


SLEEPY_CHECK = """
import sys, numpy as np, fastrnn
sys.path.insert(0, {tests!r})
from conftest import CELLS, make_problem, forward, backward
fastrnn.tuning.set(split="units", idle_spin_us=0, barrier_spin_us=0)
for threads in (2, 3):
    fastrnn.set_num_threads(threads)
    for cell in CELLS:
        rng = np.random.default_rng(threads)
        x, w, st = make_problem(rng, cell, 3, 9, 5, 40)
        results = []
        for backend in ("numpy", "cpu"):
            out, finals, cache = forward(cell, x, w, st, backend=backend)
            grads = backward(cell, cache, np.ones_like(out), tuple(np.ones_like(f) for f in finals))
            results.append([out, *finals, *grads])
        for got, want in zip(results[1], results[0]):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
"""


def test_units_split_when_threads_sleep_at_the_barrier():
    # spin times 0: every wait sleeps, so the units split hands the remaining steps to thread 0
    # (StepSwitch) early in every call; results must not change.
    tests = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(fastrnn.__file__)),
                                         env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-c", SLEEPY_CHECK.format(tests=tests)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_large_results_are_recycled_without_sharing_or_stale_values(rng):
    # Arrays of 1 MB and up come from the array pool: two live results never share memory, a
    # freed one is reused by the next call of that size, and reuse leaves no old values behind.
    fastrnn.release_memory()
    x, weights, states, lengths = case(rng, "lstm", 64, 128, np.float32, T=40)
    first, _, cache = forward("lstm", x, weights, states, lengths=lengths)
    second, _, _ = forward("lstm", x * 2, weights, states, lengths=lengths)
    assert first.nbytes >= 1 << 20 and not np.shares_memory(first, second)
    assert not any(np.shares_memory(first, a) for a in (cache.outputs, cache.gates, cache.cells))
    address = second.ctypes.data
    del second
    assert core.memory()["pooled_bytes"] >= first.nbytes
    third, _, _ = forward("lstm", x[::-1].copy(), weights, states, lengths=lengths)
    assert third.ctypes.data == address
    want, _, _ = forward("lstm", x[::-1].copy(), weights, states, lengths=lengths, backend="numpy")
    np.testing.assert_allclose(third, want, rtol=1e-4, atol=2e-5)
    del third
    assert fastrnn.release_memory() > 0 and core.memory()["pooled_bytes"] == 0
