"""The GRU layer against Keras 3 (outputs and weight/input gradients on the same weights, both
reset_after variants, masks with holes, go_backwards, recurrent dropout with the same masks),
finite differences in float64 (fused and step-by-step paths), stateful, Bidirectional and config."""
import os

import numpy as np
import pytest

from conftest import numeric_grad
from fastrnn import layers, utils
from fastrnn.layers import GRU, Bidirectional


def keras_gradients(keras, reference, x, mask, dy, training=False):
    """Keras' outputs and the gradients of sum(outputs * dy) w.r.t. its weights and the input."""
    import torch
    inputs = torch.tensor(x, requires_grad=True)
    out = reference(inputs, mask=None if mask is None else torch.tensor(mask), training=training)
    (out * torch.tensor(dy)).sum().backward()
    return (out.detach().numpy(), [w.value.grad.numpy() for w in reference.weights], inputs.grad.numpy())


def fastrnn_gradients(layer, x, mask, dy, training=True):
    out = layer.forward(x, training=training, mask=mask)
    dx = layer.backward(dy)
    return out, [layer.grads[k] for k in ("kernel", "recurrent_kernel", "bias")], dx


MASK = np.array([[1] * 6, [1] * 3 + [0] * 3, [0] * 2 + [1] * 4, [0, 1, 1, 0, 1, 0]], bool)  # holes too


@pytest.fixture
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the gradient comparison reads Keras' gradients through its torch backend")
    return keras


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_outputs_and_gradients_match_keras(keras, reset_after, seq, backwards, masked):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    mask = MASK if masked else None
    layer = GRU(5, reset_after=reset_after, return_sequences=seq, go_backwards=backwards)
    layer(x)
    layer.set_weights([w + rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in layer.get_weights()])
    reference = keras.layers.GRU(5, reset_after=reset_after, return_sequences=seq, go_backwards=backwards)
    reference.build((None, 6, 3))
    reference.set_weights(layer.get_weights())
    dy = rng.normal(size=(4, 6, 5) if seq else (4, 5)).astype(np.float32)
    want_out, want_grads, want_dx = keras_gradients(keras, reference, x, mask, dy)
    out, grads, dx = fastrnn_gradients(layer, x, mask, dy)
    np.testing.assert_allclose(out, want_out, atol=1e-6)
    for ours, theirs in zip(grads + [dx], want_grads + [want_dx]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_recurrent_dropout_matches_keras_with_the_same_masks(keras):
    """Keras drops h_{t-1} where it enters the recurrent products, not in the z * h_{t-1} blend;
    its three per-gate masks are set to fastrnn's one mask so that the two runs are comparable."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    layer = GRU(5, recurrent_dropout=0.4, return_sequences=True)
    layer(x)
    reference = keras.layers.GRU(5, recurrent_dropout=0.4, return_sequences=True)
    reference.build((None, 6, 3))
    reference.set_weights(layer.get_weights())
    utils.set_random_seed(7)
    keep = ((utils.rng().random((4, 5)) >= 0.4) / 0.6).astype(np.float32)
    import torch
    reference.cell.get_recurrent_dropout_mask = lambda h: [torch.tensor(keep)] * 3
    dy = rng.normal(size=(4, 6, 5)).astype(np.float32)
    want_out, want_grads, want_dx = keras_gradients(keras, reference, x, MASK, dy, training=True)
    utils.set_random_seed(7)
    out, grads, dx = fastrnn_gradients(layer, x, MASK, dy)
    np.testing.assert_allclose(out, want_out, atol=1e-6)
    for ours, theirs in zip(grads + [dx], want_grads + [want_dx]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.5])
@pytest.mark.parametrize("backwards", [False, True])
def test_gradients_match_finite_differences(reset_after, recurrent_dropout, backwards):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5, 2))
    mask = np.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [1, 0, 1, 1, 0]], bool)
    layer = GRU(3, reset_after=reset_after, recurrent_dropout=recurrent_dropout, return_sequences=True,
                return_state=True, go_backwards=backwards, dtype="float64")
    layer(x)
    layer.set_weights([w + rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    dy, dh = rng.normal(size=(3, 5, 3)), rng.normal(size=(3, 3))

    def loss():
        utils.set_random_seed(11)  # the same dropout mask every run
        out, h = layer.forward(x, training=True, mask=mask)
        return float((out * dy).sum() + (h * dh).sum())

    loss()
    dx = layer.backward([dy, dh])
    grads = dict(layer.grads)
    for name, weight in layer._params.items():
        np.testing.assert_allclose(grads[name], numeric_grad(loss, weight), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)


def test_weights_follow_the_keras_layout():
    for reset_after, bias_shape in ((True, (2, 12)), (False, (12,))):
        layer = GRU(4, reset_after=reset_after)
        layer.build((None, None, 3))
        assert [w.shape for w in layer.get_weights()] == [(3, 12), (4, 12), bias_shape]
        assert layer.count_params() == 3 * 12 + 4 * 12 + int(np.prod(bias_shape))


def test_stateful_bidirectional_and_config():
    x = np.random.default_rng(0).normal(size=(2, 8, 3))
    full = GRU(4, return_state=True)
    expected, h = full(x)
    stateful = GRU(4, stateful=True)
    stateful(x)
    stateful.set_weights(full.get_weights())
    stateful.reset_states()
    stateful(x[:, :5])
    np.testing.assert_allclose(stateful(x[:, 5:]), expected, atol=1e-6)
    np.testing.assert_allclose(h, expected)
    bi = Bidirectional(GRU(4, return_sequences=True, reset_after=False))
    y = bi(x)
    fwd, bwd = GRU(4, return_sequences=True, reset_after=False), GRU(4, return_sequences=True, reset_after=False)
    fwd(x), bwd(x)
    fwd.set_weights(bi.get_weights()[:3]), bwd.set_weights(bi.get_weights()[3:])
    np.testing.assert_allclose(y, np.concatenate([fwd(x), bwd(x[:, ::-1])[:, ::-1]], -1), atol=1e-6)
    for layer in (GRU(4, reset_after=False, recurrent_activation="hard_sigmoid"), bi):
        twin = layers.deserialize(layers.serialize(layer))
        assert type(twin) is type(layer) and twin.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="recurrent_activation"):
        GRU(3, recurrent_activation="nope")
