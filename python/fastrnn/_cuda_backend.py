"""The "cuda" backend: fastrnn.ops' signatures over the CUDA extension (_cuda).

NumPy inputs are copied to the current GPU and the results copied back (the cache then holds
NumPy arrays, interchangeable with the other backends'). CuPy arrays and PyTorch CUDA tensors are
used in place, on their device and current stream, and results come back as the same kind of
array, without copies or synchronisation. The checks are validation.py's, through each kind of
array's ArrayKind; no arithmetic here.
"""
from __future__ import annotations

import numpy as np

from . import tuning
from .validation import (ACTIVATIONS, GATES, ArrayKind, Conv1DCall, Conv1DGrads, GRUGrads, LSTMGrads, RNNCall,
                         SimpleRNNGrads, prepare_backward, prepare_conv1d_backward, prepare_conv1d_forward,
                         prepare_forward)

try:
    from . import _cuda
except ImportError as err:
    raise ImportError(f"the CUDA extension fastrnn._cuda is not built ({err}); build it on a machine with the "
                      "CUDA toolkit: pip install . -Ccmake.define.FASTRNN_CUDA=ON") from err

_device_count, _no_device_reason = _cuda.device_status()
if _device_count == 0:
    raise ImportError(f"fastrnn's CUDA extension is built but no CUDA GPU is usable here: {_no_device_reason}")

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



class _NumpyKind(ArrayKind):
    """NumPy arrays: checked and converted on the host, copied to the current device for the
    call, results copied back."""

    def __init__(self):
        self.device, self.stream = _cuda.current_device(), 0  # the legacy default stream

    def upload(self, a):
        a = np.ascontiguousarray(a)
        buf = _HostBuffer(a.shape, a.dtype, self.device)
        buf.buffer.upload(a)
        return buf

    def on_device(self, a):
        return self.upload(a)

    def empty(self, shape, dtype):
        return _HostBuffer(shape, dtype, self.device)

    @staticmethod
    def ptr(a) -> int:
        return 0 if a is None else a.ptr

    def result(self, buf):
        host = np.empty(buf.shape, buf.dtype)
        buf.buffer.download(host)
        return host

    @staticmethod
    def copy(a):
        return a.copy()


class _DeviceKind(ArrayKind):
    """Arrays already on a device (PyTorch CUDA tensors, CuPy arrays): used in place, results of the
    same kind; subclasses say how to allocate, convert and address them."""

    def on_device(self, a):
        return a

    @staticmethod
    def result(a):
        return a


class _TorchKind(_DeviceKind):
    """PyTorch CUDA tensors, on their device and the current stream."""

    def __init__(self, torch, like):
        self.torch, self.device = torch, like.device.index if like.device.index is not None else 0
        self.stream = torch.cuda.current_stream(like.device).cuda_stream
        self._device = like.device

    def _torch_dtype(self, dtype):
        return getattr(self.torch, np.dtype(dtype).name)

    def accepts(self, a) -> bool:
        return isinstance(a, self.torch.Tensor) and a.device == self._device

    def dtype(self, a):
        try:
            return np.dtype(str(a.dtype).rsplit(".", 1)[-1])
        except TypeError:  # bfloat16 and friends compute in float32, as float16 does
            return np.dtype(np.float16)

    def shape(self, a):
        return tuple(a.shape)

    def convert(self, a, dtype):
        return a.to(dtype=self._torch_dtype(dtype)).contiguous()

    def upload(self, a):
        return self.torch.as_tensor(np.ascontiguousarray(a), device=self._device)

    def empty(self, shape, dtype):
        return self.torch.empty(tuple(shape), dtype=self._torch_dtype(dtype), device=self._device)

    def zeros(self, shape, dtype):
        return self.torch.zeros(tuple(shape), dtype=self._torch_dtype(dtype), device=self._device)

    @staticmethod
    def ptr(a) -> int:
        return 0 if a is None else a.data_ptr()

    def host(self, a):
        return a.detach().cpu().numpy() if isinstance(a, self.torch.Tensor) else np.asarray(a)

    @staticmethod
    def copy(a):
        return a.clone()


