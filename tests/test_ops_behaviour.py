"""What fastrnn.ops promises beyond the math: backend selection, determinism, dtypes, odd array
layouts, edge sizes, NaN propagation, and clear errors for bad input."""
import numpy as np
import pytest

import fastrnn
from fastrnn import ops, optimizers
from fastrnn.backend import KERNELS

from conftest import CELLS, backward, forward, make_problem


# --- backends ---------------------------------------------------------------------------

def test_set_backend_globally_and_as_context_manager(rng):
    x, w, s = make_problem(rng, "lstm", 2, 4, 3, 5)
    assert fastrnn.get_backend() == "cpu"
    with fastrnn.set_backend("numpy"):
        assert fastrnn.get_backend() == "numpy"
        *_, cache = ops.lstm_forward(x, **w)
        assert cache.backend == "numpy"
    assert fastrnn.get_backend() == "cpu"
    fastrnn.set_backend("numpy")
    try:
        assert fastrnn.get_backend() == "numpy"
    finally:
        fastrnn.set_backend("cpu")
    *_, cache = ops.lstm_forward(x, **w, backend="numpy")
    assert cache.backend == "numpy"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        fastrnn.set_backend("tpu")
    with pytest.raises(ValueError, match="backend"):
        ops.simple_rnn_forward(np.zeros((1, 1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), np.zeros(1), backend="gpu")


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("made_on", ["cpu", "numpy"])
def test_caches_are_interchangeable_between_backends(rng, made_on, time_major):
    # Every backend keeps the LSTM gates and cells time-major, (T, B, *), whatever x's layout;
    # either backward reads either cache.
    x, w, s = make_problem(rng, "lstm", 3, 6, 4, 5, time_major=time_major)
    kw = dict(lengths=np.array([6, 2, 4]), reverse=True, time_major=time_major)
    out, (h, c), cache = ops.lstm_forward(x, **w, **s, **kw, backend=made_on)
    assert cache.gates.shape == (6, 3, 20) and cache.cells.shape == (6, 3, 5)
    d = np.ones_like(out)
    a = ops.lstm_backward(cache, d)  # runs on the cache's backend
    for other in ("cpu", "numpy"):
        b = ops.lstm_backward(cache, d, backend=other)
        for ga, gb in zip(a, b):
            np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-12)
    _, _, reference = ops.lstm_forward(x, **w, **s, **kw, backend="numpy")
    running = np.arange(6)[:, None] < kw["lengths"][None, :]  # (T, B): positions computed
    for mine, want in ((cache.gates, reference.gates), (cache.cells, reference.cells)):
        np.testing.assert_allclose(mine[running], want[running], rtol=1e-12, atol=1e-13)


# --- determinism ------------------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS)
def test_bitwise_deterministic_for_a_given_thread_count(rng, cell):
    # What the README claims: repeated calls with the same thread count give the same bits.
    # Across thread counts results agree to rounding only (the BLAS tiles the products differently).
    x, w, s = make_problem(rng, cell, 7, 30, 13, 70, dtype=np.float32)
    lengths = np.array([30, 2, 17, 0, 30, 5, 29])

    def run():
        out, finals, cache = forward(cell, x, w, s, lengths=lengths)
        grads = backward(cell, cache, np.ones_like(out), tuple(np.ones_like(f) for f in finals))
        return [out, *finals, *grads]

    saved = fastrnn.get_num_threads()
    try:
        one = None
        for threads in (1, 2, 3):
            fastrnn.set_num_threads(threads)
            first = run()
            for _ in range(3):
                for a, b in zip(first, run()):
                    assert np.array_equal(a, b), f"{threads} threads"
            one = one or first
            for a, b in zip(one, first):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    finally:
        fastrnn.set_num_threads(saved)


# --- subnormal numbers -------------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS)
def test_gradients_decayed_to_subnormals_are_flushed_and_match_the_reference(rng, cell):
    # Only the last state gets a gradient (Keras' return_sequences=False): carried back through
    # 400 steps it shrinks below float32's smallest normal number. The cpu kernels flush such
    # values to zero (denormals.h: x86 spends ~100 cycles on each); the reference keeps them.
    x, w, s = make_problem(rng, cell, 3, 400, 5, 8, dtype=np.float32)
    out, finals, cache = forward(cell, x, w, s)
    grads = backward(cell, cache, None, (np.ones_like(finals[0]),))
    with fastrnn.set_backend("numpy"):
        _, _, ref_cache = forward(cell, x, w, s)
        ref = backward(cell, ref_cache, None, (np.ones_like(finals[0]),))
    tiny = np.finfo(np.float32).tiny
    subnormal = lambda a: (a != 0) & (np.abs(a) < tiny)
    assert subnormal(ref.x).any()  # the case arises
    for mine, want in zip(grads, ref):
        assert not subnormal(mine).any()
        np.testing.assert_allclose(mine, want, rtol=1e-4, atol=1e-6)


