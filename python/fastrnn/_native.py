"""Loads the C++ core (_core), the bottom of fastrnn's imports: `core` is the module, or None
with `error` saying why it could not load (the "cpu" backend then reports it when asked for).
Nothing here imports the rest of the package.
"""
from __future__ import annotations

import os


def _load():
    # The core's OpenBLAS reads OPENBLAS_NUM_THREADS when it loads: 1 there means it never starts
    # worker threads (fastrnn's own threads split the products; OpenBLAS's idle workers would spin
    # beside them). Set only while the core loads; NumPy's BLAS is already loaded and unaffected.
    previous = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        from . import _core
    finally:
        if previous is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = previous
    return _core


try:
    core = _load()
    error = ""
except ImportError as _err:
    core, error = None, str(_err)


def require():
    """The core module, or a RuntimeError saying why it is not available."""
    if core is None:
        raise RuntimeError(f"fastrnn's C++ core is not available: {error}")
    return core
