"""clear_session: start the next model as in a fresh process (Keras' keras.backend.clear_session).

Resets what a new model would otherwise inherit: the per-process counters behind default names
('dense', 'dense_1', ...; 'sequential', ...), and, with free_memory, garbage and the memory the
C++ core keeps between calls. Not the random seed, the backend choice or the thread count.
"""
from __future__ import annotations

import gc


def clear_session(free_memory=True) -> None:
    """Reset global state so that new layers and models are named from scratch again.

    Args:
        free_memory: also collect garbage and release the C++ core's cached buffers (default True).

    Example:
        >>> fastrnn.backend.clear_session()
        >>> fastrnn.layers.Dense(1).name
        'dense'
    """
    # imported here: fastrnn.backend re-exports this function and must not import the layers
    from .layers import base

    base._name_counts.clear()
    if free_memory:
        gc.collect()
        from ._native import core
        if core is not None:
            core.release_memory()
