"""Conv1D, the 1-D poolings, TimeDistributed, Activation and RepeatVector: the conv1d kernels (cpu)
against their NumPy twin, finite differences in float64, Keras 3's own outputs and gradients on
the same weights (torch backend), masks, configs, bad arguments and the textbook's IMDB model."""
import os
import warnings

import numpy as np
import pytest

import fastrnn
from conftest import numeric_grad
from fastrnn import layers, ops
from fastrnn.layers import (Activation, AveragePooling1D, Conv1D, Dense, Embedding, GlobalAveragePooling1D,
                            GlobalMaxPooling1D, LSTM, MaxPooling1D, RepeatVector, TimeDistributed)
from fastrnn.models import Sequential, load_model

# (B, T, C, F, K, strides, padding, dilation_rate): odd sizes, batch 1, length 1, every padding, empty
CONV_CASES = [
    (3, 7, 5, 4, 3, 1, "valid", 1), (1, 1, 3, 2, 1, 1, "valid", 1), (2, 1, 3, 4, 5, 1, "same", 1),
    (1, 1, 2, 3, 4, 1, "causal", 2), (3, 11, 4, 5, 4, 2, "same", 1), (2, 10, 3, 2, 2, 3, "same", 1),
    (2, 9, 5, 3, 3, 2, "valid", 1), (4, 13, 2, 6, 3, 1, "same", 3), (3, 12, 3, 4, 3, 1, "causal", 2),
    (2, 8, 1, 1, 7, 1, "same", 1), (5, 17, 6, 7, 2, 4, "causal", 1), (2, 9, 4, 3, 3, 1, "valid", 4),
    (0, 5, 3, 2, 3, 1, "valid", 1), (2, 0, 3, 2, 3, 2, "same", 1),
]


def conv_problem(rng, case, dtype):
    B, T, C, F, K, s, padding, d = case
    x, kernel, bias = rng.standard_normal((B, T, C)), rng.standard_normal((K, C, F)), rng.standard_normal(F)
    return [a.astype(dtype) for a in (x, kernel, bias)], dict(strides=s, padding=padding, dilation_rate=d)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv1d_cpu_matches_the_numpy_twin(rng, case, dtype, tol):
    (x, kernel, bias), options = conv_problem(rng, case, dtype)
    results = []
    for backend in ("numpy", "cpu"):
        y, cache = ops.conv1d_forward(x, kernel, bias, backend=backend, **options)
        dy = np.random.default_rng(7).standard_normal(y.shape).astype(dtype)
        results.append((y, *ops.conv1d_backward(cache, dy)))
    (want_y, *want), (y, *got) = results
    assert y.dtype == dtype and y.shape[:1] + y.shape[2:] == (case[0], case[3])
    np.testing.assert_allclose(y, want_y, rtol=tol, atol=tol * np.abs(want_y).max(initial=0))
    for name, a, b in zip(("x", "kernel", "bias"), got, want):
        assert a.shape == b.shape and a.dtype == dtype, name
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max(initial=0), err_msg=name)


