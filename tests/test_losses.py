"""Losses: values and gradients against Keras 3 (torch autograd through keras.losses), against
float64 central differences, and by hand; reductions, sample weights and masks as Keras 3 applies
them (a masked Embedding -> LSTM(return_sequences) -> Dense model's loss included), names,
aliases, functions and the refusal of plain functions."""
import functools
import json
import os

import numpy as np
import pytest

from fastrnn import losses, optimizers
from fastrnn.layers import LSTM, Dense, Embedding
from fastrnn.models import Sequential

# Keras' torch backend converts tensors with np.array(x, copy=False), which NumPy 2 warns about
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="the comparisons with Keras 3 need keras (torch backend)")
    if keras.backend.backend() != "torch":
        pytest.skip("the gradient comparisons need Keras' torch backend")
    return keras


# name: (make from fastrnn.losses or keras.losses, kind of targets and outputs)
CASES = {
    "bce": (lambda m, **kw: m.BinaryCrossentropy(**kw), "binary"),
    "bce_logits": (lambda m, **kw: m.BinaryCrossentropy(from_logits=True, **kw), "binary_logits"),
    "bce_smooth": (lambda m, **kw: m.BinaryCrossentropy(label_smoothing=0.2, **kw), "binary"),
    "bce_logits_smooth": (lambda m, **kw: m.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **kw),
                          "binary_logits"),
    "cce": (lambda m, **kw: m.CategoricalCrossentropy(**kw), "categorical"),
    "cce_logits": (lambda m, **kw: m.CategoricalCrossentropy(from_logits=True, **kw), "categorical_logits"),
    "cce_smooth": (lambda m, **kw: m.CategoricalCrossentropy(label_smoothing=0.1, **kw), "categorical"),
    "cce_logits_smooth": (lambda m, **kw: m.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3, **kw),
                          "categorical_logits"),
    "scce": (lambda m, **kw: m.SparseCategoricalCrossentropy(**kw), "sparse"),
    "scce_logits": (lambda m, **kw: m.SparseCategoricalCrossentropy(from_logits=True, **kw), "sparse_logits"),
    "scce_ignore": (lambda m, **kw: m.SparseCategoricalCrossentropy(True, 1, **kw), "sparse_logits"),
    "kld": (lambda m, **kw: m.KLDivergence(**kw), "distribution"),
    "mse": (lambda m, **kw: m.MeanSquaredError(**kw), "regression"),
    "mae": (lambda m, **kw: m.MeanAbsoluteError(**kw), "regression"),
    "huber": (lambda m, **kw: m.Huber(**kw), "regression"),
    "huber_small_delta": (lambda m, **kw: m.Huber(delta=0.3, **kw), "regression"),
    "log_cosh": (lambda m, **kw: m.LogCosh(**kw), "regression"),
    "hinge_01": (lambda m, **kw: m.Hinge(**kw), "binary_labels"),
    "hinge_signed": (lambda m, **kw: m.Hinge(**kw), "signed"),
    "squared_hinge": (lambda m, **kw: m.SquaredHinge(**kw), "binary_labels"),
    "categorical_hinge": (lambda m, **kw: m.CategoricalHinge(**kw), "onehot"),
}


def data(kind, shape, seed=0):
    """(y_true, y_pred) float64 for a loss kind; outputs of `shape` (..., classes)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape) * 1.5
    soft = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    labels = rng.integers(0, shape[-1], shape[:-1])
    onehot = np.eye(shape[-1])[labels]
    return {
        "binary": (rng.integers(0, 2, shape).astype(float), 1 / (1 + np.exp(-z))),
        "binary_logits": (rng.integers(0, 2, shape).astype(float), z),
        "categorical": (onehot, soft),
        "categorical_logits": (onehot, z),
        "sparse": (labels, soft),
        "sparse_logits": (labels, z),
        "distribution": (rng.dirichlet(np.ones(shape[-1]), shape[:-1]), soft),
        "regression": (rng.normal(size=shape), z),
        "binary_labels": (rng.integers(0, 2, shape).astype(float), z),
        "signed": (rng.choice([-1.0, 1.0], shape), z),
        "onehot": (onehot, z),
    }[kind]


def keras_value_and_gradient(keras, loss, y, p, sample_weight=None, mask=None):
    """Keras' reduced loss and its gradient on y_pred, by torch autograd, in float64."""
    import torch
    from keras.src.backend import set_keras_mask

    p_t = torch.tensor(p, requires_grad=True)
    if mask is not None:
        set_keras_mask(p_t, torch.tensor(mask))
    sw = None if sample_weight is None else torch.tensor(sample_weight)
    value = loss(torch.tensor(y), p_t, sample_weight=sw)
    value.backward()
    return float(value.detach()), p_t.grad.numpy()


