"""Finite-difference checks (float64, central differences) of every layer's backward and of a
whole model's gradient, including masks (left and right padding), go_backwards and
Bidirectional merges."""
import numpy as np
import pytest

from conftest import numeric_grad
from fastrnn import utils
from fastrnn.layers import LSTM, Bidirectional, Dense, Dropout, Embedding, Flatten, Masking, SimpleRNN
from fastrnn.models import Sequential

TOL = 1e-6  # float64 central differences on O(1) values agree to ~1e-8; 1e-6 leaves room


def check_layer(layer, x, mask=None, check_x=True):
    """Compare layer.backward with finite differences of sum(layer(x) * R) for x and all weights."""
    layer(x, mask=mask)  # build
    rng = np.random.default_rng(1)
    out = layer.forward(x, training=True, mask=mask)
    outs = out if isinstance(out, list) else [out]
    projections = [rng.normal(size=o.shape) for o in outs]

    def f():
        res = layer.forward(x, training=False, mask=mask)
        res = res if isinstance(res, list) else [res]
        return sum(float(np.sum(r * p)) for r, p in zip(res, projections))

    layer.forward(x, training=True, mask=mask)
    dx = layer.backward(projections if isinstance(out, list) else projections[0])
    if check_x:
        np.testing.assert_allclose(dx, numeric_grad(f, x), atol=TOL, rtol=1e-5)
    for name, w in layer._params.items():
        g = layer.grads[name]
        if hasattr(g, "indices"):  # sparse rows -> dense for comparison
            dense = np.zeros_like(w)
            dense[g.indices] = g.values
            g = dense
        np.testing.assert_allclose(g, numeric_grad(f, w), atol=TOL, rtol=1e-5, err_msg=name)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 7, 5))


RIGHT = np.array([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], bool)
LEFT = RIGHT[:, ::-1].copy()
HOLES = np.array([[1, 0, 1, 1, 0, 1, 0], [0, 1, 1, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0]], bool)


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM])
@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("mask", [None, "right", "left", "holes"])
def test_recurrent_layers(cell, seq, backwards, mask, x):
    mask = {"right": RIGHT, "left": LEFT, "holes": HOLES}.get(mask)
    check_layer(cell(4, return_sequences=seq, go_backwards=backwards, dtype="float64"), x, mask)


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM])
def test_recurrent_return_state_and_no_bias(cell, x):
    check_layer(cell(4, return_state=True, return_sequences=True, use_bias=False, dtype="float64"), x, RIGHT)


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM])
@pytest.mark.parametrize("seq", [False, True])
def test_recurrent_dropout_step_loop(cell, seq, x):
    """With the dropout masks held fixed (same seed each call), backward matches differences."""
    layer = cell(4, return_sequences=seq, dropout=0.3, recurrent_dropout=0.4, dtype="float64")
    layer(x)
    dy = np.random.default_rng(1).normal(size=layer.compute_output_shape(x.shape))

    def run():
        utils.set_random_seed(7)
        return layer.forward(x, training=True, mask=LEFT)

    def f():
        return float(np.sum(run() * dy))

    run()
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, numeric_grad(f, x), atol=TOL, rtol=1e-5)
    for name, w in layer._params.items():
        np.testing.assert_allclose(layer.grads[name], numeric_grad(f, w), atol=TOL, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("seq", [False, True])
def test_bidirectional(merge, seq, x):
    check_layer(Bidirectional(LSTM(3, return_sequences=seq, dtype="float64"), merge_mode=merge), x, LEFT)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "softmax", "tanh"])
def test_dense(activation, x):
    check_layer(Dense(4, activation=activation, dtype="float64"), x)


def test_embedding_flatten_masking(x):
    check_layer(Embedding(6, 3, dtype="float64"), np.array([[1, 2, 2, 0], [5, 1, 0, 0]]), check_x=False)
    check_layer(Flatten(), x)


def test_masking_gradient_is_zero_on_masked_steps(x):
    x[1, 4:] = 0  # the mask is piecewise constant, so compare with dy * mask rather than differences
    layer = Masking()
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(2).normal(size=x.shape)
    keep = np.ones((3, 7, 1))
    keep[1, 4:] = 0
    np.testing.assert_array_equal(y, x * keep)
    np.testing.assert_array_equal(layer.backward(dy), dy * keep)


def test_dropout_is_a_fixed_mask_in_training():
    utils.set_random_seed(0)
    layer = Dropout(0.5)
    x = np.ones((4, 6))
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), y)  # d(x*keep)/dx = keep
    assert set(np.unique(y)) <= {0.0, 2.0}


@pytest.mark.parametrize("loss,activation,width", [("binary_crossentropy", "sigmoid", 1),
                                                   ("sparse_categorical_crossentropy", "softmax", 3),
                                                   ("mse", "tanh", 2)])
def test_whole_model_gradient(loss, activation, width):
    """The model's loss gradient (fused or not) against finite differences, masks included."""
    utils.set_random_seed(0)
    model = Sequential([Embedding(9, 4, mask_zero=True, dtype="float64"),
                        Bidirectional(SimpleRNN(3, return_sequences=True, dtype="float64")),
                        LSTM(3, dtype="float64"), Dense(width, activation=activation, dtype="float64")])
    model.compile(optimizer="sgd", loss=loss)
    rng = np.random.default_rng(0)
    x = np.array([[0, 0, 3, 4, 5], [1, 2, 8, 7, 6], [4, 4, 0, 0, 0]])
    y = rng.integers(0, width, 3) if loss.startswith("sparse") else rng.uniform(0, 1, (3, width)).round(0)
    captured = {}

    class Capture:  # stands in for the optimizer to record the gradients fit would apply
        iterations = 0

        def apply(self, weights, grads):
            captured.update(zip(map(id, weights), grads))

    model.optimizer = Capture()
    model.train_on_batch(x, y)
    for w in model.weights:
        g = captured[id(w)]
        if hasattr(g, "indices"):
            dense = np.zeros_like(w)
            dense[g.indices] = g.values
            g = dense
        np.testing.assert_allclose(g, numeric_grad(lambda: model._loss(y, model._forward(x, False))[0], w),
                                   atol=TOL, rtol=1e-5)


def test_first_trained_layer_skips_its_input_gradient(monkeypatch):
    """A model fed with data: the first layer's dx is never needed, so it is not computed (as in
    PyTorch and Keras); every weight gradient still matches finite differences."""
    from fastrnn import ops
    utils.set_random_seed(0)
    model = Sequential([LSTM(3, return_sequences=True, dtype="float64"), Bidirectional(SimpleRNN(2, dtype="float64")),
                        Dense(1, activation="sigmoid", dtype="float64")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 5, 4)), np.array([[1.0], [0.0], [1.0]])
    asked, lstm_backward = [], ops.lstm_backward

    def recording(*args, **kwargs):
        asked.append(kwargs["input_gradient"])
        return lstm_backward(*args, **kwargs)

    monkeypatch.setattr(ops, "lstm_backward", recording)
    captured = {}

    class Capture:
        iterations = 0

        def apply(self, weights, grads):
            captured.update(zip(map(id, weights), grads))

    model.optimizer = Capture()
    model.train_on_batch(x, y)
    assert asked == [False]
    for w in model.weights:
        want = numeric_grad(lambda: model._loss(y, model._forward(x, False))[0], w)
        np.testing.assert_allclose(captured[id(w)], want, atol=TOL, rtol=1e-5)