def test_conv1d_twin_is_a_plain_correlation(rng):
    """The twin itself against the definition written out one output at a time (same padding)."""
    x, kernel, bias = rng.standard_normal((2, 6, 3)), rng.standard_normal((4, 3, 2)), rng.standard_normal(2)
    y, _ = ops.conv1d_forward(x, kernel, bias, padding="same", backend="numpy")
    padded = np.concatenate([np.zeros((2, 1, 3)), x, np.zeros((2, 2, 3))], axis=1)  # 3 zeros, the odd one right
    want = np.array([[bias + sum(padded[b, t + k] @ kernel[k] for k in range(4)) for t in range(6)] for b in range(2)])
    np.testing.assert_allclose(y, want, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_conv1d_gradients_match_finite_differences(rng, backend):
    for case in CONV_CASES[::3]:
        (x, kernel, bias), options = conv_problem(rng, case, np.float64)
        y, cache = ops.conv1d_forward(x, kernel, bias, backend=backend, **options)
        r = rng.standard_normal(y.shape)
        grads = ops.conv1d_backward(cache, r)
        loss = lambda: np.sum(ops.conv1d_forward(x, kernel, bias, training=False, backend=backend, **options)[0] * r)
        for name, value, grad in zip(("x", "kernel", "bias"), (x, kernel, bias), grads):
            np.testing.assert_allclose(grad, numeric_grad(loss, value), rtol=1e-6, atol=1e-8, err_msg=f"{case} {name}")


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_conv1d_without_bias_and_without_input_gradient(rng, backend):
    (x, kernel, _), options = conv_problem(rng, CONV_CASES[4], np.float32)
    y, cache = ops.conv1d_forward(x.astype(np.float64), kernel, None, backend=backend, **options)
    assert y.dtype == np.float64  # promoted as NumPy would
    full = ops.conv1d_backward(cache, np.ones_like(y))
    part = ops.conv1d_backward(cache, np.ones_like(y), input_gradient=False)
    assert full.bias is None and part.x is None and full.x.shape == x.shape
    np.testing.assert_array_equal(part.kernel, full.kernel)
    assert ops.conv1d_forward(x, kernel, training=False, backend=backend, **options)[1] is None


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("call,match", [
    (lambda: ops.conv1d_forward(np.ones((2, 5)), np.ones((3, 5, 2))), r"'x' must be 3-D \(batch, steps, channels\)"),
    (lambda: ops.conv1d_forward(np.ones((2, 5, 4)), np.ones((3, 3, 2))), r"'kernel' must have shape .* \(K, 4, F\)"),
    (lambda: ops.conv1d_forward(np.ones((2, 5, 4)), np.ones((0, 4, 2))), r"'kernel' must have shape"),
    (lambda: ops.conv1d_forward(np.ones((2, 5, 4)), np.ones((3, 4, 2)), np.ones(3)), r"'bias' must have shape \(filt"),
    (lambda: ops.conv1d_forward(np.ones((2, 5, 4)), np.ones((3, 4, 2)), padding="bogus"), "'padding' must be one of"),
    (lambda: ops.conv1d_forward(np.ones((2, 5, 4)), np.ones((3, 4, 2)), strides=0), "'strides' must be a positive int"),
    (lambda: ops.conv1d_forward(np.ones((2, 5, 4)), np.ones((3, 4, 2)), dilation_rate=True), "'dilation_rate'"),
    (lambda: ops.conv1d_forward(np.ones((2, 4, 4)), np.ones((3, 4, 2)), dilation_rate=2), "'x' has 4 steps, fewer"),
    (lambda: ops.conv1d_forward(np.ones((2, 5, 4), complex), np.ones((3, 4, 2))), "'x' must be a real numeric"),
    (lambda: ops.conv1d_backward(None, np.ones((2, 3, 2))), "'cache' must be the cache returned by conv1d_forward"),
])
def test_conv1d_bad_arguments_name_the_argument(backend, call, match):
    with fastrnn.set_backend(backend):
        with pytest.raises((ValueError, TypeError), match=match):
            call()


def test_conv1d_backward_checks_dy_against_the_cache():
    y, cache = ops.conv1d_forward(np.ones((2, 5, 4)), np.ones((3, 4, 2)))
    with pytest.raises(ValueError, match=r"'dy' must have shape .* = \(2, 3, 2\), got \(2, 5, 2\)"):
        ops.conv1d_backward(cache, np.ones((2, 5, 2)))
    with pytest.raises(TypeError, match="'input_gradient' must be True or False"):
        ops.conv1d_backward(cache, y, input_gradient=1)


def test_conv1d_on_the_cuda_backend_matches_the_twin(rng):
    try:
        from fastrnn import _cuda_backend  # noqa: F401
    except ImportError as err:
        pytest.skip(f"cuda backend not available: {err}")
    for case in CONV_CASES[::2]:
        (x, kernel, bias), options = conv_problem(rng, case, np.float64)
        want_y, cache = ops.conv1d_forward(x, kernel, bias, backend="numpy", **options)
        dy = rng.standard_normal(want_y.shape)
        y, gpu_cache = ops.conv1d_forward(x, kernel, bias, backend="cuda", **options)
        for got, want in zip((y, *ops.conv1d_backward(gpu_cache, dy)), (want_y, *ops.conv1d_backward(cache, dy))):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# The cuda backend's conv1d without a GPU: a stand-in for its extension whose "device" is host
# memory runs the module's own code, on NumPy arrays and on PyTorch tensors (as CUDA tensors go).
FAKE_DEVICE = """
import ctypes, sys, types
import numpy as np
import torch
fake = types.ModuleType("fastrnn._cuda")
fake.device_status, fake.current_device, fake.config = (lambda: (1, "")), (lambda: 0), (lambda: {})
def at(ptr, n, dtype):
    return np.frombuffer((ctypes.c_char * (n * np.dtype(dtype).itemsize)).from_address(ptr), dtype)
class DeviceBuffer:
    def __init__(self, nbytes, device):
        self.memory = np.zeros(max(nbytes, 8), np.uint8)
        self.ptr = self.memory.ctypes.data
    def upload(self, a):
        self.memory[:a.nbytes] = np.ascontiguousarray(a).view(np.uint8).ravel()
    def download(self, host):
        host.view(np.uint8).ravel()[:] = self.memory[:host.nbytes]
def matmul(dtype, ta, tb, M, N, K, pa, pb, pc, device, stream):
    a = at(pa, M * K, dtype).reshape((K, M) if ta else (M, K))
    b = at(pb, K * N, dtype).reshape((N, K) if tb else (K, N))
    at(pc, M * N, dtype).reshape(M, N)[...] = (a.T if ta else a) @ (b.T if tb else b)
fake.DeviceBuffer, fake.matmul = DeviceBuffer, matmul
sys.modules["fastrnn._cuda"] = fake
from fastrnn import _cuda_backend as cuda, reference
class HostTorchKind(cuda._TorchKind):
    def __init__(self, like):
        self.torch, self.device, self.stream, self._device = torch, 0, 0, like.device
numpy_kind = cuda._kind_of
rng = np.random.default_rng(0)
for B, T, C, F, K, s, padding, d in CASES:
    x, kernel, bias = rng.standard_normal((B, T, C)), rng.standard_normal((K, C, F)), rng.standard_normal(F)
    options = dict(strides=s, padding=padding, dilation_rate=d)
    want_y, cache = reference.conv1d_forward(x, kernel, bias, **options)
    dy = rng.standard_normal(want_y.shape)
    want = (want_y, *reference.conv1d_backward(cache, dy))
    for wrap in (np.asarray, torch.tensor):
        cuda._kind_of = HostTorchKind if wrap is torch.tensor else numpy_kind
        y, got_cache = cuda.conv1d_forward(*map(wrap, (x, kernel, bias)), **options)
        got = (y, *cuda.conv1d_backward(got_cache, wrap(dy)))
        assert all(type(g) is type(wrap(x)) for g in got) and got_cache.backend == "cuda"
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12, atol=1e-12)
        assert cuda.conv1d_backward(got_cache, wrap(dy), input_gradient=False).x is None
print("ok")
"""


def test_the_cuda_backends_conv1d_code_on_a_stand_in_device():
    import subprocess
    import sys
    pytest.importorskip("torch")
    script = f"CASES = {CONV_CASES[1::2]!r}\n" + FAKE_DEVICE
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


# --- the layers --------------------------------------------------------------------------------

def sequence_input(rng, layer, shape=(3, 9, 4)):
    return rng.standard_normal((3, 5) if isinstance(layer, RepeatVector) else shape)


LAYERS = [  # each takes the Layer keyword arguments (dtype)
    lambda **kw: Conv1D(4, 3, activation="tanh", **kw),
    lambda **kw: Conv1D(3, 4, strides=2, padding="same", activation="sigmoid", **kw),
    lambda **kw: Conv1D(2, 3, padding="causal", dilation_rate=2, use_bias=False, **kw),
    lambda **kw: MaxPooling1D(3, strides=2, padding="same", **kw),
    lambda **kw: MaxPooling1D(**kw),
    lambda **kw: AveragePooling1D(4, strides=1, padding="same", **kw),
    lambda **kw: AveragePooling1D(3, **kw),
    lambda **kw: GlobalMaxPooling1D(keepdims=True, **kw),
    lambda **kw: GlobalAveragePooling1D(**kw),
    lambda **kw: TimeDistributed(Dense(3, activation="tanh", **kw)),
    lambda **kw: Activation("softmax", **kw),
    lambda **kw: Activation("tanh", **kw),
    lambda **kw: RepeatVector(3, **kw),
]


@pytest.mark.parametrize("make", LAYERS)
def test_layer_gradients_match_finite_differences(rng, make):
    layer = make(dtype="float64")
    x = sequence_input(rng, layer)
    y = layer(x, training=True)
    r = rng.standard_normal(y.shape)
    dx, grads = layer.backward(r), dict(layer.grads)
    loss = lambda: np.sum(layer(x) * r)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    assert sorted(grads) == sorted(layer._params)
    for name, weight in layer._params.items():
        np.testing.assert_allclose(grads[name], numeric_grad(loss, weight), rtol=1e-6, atol=1e-8, err_msg=name)


def test_global_average_pooling_gradient_with_a_mask(rng):
    layer, x = GlobalAveragePooling1D(dtype="float64"), rng.standard_normal((3, 6, 2))
    mask = np.array([[1, 1, 0, 0, 0, 0], [0, 1, 1, 1, 0, 1], [1] * 6], bool)
    r = rng.standard_normal((3, 2))
    layer(x, training=True, mask=mask)
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, numeric_grad(lambda: np.sum(layer(x, mask=mask) * r), x), rtol=1e-6, atol=1e-8)
    assert not dx[~mask].any()


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("the gradients are taken with torch autograd: needs Keras' torch backend")
    return keras