SHAPES = {"flat": (7, 4), "steps": (3, 5, 4)}


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_gradient_match_keras_3(keras, name, shape, reduction):
    make, kind = CASES[name]
    shape = SHAPES[shape]
    y, p = data(kind, shape)
    rng = np.random.default_rng(1)
    weight = rng.uniform(0.2, 2.0, shape[:-1])  # per sample, or per step
    mask = rng.random(shape[:-1]) > 0.3 if len(shape) == 3 else None
    ours = make(losses, reduction=reduction)
    theirs = make(keras.losses, reduction=reduction, dtype="float64")
    for sw, m in [(None, None), (weight, None), (weight, mask), (None, mask)]:
        value, grad = ours.value_and_gradient(y, p, sample_weight=sw, mask=m)
        expected, expected_grad = keras_value_and_gradient(keras, theirs, y, p, sw, m)
        # Keras computes the mask's total / valid in float32: 1e-7 relative
        assert value == pytest.approx(expected, rel=1e-6), (sw is not None, m is not None)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-12)
    assert ours(y, p, sample_weight=weight) == pytest.approx(float(theirs(y, p, sample_weight=weight)), rel=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_is_the_derivative_of_the_value(name):
    make, kind = CASES[name]
    y, p = data(kind, (3, 4, 5), seed=2)
    rng = np.random.default_rng(3)
    weight, mask = rng.uniform(0.2, 2.0, 3), rng.random((3, 4)) > 0.3  # (batch,) weights every step
    loss = make(losses)
    _, grad = loss.value_and_gradient(y, p, sample_weight=weight, mask=mask)
    numeric, h = np.zeros_like(p), 1e-6
    for i in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (loss.value_and_gradient(y, up, weight, mask)[0] -
                      loss.value_and_gradient(y, down, weight, mask)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_reductions_weights_and_masks_by_hand():
    y = np.zeros((2, 3, 1))
    p = np.arange(6.0).reshape(2, 3, 1)  # per-step squared errors 0, 1, 4 / 9, 16, 25
    mask = np.array([[True, True, False], [True, False, False]])
    sw = np.array([1.0, 2.0])
    mse = losses.MeanSquaredError()
    assert mse.value_and_gradient(y, p)[0] == pytest.approx(55 / 6)
    # masked: the mean over the 3 unmasked steps; (batch,) weights count for every step of a sample
    assert mse.value_and_gradient(y, p, mask=mask)[0] == pytest.approx((0 + 1 + 9) / 3)
    assert mse.value_and_gradient(y, p, sample_weight=sw, mask=mask)[0] == pytest.approx((0 + 1 + 2 * 9) / 3)
    value, grad = mse.value_and_gradient(y, p, sample_weight=sw, mask=mask)
    np.testing.assert_allclose(grad[..., 0], [[0, 2 / 3, 0], [2 * 2 * 3 / 3, 0, 0]])
    summed = losses.MeanSquaredError(reduction="sum")
    assert summed.value_and_gradient(y, p, sample_weight=sw, mask=mask)[0] == pytest.approx(19)
    weighted = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    assert weighted.value_and_gradient(y, p, sample_weight=sw, mask=mask)[0] == pytest.approx(19 / 4)
    per_sample = losses.MeanSquaredError(reduction=None)
    np.testing.assert_allclose(per_sample(y, p, sample_weight=sw), [[0, 1, 4], [18, 32, 50]])
    assert per_sample.value_and_gradient(y, p)[0] == pytest.approx(55 / 6)  # training averages, as Keras' compile
    value, grad = mse.value_and_gradient(y, p, mask=np.zeros((2, 3), bool))
    assert value == 0.0 and not grad.any()


def test_label_smoothing_and_logits_by_hand():
    bce = losses.BinaryCrossentropy(label_smoothing=0.2)
    assert bce(np.array([[1.0]]), np.array([[0.8]])) == pytest.approx(-(0.9 * np.log(0.8) + 0.1 * np.log(0.2)))
    cce = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3)
    z = np.array([[1.0, 2.0, 0.5]])
    log_p = z - np.log(np.exp(z).sum())
    assert cce(np.array([[0, 1.0, 0]]), z) == pytest.approx(-(0.1 * log_p[0, 0] + 0.8 * log_p[0, 1] + 0.1 * log_p[0, 2]))
    assert losses.BinaryCrossentropy(from_logits=True).logits_activation is None  # nothing left to fuse
    assert losses.BinaryCrossentropy().logits_activation == "sigmoid"


@pytest.mark.parametrize("name", ["bce", "cce", "scce", "bce_smooth", "cce_smooth"])
def test_fused_logits_path_equals_the_probability_path(name):
    make, kind = CASES[name]
    y, _ = data(kind, (3, 4, 5), seed=4)
    z = np.random.default_rng(5).normal(size=(3, 4, 5))
    loss = make(losses)
    p = 1 / (1 + np.exp(-z)) if loss.logits_activation == "sigmoid" else np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    mask, sw = np.random.default_rng(6).random((3, 4)) > 0.4, np.array([0.5, 1.0, 2.0])
    value, dz = loss.value_and_gradient_from_logits(y, z, sample_weight=sw, mask=mask)
    value_p, dp = loss.value_and_gradient(y, p, sample_weight=sw, mask=mask)
    assert value == pytest.approx(value_p, rel=1e-9)
    chain = dp * p * (1 - p) if loss.logits_activation == "sigmoid" else p * (dp - (dp * p).sum(-1, keepdims=True))
    np.testing.assert_allclose(dz, chain, rtol=1e-7, atol=1e-12)


def masked_model(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 20, (6, 7))
    for i, n in enumerate([7, 5, 3, 6, 1, 4]):
        x[i, n:] = 0  # right padding
    x[5, :2] = 0  # and some left padding
    y = rng.integers(0, 3, (6, 7))
    model = Sequential([Embedding(20, 4, mask_zero=True), LSTM(5, return_sequences=True),
                        Dense(3, activation="softmax")])
    model.build((None, 7))
    model.set_weights([3 * w for w in model.get_weights()])  # confident outputs: masked steps' losses differ
    return model, x, y


@pytest.mark.parametrize("weighted", [False, True])
def test_masked_sequence_model_loss_matches_keras(keras, weighted):
    model, x, y = masked_model()
    theirs = keras.Sequential([keras.Input((7,)), keras.layers.Embedding(20, 4, mask_zero=True),
                               keras.layers.LSTM(5, return_sequences=True),
                               keras.layers.Dense(3, activation="softmax")])
    theirs.set_weights(model.get_weights())
    theirs.compile(loss="sparse_categorical_crossentropy")
    sw = np.random.default_rng(1).uniform(0.5, 2.0, y.shape) if weighted else None
    expected = theirs.evaluate(x, y, sample_weight=sw, batch_size=len(x), verbose=0)
    out = model.predict(x)
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    loss = losses.get("sparse_categorical_crossentropy")
    value, _ = loss.value_and_gradient(y, out, sample_weight=sw, mask=x != 0)
    assert value == pytest.approx(expected, rel=1e-5)
    fused, _ = loss.value_and_gradient_from_logits(y, model.layers[-1].logits, sample_weight=sw, mask=x != 0)
    assert fused == pytest.approx(expected, rel=1e-5)
    unmasked, _ = loss.value_and_gradient(y, out, sample_weight=sw)
    assert unmasked != pytest.approx(expected, rel=1e-3)  # the mask matters (500x the tolerance above)
    other = np.where(x != 0, y, (y + 1) % 3)  # other targets where masked: the same loss
    assert loss.value_and_gradient(other, out, sample_weight=sw, mask=x != 0)[0] == value


@pytest.mark.parametrize("fn, kwargs", [
    ("mean_squared_error", {}), ("mean_absolute_error", {}), ("huber", {"delta": 0.5}), ("log_cosh", {}),
    ("kl_divergence", {}), ("hinge", {}), ("squared_hinge", {}), ("categorical_hinge", {}),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("categorical_crossentropy", {"label_smoothing": 0.2}), ("sparse_categorical_crossentropy", {}),
    ("sparse_categorical_crossentropy", {"ignore_class": 2}),
])
def test_functions_give_keras_per_sample_values(keras, fn, kwargs):
    kind = {"kl_divergence": "distribution", "categorical_hinge": "onehot", "hinge": "binary_labels",
            "squared_hinge": "binary_labels", "binary_crossentropy": "binary_logits",
            "categorical_crossentropy": "categorical", "sparse_categorical_crossentropy": "sparse"}.get(fn, "regression")
    y, p = data(kind, (3, 4, 5), seed=7)
    ours = getattr(losses, fn)(y, p, **kwargs)
    assert ours.shape == (3, 4)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(getattr(keras.losses, fn)(y, p, **kwargs)), rtol=1e-6)
    rebuilt = losses.get(functools.partial(getattr(losses, fn), **kwargs))
    counted = (y != kwargs["ignore_class"]).sum() if "ignore_class" in kwargs else ours.size  # ignored: not counted
    np.testing.assert_allclose(rebuilt(y, p), ours.sum() / counted, rtol=1e-12)


