"""The CUDA kernels (backend "cuda") against the NumPy twin on the CPU tests' grid of shapes,
layouts, lengths, directions and activations, forward and backward, float32 and float64; plus
CuPy/PyTorch device arrays in place, the small-batch persistent kernel, and the error paths.
Skipped, with the reason, where the CUDA extension is not built or no GPU is usable."""
import itertools

import numpy as np
import pytest

import fastrnn
from fastrnn.validation import ACTIVATIONS

from conftest import CELLS, backward, forward, make_problem

try:
    from fastrnn import _cuda_backend
except ImportError as err:  # not built, or built but no GPU here
    pytest.skip(f"cuda backend not available: {err}", allow_module_level=True)

SIZES = [(5, 4), (1, 17), (33, 3)]  # (D, H): odd, below and above a warp
GRID = list(itertools.product(CELLS, [1, 3, 64], [1, 7, 50], [False, True], [False, True],
                              [False, True]))


def tolerance(dtype):
    # float64: the reference's math, summed in cuBLAS's order. float32 against the float64
    # reference: float32 rounding over up to 50 steps and sums over T*B rows in cuBLAS.
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)


@pytest.fixture(params=["persistent", "steps"])
def kernel_path(request):
    """Runs a test on the persistent kernels (where the shape fits) and on the per-step path."""
    with fastrnn.tuning.override(cuda_persistent=request.param == "persistent"):
        yield request.param


def assert_path(kernel_path, training=True, cell="lstm"):
    """Every grid shape fits the persistent kernels, so the path taken is the one asked for (the
    GRU has no persistent kernel: always the per-step path)."""
    want = kernel_path == "persistent" and not cell.startswith("gru")
    assert _cuda_backend.last_forward_persistent == want
    if training:
        assert _cuda_backend.last_backward_persistent == want


def make_lengths(rng, B, T):
    lengths = rng.integers(0, T + 1, size=B)
    lengths[0] = T  # at least one full sequence
    return lengths


def run(cell, backend, x, weights, states, seed, dtype, training=True, **kw):
    """forward (+ backward when training) on one backend, inputs cast to dtype."""
    c = lambda a: a.astype(dtype)
    out, finals, cache = forward(cell, c(x), {k: c(v) for k, v in weights.items()},
                                 {k: c(v) for k, v in states.items()}, backend=backend, training=training, **kw)
    if not training:
        return out, finals, None
    d_out = c(np.random.default_rng(seed).standard_normal(out.shape))
    d_states = tuple(c(np.random.default_rng(seed + 1 + i).standard_normal(f.shape)) for i, f in enumerate(finals))
    return out, finals, backward(cell, cache, d_out, d_states)


def assert_all_close(got, ref, dtype):
    np.testing.assert_allclose(got[0], ref[0], err_msg="outputs", **tolerance(dtype))
    for g, r in zip(got[1], ref[1]):
        np.testing.assert_allclose(g, r, err_msg="final state", **tolerance(dtype))
    if ref[2] is not None:
        for name, g, r in zip(ref[2]._fields, got[2], ref[2]):
            assert g.dtype == dtype and g.shape == r.shape, name
            np.testing.assert_allclose(g, r, err_msg=f"gradient of {name}", **tolerance(dtype))


def grid_case(rng, case):
    cell, B, T, time_major, reverse, use_lengths = GRID[case]
    D, H = SIZES[case % len(SIZES)]
    x, weights, states = make_problem(rng, cell, B, T, D, H, time_major=time_major)
    kw = dict(activation=ACTIVATIONS[case % len(ACTIVATIONS)], reverse=reverse, time_major=time_major,
              lengths=make_lengths(rng, B, T) if use_lengths else None)
    if cell == "lstm":
        kw["recurrent_activation"] = ("sigmoid", "hard_sigmoid")[case % 2]
    return cell, x, weights, states, kw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell,B,T,time_major,reverse,use_lengths", GRID)
def test_cuda_matches_reference(rng, kernel_path, dtype, cell, B, T, time_major, reverse, use_lengths):
    case = GRID.index((cell, B, T, time_major, reverse, use_lengths))
    cell, x, weights, states, kw = grid_case(rng, case)
    ref = run(cell, "numpy", x, weights, states, case, np.float64, **kw)
    got = run(cell, "cuda", x, weights, states, case, dtype, **kw)
    assert_path(kernel_path, cell=cell)
    assert got[0].dtype == dtype and isinstance(got[0], np.ndarray)
    assert_all_close(got, ref, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(0, len(GRID), 5))