def keras_twin(keras, layer):
    """The same layer in Keras 3, from our config."""
    if isinstance(layer, TimeDistributed):
        return keras.layers.TimeDistributed(keras_twin(keras, layer.layer))
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable", "dtype")}
    return getattr(keras.layers, type(layer).__name__)(**config)


def keras_outputs_and_gradients(reference, x, r, mask=None):
    import torch
    xt = torch.tensor(x, requires_grad=True)
    y = reference(xt) if mask is None else reference(xt, mask=torch.tensor(mask))
    (y * torch.tensor(r)).sum().backward()
    return y.detach().numpy(), xt.grad.numpy(), [w.value.grad.numpy() for w in reference.weights]


# LAYERS[5] (window 4, stride 1, "same") is left to test_same_average_pooling_leaves_padding_out_of_the_mean
KERAS_LAYERS = LAYERS[:5] + LAYERS[6:] + [
    lambda: Conv1D(3, 2, padding="same", activation="relu"), lambda: AveragePooling1D(3, strides=2, padding="same"),
    lambda: GlobalMaxPooling1D(), lambda: GlobalAveragePooling1D(keepdims=True), lambda: MaxPooling1D(2, 1, "same"),
    lambda: TimeDistributed(Conv1D(2, 2, padding="same")), lambda: Activation("relu"),
]


