"""Argument checks and normalisation shared by every backend of fastrnn.ops: the one place that
checks a call.

Each recurrent kernel call goes through `prepare_forward` or `prepare_backward` first, so bad
input raises a ValueError or TypeError that names the argument and the expected shape before any
work is done, and every backend receives C-contiguous float32/float64 arrays of one dtype. The
arrays may live elsewhere (the cuda backend's device arrays): an `ArrayKind` says how to read
their shape and dtype and convert them; the checks are the same. No arithmetic on the data here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", "hard_sigmoid")
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


class SimpleRNNGrads(NamedTuple):
    """Gradients of a SimpleRNN call, one per differentiable input."""

    x: np.ndarray
    h0: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray


class GRUGrads(NamedTuple):
    """Gradients of a GRU call, one per differentiable input (bias shaped like the call's bias)."""

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

    Which positions each sequence consumes, and in which order (the same on every backend):
    - no lengths, starts or order: every position, first to last (last to first with reverse);
    - lengths (B,) and starts (B,) (None: all 0): positions [start, start + length), in order or
      reversed; the other positions are padding;
    - order (B, T) (from a mask with holes): sequence b consumes order[b, :lengths[b]] in turn,
      order[b, lengths[b]:] are its padding positions, order_steps[b, p] is the step at which it
      reads position p (the inverse permutation). reverse is already applied.
    Padding positions output zero and leave the state as it was.

    outputs, gates and cells are filled in by the backend for training calls: outputs is a
    private copy (the caller may modify the array it received) in x's layout; gates (LSTM: the
    activated i, f, g, o; GRU: z, r, hh and r_h, see csrc/gru.h) and cells (LSTM's c_t) are
    (T, B, 4H) and (T, B, H), time-major whatever x's layout, on every backend (backward reads
    them step by step).
    """

    cell: str
    x: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray
    h0: np.ndarray
    c0: Optional[np.ndarray]
    lengths: Optional[np.ndarray]
    starts: Optional[np.ndarray]
    order: Optional[np.ndarray]
    order_steps: Optional[np.ndarray]
    activation: str
    recurrent_activation: str
    reverse: bool
    time_major: bool
    reset_after: bool = False  # GRU: bias is (2, 3H), the input and the recurrent bias
    backend: str = ""
    outputs: Optional[np.ndarray] = None
    gates: Optional[np.ndarray] = None
    cells: Optional[np.ndarray] = None

    @property
    def units(self) -> int:
        return self.recurrent_kernel.shape[0]

    @property
    def steps_batch(self) -> tuple:
        T, B = self.x.shape[:2]
        return (T, B) if self.time_major else (B, T)

    def sequence_shape(self, width: int) -> tuple:
        """Shape of a (batch, time, width) array in this call's layout."""
        return tuple(self.x.shape[:2]) + (width,)


