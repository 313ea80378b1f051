"""fastrnn.convert: Keras-layout weights <-> PyTorch's, for LSTM, GRU and SimpleRNN. Round trips
and a GRU checked against PyTorch's equations written out in NumPy run without torch; with it,
against torch.nn modules, and with Keras 3 (torch backend) against keras.layers."""
import os

import numpy as np
import pytest

from fastrnn import convert, layers, ops

F64 = 1e-12
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="the comparison with torch.nn needs PyTorch (pip install torch)")


@pytest.fixture
def keras(torch):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the comparison with keras.layers needs Keras 3 (pip install keras)")


def keras_weights(rng, cell, D, H):
    """Random Keras-layout [kernel, recurrent_kernel, bias] (a GRU's bias (2, 3H): reset_after)."""
    G = GATES[cell]
    bias = rng.standard_normal((2, G * H) if cell == "gru" else G * H)
    return [rng.standard_normal((D, G * H)) * 0.5, rng.standard_normal((H, G * H)) * 0.5, bias * 0.3]


def torch_gru_numpy(x, w_ih, w_hh, b_ih, b_hh):
    """nn.GRU's documented equations, in NumPy, over x (B, T, D): the r, z, n blocks and the
    recurrent bias b_hn inside the reset gate's product."""
    sigmoid = lambda v: 1 / (1 + np.exp(-v))
    H = w_hh.shape[1]
    h, out = np.zeros((x.shape[0], H)), []
    for t in range(x.shape[1]):
        gi, gh = x[:, t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        r, z = sigmoid(gi[:, :H] + gh[:, :H]), sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_round_trip(cell, rng):
    D, H, G = 5, 3, GATES[cell]
    keras = keras_weights(rng, cell, D, H)
    state = convert.keras_to_torch(cell, keras, layer=1, reverse=True)
    assert list(state) == convert.torch_names(1, reverse=True)
    assert state["weight_ih_l1_reverse"].shape == (G * H, D) and state["bias_hh_l1_reverse"].shape == (G * H,)
    back = convert.torch_to_keras(cell, state, layer=1, reverse=True)
    assert all(np.array_equal(a, b) for a, b in zip(keras, back))
    no_bias = convert.keras_to_torch(cell, keras[:2])
    assert list(no_bias) == ["weight_ih_l0", "weight_hh_l0"]
    assert len(convert.torch_to_keras(cell, list(no_bias.values()))) == 2


def test_lstm_and_rnn_biases_are_summed(rng):
    keras = keras_weights(rng, "lstm", 5, 3)
    state = convert.keras_to_torch("lstm", keras)
    assert not state["bias_hh_l0"].any()  # PyTorch adds the two: Keras' one goes to bias_ih
    state["bias_hh_l0"] = rng.standard_normal(12)
    summed = convert.torch_to_keras("lstm", state)[2]
    np.testing.assert_array_equal(summed, state["bias_ih_l0"] + state["bias_hh_l0"])


def test_gru_gate_order_and_two_biases(rng):
    D, H = 5, 3
    kernel, recurrent, bias = keras_weights(rng, "gru", D, H)
    state = convert.keras_to_torch("gru", [kernel, recurrent, bias])
    # PyTorch's blocks r, z, n are Keras' r (1), z (0), h (2); the biases stay apart
    for k, block in enumerate((1, 0, 2)):
        rows, cols = slice(k * H, (k + 1) * H), slice(block * H, (block + 1) * H)
        np.testing.assert_array_equal(state["weight_ih_l0"][rows], kernel[:, cols].T)
        np.testing.assert_array_equal(state["weight_hh_l0"][rows], recurrent[:, cols].T)
        np.testing.assert_array_equal(state["bias_ih_l0"][rows], bias[0, cols])
        np.testing.assert_array_equal(state["bias_hh_l0"][rows], bias[1, cols])


def test_gru_weights_from_torch_give_ops_gru_forward_torchs_outputs(rng):
    """Without torch: PyTorch-layout weights through torch_to_keras into ops.gru_forward give what
    nn.GRU's own equations (written out in NumPy) give."""
    D, H = 4, 5
    w_ih, w_hh = rng.standard_normal((3 * H, D)) * 0.5, rng.standard_normal((3 * H, H)) * 0.5
    b_ih, b_hh = rng.standard_normal(3 * H) * 0.5, rng.standard_normal(3 * H) * 0.5
    x = rng.standard_normal((3, 7, D))
    kernel, recurrent, bias = convert.torch_to_keras("gru", [w_ih, w_hh, b_ih, b_hh])
    assert bias.shape == (2, 3 * H)
    for backend in ("numpy", "cpu"):
        out, _, _ = ops.gru_forward(x, kernel, recurrent, bias, reset_after=True, training=False, backend=backend)
        np.testing.assert_allclose(out, torch_gru_numpy(x, w_ih, w_hh, b_ih, b_hh), rtol=F64, atol=F64)


@pytest.mark.parametrize("cell,kind", [("lstm", "LSTM"), ("gru", "GRU"), ("simple_rnn", "RNN")])
def test_torch_modules_and_converted_weights_agree(torch, cell, kind):
    torch.manual_seed(2)
    module = getattr(torch.nn, kind)(5, 4, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-0.6, 0.6)
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    expected = module(x)[0].detach().numpy()
    weights = convert.torch_to_keras(cell, module.state_dict())
    if cell == "gru":
        got = ops.gru_forward(x.numpy(), *weights, reset_after=True, training=False)[0]
    else:
        layer = {"lstm": layers.LSTM, "simple_rnn": layers.SimpleRNN}[cell](4, return_sequences=True, dtype="float64")
        layer.build((None, 7, 5))
        layer.set_weights(weights)
        got, weights = layer(x.numpy()), layer.get_weights()
    np.testing.assert_allclose(got, expected, rtol=F64, atol=F64)
    # and back: Keras-layout weights into a fresh module
    fresh = getattr(torch.nn, kind)(5, 4, batch_first=True, dtype=torch.float64)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in convert.keras_to_torch(cell, weights).items()})
    np.testing.assert_allclose(fresh(x)[0].detach().numpy(), expected, rtol=F64, atol=F64)