def wraps(layer, cls):
    return isinstance(layer, TimeDistributed) and isinstance(layer.layer, cls)


@pytest.mark.parametrize("make", KERAS_LAYERS)
def test_layer_outputs_and_gradients_equal_keras(keras, rng, make):
    layer = make()
    x = (rng.standard_normal((2, 4, 7, 3)) if wraps(layer, Conv1D) else sequence_input(rng, layer)).astype(np.float32)
    y = layer(x, training=True)
    r = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(r)
    reference = keras_twin(keras, layer)
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    want_y, want_dx, want_grads = keras_outputs_and_gradients(reference, x, r)
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-6)
    assert len(want_grads) == len(layer._params)
    for name, want in zip(layer._params, want_grads):
        np.testing.assert_allclose(layer.grads[name], want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("make", [lambda: MaxPooling1D(3, strides=1, padding="same"), lambda: MaxPooling1D(2),
                                  lambda: GlobalMaxPooling1D()])
def test_max_pooling_gradients_at_ties_equal_keras(keras, rng, make):
    """Windows: all to the first maximum (PyTorch's and TensorFlow's max_pool); global: shared
    equally by the tied maxima (Keras' max, as TensorFlow's reduce_max and PyTorch's amax)."""
    layer, x = make(), rng.integers(0, 3, (3, 8, 4)).astype(np.float32)  # after a relu, ties are the rule
    r = rng.standard_normal(layer(x, training=True).shape).astype(np.float32)
    want_y, want_dx, _ = keras_outputs_and_gradients(keras_twin(keras, layer), x, r)
    np.testing.assert_array_equal(layer(x, training=True), want_y)
    np.testing.assert_allclose(layer.backward(r), want_dx, rtol=1e-6, atol=1e-7)


def test_same_average_pooling_leaves_padding_out_of_the_mean(rng):
    """TensorFlow's rule (Keras 2's, and Keras 3's on TensorFlow). Keras 3 on PyTorch pads an odd
    total by repeating the edge steps, so its (window 4, stride 1) averages differ there."""
    x = rng.standard_normal((2, 5, 3))
    y = AveragePooling1D(4, strides=1, padding="same", dtype="float64")(x)
    want = np.stack([x[:, max(t - 1, 0):t + 3].mean(axis=1) for t in range(5)], axis=1)  # 1 left, 2 right
    np.testing.assert_allclose(y, want, rtol=1e-12)


def test_global_poolings_use_masks_as_keras_does(keras, rng):
    import torch
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0, 0], [0, 1, 1, 1, 0, 1], [0] * 6], bool)  # holes, and all masked
    r = rng.standard_normal((3, 2)).astype(np.float32)
    layer = GlobalAveragePooling1D()
    y = layer(x, training=True, mask=mask)
    want_y, want_dx, _ = keras_outputs_and_gradients(keras.layers.GlobalAveragePooling1D(), x, r, mask)
    np.testing.assert_allclose(y, want_y, rtol=1e-6)  # NaN where every step is masked, as Keras
    np.testing.assert_allclose(layer.backward(r), want_dx, rtol=1e-6)
    assert np.isnan(y[2]).all() and layer.compute_mask(x, mask) is None
    # GlobalMaxPooling1D takes no mask in Keras 3: the maximum runs over the padding's steps too
    ids = np.array([[3, 4, 0, 0, 0], [1, 2, 3, 4, 5], [0, 0, 0, 2, 0]])
    for ours, theirs in ((GlobalMaxPooling1D, keras.layers.GlobalMaxPooling1D),
                         (GlobalAveragePooling1D, keras.layers.GlobalAveragePooling1D)):
        model = Sequential([Embedding(6, 4, mask_zero=True), ours()])
        model.build((None, 5))
        reference = keras.Sequential([keras.layers.Embedding(6, 4, mask_zero=True), theirs()])
        with warnings.catch_warnings():  # Keras 3 warns that GlobalMaxPooling1D drops the mask
            warnings.simplefilter("ignore")
            reference.build((None, 5))
            reference.set_weights(model.get_weights())
            want = keras.ops.convert_to_numpy(reference(torch.tensor(ids)))
        np.testing.assert_allclose(model.predict(ids, verbose=0), want, rtol=1e-6, err_msg=ours.__name__)