def test_the_flush_ends_with_the_kernel_call(rng):
    # NumPy's own arithmetic keeps its subnormals after a kernel call, and so do the pool's
    # workers, which take the caller's floating-point mode with every job: a threaded optimizer
    # step on values that underflow keeps NumPy's bits.
    saved = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(2)
        x, w, s = make_problem(rng, "lstm", 3, 400, 5, 8, dtype=np.float32)
        _, finals, cache = forward("lstm", x, w, s)
        backward("lstm", cache, None, (np.ones_like(finals[0]),))
        assert np.float32(1e-38) * np.float32(1e-3) != 0
        start = (rng.standard_normal(300_007) * 1e-38).astype(np.float32)
        g = (rng.standard_normal(300_007) * 1e-36).astype(np.float32)
        results = []
        for backend in ("numpy", "cpu"):
            weight, opt = start.copy(), optimizers.SGD(0.01, momentum=0.9)
            with fastrnn.set_backend(backend):
                opt.apply([weight], [g])
            results.append(weight)
        assert ((results[0] != 0) & (np.abs(results[0]) < np.finfo(np.float32).tiny)).any()
        np.testing.assert_array_equal(results[1], results[0])
    finally:
        fastrnn.set_num_threads(saved)


def test_num_threads_round_trip_and_validation():
    saved = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(1)
        assert fastrnn.get_num_threads() == 1
    finally:
        fastrnn.set_num_threads(saved)
    with pytest.raises(ValueError, match="'n'"):
        fastrnn.set_num_threads(0)


def test_show_config_reports_the_build(capsys):
    info = fastrnn.show_config()
    assert info["blas"].startswith("OpenBLAS") and info["threads"] >= 1
    assert info["simd_detected"] in ("baseline", "avx2", "avx512")
    assert "cuda" in capsys.readouterr().out


# --- dtypes and array layouts -----------------------------------------------------------

@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_dtype_rules(rng, backend):
    x = rng.integers(-3, 3, size=(2, 4, 3))
    w = dict(kernel=np.ones((3, 5)), recurrent_kernel=np.eye(5) * 0.1, bias=np.zeros(5))
    out, h, _ = ops.simple_rnn_forward(x, **w, backend=backend)
    assert out.dtype == np.float64  # integers compute in float64, like np.tanh(int array)
    w16 = {k: v.astype(np.float16) for k, v in w.items()}
    out, h, _ = ops.simple_rnn_forward(x.astype(np.float16), **w16, backend=backend)
    assert out.dtype == np.float32 and h.dtype == np.float32  # float16 is upcast
    w32 = {k: v.astype(np.float32) for k, v in w.items()}
    out, _, _ = ops.simple_rnn_forward(x.astype(np.float32), **w32, backend=backend)
    assert out.dtype == np.float32


def test_strided_fortran_and_readonly_arrays_give_the_same_results(rng):
    x, w, s = make_problem(rng, "lstm", 4, 6, 5, 7)
    want, _, _ = ops.lstm_forward(x, **w, **s)
    wide = np.zeros((4, 12, 5))
    wide[:, ::2] = x
    fortran = {k: np.asfortranarray(v) for k, v in w.items()}
    frozen = x.copy()
    frozen.flags.writeable = False
    for xs, ws in [(wide[:, ::2], w), (np.asfortranarray(x), fortran), (frozen, w)]:
        got, _, _ = ops.lstm_forward(xs, **ws, **s)
        np.testing.assert_array_equal(got, want)


def test_outputs_may_be_modified_without_breaking_backward(rng):
    x, w, s = make_problem(rng, "simple_rnn", 2, 5, 3, 4)
    out, h, cache = ops.simple_rnn_forward(x, **w, **s)
    want = ops.simple_rnn_backward(cache, np.ones_like(out))
    out[...] = 123.0
    got = ops.simple_rnn_backward(cache, np.ones_like(out))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