class _CupyKind(_DeviceKind):
    """CuPy arrays, on their device and the current stream."""

    def __init__(self, cupy, like):
        self.cupy, self.device = cupy, like.device.id
        with cupy.cuda.Device(self.device):
            self.stream = cupy.cuda.get_current_stream().ptr

    def accepts(self, a) -> bool:
        return isinstance(a, self.cupy.ndarray) and a.device.id == self.device

    def dtype(self, a):
        return np.dtype(a.dtype)

    def shape(self, a):
        return tuple(a.shape)

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

    def host(self, a):
        return self.cupy.asnumpy(a) if isinstance(a, self.cupy.ndarray) else np.asarray(a)

    @staticmethod
    def copy(a):
        return a.copy()


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


# ---------------------------------------------------------------------------------------------
# The recurrent kernels: the problem's sizes, the sequences, then the pointers.

# Whether the last forward / backward call ran a persistent kernel (a diagnostic for tests and benches).
last_forward_persistent = False
last_backward_persistent = False


def _sizes(call: RNNCall) -> dict:
    T, B = call.steps_batch
    return dict(T=T, B=B, D=call.x.shape[2], H=call.units, time_major=call.time_major, reverse=call.reverse)


def _sequences(kind, call: RNNCall):
    """The device copies of the call's sequence arrays (kept alive by the caller) and their pointers."""
    arrays = {name: None if getattr(call, name) is None else kind.upload(getattr(call, name))
              for name in ("lengths", "starts", "order", "order_steps")}
    return arrays, {name: kind.ptr(a) for name, a in arrays.items()}


def _common(kind, call, dtype, pointers, sequence_pointers):
    return dict(dtype=dtype.name, **_sizes(call), sequences=sequence_pointers, activation=_code(call.activation),
                arrays=pointers, device=kind.device, stream=kind.stream, persistent=tuning.get()["cuda_persistent"])


def _forward(cell, kind, call: RNNCall, training: bool):
    """Runs forward on device arrays; returns outputs, h_T, c_T, gates, cells as device arrays."""
    T, B = call.steps_batch
    H = call.units
    dtype = np.dtype(kind.dtype(call.x))
    inputs = {name: kind.on_device(getattr(call, name)) for name in ("x", "kernel", "recurrent_kernel", "h0")}
    out = {"outputs": kind.empty(call.sequence_shape(H), dtype), "h_T": kind.empty((B, H), dtype)}
    if cell == "gru":  # (2, 3H) with reset_after: the input and the recurrent bias
        biases = (call.bias[0], call.bias[1]) if call.reset_after else (call.bias, None)
        inputs.update(bias=kind.on_device(kind.convert(biases[0], dtype)),
                      recurrent_bias=None if biases[1] is None else kind.on_device(kind.convert(biases[1], dtype)))
        out["gates"] = kind.empty((T, B, 4 * H), dtype) if training else None
    else:
        inputs["bias"] = kind.on_device(call.bias)
    if cell == "lstm":
        inputs["c0"] = kind.on_device(call.c0)
        out["c_T"] = kind.empty((B, H), dtype)
        out["gates"] = kind.empty((T, B, 4 * H), dtype) if training else None
        out["cells"] = kind.empty((T, B, H), dtype) if training else None
    sequences, sequence_pointers = _sequences(kind, call)
    pointers = {name: kind.ptr(a) for name, a in {**inputs, **out}.items()}
    common = _common(kind, call, dtype, pointers, sequence_pointers)
    global last_forward_persistent
    if cell == "lstm":
        last_forward_persistent = _cuda.lstm_forward(recurrent_activation=_code(call.recurrent_activation), **common)
    elif cell == "gru":
        last_forward_persistent = _cuda.gru_forward(recurrent_activation=_code(call.recurrent_activation),
                                                    reset_after=call.reset_after, **common)
    else:
        last_forward_persistent = _cuda.simple_rnn_forward(**common)
    return out