class ArrayKind:
    """How validation reads and converts the arrays of a call: NumPy's (host memory). A backend
    whose arrays live elsewhere passes its own with the same methods."""

    def accepts(self, value) -> bool:
        return True

    def dtype(self, value) -> np.dtype:
        return np.asarray(value).dtype

    def shape(self, value) -> tuple:
        return np.shape(value)

    def convert(self, value, dtype):
        return np.ascontiguousarray(value, dtype=dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def host(self, value) -> np.ndarray:
        return np.asarray(value)


HOST = ArrayKind()


def _check_numeric(name: str, dtype: np.dtype) -> None:
    if dtype.kind not in "biuf":
        raise TypeError(f"argument '{name}' must be a real numeric array, got dtype {dtype}")
    if dtype.kind == "f" and dtype.itemsize > 8:
        raise TypeError(f"argument '{name}' has dtype {dtype}; fastrnn computes in float32 or float64")


def compute_dtype(dtypes) -> np.dtype:
    """NumPy's promotion rule, then: integers and bools -> float64, float16 -> float32."""
    dtype = np.result_type(*dtypes)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def _check_shape(name: str, shape: tuple, expected: tuple, meaning: str) -> None:
    if tuple(shape) != expected:
        raise ValueError(f"argument '{name}' must have shape {meaning} = {expected}, got {tuple(shape)}")


def check_choice(name: str, value, choices=ACTIVATIONS) -> str:
    """`value` if it is one of `choices`, else a ValueError naming the argument."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"argument '{name}' must be one of {choices}, got {value!r}")
    return value


def _arrays(given: dict, kind: ArrayKind) -> tuple:
    """({name: array} of the arguments given (not None), {name: shape}), each checked to be a
    numeric array of the kind of 'x'."""
    present = {name: value for name, value in given.items() if value is not None}
    for name, value in present.items():
        if not kind.accepts(value):
            raise TypeError(f"argument '{name}' must be the same kind of array as 'x', on the same device "
                            f"({type(value).__name__} given)")
        _check_numeric(name, kind.dtype(value))
    return present, {name: tuple(kind.shape(value)) for name, value in present.items()}


def prepare_forward(cell, x, kernel, recurrent_kernel, bias, h0, c0, *, activation, recurrent_activation,
                    lengths, reverse, time_major, mask=None, reset_after=False, kind: ArrayKind = HOST) -> RNNCall:
    """Check a forward call's arguments and return them normalised as an RNNCall."""
    G = GATES[cell]
    present, shapes = _arrays({"x": x, "kernel": kernel, "recurrent_kernel": recurrent_kernel, "bias": bias,
                               "h0": h0, "c0": c0}, kind)
    layout = "(time, batch, features)" if time_major else "(batch, time, features)"
    if len(shapes["x"]) != 3:
        raise ValueError(f"argument 'x' must be 3-D {layout}, got shape {shapes['x']}")
    T, B = (shapes["x"][0], shapes["x"][1]) if time_major else (shapes["x"][1], shapes["x"][0])
    D = shapes["x"][2]
    rk = shapes["recurrent_kernel"]
    if len(rk) != 2 or rk[1] != G * rk[0]:
        raise ValueError(f"argument 'recurrent_kernel' must have shape (units, {G} * units), got {rk}")
    H = rk[0]
    _check_shape("kernel", shapes["kernel"], (D, G * H), f"(input features, {G} * units)")
    bias_shape, bias_meaning = ((2, G * H), f"(2, {G} * units)") if reset_after else ((G * H,), f"({G} * units,)")
    if "bias" in shapes:
        _check_shape("bias", shapes["bias"], bias_shape, bias_meaning)
    if not isinstance(reset_after, (bool, np.bool_)):
        raise TypeError(f"argument 'reset_after' must be True or False, got {reset_after!r}")
    for state in ("h0", "c0"):
        if state in shapes:
            _check_shape(state, shapes[state], (B, H), "(batch, units)")
    if not isinstance(reverse, (bool, np.bool_)):
        raise TypeError(f"argument 'reverse' must be True or False, got {reverse!r}")
    activation = check_choice("activation", activation)
    recurrent_activation = check_choice("recurrent_activation", recurrent_activation)
    steps = _sequences(lengths, mask, B, T, bool(reverse), kind)
    dtype = compute_dtype([kind.dtype(v) for v in present.values()])

    def array(name, default_shape=None):
        return kind.convert(present[name], dtype) if name in present else kind.zeros(default_shape, dtype)

    return RNNCall(cell=cell, x=array("x"), kernel=array("kernel"), recurrent_kernel=array("recurrent_kernel"),
                   bias=array("bias", bias_shape), h0=array("h0", (B, H)),
                   c0=array("c0", (B, H)) if cell == "lstm" else None, **steps, activation=activation,
                   recurrent_activation=recurrent_activation, reverse=bool(reverse), time_major=bool(time_major),
                   reset_after=bool(reset_after))


def _sequences(lengths, mask, B: int, T: int, reverse: bool, kind: ArrayKind) -> dict:
    """lengths, starts, order, order_steps (RNNCall) from a `lengths` or a `mask` argument."""
    none = dict(lengths=None, starts=None, order=None, order_steps=None)
    if lengths is not None and mask is not None:
        raise ValueError("pass either 'lengths' or 'mask', not both")
    if lengths is not None:
        return {**none, "lengths": _check_lengths(kind.host(lengths), B, T)}
    if mask is None:
        return none
    valid = kind.host(mask)
    if valid.dtype.kind not in "biu":
        raise TypeError(f"argument 'mask' must be a bool array of shape (batch, time), got dtype {valid.dtype}")
    _check_shape("mask", valid.shape, (B, T), "(batch, time)")
    valid = valid.astype(bool)
    count = valid.sum(axis=1)
    starts = np.where(count > 0, valid.argmax(axis=1), 0)
    t = np.arange(T)
    if np.array_equal((t >= starts[:, None]) & (t < (starts + count)[:, None]), valid):  # one run per row
        if not starts.any():
            return {**none, "lengths": None if count.min(initial=T) == T else count.astype(np.int32)}
        return {**none, "lengths": count.astype(np.int32), "starts": starts.astype(np.int32)}
    # holes: each row's valid positions in the order they are consumed, then its padding positions
    order = np.argsort(~valid, axis=1, kind="stable")
    if reverse:
        order = np.take_along_axis(order, np.where(t < count[:, None], count[:, None] - 1 - t, t), axis=1)
    order = np.ascontiguousarray(order, dtype=np.int32)
    return {**none, "lengths": count.astype(np.int32), "order": order,
            "order_steps": np.ascontiguousarray(np.argsort(order, axis=1), dtype=np.int32)}


def _check_lengths(lengths, B: int, T: int) -> np.ndarray:
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"argument 'lengths' must be an integer array of shape (batch,), got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"argument 'lengths' must have shape (batch,) = {(B,)}, got {arr.shape}")
    if B and (arr.min() < 0 or arr.max() > T):
        raise ValueError(f"argument 'lengths' must lie in [0, {T}] (the number of time steps), "
                         f"got values from {arr.min()} to {arr.max()}")
    return np.ascontiguousarray(arr, dtype=np.int32)


def prepare_backward(cache, d_outputs, states: dict, kind: ArrayKind = HOST) -> tuple:
    """Check backward's incoming gradients against the cache; return them as (d_outputs, states).

    `states` maps a final-state name ('d_h', 'd_c') to its gradient or None.
    """
    if not isinstance(cache, RNNCall) or cache.outputs is None:
        raise TypeError("argument 'cache' must be the cache returned by a forward call with training=True")
    dtype = kind.dtype(cache.x)
    B = cache.steps_batch[1]
    shapes = {"d_outputs": (cache.sequence_shape(cache.units), "outputs' shape")}
    shapes.update({name: ((B, cache.units), "(batch, units)") for name in states})
    checked = {}
    for name, value in {"d_outputs": d_outputs, **states}.items():
        if value is None:
            checked[name] = None
            continue
        if not kind.accepts(value):
            raise TypeError(f"argument '{name}' must be the same kind of array as the cache's, on the same device "
                            f"({type(value).__name__} given)")
        _check_numeric(name, kind.dtype(value))
        expected, meaning = shapes[name]
        _check_shape(name, kind.shape(value), expected, meaning)
        checked[name] = kind.convert(value, dtype)
    return checked["d_outputs"], {name: checked[name] for name in states}


# --- conv1d -------------------------------------------------------------------------------------

PADDINGS = ("valid", "same", "causal")


class Conv1DGrads(NamedTuple):
    """Gradients of a conv1d call: x (None with input_gradient=False), kernel, bias (None when
    the call had no bias)."""

    x: Optional[np.ndarray]
    kernel: np.ndarray
    bias: Optional[np.ndarray]


@dataclass
class Conv1DCall:
    """One conv1d_forward call's normalised arguments; also the cache conv1d_backward reads.

    x (B, T, C), kernel (K, C, F), bias (F,) or None, all of one float dtype. The time axis of x
    gets pad_left and pad_right zeros; output step t reads padded steps t * strides + k *
    dilation_rate for k < K, and there are `steps` of them.
    """

    x: np.ndarray
    kernel: np.ndarray
    bias: Optional[np.ndarray]
    strides: int
    dilation_rate: int
    padding: str
    pad_left: int
    pad_right: int
    steps: int
    backend: str = ""

    @property
    def padded_steps(self) -> int:
        return self.pad_left + self.x.shape[1] + self.pad_right


def _positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"argument '{name}' must be a positive int, got {value!r}")
    return int(value)