def test_which_layers_pass_masks_on(rng):
    x, mask = rng.standard_normal((2, 6, 4)), np.array([[1] * 6, [1] * 3 + [0] * 3], bool)
    passes = [Activation("relu"), TimeDistributed(Dense(2))]
    drops = [Conv1D(2, 3), MaxPooling1D(), AveragePooling1D(2), GlobalMaxPooling1D(), GlobalAveragePooling1D()]
    for layer in passes + drops:
        layer(x, mask=mask)
        assert (layer.compute_mask(x, mask) is mask) == (layer in passes), type(layer).__name__
    assert RepeatVector(2).compute_mask(x[:, 0], mask[:, 0]) is None
    # an LSTM after TimeDistributed still sees the padding: same result as on the unpadded rows
    model = Sequential([Embedding(9, 3, mask_zero=True), TimeDistributed(Dense(4, activation="tanh")), LSTM(2)])
    ids = np.array([[4, 5, 6, 0, 0], [1, 2, 3, 7, 8]])
    np.testing.assert_allclose(model.predict(ids, verbose=0)[0], model.predict(ids[:1, :3], verbose=0)[0], rtol=1e-5)


@pytest.mark.parametrize("make", LAYERS + [lambda: TimeDistributed(LSTM(3, return_sequences=True))])
def test_config_round_trip_and_output_shapes(rng, make):
    layer = make()
    x = rng.standard_normal((2, 4, 7, 3)) if wraps(layer, LSTM) else sequence_input(rng, layer)
    y = layer(x)
    shape = layer.compute_output_shape((None,) + x.shape[1:])
    assert y.shape == (x.shape[0],) + shape[1:]
    if not isinstance(layer, RepeatVector):  # an unknown number of steps stays unknown, where it stays
        pooled = isinstance(layer, (GlobalMaxPooling1D, GlobalAveragePooling1D))
        unknown = layer.compute_output_shape((None, None) + x.shape[2:])
        assert unknown == tuple(None if i == 1 and not pooled else d for i, d in enumerate(shape))
    twin = layers.deserialize(layers.serialize(layer))
    assert type(twin) is type(layer) and twin.get_config() == layer.get_config()
    if layer.weights:
        twin(x)
        twin.set_weights(layer.get_weights())
    np.testing.assert_array_equal(twin(x), y)


