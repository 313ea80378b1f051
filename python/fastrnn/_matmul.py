"""Matrix products for the layers (Dense), done by fastrnn's C++ core when the cpu backend is
active: its BLAS runs on fastrnn's own threads. NumPy's BLAS keeps its worker threads spinning
after each product, and during training they took the cores from fastrnn's recurrent kernels
(which then ran up to 2x slower in fit). The numpy backend, other dtypes and other ranks use
NumPy."""
from __future__ import annotations

import numpy as np

from . import _core
from .backend import core_runs


def matmul(a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """op(a) @ op(b) for 2-D arrays, op transposing where asked."""
    if core_runs(a, b) and a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype:
        return _core.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), transpose_a, transpose_b)
    return (a.T if transpose_a else a) @ (b.T if transpose_b else b)
