"""fastrnn: fast, faithful SimpleRNN and LSTM for Python.

A C++ core (OpenBLAS, its own thread pool, SIMD chosen at run time) behind a NumPy-in,
NumPy-out functional API (fastrnn.ops), a pure-NumPy twin of every kernel (fastrnn.reference),
and Keras-style layers, models and preprocessing on top.
"""
from __future__ import annotations

from . import ops, reference, tuning
from ._native import core as _core, require as _require_core
from .backend import get_backend, set_backend

# Keras' namespaces, imported on first use (PEP 562) so `import fastrnn` stays quick
_SUBMODULES = {"layers", "models", "optimizers", "losses", "metrics", "callbacks", "utils", "preprocessing",
               "datasets", "examples", "convert", "distribute", "session"}


_TOP_LEVEL = {"Input": "layers", "Model": "models"}  # keras.Input, keras.Model


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    if name in _TOP_LEVEL:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_TOP_LEVEL[name]}"), name)
    raise AttributeError(f"module 'fastrnn' has no attribute {name!r}")

try:
    from importlib.metadata import PackageNotFoundError, version as _version
    __version__ = _version("fastrnn")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+source"
__all__ = ["ops", "reference", "tuning", "set_backend", "get_backend", "set_num_threads", "get_num_threads",
           "show_config", "release_memory", "__version__", "Input", "Model"]


def set_num_threads(n: int) -> None:
    """Threads for the C++ kernels and their BLAS, for every thread of the process.

    Example:
        >>> fastrnn.set_num_threads(1)   # e.g. beside other work on a small machine
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"argument 'n' must be a positive int, got {n!r}")
    _require_core().set_num_threads(n)


def get_num_threads() -> int:
    """Threads the C++ kernels use: set_num_threads, else OMP_NUM_THREADS, else the CPUs available."""
    return _require_core().get_num_threads()


def release_memory() -> int:
    """Free the memory the C++ core keeps between calls and return how many bytes that was.

    Two kinds are kept, because fresh memory page-faults on first touch (a sixth of a big training
    forward): large results (outputs, training caches, input gradients; 1 MB and up), of which up
    to 512 MB of the most recently freed stay mapped for the next call of that size; and each
    thread's scratch arenas, sized to its largest call, freed when the thread exits. This frees
    both (the arenas of threads inside a call stay); `show_config()` reports what is held.

    Example:
        >>> freed = fastrnn.release_memory()
    """
    return _require_core().release_memory()


def show_config(file=None) -> dict:
    """Print and return the build and run-time configuration: version, BLAS, threads, SIMD levels
    compiled and detected, the memory the core holds between calls (release_memory frees it),
    and whether the CUDA extension is built."""
    info = {"fastrnn": __version__, "backend": get_backend()}
    if _core is None:
        from ._native import error
        info["core"] = f"not available ({error})"
    else:
        info.update(_core.config())
        info.update(_core.memory())
        info["tuning"] = tuning.get()
    try:
        from . import _cuda_backend
        info.update(_cuda_backend.config())
    except ImportError as err:
        info["cuda"] = f"not available ({err})"
    for key, value in info.items():
        print(f"{key:>22}: {value}", file=file)
    return info