# --- edge sizes -------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("cell", CELLS)
def test_empty_batch_and_zero_steps(rng, backend, cell):
    for B, T in [(0, 5), (3, 0)]:
        x, w, s = make_problem(rng, cell, B, T, 4, 3)
        out, finals, cache = forward(cell, x, w, s, backend=backend)
        assert out.shape == (B, T, 3)
        np.testing.assert_array_equal(finals[0], s["h0"])  # nothing consumed: the state is h0
        grads = backward(cell, cache, np.ones_like(out), tuple(np.ones_like(f) for f in finals))
        assert grads.x.shape == x.shape and np.all(grads.kernel == 0)
        np.testing.assert_array_equal(grads.h0, np.ones_like(s["h0"]))


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_input_features_equals_a_zero_input(rng, backend, cell, dtype):
    """D = 0: only the recurrence and the bias act. The cpu backend's input product over no
    features must be zeros, not what an earlier call left in its scratch memory."""
    for B, T, H in [(1, 1, 4), (3, 5, 8), (70, 9, 40), (1, 30, 64)]:
        x, w, s = make_problem(rng, cell, B, T, 1, H, dtype=dtype)
        zero_input = {**w, "kernel": np.zeros_like(w["kernel"])}
        expected, expected_finals, expected_cache = forward(cell, np.zeros_like(x), zero_input, s, backend=backend)
        dirty, _, _ = make_problem(rng, cell, B, T, H, H, dtype=dtype, scale=20.0)  # leaves large values in scratch
        forward(cell, dirty * 10, {**w, "kernel": np.ones((H, w["kernel"].shape[1]), dtype)}, s, backend=backend)
        empty = {**w, "kernel": w["kernel"][:0]}
        out, finals, cache = forward(cell, x[..., :0], empty, s, backend=backend)
        np.testing.assert_array_equal(out, expected)
        for f, e in zip(finals, expected_finals):
            np.testing.assert_array_equal(f, e)
        d_out = rng.standard_normal(out.shape).astype(dtype)
        grads = backward(cell, cache, d_out, ())
        want = backward(cell, expected_cache, d_out, ())
        assert grads.x.shape == (B, T, 0) and grads.kernel.shape == (0, w["kernel"].shape[1])
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
        for name in ("h0", "recurrent_kernel", "bias"):
            np.testing.assert_allclose(getattr(grads, name), getattr(want, name), **tol)


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("cell", CELLS)
def test_no_units(rng, backend, cell):
    """H = 0: empty outputs and states; the input gets a zero gradient."""
    x, w, s = make_problem(rng, cell, 3, 5, 4, 0)
    out, finals, cache = forward(cell, x, w, s, backend=backend)
    assert out.shape == (3, 5, 0) and all(f.shape == (3, 0) for f in finals)
    grads = backward(cell, cache, np.ones_like(out), ())
    np.testing.assert_array_equal(grads.x, np.zeros_like(x))
    assert grads.kernel.shape == w["kernel"].shape and grads.recurrent_kernel.shape == (0, 0)


