"""Which implementation fastrnn.ops calls: "cpu" (the C++ core, the default), "numpy" (the
pure-NumPy twin in fastrnn.reference) or "cuda" (the optional GPU build).

`set_backend(name)` switches for the whole process and also works as a context manager that
switches back on exit; every ops function also takes `backend=` for one call.
"""
from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Optional

BACKENDS = ("cpu", "numpy", "cuda")
_MODULES = {"cpu": "._cpu", "numpy": ".reference", "cuda": "._cuda_backend"}
_state = threading.local()
_default = ["cpu"]


def get_backend() -> str:
    """The name of the backend ops functions use when called without `backend=`."""
    return getattr(_state, "name", None) or _default[0]


class set_backend:
    """Select the backend for all later ops calls; as a context manager, only inside the block.

    Example:
        >>> fastrnn.set_backend("numpy")           # from now on
        >>> with fastrnn.set_backend("cpu"): ...   # inside the block only
    """

    def __init__(self, name: str):
        implementation(name)  # fails now, with the reason, if the backend cannot run here
        self._previous = get_backend()
        self._previous_local = getattr(_state, "name", None)
        _default[0] = name

    def __enter__(self):
        _state.name = _default[0]
        _default[0] = self._previous
        return self

    def __exit__(self, *exc):
        _state.name = self._previous_local
        return False


def implementation(name: Optional[str] = None) -> ModuleType:
    """The module implementing ops for backend `name` (default: the current backend)."""
    name = get_backend() if name is None else name
    if name not in BACKENDS:
        raise ValueError(f"argument 'backend' must be one of {BACKENDS}, got {name!r}")
    try:
        return importlib.import_module(_MODULES[name], __package__)
    except ImportError as err:
        raise RuntimeError(f"fastrnn backend {name!r} is not available: {err}") from err


def core_runs(*arrays) -> bool:
    """Whether the C++ core does a layer's or optimizer's work on these arrays: the cpu backend is
    active, the core is built and every array is float32 or float64 (else the NumPy twin beside
    the call runs, with the same bits)."""
    from . import _core  # set by fastrnn/__init__.py once the core has loaded (None if it could not)
    return _core is not None and get_backend() == "cpu" and all(a.dtype.name in ("float32", "float64")
                                                                 for a in arrays)