def test_cuda_inference_matches_reference(rng, kernel_path, dtype, case):
    """training=False: no caches are written (LSTM), the outputs and states are the same."""
    cell, x, weights, states, kw = grid_case(rng, case)
    ref = run(cell, "numpy", x, weights, states, case, np.float64, training=False, **kw)
    got = run(cell, "cuda", x, weights, states, case, dtype, training=False, **kw)
    assert_path(kernel_path, training=False, cell=cell)
    assert_all_close(got, ref, dtype)


# (B, H) -> whether (forward, backward) take the persistent kernels, in float32 and float64.
# Whole sequences per block (no grid barrier): one unit; 301 sequences, 3 per block with one
# left over. Units split over blocks (grid barrier): units not a multiple of the blocks, more
# units than multiprocessors, a batch of 16. Too much work per block and step: the per-step path.
YES, NO = ((True, True), (True, True)), ((False, False), (False, False))
PERSISTENT_FITS = {(2, 1): YES, (301, 5): YES, (2, 256): YES, (2, 513): YES, (16, 256): YES, (64, 512): NO}


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm"])
@pytest.mark.parametrize("B,H", list(PERSISTENT_FITS))
def test_persistent_kernel_sizes(rng, cell, B, H):
    x, weights, states = make_problem(rng, cell, B, 4, 7, H)
    kw = dict(lengths=np.r_[4, np.arange(B - 1) % 5], reverse=True)
    for dtype, (fwd_fits, bwd_fits) in zip((np.float32, np.float64), PERSISTENT_FITS[(B, H)]):
        for training in (False, True):
            ref = run(cell, "numpy", x, weights, states, 0, np.float64, training=training, **kw)
            got = run(cell, "cuda", x, weights, states, 0, dtype, training=training, **kw)
            assert _cuda_backend.last_forward_persistent == fwd_fits
            if training:
                assert _cuda_backend.last_backward_persistent == bwd_fits
            assert_all_close(got, ref, dtype)


@pytest.mark.parametrize("activation,recurrent_activation", list(itertools.product(ACTIVATIONS, ACTIVATIONS)))
def test_lstm_every_activation_pair(rng, kernel_path, activation, recurrent_activation):
    x, weights, states = make_problem(rng, "lstm", 3, 6, 5, 19)
    kw = dict(activation=activation, recurrent_activation=recurrent_activation)
    ref = run("lstm", "numpy", x, weights, states, 7, np.float64, **kw)
    assert_all_close(run("lstm", "cuda", x, weights, states, 7, np.float64, **kw), ref, np.float64)


def test_long_sequence_float32(rng, kernel_path):
    x, weights, states = make_problem(rng, "lstm", 4, 300, 8, 24)
    ref = run("lstm", "numpy", x, weights, states, 3, np.float64)
    assert_all_close(run("lstm", "cuda", x, weights, states, 3, np.float32), ref, np.float32)


