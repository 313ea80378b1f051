"""The layers' kernels in fastrnn.ops (matmul here; the embedding and optimizer kernels in
test_training.py): the cpu backend's products on the core's BLAS match NumPy's, in every transpose
combination and dtype, and fall back to the NumPy twin where the core does not apply."""
import numpy as np
import pytest

import fastrnn
from fastrnn import _core
from fastrnn.ops import matmul


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (7, 5, 3), (130, 33, 17), (3, 200, 1), (5, 3001, 7)])
def test_matches_numpy(rng, dtype, transpose_a, transpose_b, M, K, N):
    a = rng.standard_normal((K, M) if transpose_a else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if transpose_b else (K, N)).astype(dtype)
    want = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
    got = matmul(a, b, transpose_a, transpose_b)
    assert got.dtype == dtype and got.shape == (M, N)
    # float32 sums of K terms: rounding grows with K (cancellation makes small entries relative-noisy)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6 * K + 1e-5)


def test_a_long_k_split_between_threads_gives_the_same_bits_every_call(rng):
    # K much longer than the result: the threads sum halves of K, added in thread order.
    a, b = rng.standard_normal((4000, 9)).astype(np.float32), rng.standard_normal((4000, 11)).astype(np.float32)
    first = matmul(a, b, transpose_a=True)
    np.testing.assert_allclose(first, a.T @ b, rtol=1e-4, atol=1e-3)
    assert all(np.array_equal(matmul(a, b, transpose_a=True), first) for _ in range(5))


def test_views_integers_and_the_numpy_backend_fall_back_or_copy(rng):
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    np.testing.assert_allclose(matmul(a[:, ::-1], b.T), a[:, ::-1] @ b.T)  # non-contiguous inputs
    ints = np.arange(6).reshape(2, 3)
    assert matmul(ints, ints.T).dtype == ints.dtype
    with fastrnn.set_backend("numpy"):
        np.testing.assert_array_equal(matmul(a, b, transpose_b=True), a @ b.T)


def test_core_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="inner dimensions"):
        _core.matmul(np.zeros((2, 3)), np.zeros((4, 5)), False, False)
