"""Optimizers, losses, metrics and callbacks against hand-computed values: Keras 3 update rules
and defaults, sparse (lazy) row updates, clipping, fused-logit losses, accuracy selection, and
EarlyStopping / ModelCheckpoint / custom callbacks inside fit."""
import numpy as np
import pytest

import fastrnn
from fastrnn import callbacks, losses, metrics, optimizers, utils
from fastrnn.layers import Dense, IndexedRows
from fastrnn.models import Sequential, load_model


def step(opt, w, g, times=1):
    w = np.array(w, dtype=np.float64)
    for _ in range(times):
        opt.apply([w], [np.array(g, dtype=np.float64)])
    return w


def test_keras_defaults():
    assert optimizers.get("rmsprop").get_config() == {**optimizers.RMSprop().get_config(), "learning_rate": 0.001,
                                                      "rho": 0.9, "epsilon": 1e-7}
    adam = optimizers.get("Adam")
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert optimizers.get("sgd").learning_rate == 0.01


def test_sgd_plain_momentum_nesterov():
    np.testing.assert_allclose(step(optimizers.SGD(0.1), [1.0], [2.0]), [0.8])
    # momentum: m1 = -0.2, w1 = 0.8; m2 = 0.9 * -0.2 - 0.2 = -0.38, w2 = 0.42
    np.testing.assert_allclose(step(optimizers.SGD(0.1, momentum=0.9), [1.0], [2.0], 2), [0.42])
    # nesterov: m1 = -0.2, w1 = 1 + 0.9 * -0.2 - 0.2 = 0.62
    np.testing.assert_allclose(step(optimizers.SGD(0.1, momentum=0.9, nesterov=True), [1.0], [2.0]), [0.62])


def test_rmsprop_by_hand():
    v = 0.1 * 4.0
    np.testing.assert_allclose(step(optimizers.RMSprop(0.01), [1.0], [2.0]), [1 - 0.01 * 2 / np.sqrt(v + 1e-7)])


def test_adam_by_hand():
    w, m, v = 1.0, 0.0, 0.0
    for t in (1, 2):
        g = 2.0
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        w -= 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(step(optimizers.Adam(0.01), [1.0], [2.0], 2), [w])


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.1, momentum=0.9),
                                  lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                                  lambda: optimizers.RMSprop(0.01), lambda: optimizers.Adam(0.01)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_steps_in_the_core_match_numpy_bit_for_bit(make, dtype):
    # The cpu backend runs the steps in one C++ pass (large ones split across threads); the NumPy
    # code is its twin. Dense weights: one value, odd sizes, past the threading size. Tables with
    # sparse rows: small, past the threading size, and a transposed (non-contiguous) one, whose
    # step stays on NumPy.
    rng = np.random.default_rng(3)
    dense = [rng.standard_normal(s).astype(dtype) for s in [(1,), (7,), (33, 65), (300_007,)]]
    tables = [rng.standard_normal(s).astype(dtype) for s in [(12, 5), (70_000, 8), (9, 5)]]
    row_sets = [np.array([0, 4, 11, 7]), rng.permutation(70_000)[:40_000], np.array([0, 4, 8])]
    steps = [([rng.standard_normal(w.shape).astype(dtype) for w in dense],
              [rng.standard_normal((len(r),) + t.shape[1:]).astype(dtype) for r, t in zip(row_sets, tables)])
             for _ in range(3)]
    results = []
    for backend in ("numpy", "cpu"):
        weights = [w.copy() for w in dense] + [t.copy() for t in tables[:-1]] + [tables[-1].T.copy().T]
        opt = make()
        with fastrnn.set_backend(backend):
            for dense_grads, row_grads in steps:
                opt.apply(weights, dense_grads + [IndexedRows(r, g) for r, g in zip(row_sets, row_grads)])
                opt.apply(weights[:len(dense)], dense_grads)
        results.append(weights + [s for slots in opt.get_slots(weights) for s in slots.values()])
    for numpy_result, cpu_result in zip(*results):
        np.testing.assert_array_equal(cpu_result, numpy_result)


@pytest.mark.parametrize("opt", [optimizers.SGD(0.1, momentum=0.9), optimizers.RMSprop(), optimizers.Adam()])
def test_sparse_rows_update_only_those_rows_like_dense_rows(opt):
    table = np.ones((6, 2))
    dense = np.ones((2, 2))
    rows = np.array([1, 4])
    g = np.array([[0.5, -1.0], [2.0, 0.25]])
    for _ in range(3):
        opt.apply([table], [IndexedRows(rows, g)])
    twin = type(opt)(**opt.get_config())
    for _ in range(3):
        twin.apply([dense], [g])
    np.testing.assert_allclose(table[rows], dense)
    np.testing.assert_array_equal(np.delete(table, rows, axis=0), 1.0)
    assert all(np.all(np.delete(s, rows, axis=0) == 0) for s in opt.get_slots([table])[0].values())


def test_clipping():
    np.testing.assert_allclose(step(optimizers.SGD(1.0, clipvalue=0.5), [0.0, 0.0], [2.0, -0.1]), [-0.5, 0.1])
    np.testing.assert_allclose(step(optimizers.SGD(1.0, clipnorm=1.0), [0.0, 0.0], [3.0, 4.0]), [-0.6, -0.8])
    opt = optimizers.SGD(1.0, global_clipnorm=5.0)
    a, b = np.zeros(1), np.zeros(1)
    opt.apply([a, b], [np.array([6.0]), np.array([8.0])])
    np.testing.assert_allclose([a[0], b[0]], [-3.0, -4.0])