def test_cuda_cache_runs_on_other_backends(rng):
    """A NumPy call's cache holds NumPy arrays, so backward may run on another backend."""
    x, weights, states = make_problem(rng, "lstm", 3, 5, 4, 6)
    _, _, cache = forward("lstm", x, weights, states, backend="cuda")
    d_out = rng.standard_normal((3, 5, 6))
    got = fastrnn.ops.lstm_backward(cache, d_out, backend="cuda")
    want = fastrnn.ops.lstm_backward(cache, d_out, backend="numpy")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def _device_libraries():
    libs = []
    try:
        import torch
        if torch.cuda.is_available():
            libs.append(("torch", lambda a: torch.as_tensor(a, device="cuda"), lambda a: a.cpu().numpy(),
                         torch.Tensor))
    except ImportError:
        pass
    try:
        import cupy
        libs.append(("cupy", cupy.asarray, cupy.asnumpy, cupy.ndarray))
    except ImportError:
        pass
    return libs


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("library", ["torch", "cupy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_device_arrays_in_place(rng, kernel_path, cell, library, dtype):
    """CuPy arrays and PyTorch tensors go in and come out as the same kind, results as NumPy's."""
    found = {name: rest for name, *rest in _device_libraries()}
    if library not in found:
        pytest.skip(f"{library} with CUDA is not installed here")
    to_device, to_host, array_type = found[library]
    x, weights, states = make_problem(rng, cell, 5, 8, 6, 7, time_major=True)
    kw = dict(lengths=np.array([8, 3, 0, 8, 5]), reverse=True, time_major=True)
    ref = run(cell, "numpy", x, weights, states, 1, np.float64, **kw)
    dev = lambda a: to_device(a.astype(dtype))
    out, finals, cache = forward(cell, dev(x), {k: dev(v) for k, v in weights.items()},
                                 {k: dev(v) for k, v in states.items()}, backend="cuda", **kw)
    d_out = dev(np.random.default_rng(1).standard_normal(tuple(out.shape)))
    d_states = tuple(dev(np.random.default_rng(2 + i).standard_normal(tuple(f.shape))) for i, f in enumerate(finals))
    grads = backward(cell, cache, d_out, d_states)
    for a in (out, *finals, *grads):
        assert isinstance(a, array_type)
    host = lambda seq: tuple(to_host(a) for a in seq)
    got = (to_host(out), host(finals), type(ref[2])(*host(grads)))
    assert_all_close(got, ref, dtype)


def test_device_arrays_must_share_the_device_kind(rng):
    libs = {name: rest for name, *rest in _device_libraries()}
    if "torch" not in libs:
        pytest.skip("torch with CUDA is not installed here")
    to_device = libs["torch"][0]
    x, weights, states = make_problem(rng, "simple_rnn", 2, 3, 4, 5)
    with pytest.raises(TypeError, match="kernel"):
        fastrnn.ops.simple_rnn_forward(to_device(x), weights["kernel"], to_device(weights["recurrent_kernel"]),
                                       to_device(weights["bias"]), backend="cuda")
    with pytest.raises(ValueError, match="kernel"):
        fastrnn.ops.simple_rnn_forward(to_device(x), to_device(weights["kernel"][:-1]),
                                       to_device(weights["recurrent_kernel"]), to_device(weights["bias"]),
                                       backend="cuda")


def test_show_config_reports_the_device():
    info = fastrnn.show_config(file=open("/dev/null", "w"))
    assert info["cuda"].startswith("built")
    assert "none" not in info["cuda device"]
    assert info["cublas"].count(".") == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_kernels_match_the_reference(rng, dtype):
    """matmul, activate, gather_rows, sum_rows_by_id and the optimizer steps on the GPU (NumPy in,
    NumPy out) against their NumPy twins."""
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    a, b = rng.standard_normal((37, 19)).astype(dtype), rng.standard_normal((23, 19)).astype(dtype)
    np.testing.assert_allclose(fastrnn.ops.matmul(a, b, transpose_b=True, backend="cuda"), a @ b.T, **tol)
    for name in ACTIVATIONS:
        np.testing.assert_allclose(fastrnn.ops.activate(a, name, backend="cuda"),
                                   fastrnn.reference.activate(a, name), **tol)
    table, ids = rng.standard_normal((50, 8)).astype(dtype), rng.integers(0, 50, (6, 9))
    np.testing.assert_array_equal(fastrnn.ops.gather_rows(table, ids, backend="cuda"), table[ids])
    dy = rng.standard_normal((6, 9, 8)).astype(dtype)
    rows, values = fastrnn.ops.sum_rows_by_id(ids, dy, 50, backend="cuda")
    want_rows, want_values = fastrnn.reference.sum_rows_by_id(ids, dy, 50)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(values, want_values, **tol)
    for update, slots, args in (("adam_update", 2, (0.1, 0.001, 0.01, 1e-7)), ("rmsprop_update", 1, (0.9, 0.1, 0.01, 1e-7)),
                                ("momentum_update", 1, (0.9, 0.01, True))):
        for rows in (None, np.array([3, 7, 11])):
            w = rng.standard_normal((20, 4)).astype(dtype)
            g = rng.standard_normal((20, 4) if rows is None else (3, 4)).astype(dtype)
            state = [np.abs(rng.standard_normal((20, 4))).astype(dtype) for _ in range(slots)]
            mine = [w.copy()] + [s.copy() for s in state]
            want = [w.copy()] + [s.copy() for s in state]
            getattr(fastrnn.ops, update)(mine[0], g, *mine[1:], *args, rows, backend="cuda")
            getattr(fastrnn.reference, update)(want[0], g, *want[1:], *args, rows)
            for m, wv in zip(mine, want):
                np.testing.assert_allclose(m, wv, **tol)
