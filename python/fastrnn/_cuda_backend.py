"""The "cuda" backend: fastrnn.ops' signatures over the CUDA extension (_cuda).

NumPy inputs are copied to the current GPU and the results copied back (the cache then holds
NumPy arrays, interchangeable with the other backends'). CuPy arrays and PyTorch CUDA tensors are
used in place, on their device and current stream, and results come back as the same kind of
array, without copies or synchronisation. Validation follows validation.py; no arithmetic here.
"""
from __future__ import annotations

import numpy as np

from .validation import (ACTIVATIONS, GATES, LSTMGrads, RNNCall, SimpleRNNGrads, _check_choice, _check_lengths,
                         compute_dtype, prepare_backward, prepare_forward)

try:
    from . import _cuda
except ImportError as err:
    raise ImportError(f"the CUDA extension fastrnn._cuda is not built ({err}); build it on a machine with the "
                      "CUDA toolkit: pip install . -Ccmake.define.FASTRNN_CUDA=ON") from err

_device_count, _no_device_reason = _cuda.device_status()
if _device_count == 0:
    raise ImportError(f"fastrnn's CUDA extension is built but no CUDA GPU is usable here: {_no_device_reason}")

# Small problems (limits in csrc/cuda/persistent.cuh: state size, work per block and step, shared
# memory) run their time loop as one persistent kernel, forward and backward; False forces the
# per-step cuBLAS path everywhere (tests and benchmarks cover both).
use_persistent_kernel = True
# Whether the last forward / backward call ran a persistent kernel (for tests and benchmarks).
last_forward_persistent = False
last_backward_persistent = False


def config() -> dict:
    """The CUDA build and device, for fastrnn.show_config(): build, runtime, driver, device, cuBLAS."""
    return dict(_cuda.config())


def _code(name: str) -> int:
    return ACTIVATIONS.index(name)


# ---------------------------------------------------------------------------------------------
# Array kinds: how to move, allocate and address the arrays of one call.

class _HostBuffer:
    """Device memory holding one NumPy array's data (shape and dtype kept for the copy back)."""

    def __init__(self, shape, dtype, device):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.buffer = _cuda.DeviceBuffer(int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize, device)

    @property
    def ptr(self) -> int:
        return self.buffer.ptr


class _NumpyKind:
    """NumPy arrays: copied to the current device for the call, results copied back."""

    def __init__(self):
        self.device, self.stream = _cuda.current_device(), 0  # the legacy default stream

    def upload(self, a):
        a = np.ascontiguousarray(a)
        buf = _HostBuffer(a.shape, a.dtype, self.device)
        buf.buffer.upload(a)
        return buf

    def empty(self, shape, dtype):
        return _HostBuffer(shape, dtype, self.device)

    @staticmethod
    def ptr(a) -> int:
        return 0 if a is None else a.ptr

    def result(self, buf):
        host = np.empty(buf.shape, buf.dtype)
        buf.buffer.download(host)
        return host


class _TorchKind:
    """PyTorch CUDA tensors, used in place on their device and the current stream."""

    def __init__(self, torch, like):
        self.torch, self.device = torch, like.device.index if like.device.index is not None else 0
        self.stream = torch.cuda.current_stream(like.device).cuda_stream
        self._device = like.device

    def dtype(self, a):
        try:
            return np.dtype(str(a.dtype).rsplit(".", 1)[-1])
        except TypeError:  # bfloat16 and friends compute in float32, as float16 does
            return np.dtype(np.float16)

    def on_device(self, a) -> bool:
        return isinstance(a, self.torch.Tensor) and a.device == self._device

    def convert(self, a, dtype):
        return a.to(dtype=getattr(self.torch, np.dtype(dtype).name)).contiguous()

    def upload(self, a):
        return self.torch.as_tensor(np.ascontiguousarray(a), device=self._device)

    def empty(self, shape, dtype):
        return self.torch.empty(tuple(shape), dtype=getattr(self.torch, np.dtype(dtype).name), device=self._device)

    def zeros(self, shape, dtype):
        return self.torch.zeros(tuple(shape), dtype=getattr(self.torch, np.dtype(dtype).name), device=self._device)

    @staticmethod
    def ptr(a) -> int:
        return 0 if a is None else a.data_ptr()

    def to_host(self, a):
        return a.detach().cpu().numpy()

    @staticmethod
    def copy(a):
        return a.clone()

    @staticmethod
    def result(a):
        return a


