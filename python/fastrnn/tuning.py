"""Knobs that force a choice fastrnn's kernels otherwise make themselves: for tests that must run
every code path, and for tuning on a given machine. `fastrnn.show_config()` prints them.

    split: "auto" | "rows" | "units": how a recurrent time loop is shared between threads (by
        batch rows, each thread on its own; or by hidden units, the threads meeting at every step).
    input_product: "auto" | "blas" | "fused" | "packed": where forward makes x_t @ kernel (one
        OpenBLAS product before the loop; inside each step; from packed panels before the loop).
    idle_spin_us, barrier_spin_us: how long an idle worker, and a thread at a step barrier, spin
        before they sleep (0: every wait sleeps).
    cuda_persistent: whether the cuda backend may run small problems as one persistent kernel.

The knobs are process-wide, read by every call; set them between calls, not from several threads.
"""
from __future__ import annotations

import contextlib

from ._native import core

SPLITS = ("auto", "rows", "units")
INPUT_PRODUCTS = ("auto", "blas", "fused", "packed")
_python_knobs = {"cuda_persistent": True}


def get() -> dict:
    """The knobs' current values, by name.

    Example:
        >>> fastrnn.tuning.get()["split"]
        'auto'
    """
    knobs = dict(_python_knobs)
    if core is not None:
        numbers = core.tuning()
        knobs.update(split=SPLITS[numbers["split"]], input_product=INPUT_PRODUCTS[numbers["input_product"]],
                     idle_spin_us=numbers["idle_spin_us"], barrier_spin_us=numbers["barrier_spin_us"])
    return knobs


def set(**knobs) -> dict:  # noqa: A001 (fastrnn.tuning.set reads as intended)
    """Set some knobs (the others keep their values); returns the values before, for restoring.

    Raises:
        ValueError: an unknown knob or value (named).

    Example:
        >>> fastrnn.tuning.set(split="units", barrier_spin_us=0)
    """
    before = get()
    values = {**before, **knobs}
    for name in knobs:
        if name not in before:
            raise ValueError(f"unknown tuning knob {name!r}; the knobs are {', '.join(before)}")
    for name, choices in (("split", SPLITS), ("input_product", INPUT_PRODUCTS)):
        if name in knobs and values[name] not in choices:
            raise ValueError(f"tuning knob {name!r} must be one of {choices}, got {values[name]!r}")
    for name in ("idle_spin_us", "barrier_spin_us"):
        value = values.get(name)
        if name in knobs and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"tuning knob {name!r} must be a number >= 0, got {value!r}")
    if "cuda_persistent" in knobs:
        if not isinstance(knobs["cuda_persistent"], bool):
            raise ValueError(f"tuning knob 'cuda_persistent' must be True or False, got {knobs['cuda_persistent']!r}")
        _python_knobs["cuda_persistent"] = knobs["cuda_persistent"]
    if core is not None and knobs.keys() - {"cuda_persistent"}:
        core.set_tuning(SPLITS.index(values["split"]), INPUT_PRODUCTS.index(values["input_product"]),
                        float(values["idle_spin_us"]), float(values["barrier_spin_us"]))
    return before


@contextlib.contextmanager
def override(**knobs):
    """The knobs set inside the block, put back after it.

    Example:
        >>> with fastrnn.tuning.override(input_product="packed"):
        ...     ops.lstm_forward(x, kernel, recurrent_kernel, bias)
    """
    before = set(**knobs)
    try:
        yield
    finally:
        set(**{name: before[name] for name in knobs})