def _backward(cell, kind, cache: RNNCall, d_outputs, states: dict):
    """Runs backward; returns the gradients (device arrays of kind) in the order of the Grads tuple."""
    T, B = cache.steps_batch
    D, H, G = cache.x.shape[2], cache.units, GATES[cell]
    dtype = np.dtype(kind.dtype(cache.x))
    names = ["x", "kernel", "recurrent_kernel", "h0", "outputs"] + {"lstm": ["c0", "gates", "cells"],
                                                                    "gru": ["gates"]}.get(cell, [])
    inputs = {name: kind.on_device(getattr(cache, name)) for name in names}
    inputs["d_outputs"] = None if d_outputs is None else kind.on_device(d_outputs)
    inputs.update({name: None if value is None else kind.on_device(value) for name, value in states.items()})
    grads = {"dx": kind.empty(tuple(cache.x.shape), dtype), "dh0": kind.empty((B, H), dtype)}
    if cell == "lstm":
        grads["dc0"] = kind.empty((B, H), dtype)
    grads.update({"dkernel": kind.empty((D, G * H), dtype), "drecurrent_kernel": kind.empty((H, G * H), dtype),
                  "dbias": kind.empty(tuple(kind.shape(cache.bias)), dtype)})  # GRU: (2, 3H), its rows apart
    sequences, sequence_pointers = _sequences(kind, cache)
    pointers = {name: kind.ptr(a) for name, a in {**inputs, **grads}.items()}
    if cell == "gru":  # the two bias gradients are the rows of one (2, 3H) array
        row = G * H * dtype.itemsize
        pointers["drecurrent_bias"] = pointers["dbias"] + row if cache.reset_after else 0
    common = _common(kind, cache, dtype, pointers, sequence_pointers)
    global last_backward_persistent
    if cell == "lstm":
        last_backward_persistent = _cuda.lstm_backward(recurrent_activation=_code(cache.recurrent_activation),
                                                       **common)
    elif cell == "gru":
        last_backward_persistent = _cuda.gru_backward(recurrent_activation=_code(cache.recurrent_activation),
                                                      reset_after=cache.reset_after, **common)
    else:
        last_backward_persistent = _cuda.simple_rnn_backward(**common)
    return [kind.result(g) for g in grads.values()]


def _run_forward(cell, x, kernel, recurrent_kernel, bias, h0, c0, training, **options):
    kind = _kind_of(x)
    call = prepare_forward(cell, x, kernel, recurrent_kernel, bias, h0, c0, kind=kind, **options)
    out = _forward(cell, kind, call, training)
    result = {name: None if a is None else kind.result(a) for name, a in out.items()}
    if training:
        call.backend, call.outputs = "cuda", kind.copy(result["outputs"])
        if cell in ("lstm", "gru"):
            call.gates, call.cells = result["gates"], result.get("cells")
    return result, call if training else None


def _run_backward(cell, cache, d_outputs, states: dict):
    kind = _kind_of(cache.x) if isinstance(cache, RNNCall) else _NumpyKind()
    d_outputs, states = prepare_backward(cache, d_outputs, states, kind=kind)
    return _backward(cell, kind, cache, d_outputs, states)


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", lengths=None, mask=None,
                       reverse=False, time_major=False, training=True):
    result, call = _run_forward("simple_rnn", x, kernel, recurrent_kernel, bias, h0, None, training,
                                activation=activation, recurrent_activation="sigmoid", lengths=lengths, mask=mask,
                                reverse=reverse, time_major=time_major)
    return result["outputs"], result["h_T"], call


def simple_rnn_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> SimpleRNNGrads:
    grads = SimpleRNNGrads(*_run_backward("simple_rnn", cache, d_outputs, {"d_h": d_h}))
    return grads if input_gradient else grads._replace(x=None)


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, activation="tanh",
                 recurrent_activation="sigmoid", lengths=None, mask=None, reverse=False, time_major=False,
                 training=True):
    result, call = _run_forward("lstm", x, kernel, recurrent_kernel, bias, h0, c0, training, activation=activation,
                                recurrent_activation=recurrent_activation, lengths=lengths, mask=mask,
                                reverse=reverse, time_major=time_major)
    return result["outputs"], (result["h_T"], result["c_T"]), call


def lstm_backward(cache, d_outputs=None, d_h=None, d_c=None, *, input_gradient=True) -> LSTMGrads:
    grads = LSTMGrads(*_run_backward("lstm", cache, d_outputs, {"d_h": d_h, "d_c": d_c}))
    return grads if input_gradient else grads._replace(x=None)


def gru_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", recurrent_activation="sigmoid",
                reset_after=True, lengths=None, mask=None, reverse=False, time_major=False, training=True):
    result, call = _run_forward("gru", x, kernel, recurrent_kernel, bias, h0, None, training, activation=activation,
                                recurrent_activation=recurrent_activation, reset_after=reset_after, lengths=lengths,
                                mask=mask, reverse=reverse, time_major=time_major)
    return result["outputs"], result["h_T"], call