class _CupyKind:
    """CuPy arrays, used in place on their device and the current stream."""

    def __init__(self, cupy, like):
        self.cupy, self.device = cupy, like.device.id
        with cupy.cuda.Device(self.device):
            self.stream = cupy.cuda.get_current_stream().ptr

    def dtype(self, a):
        return np.dtype(a.dtype)

    def on_device(self, a) -> bool:
        return isinstance(a, self.cupy.ndarray) and a.device.id == self.device

    def convert(self, a, dtype):
        with self.cupy.cuda.Device(self.device):
            return self.cupy.ascontiguousarray(a.astype(dtype, copy=False))

    def upload(self, a):
        with self.cupy.cuda.Device(self.device):
            return self.cupy.asarray(np.ascontiguousarray(a))

    def empty(self, shape, dtype):
        with self.cupy.cuda.Device(self.device):
            return self.cupy.empty(tuple(shape), dtype)

    def zeros(self, shape, dtype):
        with self.cupy.cuda.Device(self.device):
            return self.cupy.zeros(tuple(shape), dtype)

    @staticmethod
    def ptr(a) -> int:
        return 0 if a is None else a.data.ptr

    def to_host(self, a):
        return self.cupy.asnumpy(a)

    @staticmethod
    def copy(a):
        return a.copy()

    @staticmethod
    def result(a):
        return a


def _kind_of(x):
    """The array kind of x: NumPy (anything host-side), PyTorch CUDA tensor or CuPy array."""
    module = type(x).__module__.split(".")[0]
    if module == "torch":
        import torch
        if x.is_cuda:
            return _TorchKind(torch, x)
        return _NumpyKind()
    if module == "cupy":
        import cupy
        return _CupyKind(cupy, x)
    if hasattr(x, "__cuda_array_interface__") or hasattr(x, "__dlpack_device__") and x.__dlpack_device__()[0] == 2:
        raise TypeError(f"the cuda backend takes device arrays from CuPy or PyTorch; got {type(x).__name__} "
                        "(wrap it with cupy.asarray or torch.from_dlpack, which share the memory)")
    return _NumpyKind()


def _device_arrays(kind, named: dict, dtype):
    """Check that every array lives on x's device, and cast to the call's dtype (no copy if it has it)."""
    out = {}
    for name, value in named.items():
        if value is None:
            out[name] = None
            continue
        if not kind.on_device(value):
            raise TypeError(f"argument '{name}' must be on the same CUDA device and of the same kind as 'x' "
                            f"({type(value).__name__} given)")
        out[name] = kind.convert(value, dtype)
    return out


def _prepare_device_forward(kind, cell, x, kernel, recurrent_kernel, bias, h0, c0, *, activation,
                            recurrent_activation, lengths, reverse, time_major) -> RNNCall:
    """prepare_forward for device arrays: the same checks and messages, without leaving the device."""
    G = GATES[cell]
    given = {"x": x, "kernel": kernel, "recurrent_kernel": recurrent_kernel, "bias": bias, "h0": h0, "c0": c0}
    present = {k: v for k, v in given.items() if v is not None}
    for name, value in present.items():
        if not kind.on_device(value):
            raise TypeError(f"argument '{name}' must be on the same CUDA device and of the same kind as 'x' "
                            f"({type(value).__name__} given)")
        if kind.dtype(value).kind not in "biuf":
            raise TypeError(f"argument '{name}' must be a real numeric array, got dtype {value.dtype}")
    shapes = {name: tuple(value.shape) for name, value in present.items()}
    layout = "(time, batch, features)" if time_major else "(batch, time, features)"
    if len(shapes["x"]) != 3:
        raise ValueError(f"argument 'x' must be 3-D {layout}, got shape {shapes['x']}")
    T, B = (shapes["x"][0], shapes["x"][1]) if time_major else (shapes["x"][1], shapes["x"][0])
    D = shapes["x"][2]
    rk = shapes["recurrent_kernel"]
    if len(rk) != 2 or rk[1] != G * rk[0]:
        raise ValueError(f"argument 'recurrent_kernel' must have shape (units, {G} * units), got {rk}")
    H = rk[0]
    expected = {"kernel": ((D, G * H), f"(input features, {G} * units)"), "bias": ((G * H,), f"({G} * units,)"),
                "h0": ((B, H), "(batch, units)"), "c0": ((B, H), "(batch, units)")}
    for name, (shape, meaning) in expected.items():
        if name in shapes and shapes[name] != shape:
            raise ValueError(f"argument '{name}' must have shape {meaning} = {shape}, got {shapes[name]}")
    dtype = compute_dtype([kind.dtype(v) for v in present.values()])
    host_lengths = None if lengths is None else (kind.to_host(lengths) if kind.on_device(lengths) else lengths)
    arrays = _device_arrays(kind, present, dtype)

    def or_zeros(name, shape):
        if arrays.get(name) is not None:
            return arrays[name]
        return kind.zeros(shape, dtype)

    return RNNCall(
        cell=cell, x=arrays["x"], kernel=arrays["kernel"], recurrent_kernel=arrays["recurrent_kernel"],
        bias=or_zeros("bias", (G * H,)), h0=or_zeros("h0", (B, H)),
        c0=or_zeros("c0", (B, H)) if cell == "lstm" else None,
        lengths=_check_lengths(host_lengths, B, T),
        activation=_check_choice("activation", activation),
        recurrent_activation=_check_choice("recurrent_activation", recurrent_activation),
        reverse=bool(reverse), time_major=bool(time_major))