MASKS = {
    "left": np.array([[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1]], bool),
    "holes": np.array([[1, 0, 1, 1, 0, 1], [0, 1, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]], bool),
}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("which", sorted(MASKS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_a_mask_equals_running_each_sequence_on_its_kept_steps(rng, cell, which, reverse, backend):
    """mask= in the kernels: each sequence consumes its kept steps only (in order, or reversed),
    the state carries over the others, whose outputs are zero; gradients likewise."""
    mask = MASKS[which]
    x, w, s = make_problem(rng, cell, 3, 6, 4, 5)
    d_out = rng.standard_normal((3, 6, 5))
    out, finals, cache = forward(cell, x, w, s, mask=mask, reverse=reverse, backend=backend)
    grads = backward(cell, cache, d_out, ())
    for b in range(3):
        kept = np.flatnonzero(mask[b])
        states = {k: v[b:b + 1] for k, v in s.items()}
        alone, alone_finals, alone_cache = forward(cell, x[b:b + 1, kept], w, states, reverse=reverse, backend=backend)
        np.testing.assert_allclose(out[b, kept], alone[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(np.delete(out[b], kept, axis=0), 0)
        for f, a in zip(finals, alone_finals):
            np.testing.assert_allclose(f[b], a[0], rtol=1e-12, atol=1e-14)
        alone_grads = backward(cell, alone_cache, d_out[b:b + 1, kept], ())
        np.testing.assert_allclose(grads.x[b, kept], alone_grads.x[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(np.delete(grads.x[b], kept, axis=0), 0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masks_give_the_references_results_on_every_path(rng, tune, cell, time_major, dtype):
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)
    B, T = 13, 9
    mask = rng.random((B, T)) < 0.6
    mask[:4] = np.arange(T) >= np.arange(4)[:, None] * 2  # left padding rows too
    x, w, s = make_problem(rng, cell, B, T, 4, 20, dtype=dtype, time_major=time_major)
    d_out = rng.standard_normal(x.shape[:2] + (20,)).astype(dtype)
    want_out, want_finals, cache = forward(cell, x, w, s, mask=mask, time_major=time_major, backend="numpy")
    want = backward(cell, cache, d_out, ())
    for split in ("rows", "units"):
        for input_product in ("blas", "fused", "packed"):
            tune(split=split, input_product=input_product)
            out, finals, cache = forward(cell, x, w, s, mask=mask, time_major=time_major)
            np.testing.assert_allclose(out, want_out, **tol)
            for got, expected in zip(list(finals) + list(backward(cell, cache, d_out, ())),
                                     list(want_finals) + list(want)):
                np.testing.assert_allclose(got, expected, **tol)


def test_mask_errors_name_the_argument():
    x, w = np.zeros((2, 3, 4)), dict(kernel=np.zeros((4, 5)), recurrent_kernel=np.zeros((5, 5)), bias=None)
    with pytest.raises(ValueError, match=r"'mask' must have shape \(batch, time\)"):
        ops.simple_rnn_forward(x, **w, mask=np.ones((3, 2), bool))
    with pytest.raises(TypeError, match="'mask' must be a bool array"):
        ops.simple_rnn_forward(x, **w, mask=np.ones((2, 3)))
    with pytest.raises(ValueError, match="either 'lengths' or 'mask'"):
        ops.simple_rnn_forward(x, **w, mask=np.ones((2, 3), bool), lengths=np.array([1, 2]))


def test_zero_length_sequences_keep_their_state_and_output_zeros(rng):
    x, w, s = make_problem(rng, "lstm", 3, 4, 2, 5)
    out, (h, c), _ = ops.lstm_forward(x, **w, **s, lengths=np.array([4, 0, 2]))
    np.testing.assert_array_equal(out[1], 0)
    np.testing.assert_array_equal(out[2, 2:], 0)
    np.testing.assert_array_equal(h[1], s["h0"][1])
    np.testing.assert_array_equal(c[1], s["c0"][1])
    np.testing.assert_array_equal(h[2], out[2, 1])


def test_lengths_match_running_each_sequence_alone(rng):
    x, w, s = make_problem(rng, "lstm", 3, 6, 4, 5)
    lengths = np.array([6, 3, 1])
    for reverse in (False, True):
        out, (h, _), _ = ops.lstm_forward(x, **w, **s, lengths=lengths, reverse=reverse)
        for b, L in enumerate(lengths):
            alone, (hb, _), _ = ops.lstm_forward(x[b:b + 1, :L], **w, h0=s["h0"][b:b + 1], c0=s["c0"][b:b + 1],
                                                 reverse=reverse)
            np.testing.assert_allclose(out[b, :L], alone[0], rtol=1e-12)
            np.testing.assert_allclose(h[b], hb[0], rtol=1e-12)


def test_reverse_equals_forward_on_flipped_input(rng):
    x, w, s = make_problem(rng, "simple_rnn", 2, 7, 3, 4)
    rev, h_rev, _ = ops.simple_rnn_forward(x, **w, **s, reverse=True)
    fwd, h_fwd, _ = ops.simple_rnn_forward(x[:, ::-1], **w, **s)
    np.testing.assert_allclose(rev, fwd[:, ::-1], rtol=1e-12)
    np.testing.assert_allclose(h_rev, h_fwd, rtol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_nan_and_inf_propagate_like_the_reference(rng, cell):
    x, w, s = make_problem(rng, cell, 3, 5, 4, 6)
    x[0, 2, 1] = np.nan
    x[1, 0, 0] = np.inf
    x[2, 4, 3] = -np.inf
    ref = forward(cell, x, w, s, backend="numpy")
    got = forward(cell, x, w, s, backend="cpu")
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-10, equal_nan=True)
    assert np.isnan(got[0][0, 2:]).all()
    ref_g = backward(cell, ref[2], np.ones_like(ref[0]), ())
    got_g = backward(cell, got[2], np.ones_like(got[0]), ())
    for a, b in zip(got_g, ref_g):
        np.testing.assert_allclose(a, b, rtol=1e-10, equal_nan=True)


# --- bad input --------------------------------------------------------------------------

def _lstm_args(B=2, T=3, D=4, H=5):
    return dict(x=np.zeros((B, T, D)), kernel=np.zeros((D, 4 * H)), recurrent_kernel=np.zeros((H, 4 * H)),
                bias=np.zeros(4 * H))


@pytest.mark.parametrize("change,error,message", [
    (dict(x=np.zeros((2, 3))), ValueError, r"'x' must be 3-D \(batch, time, features\)"),
    (dict(kernel=np.zeros((3, 20))), ValueError, r"'kernel' must have shape \(input features, 4 \* units\) = \(4, 20\)"),
    (dict(recurrent_kernel=np.zeros((5, 5))), ValueError, r"'recurrent_kernel' must have shape \(units, 4 \* units\)"),
    (dict(bias=np.zeros(5)), ValueError, r"'bias' must have shape \(4 \* units,\) = \(20,\)"),
    (dict(h0=np.zeros((3, 5))), ValueError, r"'h0' must have shape \(batch, units\) = \(2, 5\)"),
    (dict(c0=np.zeros((2, 4))), ValueError, r"'c0' must have shape \(batch, units\) = \(2, 5\)"),
    (dict(lengths=np.array([1, 4])), ValueError, r"'lengths' must lie in \[0, 3\]"),
    (dict(lengths=np.array([1, -1])), ValueError, r"'lengths' must lie in \[0, 3\]"),
    (dict(lengths=np.array([1])), ValueError, r"'lengths' must have shape \(batch,\)"),
    (dict(lengths=np.array([1.0, 2.0])), TypeError, r"'lengths' must be an integer array"),
    (dict(activation="swish"), ValueError, r"'activation' must be one of"),
    (dict(recurrent_activation=None), ValueError, r"'recurrent_activation' must be one of"),
    (dict(x=np.zeros((2, 3, 4), dtype=complex)), TypeError, r"'x' must be a real numeric array"),
    (dict(kernel=np.array([["a"] * 20] * 4)), TypeError, r"'kernel' must be a real numeric array"),
])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_bad_input_names_the_argument(backend, change, error, message):
    args = {**_lstm_args(), **change}
    with pytest.raises(error, match=message):
        ops.lstm_forward(args.pop("x"), args.pop("kernel"), args.pop("recurrent_kernel"), args.pop("bias"),
                         backend=backend, **args)


def test_time_major_error_names_that_layout():
    with pytest.raises(ValueError, match=r"\(time, batch, features\)"):
        ops.simple_rnn_forward(np.zeros(3), np.zeros((1, 1)), np.zeros((1, 1)), None, time_major=True)


def test_backward_checks_its_inputs(rng):
    x, w, s = make_problem(rng, "lstm", 2, 3, 4, 5)
    out, _, cache = ops.lstm_forward(x, **w)
    with pytest.raises(ValueError, match=r"'d_outputs' must have shape outputs' shape = \(2, 3, 5\)"):
        ops.lstm_backward(cache, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"'d_c' must have shape \(batch, units\)"):
        ops.lstm_backward(cache, d_c=np.zeros(5))
    _, _, none = ops.lstm_forward(x, **w, training=False)
    assert none is None
    with pytest.raises(TypeError, match="'cache'"):
        ops.lstm_backward(none, out)
    with pytest.raises(TypeError, match="'input_gradient' must be True or False"):
        ops.lstm_backward(cache, out, input_gradient="no")


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("cell", CELLS)
def test_input_gradient_false_skips_only_dx(rng, backend, cell):
    x, w, s = make_problem(rng, cell, 3, 4, 5, 6)
    out, finals, cache = forward(cell, x, w, s, backend=backend)
    d_out = rng.standard_normal(out.shape)
    full = backward(cell, cache, d_out, tuple(np.ones_like(f) for f in finals))
    part = backward(cell, cache, d_out, tuple(np.ones_like(f) for f in finals), input_gradient=False)
    assert full.x is not None and part.x is None
    for name in full._fields[1:]:
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name))


@pytest.mark.parametrize("name", KERNELS)
def test_every_kernel_has_a_twin_in_every_backend_with_the_ops_signature(name):
    # Read from the source: the cuda backend module imports only where its extension is built.
    import ast
    import pathlib

    def parameters(module):
        tree = ast.parse((pathlib.Path(fastrnn.__file__).parent / f"{module}.py").read_text())
        f = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        positional = [None] * (len(f.args.args) - len(f.args.defaults)) + f.args.defaults
        pairs = zip(f.args.args + f.args.kwonlyargs, positional + f.args.kw_defaults)
        return [(a.arg, d and ast.unparse(d)) for a, d in pairs if a.arg != "backend"]

    want = parameters("ops")
    for module in ("reference", "_cpu", "_cuda_backend"):
        assert parameters(module) == want, f"{module}.{name}"