def test_names_aliases_classes_and_functions():
    for name, cls in [("mse", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
                      ("mean_absolute_error", losses.MeanAbsoluteError), ("mae", losses.MeanAbsoluteError),
                      ("huber", losses.Huber), ("huber_loss", losses.Huber), ("Huber", losses.Huber),
                      ("kld", losses.KLDivergence), ("kullback_leibler_divergence", losses.KLDivergence),
                      ("logcosh", losses.LogCosh), ("log_cosh", losses.LogCosh), ("hinge", losses.Hinge),
                      ("squared_hinge", losses.SquaredHinge), ("categorical_hinge", losses.CategoricalHinge),
                      ("BinaryCrossentropy", losses.BinaryCrossentropy)]:
        assert type(losses.get(name)) is cls, name
    assert type(losses.get(losses.mse)) is losses.MeanSquaredError
    assert type(losses.get(losses.Huber)) is losses.Huber
    assert losses.get(functools.partial(losses.huber, delta=2.0)).delta == 2.0
    assert losses.get(losses.BinaryCrossentropy(from_logits=True)).from_logits
    with pytest.raises(TypeError, match="no automatic differentiation.*subclass of fastrnn.losses.Loss"):
        losses.get(lambda y_true, y_pred: np.mean((y_true - y_pred) ** 2, axis=-1))
    with pytest.raises(ValueError, match="unknown loss 'poisson'"):
        losses.get("poisson")


class Cubic(losses.Loss):
    name = "cubic"

    def per_sample(self, y, p):
        return np.mean(np.abs(p - y) ** 3, axis=-1)

    def gradient(self, y, p):
        return 3 * (p - y) * np.abs(p - y) / p.shape[-1]


def test_custom_loss_subclass_trains_and_serializes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer=optimizers.Adam(0.05), loss=Cubic())
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    spec = json.loads(json.dumps(losses.serialize(Cubic(reduction="sum"))))
    assert losses.deserialize(spec, {"Cubic": Cubic}).reduction == "sum"
    for loss in [losses.Huber(delta=2.0, reduction="sum", name="h"), losses.BinaryCrossentropy(True, 0.1),
                 losses.SparseCategoricalCrossentropy(from_logits=True)]:
        twin = losses.deserialize(json.loads(json.dumps(losses.serialize(loss))))
        assert type(twin) is type(loss) and twin.get_config() == loss.get_config()