def _prepare_device_backward(kind, cache: RNNCall, d_outputs, states: dict):
    """prepare_backward for device arrays: shapes checked, cast to the cache's dtype."""
    if not isinstance(cache, RNNCall) or cache.outputs is None:
        raise TypeError("argument 'cache' must be the cache returned by a forward call with training=True")
    B, H = cache.steps_batch[1], cache.units
    expected = {"d_outputs": (tuple(cache.x.shape[:2]) + (H,), "outputs' shape")}
    expected.update({name: ((B, H), "(batch, units)") for name in states})
    given = _device_arrays(kind, {"d_outputs": d_outputs, **states}, kind.dtype(cache.x))
    for name, value in given.items():
        if value is not None and tuple(value.shape) != expected[name][0]:
            raise ValueError(f"argument '{name}' must have shape {expected[name][1]} = {expected[name][0]}, "
                             f"got {tuple(value.shape)}")
    return given["d_outputs"], {name: given[name] for name in states}


# ---------------------------------------------------------------------------------------------
# One kernel call: the problem's sizes, then the pointers.

def _sizes(call: RNNCall) -> dict:
    T, B = call.steps_batch
    return dict(T=T, B=B, D=call.x.shape[2], H=call.units, time_major=call.time_major, reverse=call.reverse)


def _forward(cell, kind, call: RNNCall, training: bool):
    """Runs forward on device arrays; returns (outputs, h, c or None, gates, cells) as device arrays."""
    sizes = _sizes(call)
    T, B, H = sizes["T"], sizes["B"], sizes["H"]
    dtype = np.dtype(call.x.dtype) if isinstance(kind, _NumpyKind) else kind.dtype(call.x)
    upload = kind.upload if isinstance(kind, _NumpyKind) else (lambda a: a)
    seq = call.x.shape[:2]
    lengths = None if call.lengths is None else kind.upload(call.lengths)
    inputs = {name: upload(getattr(call, name)) for name in ("x", "kernel", "recurrent_kernel", "bias", "h0")}
    out = {"outputs": kind.empty(tuple(seq) + (H,), dtype), "h_T": kind.empty((B, H), dtype)}
    if cell == "lstm":
        inputs["c0"] = upload(call.c0)
        out["c_T"] = kind.empty((B, H), dtype)
        out["gates"] = kind.empty(tuple(seq) + (4 * H,), dtype) if training else None
        out["cells"] = kind.empty(tuple(seq) + (H,), dtype) if training else None
    pointers = {name: kind.ptr(a) for name, a in {**inputs, **out}.items()}
    common = dict(dtype=dtype.name, **sizes, lengths=kind.ptr(lengths), activation=_code(call.activation),
                  arrays=pointers, device=kind.device, stream=kind.stream,
                  persistent=use_persistent_kernel)
    global last_forward_persistent
    if cell == "lstm":
        last_forward_persistent = _cuda.lstm_forward(recurrent_activation=_code(call.recurrent_activation), **common)
    else:
        last_forward_persistent = _cuda.simple_rnn_forward(**common)
    return out