# Not SimpleRNN: Keras 3.15's (torch backend) is 2e-7 off its own float64 recurrence written out
# in NumPy, rounding through float32 somewhere; the converter's RNN case is checked against nn.RNN.
@pytest.mark.parametrize("cell,kind", [("gru", "GRU"), ("lstm", "LSTM")])
def test_keras_layers_round_trip_through_torch(keras, torch, cell, kind, rng):
    """A Keras 3 layer (GRU with reset_after=True, its default) and the nn module made from its
    weights give the same outputs; the nn module's weights converted back give the Keras layer's."""
    options = {"reset_after": True} if cell == "gru" else {}
    layer = getattr(keras.layers, kind)(4, return_sequences=True, dtype="float64", **options)
    x = rng.standard_normal((3, 7, 5))
    layer(x)  # builds it
    layer.set_weights([w * 3 for w in layer.get_weights()])  # nonzero biases, larger weights
    if cell == "gru":
        layer.set_weights(layer.get_weights()[:2] + [rng.standard_normal((2, 12)) * 0.5])
    expected = keras.ops.convert_to_numpy(layer(x))
    module = getattr(torch.nn, kind)(5, 4, batch_first=True, dtype=torch.float64)
    state = convert.keras_to_torch(cell, layer.get_weights())
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    np.testing.assert_allclose(module(torch.from_numpy(x))[0].detach().numpy(), expected, rtol=F64, atol=F64)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1)  # the way back must carry PyTorch's values, not the ones it was given
    expected = module(torch.from_numpy(x))[0].detach().numpy()
    layer.set_weights(convert.torch_to_keras(cell, module.state_dict()))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=F64, atol=F64)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="'cell'"):
        convert.keras_to_torch("conv", [np.zeros((2, 9)), np.zeros((3, 9))])
    with pytest.raises(ValueError, match=r"recurrent_kernel.*\(H, 4\*H\)"):
        convert.keras_to_torch("lstm", [np.zeros((2, 12)), np.zeros((3, 9))])
    with pytest.raises(ValueError, match=r"'kernel' must have shape \(D, 12\)"):
        convert.keras_to_torch("lstm", [np.zeros((2, 8)), np.zeros((3, 12))])
    with pytest.raises(ValueError, match=r"'bias' must have shape \(12,\)"):
        convert.keras_to_torch("lstm", [np.zeros((2, 12)), np.zeros((3, 12)), np.zeros(8)])
    with pytest.raises(ValueError, match=r"'bias' must have shape \(2, 9\).*reset_after=False GRU has no PyTorch"):
        convert.keras_to_torch("gru", [np.zeros((2, 9)), np.zeros((3, 9)), np.zeros(9)])
    with pytest.raises(KeyError, match="weight_ih_l1"):
        convert.torch_to_keras("lstm", convert.keras_to_torch("lstm", [np.zeros((2, 12)), np.zeros((3, 12))]), layer=1)
    with pytest.raises(ValueError, match=r"weight_hh.*\(4\*H, H\)"):
        convert.torch_to_keras("lstm", [np.zeros((12, 2)), np.zeros((12, 4))])
    with pytest.raises(ValueError, match=r"weight_hh.*\(3\*H, H\)"):
        convert.torch_to_keras("gru", [np.zeros((12, 2)), np.zeros((12, 3))])
    with pytest.raises(TypeError, match="floating-point"):
        convert.torch_to_keras("rnn", [np.zeros((3, 2), int), np.zeros((3, 3))])
