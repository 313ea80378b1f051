"""Argument checks and normalisation shared by every backend of fastrnn.ops.

Each public kernel call goes through `prepare_forward` or `prepare_backward` first, so bad input
raises a ValueError or TypeError that names the argument and the expected shape before any work
is done, and every backend receives C-contiguous float32/float64 arrays of one dtype.
This module does no arithmetic on the data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", "hard_sigmoid")
GATES = {"simple_rnn": 1, "lstm": 4}


class SimpleRNNGrads(NamedTuple):
    """Gradients of a SimpleRNN call, one per differentiable input."""

    x: np.ndarray
    h0: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray


class LSTMGrads(NamedTuple):
    """Gradients of an LSTM call, one per differentiable input."""

    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray


@dataclass
class RNNCall:
    """One forward call's normalised arguments; also the cache that backward reads.

    outputs, gates and cells are filled in by the backend for training calls: outputs is a
    private copy (the caller may modify the array it received), gates (LSTM) holds the activated
    i, f, g, o per position and cells the cell state per position, both in x's layout, or
    (T, B, *) when caches_time_major (the cpu backend's: its backward reads them step by step).
    Use lstm_caches() to read them in a given layout.
    """

    cell: str
    x: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray
    h0: np.ndarray
    c0: Optional[np.ndarray]
    lengths: Optional[np.ndarray]
    activation: str
    recurrent_activation: str
    reverse: bool
    time_major: bool
    backend: str = ""
    outputs: Optional[np.ndarray] = None
    gates: Optional[np.ndarray] = None
    cells: Optional[np.ndarray] = None
    caches_time_major: bool = False

    def lstm_caches(self, time_major: bool) -> tuple:
        """(gates, cells) as (T, B, *) views when time_major, else in x's layout."""
        stored = self.caches_time_major or self.time_major
        wanted = time_major or self.time_major
        if stored == wanted:
            return self.gates, self.cells
        return self.gates.swapaxes(0, 1), self.cells.swapaxes(0, 1)

    @property
    def units(self) -> int:
        return self.recurrent_kernel.shape[0]

    @property
    def steps_batch(self) -> tuple:
        T, B = self.x.shape[:2]
        return (T, B) if self.time_major else (B, T)

    def sequence_shape(self, width: int) -> tuple:
        """Shape of a (batch, time, width) array in this call's layout."""
        return self.x.shape[:2] + (width,)


def _as_numeric(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"argument '{name}' must be a real numeric array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        raise TypeError(f"argument '{name}' has dtype {arr.dtype}; fastrnn computes in float32 or float64")
    return arr


def compute_dtype(arrays) -> np.dtype:
    """NumPy's promotion rule, then: integers and bools -> float64, float16 -> float32."""
    dtype = np.result_type(*arrays)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def _check_shape(name: str, arr: np.ndarray, expected: tuple, meaning: str) -> None:
    if arr.shape != expected:
        raise ValueError(f"argument '{name}' must have shape {meaning} = {expected}, got {arr.shape}")


def _check_choice(name: str, value) -> str:
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ValueError(f"argument '{name}' must be one of {ACTIVATIONS}, got {value!r}")
    return value


def prepare_forward(cell, x, kernel, recurrent_kernel, bias, h0, c0, *, activation, recurrent_activation,
                    lengths, reverse, time_major) -> RNNCall:
    """Check a forward call's arguments and return them normalised as an RNNCall."""
    G = GATES[cell]
    named = {"x": x, "kernel": kernel, "recurrent_kernel": recurrent_kernel}
    if bias is not None:
        named["bias"] = bias
    if h0 is not None:
        named["h0"] = h0
    if c0 is not None:
        named["c0"] = c0
    arrays = {name: _as_numeric(name, value) for name, value in named.items()}
    x = arrays["x"]
    layout = "(time, batch, features)" if time_major else "(batch, time, features)"
    if x.ndim != 3:
        raise ValueError(f"argument 'x' must be 3-D {layout}, got shape {x.shape}")
    T, B = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    D = x.shape[2]
    rk = arrays["recurrent_kernel"]
    if rk.ndim != 2 or rk.shape[1] != G * rk.shape[0]:
        raise ValueError(f"argument 'recurrent_kernel' must have shape (units, {G} * units), got {rk.shape}")
    H = rk.shape[0]
    _check_shape("kernel", arrays["kernel"], (D, G * H), f"(input features, {G} * units)")
    if "bias" in arrays:
        _check_shape("bias", arrays["bias"], (G * H,), f"({G} * units,)")
    for state in ("h0", "c0"):
        if state in arrays:
            _check_shape(state, arrays[state], (B, H), "(batch, units)")
    dtype = compute_dtype(list(arrays.values()))

    def as_array(name, default_shape):
        if name not in arrays:
            return np.zeros(default_shape, dtype)
        return np.ascontiguousarray(arrays[name], dtype=dtype)

    activation = _check_choice("activation", activation)
    recurrent_activation = _check_choice("recurrent_activation", recurrent_activation)
    return RNNCall(
        cell=cell,
        x=as_array("x", None),
        kernel=as_array("kernel", None),
        recurrent_kernel=as_array("recurrent_kernel", None),
        bias=as_array("bias", (G * H,)),
        h0=as_array("h0", (B, H)),
        c0=as_array("c0", (B, H)) if cell == "lstm" else None,
        lengths=_check_lengths(lengths, B, T),
        activation=activation,
        recurrent_activation=recurrent_activation,
        reverse=bool(reverse),
        time_major=bool(time_major),
    )


def _check_lengths(lengths, B: int, T: int) -> Optional[np.ndarray]:
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"argument 'lengths' must be an integer array of shape (batch,), got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"argument 'lengths' must have shape (batch,) = {(B,)}, got {arr.shape}")
    if B and (arr.min() < 0 or arr.max() > T):
        raise ValueError(f"argument 'lengths' must lie in [0, {T}] (the number of time steps), "
                         f"got values from {arr.min()} to {arr.max()}")
    return np.ascontiguousarray(arr, dtype=np.int32)


def prepare_backward(cache, d_outputs, states: dict) -> tuple:
    """Check backward's incoming gradients against the cache; return them as (d_outputs, states).

    `states` maps a final-state name ('d_h', 'd_c') to its gradient or None.
    """
    if not isinstance(cache, RNNCall) or cache.outputs is None:
        raise TypeError("argument 'cache' must be the cache returned by a forward call with training=True")
    dtype = cache.x.dtype
    B = cache.steps_batch[1]
    shapes = {"d_outputs": (cache.sequence_shape(cache.units), "outputs' shape")}
    shapes.update({name: ((B, cache.units), "(batch, units)") for name in states})
    given = {"d_outputs": d_outputs, **states}
    checked = {}
    for name, value in given.items():
        if value is None:
            checked[name] = None
            continue
        arr = _as_numeric(name, value)
        expected, meaning = shapes[name]
        _check_shape(name, arr, expected, meaning)
        checked[name] = np.ascontiguousarray(arr, dtype=dtype)
    return checked["d_outputs"], {name: checked[name] for name in states}