def gru_backward(cache, d_outputs=None, d_h=None, *, input_gradient=True) -> GRUGrads:
    grads = GRUGrads(*_run_backward("gru", cache, d_outputs, {"d_h": d_h}))
    return grads if input_gradient else grads._replace(x=None)


# ---------------------------------------------------------------------------------------------
# The layers' and optimizers' kernels (csrc/cuda/layer_kernels.h): NumPy arrays are copied to the
# device and back; device arrays are used in place.

def _floats(kind, *arrays):
    dtype = np.dtype(kind.dtype(arrays[0]))
    if dtype.kind != "f" or dtype.itemsize not in (4, 8) or any(np.dtype(kind.dtype(a)) != dtype for a in arrays):
        raise TypeError(f"the cuda backend's layer kernels take float32 or float64 arrays of one dtype, got "
                        f"{[str(kind.dtype(a)) for a in arrays]}")
    return dtype


def activate(x, activation):
    kind = _kind_of(x)
    dtype = _floats(kind, x)
    source = kind.on_device(kind.convert(x, dtype))
    out = kind.empty(kind.shape(x), dtype)
    _cuda.activate(dtype.name, int(np.prod(kind.shape(x), dtype=np.int64)), kind.ptr(source), kind.ptr(out),
                   _code(activation), kind.device, kind.stream)
    return kind.result(out)


def matmul(a, b, transpose_a=False, transpose_b=False):
    kind = _kind_of(a)
    dtype = _floats(kind, a, b)
    (M, K), N = (kind.shape(a)[::-1] if transpose_a else kind.shape(a)), kind.shape(b)[0 if transpose_b else 1]
    da, db = (kind.on_device(kind.convert(v, dtype)) for v in (a, b))
    out = kind.empty((M, N), dtype)
    _cuda.matmul(dtype.name, transpose_a, transpose_b, M, N, K, kind.ptr(da), kind.ptr(db), kind.ptr(out),
                 kind.device, kind.stream)
    return kind.result(out)


def _conv1d_padded(kind, a, left, right):
    """a (B, T, C) with `left` and `right` zero steps on its time axis, where a lives."""
    if not left and not right:
        return a
    B, T, C = kind.shape(a)
    out = kind.zeros((B, left + T + right, C), kind.dtype(a))
    out[:, left:left + T] = a
    return out


def _conv1d_columns(kind, a, steps, taps, stride, dilation):
    """im2col where a lives (NumPy arrays: on the host, the product alone runs on the device):
    (B * steps, taps * C), row (b, t) holding a[b, t * stride + k * dilation] for k < taps; one
    slice copy per tap, which CuPy, PyTorch and NumPy all spell the same way."""
    B, _, C = kind.shape(a)
    cols = kind.zeros((B, steps, taps, C), kind.dtype(a))
    for k in range(taps):
        start = k * dilation
        cols[:, :, k] = a[:, start:start + stride * steps:stride]
    return cols.reshape(B * steps, taps * C)


def conv1d_forward(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, training=True):
    kind = _kind_of(x)
    call = prepare_conv1d_forward(x, kernel, bias, strides=strides, padding=padding, dilation_rate=dilation_rate,
                                  kind=kind)
    B, _, C = kind.shape(call.x)
    K, _, F = kind.shape(call.kernel)
    cols = _conv1d_columns(kind, _conv1d_padded(kind, call.x, call.pad_left, call.pad_right), call.steps, K,
                           call.strides, call.dilation_rate)
    y = matmul(cols, call.kernel.reshape(K * C, F)).reshape(B, call.steps, F)
    if call.bias is not None:
        y += call.bias
    if not training:
        return y, None
    call.backend = "cuda"
    return y, call