def test_losses_by_hand():
    assert losses.get("binary_crossentropy")(np.array([1, 0]), np.array([[0.9], [0.2]])) == pytest.approx(
        -(np.log(0.9) + np.log(0.8)) / 2)
    assert losses.get("categorical_crossentropy")(np.array([[0, 1.0]]), np.array([[0.25, 0.75]])) == \
        pytest.approx(-np.log(0.75))
    assert losses.get("sparse_categorical_crossentropy")(np.array([1, 0]), np.array([[0.25, 0.75], [0.5, 0.5]])) \
        == pytest.approx(-(np.log(0.75) + np.log(0.5)) / 2)
    assert losses.get("mse")(np.array([[1.0, 2.0]]), np.array([[0.0, 4.0]])) == pytest.approx(2.5)
    assert losses.get("mean_absolute_error")(np.array([[1.0, 2.0]]), np.array([[0.0, 4.0]])) == pytest.approx(1.5)


@pytest.mark.parametrize("name,activation", [("binary_crossentropy", "sigmoid"),
                                             ("categorical_crossentropy", "softmax"),
                                             ("sparse_categorical_crossentropy", "softmax")])
def test_fused_logits_match_probabilities_and_stay_finite(name, activation):
    loss = losses.get(name)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 1 if activation == "sigmoid" else 3))
    y = rng.integers(0, z.shape[1], 5) if name.startswith("sparse") else (
        rng.integers(0, 2, z.shape) if activation == "sigmoid" else np.eye(3)[rng.integers(0, 3, 5)])
    p = 1 / (1 + np.exp(-z)) if activation == "sigmoid" else np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    value, dz = loss.value_and_gradient_from_logits(y, z)
    value_p, dp = loss.value_and_gradient(y, p)
    assert value == pytest.approx(value_p, rel=1e-6)
    chain = dp * p * (1 - p) if activation == "sigmoid" else p * (dp - (dp * p).sum(-1, keepdims=True))
    np.testing.assert_allclose(dz, chain, rtol=1e-6, atol=1e-12)
    big, grad = loss.value_and_gradient_from_logits(y, z * 1e4)
    assert np.isfinite(big) and np.all(np.isfinite(grad))


def test_metrics_by_hand_and_accuracy_selection():
    np.testing.assert_array_equal(metrics.binary_accuracy(np.array([1, 0, 1]), np.array([[0.7], [0.5], [0.4]])),
                                  [1, 1, 0])  # 0.5 is not above the threshold
    np.testing.assert_array_equal(metrics.categorical_accuracy(np.eye(2), np.array([[0.9, 0.1], [0.8, 0.2]])), [1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(np.array([[1], [0]]),
                                                                      np.array([[0.1, 0.9], [0.2, 0.8]])), [1, 0])
    np.testing.assert_allclose(metrics.mean_absolute_error(np.array([[1.0, 3.0]]), np.array([[2.0, 1.0]])), [1.5])
    assert metrics.get("acc", "binary_crossentropy", 1)[1] is metrics.binary_accuracy
    assert metrics.get("accuracy", "sparse_categorical_crossentropy", 10)[1] is metrics.sparse_categorical_accuracy
    assert metrics.get("acc", "categorical_crossentropy", 10)[1] is metrics.categorical_accuracy
    assert metrics.get("acc", "mse", 1)[1] is metrics.binary_accuracy


def linear_problem(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    return x, x @ np.array([[1.0], [-2.0], [0.5]])


def test_early_stopping_stops_and_restores_best():
    utils.set_random_seed(0)
    x, y = linear_problem()
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")  # lr too large: the loss diverges
    stop = callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    best = {}

    class Track(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best.setdefault("losses", []).append(logs["loss"])
            if logs["loss"] == min(best["losses"]):
                best["weights"] = self.model.get_weights()

    history = model.fit(x, y, epochs=50, batch_size=64, verbose=0, callbacks=[Track(), stop])
    assert len(history.epoch) < 50 and stop.stopped_epoch == history.epoch[-1]
    for a, b in zip(model.get_weights(), best["weights"]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_and_custom_callback(tmp_path):
    x, y = linear_problem()
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    seen = []

    class Hooks(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append("begin")

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", batch))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch, sorted(logs)))

    every = callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}.npz"), save_best_only=False)
    best = callbacks.ModelCheckpoint(tmp_path / "best.npz", monitor="val_mae", save_best_only=True)
    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.5, verbose=0, callbacks=[Hooks(), every, best])
    assert seen == ["begin", ("batch", 0), ("epoch", 0, ["loss", "mae", "val_loss", "val_mae"]), ("batch", 0),
                    ("epoch", 1, ["loss", "mae", "val_loss", "val_mae"])]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "ckpt-01.npz", "ckpt-02.npz"]
    np.testing.assert_array_equal(load_model(tmp_path / "ckpt-02.npz").get_weights()[0], model.get_weights()[0])
    with pytest.raises(ValueError, match="val_acc"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping(monitor="val_acc")])