@pytest.mark.parametrize("make,error,match", [
    (lambda: Conv1D(0, 3), ValueError, "'filters' must be a positive int"),
    (lambda: Conv1D(4, 0), ValueError, "'kernel_size' must be a positive int"),
    (lambda: Conv1D(4, (3, 3)), ValueError, "'kernel_size'"),
    (lambda: Conv1D(4, 3, padding="bogus"), ValueError, r"'padding' must be one of \('valid', 'same', 'causal'\)"),
    (lambda: Conv1D(4, 3, strides=2, dilation_rate=2), ValueError, "strides > 1 is not supported together"),
    (lambda: Conv1D(4, 3, activation="bogus"), ValueError, "unknown activation 'bogus'"),
    (lambda: MaxPooling1D(0), ValueError, "'pool_size' must be a positive int"),
    (lambda: AveragePooling1D(2, padding="causal"), ValueError, r"'padding' must be one of \('valid', 'same'\)"),
    (lambda: MaxPooling1D(2, strides=-1), ValueError, "'strides' must be a positive int"),
    (lambda: GlobalMaxPooling1D(keepdims="yes"), TypeError, "'keepdims' must be True or False"),
    (lambda: RepeatVector(0), ValueError, "'n' must be a positive int"),
    (lambda: RepeatVector(2.5), TypeError, "'n' must be an int"),
    (lambda: Activation("bogus"), ValueError, "unknown activation"),
    (lambda: TimeDistributed("dense"), ValueError, "'layer' must be a fastrnn layer"),
])
def test_bad_arguments_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("layer,x,match", [
    (Conv1D(2, 3), np.ones((2, 5)), r"expects 3-D inputs \(batch, steps, channels\)"),
    (MaxPooling1D(), np.ones((2, 5, 3, 1)), "expects 3-D inputs"),
    (GlobalMaxPooling1D(), np.ones((2, 5)), "expects 3-D inputs"),
    (GlobalAveragePooling1D(), np.ones(5), "expects 3-D inputs"),
    (RepeatVector(2), np.ones((2, 5, 3)), r"expects 2-D inputs \(batch, features\)"),
    (TimeDistributed(Dense(2)), np.ones((2, 5)), r"expects inputs \(batch, steps, ...\) of 3 or more"),
    (Conv1D(2, 7), np.ones((2, 5, 3)), "'x' has 5 steps, fewer than the 7"),
    (MaxPooling1D(6), np.ones((2, 5, 3)), "'x' has 5 steps, fewer than the 6"),
])
def test_bad_inputs_name_the_expected_shape(layer, x, match):
    with pytest.raises(ValueError, match=match):
        layer(x)