def conv1d_geometry(steps, kernel_size: int, strides: int, padding: str, dilation_rate: int) -> tuple:
    """(pad_left, pad_right, output steps) of a 1-D convolution or pooling window over `steps`
    input steps, as Keras (TensorFlow's 'same': the odd padding step goes on the right). steps
    None (unknown length) gives (None, None, None); a 'valid' window longer than the input is a
    ValueError naming 'x'."""
    check_choice("padding", padding, PADDINGS)
    if steps is None:
        return None, None, None
    span = dilation_rate * (kernel_size - 1) + 1  # the dilated window
    if padding == "valid":
        if steps < span:
            raise ValueError(f"argument 'x' has {steps} steps, fewer than the {span} of one window (size "
                             f"{kernel_size}, dilation_rate {dilation_rate}) that padding 'valid' needs")
        return 0, 0, (steps - span) // strides + 1
    out = -(-steps // strides)
    if padding == "causal":
        return span - 1, 0, out
    total = max((out - 1) * strides + span - steps, 0)
    return total // 2, total - total // 2, out


def prepare_conv1d_forward(x, kernel, bias, *, strides, padding, dilation_rate, kind: ArrayKind = HOST) -> Conv1DCall:
    """Check a conv1d_forward call's arguments and return them normalised as a Conv1DCall."""
    present, shapes = _arrays({"x": x, "kernel": kernel, "bias": bias}, kind)
    if len(shapes["x"]) != 3:
        raise ValueError(f"argument 'x' must be 3-D (batch, steps, channels), got shape {shapes['x']}")
    C = shapes["x"][2]
    k = shapes["kernel"]
    if len(k) != 3 or k[1] != C or k[0] < 1 or k[2] < 1:
        raise ValueError(f"argument 'kernel' must have shape (kernel_size >= 1, input channels, filters >= 1) = "
                         f"(K, {C}, F), got {k}")
    if "bias" in shapes:
        _check_shape("bias", shapes["bias"], (k[2],), "(filters,)")
    strides, dilation_rate = _positive_int("strides", strides), _positive_int("dilation_rate", dilation_rate)
    pad_left, pad_right, steps = conv1d_geometry(shapes["x"][1], k[0], strides, padding, dilation_rate)
    dtype = compute_dtype([kind.dtype(v) for v in present.values()])
    return Conv1DCall(x=kind.convert(x, dtype), kernel=kind.convert(kernel, dtype),
                      bias=kind.convert(bias, dtype) if bias is not None else None, strides=strides,
                      dilation_rate=dilation_rate, padding=padding, pad_left=pad_left, pad_right=pad_right,
                      steps=steps)


def prepare_conv1d_backward(cache, dy, kind: ArrayKind = HOST):
    """Check conv1d_backward's incoming gradient against the cache; return it converted."""
    if not isinstance(cache, Conv1DCall):
        raise TypeError("argument 'cache' must be the cache returned by conv1d_forward(training=True)")
    if dy is None or not kind.accepts(dy):
        raise TypeError(f"argument 'dy' must be an array of the outputs' shape, like the cache's "
                        f"({type(dy).__name__} given)")
    _check_numeric("dy", kind.dtype(dy))
    expected = (cache.x.shape[0], cache.steps, cache.kernel.shape[2])
    _check_shape("dy", kind.shape(dy), expected, "outputs' shape (batch, output steps, filters)")
    return kind.convert(dy, kind.dtype(cache.x))