def _backward(cell, kind, cache: RNNCall, d_outputs, states: dict):
    """Runs backward; returns the gradients (device arrays of kind) in the order of the Grads tuple."""
    sizes = _sizes(cache)
    B, D, H = sizes["B"], sizes["D"], sizes["H"]
    G = GATES[cell]
    numpy_kind = isinstance(kind, _NumpyKind)
    dtype = np.dtype(cache.x.dtype) if numpy_kind else kind.dtype(cache.x)
    upload = kind.upload if numpy_kind else (lambda a: a)
    maybe = lambda a: None if a is None else upload(a)
    names = ["x", "kernel", "recurrent_kernel", "h0", "outputs"] + (["c0"] if cell == "lstm" else [])
    inputs = {name: upload(getattr(cache, name)) for name in names}
    if cell == "lstm":  # the kernels read the caches in x's layout (the cpu backend's are time-major)
        gates, cells = cache.lstm_caches(time_major=cache.time_major)
        if cache.caches_time_major:  # NumPy arrays from the cpu backend: a swapped view becomes a copy
            gates, cells = np.ascontiguousarray(gates), np.ascontiguousarray(cells)
        inputs.update(gates=upload(gates), cells=upload(cells))
    inputs["d_outputs"] = maybe(d_outputs)
    inputs.update({name: maybe(value) for name, value in states.items()})
    lengths = None if cache.lengths is None else kind.upload(cache.lengths)
    grads = {"dx": kind.empty(tuple(cache.x.shape), dtype), "dh0": kind.empty((B, H), dtype)}
    if cell == "lstm":
        grads["dc0"] = kind.empty((B, H), dtype)
    grads.update({"dkernel": kind.empty((D, G * H), dtype), "drecurrent_kernel": kind.empty((H, G * H), dtype),
                  "dbias": kind.empty((G * H,), dtype)})
    pointers = {name: kind.ptr(a) for name, a in {**inputs, **grads}.items()}
    common = dict(dtype=dtype.name, **sizes, lengths=kind.ptr(lengths), activation=_code(cache.activation),
                  arrays=pointers, device=kind.device, stream=kind.stream, persistent=use_persistent_kernel)
    global last_backward_persistent
    if cell == "lstm":
        last_backward_persistent = _cuda.lstm_backward(recurrent_activation=_code(cache.recurrent_activation),
                                                       **common)
    else:
        last_backward_persistent = _cuda.simple_rnn_backward(**common)
    return [kind.result(g) for g in grads.values()]


def _run_forward(cell, x, kernel, recurrent_kernel, bias, h0, c0, training, **options):
    kind = _kind_of(x)
    if isinstance(kind, _NumpyKind):
        call = prepare_forward(cell, x, kernel, recurrent_kernel, bias, h0, c0, **options)
    else:
        call = _prepare_device_forward(kind, cell, x, kernel, recurrent_kernel, bias, h0, c0, **options)
    out = _forward(cell, kind, call, training)
    result = {name: None if a is None else kind.result(a) for name, a in out.items()}
    if training:
        call.backend = "cuda"
        call.outputs = result["outputs"].copy() if isinstance(kind, _NumpyKind) else kind.copy(result["outputs"])
        if cell == "lstm":
            call.gates, call.cells = result["gates"], result["cells"]
    return result, call if training else None


def _run_backward(cell, cache, d_outputs, states: dict):
    kind = _kind_of(cache.x) if isinstance(cache, RNNCall) else _NumpyKind()
    if isinstance(kind, _NumpyKind):
        d_outputs, states = prepare_backward(cache, d_outputs, states)
    else:
        d_outputs, states = _prepare_device_backward(kind, cache, d_outputs, states)
    return _backward(cell, kind, cache, d_outputs, states)


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", lengths=None,
                       reverse=False, time_major=False, training=True):
    result, call = _run_forward("simple_rnn", x, kernel, recurrent_kernel, bias, h0, None, training,
                                activation=activation, recurrent_activation="sigmoid", lengths=lengths,
                                reverse=reverse, time_major=time_major)
    return result["outputs"], result["h_T"], call


def simple_rnn_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> SimpleRNNGrads:
    grads = SimpleRNNGrads(*_run_backward("simple_rnn", cache, d_outputs, {"d_h": d_h}))
    return grads if input_gradient else grads._replace(x=None)


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, activation="tanh",
                 recurrent_activation="sigmoid", lengths=None, reverse=False, time_major=False, training=True):
    result, call = _run_forward("lstm", x, kernel, recurrent_kernel, bias, h0, c0, training, activation=activation,
                                recurrent_activation=recurrent_activation, lengths=lengths, reverse=reverse,
                                time_major=time_major)
    return result["outputs"], (result["h_T"], result["c_T"]), call


def lstm_backward(cache, d_outputs=None, d_h=None, d_c=None, *, input_gradient=True) -> LSTMGrads:
    grads = LSTMGrads(*_run_backward("lstm", cache, d_outputs, {"d_h": d_h, "d_c": d_c}))
    return grads if input_gradient else grads._replace(x=None)