def test_conv1d_rejects_inputs_with_other_channels_and_masks_of_the_wrong_shape():
    conv = Conv1D(2, 3)
    conv(np.ones((1, 5, 3)))
    with pytest.raises(ValueError, match="expects inputs with 3 channels"):
        conv(np.ones((1, 5, 4)))
    for layer in (GlobalAveragePooling1D(), TimeDistributed(Dense(2))):
        with pytest.raises(ValueError, match=r"'mask' must have shape \(batch, steps\) = \(1, 5\)"):
            layer(np.ones((1, 5, 3)), mask=np.ones((1, 4), bool))


def test_conv1d_layer_is_the_same_on_every_backend(rng):
    x = rng.standard_normal((3, 20, 6)).astype(np.float32)
    conv = Conv1D(5, 4, strides=2, padding="same", activation="relu")
    results = []
    for backend in ("numpy", "cpu"):
        with fastrnn.set_backend(backend):
            y = conv(x, training=True)
            results.append((y, conv.backward(np.ones_like(y)), *conv.grads.values()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_the_textbooks_imdb_conv1d_model_trains(tmp_path):
    fastrnn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 10000, (256, 500))
    y = (x < 300).any(axis=1).astype(np.float32)  # a frequent word somewhere in the review
    # The textbook's Dense(1) has no activation, so its outputs below 0 get no gradient through
    # binary_crossentropy's clipping (in Keras too); the sigmoid makes every step count here.
    model = Sequential([Embedding(10000, 128, input_length=500), Conv1D(32, 7, activation="relu"), MaxPooling1D(5),
                        Conv1D(32, 7, activation="relu"), GlobalMaxPooling1D(), Dense(1, activation="sigmoid")])
    assert [layer.count_params() for layer in model.layers] == [1280000, 28704, 0, 7200, 0, 33]  # as Keras
    shapes = [model.input_shape]
    for layer in model.layers:
        shapes.append(layer.compute_output_shape(shapes[-1]))
    assert shapes[1:] == [(None, 500, 128), (None, 494, 32), (None, 98, 32), (None, 92, 32), (None, 32), (None, 1)]
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    before_weights, before_loss = model.get_weights(), model.evaluate(x, y, verbose=0)[0]
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and 0 <= history.history["acc"][0] <= 1
    assert all(not np.array_equal(a, b) for a, b in zip(before_weights, model.get_weights()))  # every weight trained
    assert model.evaluate(x, y, verbose=0)[0] < before_loss
    model.save(tmp_path / "imdb.npz")
    np.testing.assert_array_equal(load_model(tmp_path / "imdb.npz").predict(x[:8], verbose=0),
                                  model.predict(x[:8], verbose=0))