def test_from_logits_loss_trains_a_linear_output():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="adam", loss=losses.BinaryCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    z = model.predict(x)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(float(np.mean(np.logaddexp(0, z) - y * z)), rel=1e-5)


@pytest.mark.parametrize("make, problem_text", [
    (lambda: losses.Huber(delta=0), "'delta' must be a number > 0"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=1.5), "'label_smoothing' must be a number in \\[0, 1\\]"),
    (lambda: losses.CategoricalCrossentropy(axis=1), "'axis' must be -1"),
    (lambda: losses.MeanSquaredError(reduction="avg"), "'reduction' must be one of"),
    (lambda: losses.get("mse").value_and_gradient(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=np.ones(3)),
     "sample_weight of shape \\(3,\\) does not fit values of shape \\(2,\\)"),
    (lambda: losses.get("mse").value_and_gradient(np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), mask=np.ones((2, 3))),
     "a mask of shape \\(2, 3\\) does not fit per-sample losses of shape \\(2, 4\\)"),
    (lambda: losses.get("mse")(np.zeros((2, 2)), np.zeros((2, 3))), "targets of shape \\(2, 2\\) do not match"),
])
def test_bad_arguments_are_clear_errors(make, problem_text):
    with pytest.raises(ValueError, match=problem_text):
        make()
