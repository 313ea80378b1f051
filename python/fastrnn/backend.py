"""Which implementation fastrnn.ops calls: "cpu" (the C++ core, the default), "numpy" (the
pure-NumPy twin in fastrnn.reference) or "cuda" (the optional GPU build).

`set_backend(name)` sets the process default (all threads); `with set_backend(name):` overrides
it for the calling thread inside the block only. Every ops function also takes `backend=` for
one call.
"""
from __future__ import annotations

import dis
import importlib
import sys
import threading
from types import ModuleType
from typing import Optional

BACKENDS = ("cpu", "numpy", "cuda")
# The kernel table: every backend module defines each of these with fastrnn.ops' signature (less
# `backend=`); fastrnn.ops calls them through implementation().
KERNELS = ("simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward", "gru_forward",
           "gru_backward", "activate", "matmul", "conv1d_forward", "conv1d_backward",
           "gather_rows", "sum_rows_by_id", "adam_update", "rmsprop_update", "momentum_update")
_MODULES = {"cpu": "._cpu", "numpy": ".reference", "cuda": "._cuda_backend"}
_loaded: dict = {}  # backend name -> its module, once imported
_state = threading.local()  # .name: this thread's override; .saved: overrides to restore on exit
_lock = threading.Lock()  # guards _default and _changes
_default = ["cpu"]
_changes = [0]  # how many times a plain set_backend call has changed _default


def get_backend() -> str:
    """The name of the backend ops functions use when called without `backend=`.

    Returns:
        This thread's `with set_backend(...)` override if one is active, else the process default.

    Example:
        >>> fastrnn.get_backend()
        'cpu'
    """
    return getattr(_state, "name", None) or _default[0]


def _is_with_expression(frame) -> bool:
    """Whether the call `frame` is executing is the expression of a `with` statement."""
    following = [i.opname for i in dis.get_instructions(frame.f_code) if i.offset > frame.f_lasti][:2]
    # right after the call: SETUP_WITH (3.9-3.10), BEFORE_WITH (3.11-3.13), COPY + LOAD_SPECIAL (3.14)
    return following[:1] in (["SETUP_WITH"], ["BEFORE_WITH"]) or following == ["COPY", "LOAD_SPECIAL"]


class set_backend:
    """Select the backend: for the whole process, or as a context manager for this thread's block.

    A plain call `set_backend(name)` sets the process default, seen by every thread (including
    threads started later) that has no override. `with set_backend(name):` sets an override for
    the current thread only, restored when the block exits; other threads keep seeing the
    process default, and nested blocks restore in order.

    Why the caller's bytecode is read: `__init__` runs before `__enter__`, and must not touch the
    process default when it is the expression of a `with` statement (other threads would see the
    block's backend for a moment, and two threads' blocks could leave the wrong default behind).
    So `__init__` looks at the caller's next instructions (SETUP_WITH, BEFORE_WITH or, on 3.14,
    COPY then LOAD_SPECIAL) and only changes the default for a plain call. For forms it cannot see,
    such as `cm = set_backend(name); with cm:`, `__enter__` puts the default back to what it was
    before this object changed it, unless another set_backend call has changed it since.

    Args:
        name: "cpu", "numpy" or "cuda".

    Raises:
        ValueError: `name` is not one of BACKENDS.
        RuntimeError: the backend cannot run here (e.g. "cuda" without the GPU build).

    Example:
        >>> fastrnn.set_backend("numpy")           # from now on, in every thread
        >>> with fastrnn.set_backend("cpu"): ...   # inside the block, in this thread only
    """

    def __init__(self, name: str):
        implementation(name)  # fails now, with the reason, if the backend cannot run here
        self.name = name
        self._undo = None  # (default before this call, _changes after it) if this call set the default
        if not _is_with_expression(sys._getframe(1)):
            with _lock:
                previous, _default[0] = _default[0], name
                _changes[0] += 1
                self._undo = (previous, _changes[0])

    def __enter__(self):
        if self._undo is not None:  # a with-statement the bytecode check did not see
            previous, changes = self._undo
            self._undo = None
            with _lock:
                if _changes[0] == changes:  # nobody set the default since: take this call's change back
                    _default[0] = previous
                    _changes[0] += 1
        if not hasattr(_state, "saved"):
            _state.saved = []
        _state.saved.append(getattr(_state, "name", None))
        _state.name = self.name
        return self

    def __exit__(self, *exc):
        _state.name = _state.saved.pop()
        return False


def implementation(name: Optional[str] = None) -> ModuleType:
    """The module implementing ops for backend `name` (default: the current backend)."""
    name = get_backend() if name is None else name
    module = _loaded.get(name)
    if module is not None:  # every ops call comes here: a dict lookup, not an import
        return module
    if name not in BACKENDS:
        raise ValueError(f"argument 'backend' must be one of {BACKENDS}, got {name!r}")
    try:
        module = _loaded[name] = importlib.import_module(_MODULES[name], __package__)
    except ImportError as err:
        raise RuntimeError(f"fastrnn backend {name!r} is not available: {err}") from err
    return module


def clear_session(free_memory: bool = True) -> None:
    """Keras' keras.backend.clear_session: new layers and models are named from scratch again.
    See fastrnn.session.clear_session."""
    from .session import clear_session as clear
    clear(free_memory)