def conv1d_backward(cache, dy, *, input_gradient=True) -> Conv1DGrads:
    kind = _kind_of(cache.x) if isinstance(cache, Conv1DCall) else _NumpyKind()
    dy = prepare_conv1d_backward(cache, dy, kind=kind)
    c = cache
    B, T, C = kind.shape(c.x)
    K, _, F = kind.shape(c.kernel)
    dtype = kind.dtype(c.x)
    dy2 = dy.reshape(B * c.steps, F)
    cols = _conv1d_columns(kind, _conv1d_padded(kind, c.x, c.pad_left, c.pad_right), c.steps, K, c.strides,
                           c.dilation_rate)
    dkernel = matmul(cols, dy2, True, False).reshape(K, C, F)
    del cols
    dbias = dy2.sum(0) if c.bias is not None else None
    dx = None
    if input_gradient:  # the transposed convolution, as the cpu backend computes it (_cpu.conv1d_backward)
        span = c.dilation_rate * (K - 1)
        spread = kind.zeros((B, span + c.padded_steps, F), dtype)
        spread[:, span:span + c.strides * c.steps:c.strides] = dy
        flipped = kind.zeros((K, F, C), dtype)
        for k in range(K):
            flipped[K - 1 - k] = c.kernel[k].T
        columns = _conv1d_columns(kind, spread[:, c.pad_left:], T, K, 1, c.dilation_rate)
        dx = matmul(columns, flipped.reshape(K * F, C)).reshape(B, T, C)
    return Conv1DGrads(dx, dkernel, dbias)


def gather_rows(table, ids):
    kind = _kind_of(table)
    dtype = _floats(kind, table)
    host_ids = np.ascontiguousarray(kind.host(ids), np.int64)
    dim = kind.shape(table)[1]
    device_ids, device_table = kind.upload(host_ids), kind.on_device(kind.convert(table, dtype))
    out = kind.empty(host_ids.shape + (dim,), dtype)
    _cuda.gather_rows(dtype.name, host_ids.size, kind.ptr(device_ids), kind.ptr(device_table), dim, kind.ptr(out),
                      kind.device, kind.stream)
    return kind.result(out)


def sum_rows_by_id(ids, dy, input_dim):
    kind = _kind_of(dy)
    dtype = _floats(kind, dy)
    host_ids = np.asarray(kind.host(ids)).ravel()
    rows, where = np.unique(host_ids, return_inverse=True)  # the distinct ids, on the host
    order = np.argsort(where.ravel(), kind="stable")  # each id's occurrences, in order
    segments = np.searchsorted(where.ravel()[order], np.arange(rows.size + 1))
    dim = kind.shape(dy)[-1]
    device = [kind.upload(np.ascontiguousarray(a, np.int64)) for a in (segments, order)]
    source = kind.on_device(kind.convert(dy, dtype))
    values = kind.empty((rows.size, dim), dtype)
    _cuda.sum_rows(dtype.name, rows.size, kind.ptr(device[0]), kind.ptr(device[1]), kind.ptr(source), dim,
                   kind.ptr(values), kind.device, kind.stream)
    return rows, kind.result(values)


def _update(name, w, g, slots: dict, values: tuple, rows):
    """An optimizer step on the device: w and its slots updated in place (NumPy arrays: copied
    there and back)."""
    kind = _kind_of(w)
    dtype = _floats(kind, w, g, *slots.values())
    arrays = {"w": w, "g": g, **slots}
    device = {k: kind.on_device(v) for k, v in arrays.items()}
    device_rows = None if rows is None else kind.upload(np.ascontiguousarray(kind.host(rows), np.int64))
    shape = kind.shape(w)
    n = int(np.prod(shape, dtype=np.int64)) if rows is None else int(np.size(kind.host(rows)))
    dim = 1 if rows is None else int(np.prod(shape[1:], dtype=np.int64))
    _cuda.optimizer_update(name, dtype.name, n, kind.ptr(device_rows), dim, {k: kind.ptr(v) for k, v in device.items()},
                           values, kind.device, kind.stream)
    if isinstance(kind, _NumpyKind):
        for k in ("w", *slots):
            device[k].buffer.download(arrays[k])


def adam_update(w, g, m, v, c1, c2, alpha, epsilon, rows=None):
    _update("adam", w, g, {"m": m, "v": v}, (c1, c2, alpha, epsilon), rows)


def rmsprop_update(w, g, v, rho, c, lr, epsilon, rows=None):
    _update("rmsprop", w, g, {"v": v}, (rho, c, lr, epsilon), rows)


def momentum_update(w, g, m, momentum, lr, nesterov, rows=None):
    _update("momentum", w, g, {"m": m}, (momentum, lr, bool(nesterov)), rows)
