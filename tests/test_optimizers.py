"""Optimizers against Keras 3 (same weights and gradients, several steps, float32) and against
hand-computed float64 values: RMSprop momentum/centered, Adam amsgrad, AdamW, Adagrad, Nadam,
learning-rate schedules, Keras 2's lr=/decay=, lazy sparse rows, configs and saved models."""
import json
import os
import warnings

import numpy as np
import pytest

from fastrnn import optimizers
from fastrnn.layers import Dense, IndexedRows
from fastrnn.models import Sequential, load_model
from fastrnn.optimizers import schedules

# Keras' torch backend converts tensors with np.array(x, copy=False), which NumPy 2 warns about
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the comparisons with Keras 3 need keras (torch backend)")


# Each builds the same optimizer from fastrnn.optimizers or keras.optimizers (argument names are Keras').
CONFIGS = {
    "sgd": lambda m: m.SGD(0.1),
    "sgd_momentum": lambda m: m.SGD(0.1, momentum=0.9),
    "sgd_nesterov": lambda m: m.SGD(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda m: m.RMSprop(0.01),
    "rmsprop_momentum": lambda m: m.RMSprop(0.01, momentum=0.9),
    "rmsprop_centered": lambda m: m.RMSprop(0.01, centered=True),
    "rmsprop_both": lambda m: m.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True),
    "adam": lambda m: m.Adam(0.01),
    "adam_amsgrad": lambda m: m.Adam(0.01, amsgrad=True),
    "adam_weight_decay": lambda m: m.Adam(0.01, weight_decay=0.1),
    "adamw": lambda m: m.AdamW(0.01),
    "adamw_amsgrad": lambda m: m.AdamW(0.01, weight_decay=0.05, amsgrad=True),
    "adagrad": lambda m: m.Adagrad(0.1),
    "adagrad_options": lambda m: m.Adagrad(0.1, initial_accumulator_value=0.5, epsilon=1e-4),
    "nadam": lambda m: m.Nadam(0.01),
    "nadam_beta": lambda m: m.Nadam(0.02, beta_1=0.8, beta_2=0.99),
    "adam_global_clipnorm": lambda m: m.Adam(0.01, global_clipnorm=1.0),
    "sgd_exponential": lambda m: m.SGD(m.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5),
                                       momentum=0.5),
    "rmsprop_piecewise": lambda m: m.RMSprop(m.schedules.PiecewiseConstantDecay([1, 3], [0.02, 0.01, 0.005])),
    "adam_cosine_warmup": lambda m: m.Adam(m.schedules.CosineDecay(0.001, decay_steps=4, alpha=0.1,
                                                                   warmup_target=0.02, warmup_steps=2)),
    "nadam_inverse_time": lambda m: m.Nadam(m.schedules.InverseTimeDecay(0.02, decay_steps=1, decay_rate=0.5,
                                                                         staircase=True)),
}


def problem(steps=6, seed=0):
    """Two float32 weights and a gradient sequence whose scale shrinks then grows (so amsgrad's
    running maximum matters)."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    scales = [3.0, 0.3, 0.1, 1.0, 2.0, 0.5][:steps]
    grads = [[(s * rng.standard_normal(w.shape)).astype(np.float32) for w in weights] for s in scales]
    return weights, grads


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_steps_match_keras_3(keras, name):
    weights, grads = problem()
    ours = CONFIGS[name](optimizers)
    theirs = CONFIGS[name](keras.optimizers)
    variables = [keras.Variable(w) for w in weights]
    weights = [w.copy() for w in weights]
    for step_grads in grads:
        assert ours.learning_rate == pytest.approx(float(keras.ops.convert_to_numpy(theirs.learning_rate)), rel=1e-6)
        ours.apply(weights, step_grads)
        theirs.apply([keras.ops.convert_to_tensor(g) for g in step_grads], variables)
        for w, v in zip(weights, variables):
            # float32 on both sides; Keras rounds its rate and bias corrections to float32 too
            np.testing.assert_allclose(w, keras.ops.convert_to_numpy(v), rtol=2e-5, atol=2e-6)
    assert ours.iterations == int(keras.ops.convert_to_numpy(theirs.iterations)) == len(grads)
    assert all(w.dtype == np.float32 for w in weights)
    assert all(s.dtype == np.float32 for slots in ours.get_slots(weights) for s in slots.values())


def run(opt, w, grads):
    w = np.array(w, dtype=np.float64)
    for g in grads:
        opt.apply([w], [np.array(g, dtype=np.float64)])
    return w


def test_rmsprop_centered_momentum_by_hand():
    w, v, a, m = 1.0, 0.0, 0.0, 0.0
    for g in (2.0, -1.0):
        v = 0.9 * v + 0.1 * g * g
        a = 0.9 * a + 0.1 * g
        m = 0.5 * m + 0.01 * g / np.sqrt(v - a * a + 1e-7)
        w -= m
    np.testing.assert_allclose(run(optimizers.RMSprop(0.01, momentum=0.5, centered=True), [1.0], [[2.0], [-1.0]]),
                               [w], rtol=1e-12)


def test_adam_amsgrad_keeps_the_largest_second_moment():
    w, m, v, v_hat = 1.0, 0.0, 0.0, 0.0
    for t, g in enumerate((2.0, 0.01), start=1):
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        v_hat = max(v_hat, v)
        w -= 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v_hat) + 1e-7)
    assert v_hat > v  # the second step's v fell: amsgrad used the first
    np.testing.assert_allclose(run(optimizers.Adam(0.01, amsgrad=True), [1.0], [[2.0], [0.01]]), [w], rtol=1e-12)
    np.testing.assert_array_less(run(optimizers.Adam(0.01), [1.0], [[2.0], [0.01]]), [w])  # plain Adam differs


def test_adamw_decays_before_the_adam_step():
    g, lr, wd = 2.0, 0.01, 0.1
    w = 1.0 * (1 - wd * lr)
    m, v = 0.1 * g, 0.001 * g * g
    w -= lr * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(run(optimizers.AdamW(lr, weight_decay=wd), [1.0], [[g]]), [w], rtol=1e-12)
    assert optimizers.AdamW().weight_decay == 0.004  # Keras 3's default


def test_adagrad_by_hand():
    w, acc = 1.0, 0.1
    for g in (2.0, -1.0):
        acc += g * g
        w -= 0.1 * g / np.sqrt(acc + 1e-7)
    np.testing.assert_allclose(run(optimizers.Adagrad(0.1), [1.0], [[2.0], [-1.0]]), [w], rtol=1e-12)


def test_nadam_by_hand():
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-7
    w, m, v, product = 1.0, 0.0, 0.0, 1.0
    for t, g in enumerate((2.0, -1.0, 0.5), start=1):
        u_t, u_next = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product *= u_t
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        m_hat = u_next * m / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
        w -= lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(run(optimizers.Nadam(lr), [1.0], [[2.0], [-1.0], [0.5]]), [w], rtol=1e-12)


def test_keras_2_lr_alias_and_decay():
    with pytest.warns(DeprecationWarning, match="'lr' is deprecated"):
        opt = optimizers.SGD(lr=0.5)
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    with pytest.raises(ValueError, match="both were given"):
        optimizers.Adam(learning_rate=0.1, lr=0.1)
    with pytest.raises(ValueError, match="both were given"):
        optimizers.RMSprop(0.001, lr=0.1)  # positional counts as given, even equal to the default
    with pytest.warns(DeprecationWarning, match="'decay' is deprecated"):
        decayed = optimizers.SGD(0.1, decay=0.5)
    # Keras 2: lr / (1 + decay * iterations), the same as InverseTimeDecay(lr, 1, decay)
    np.testing.assert_allclose(run(decayed, [0.0], [[1.0]] * 3), [-(0.1 + 0.1 / 1.5 + 0.1 / 2)], rtol=1e-12)
    twin = optimizers.SGD(schedules.InverseTimeDecay(0.1, 1, 0.5))
    np.testing.assert_allclose(run(twin, [0.0], [[1.0]] * 3), [-(0.1 + 0.1 / 1.5 + 0.1 / 2)], rtol=1e-12)
    with pytest.warns(DeprecationWarning):
        assert opt.lr == 0.5


@pytest.mark.parametrize("make, at", [
    (lambda m: m.ExponentialDecay(0.1, 3, 0.5), [0, 1, 3, 7, 100]),
    (lambda m: m.ExponentialDecay(0.1, 3, 0.5, staircase=True), [0, 2, 3, 7]),
    (lambda m: m.InverseTimeDecay(0.1, 2, 0.3), [0, 1, 5, 40]),
    (lambda m: m.InverseTimeDecay(0.1, 2, 0.3, staircase=True), [0, 1, 5, 40]),
    (lambda m: m.PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1]), [0, 2, 3, 5, 6, 50]),
    (lambda m: m.CosineDecay(0.1, 10), [0, 3, 10, 20]),
    (lambda m: m.CosineDecay(0.1, 10, alpha=0.2), [0, 5, 12]),
    (lambda m: m.CosineDecay(0.01, 10, alpha=0.1, warmup_target=0.2, warmup_steps=3), [0, 1, 3, 4, 8, 13, 30]),
])
def test_schedules_match_keras_3(keras, make, at):
    ours, theirs = make(schedules), make(keras.optimizers.schedules)
    for step in at:
        assert ours(step) == pytest.approx(float(keras.ops.convert_to_numpy(theirs(step))), rel=1e-6)
    assert schedules.deserialize(json.loads(json.dumps(schedules.serialize(ours)))).get_config() == ours.get_config()


def test_schedules_by_hand():
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(25) == pytest.approx(0.025)
    assert schedules.PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])(150) == 0.5
    assert schedules.CosineDecay(0.1, 100)(50) == pytest.approx(0.05)
    warm = schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)
    assert [warm(s) for s in (0, 2, 4)] == pytest.approx([0.0, 0.5, 1.0])


def test_learning_rate_is_read_at_each_step_and_settable():
    seen = []

    def by_step(step):
        seen.append(step)
        return 0.1 * (step + 1)

    opt = optimizers.SGD(learning_rate=by_step)
    np.testing.assert_allclose(run(opt, [0.0], [[1.0]] * 3), [-0.6])  # 0.1 + 0.2 + 0.3
    assert seen[:3] == [0, 1, 2] and opt.iterations == 3
    assert optimizers.SGD(learning_rate=lambda: 0.25).learning_rate == 0.25  # Keras 3 calls it with no argument
    opt = optimizers.Adam(0.01)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    opt.learning_rate = 0.0  # a scheduler may switch training off
    with pytest.raises(ValueError, match="'learning_rate' must be a finite number"):
        opt.learning_rate = "fast"
    scheduled = optimizers.SGD(schedules.ExponentialDecay(0.1, 1, 0.5))
    with pytest.raises(TypeError, match="schedule"):
        scheduled.learning_rate = 0.1


def test_apply_gradients_takes_keras_pairs():
    a, b = np.ones(2), np.ones(2)
    optimizers.SGD(0.5).apply_gradients(zip([np.ones(2), 2 * np.ones(2)], [a, b]))
    np.testing.assert_allclose([a, b], [[0.5, 0.5], [0.0, 0.0]])


SPARSE = ["rmsprop_momentum", "rmsprop_centered", "rmsprop_both", "adam_amsgrad", "adamw", "adagrad_options",
          "nadam", "adam_weight_decay"]


@pytest.mark.parametrize("name", SPARSE)
def test_sparse_rows_update_lazily_like_dense_rows(name):
    table = np.linspace(-1, 1, 12).reshape(6, 2)
    rows = np.array([4, 1])
    dense = table[rows].copy()
    grads = [np.array([[0.5, -1.0], [2.0, 0.25]]) * s for s in (1.0, 0.1, 3.0)]
    opt, twin = CONFIGS[name](optimizers), CONFIGS[name](optimizers)
    before = table.copy()
    for g in grads:
        opt.apply([table], [IndexedRows(rows, g)])
        twin.apply([dense], [g])
    np.testing.assert_allclose(table[rows], dense, rtol=1e-12)
    np.testing.assert_array_equal(np.delete(table, rows, axis=0), np.delete(before, rows, axis=0))
    fresh = opt._new_slots(table)
    for key, slot in opt.get_slots([table])[0].items():
        np.testing.assert_array_equal(np.delete(slot, rows, axis=0), np.delete(fresh[key], rows, axis=0))
        np.testing.assert_allclose(slot[rows], twin.get_slots([dense])[0][key], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_round_trips(name):
    opt = CONFIGS[name](optimizers)
    spec = json.loads(json.dumps(optimizers.serialize(opt)))  # plain JSON, as saved in a model file
    twin = optimizers.deserialize(spec)
    assert type(twin) is type(opt) and twin.get_config() == opt.get_config()
    assert type(opt).from_config(opt.get_config()).get_config() == opt.get_config()
    weights, grads = problem(3)
    mine, theirs = [w.copy() for w in weights], [w.copy() for w in weights]
    for g in grads:
        opt.apply(mine, g)
        twin.apply(theirs, g)
    for a, b in zip(mine, theirs):
        np.testing.assert_array_equal(a, b)


def named_rate(step):
    return 0.01 / (1 + step)


def test_function_rates_save_by_name_and_lambdas_refuse():
    spec = optimizers.serialize(optimizers.Adam(named_rate))
    assert spec["config"]["learning_rate"] == {"class_name": "function", "config": "named_rate"}
    with pytest.raises(ValueError, match="custom_objects"):
        optimizers.deserialize(spec)
    assert optimizers.deserialize(spec, {"named_rate": named_rate}).learning_rate == 0.01
    with pytest.raises(ValueError, match="cannot save the learning rate"):
        optimizers.Adam(lambda step: 0.1).get_config()


@pytest.mark.parametrize("name", ["nadam", "adamw_amsgrad", "rmsprop_both", "adagrad_options", "adam_cosine_warmup"])
def test_saved_model_resumes_training_exactly(tmp_path, name):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer=CONFIGS[name](optimizers), loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert type(loaded.optimizer) is type(model.optimizer) and loaded.optimizer.iterations == 10
    for m in (model, loaded):
        m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make, problem_text", [
    (lambda: optimizers.Adam(learning_rate="fast"), "'learning_rate' must be a finite number"),
    (lambda: optimizers.SGD(-0.1), "'learning_rate' must be a finite number in \\[0"),
    (lambda: optimizers.SGD(0.1, momentum=2), "'momentum' must be a finite number in \\[0, 1\\]"),
    (lambda: optimizers.RMSprop(rho=1.5), "'rho'"),
    (lambda: optimizers.Adam(beta_1=1.0), "'beta_1' must be a finite number in \\[0, 1\\)"),
    (lambda: optimizers.Adagrad(epsilon=-1), "'epsilon'"),
    (lambda: optimizers.AdamW(weight_decay=None), "'weight_decay' must be a number"),
    (lambda: optimizers.Nadam(clipnorm=0), "'clipnorm'"),
    (lambda: optimizers.get("adamax"), "unknown optimizer 'adamax'"),
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "'decay_steps' must be a finite number > 0"),
    (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1]), "one entry fewer"),
    (lambda: schedules.deserialize({"class_name": "Warp", "config": {}}), "unknown learning rate schedule"),
])
def test_bad_arguments_are_clear_errors(make, problem_text):
    with pytest.raises(ValueError, match=problem_text):
        make()


def test_unknown_argument_and_mismatched_gradient():
    with pytest.raises(TypeError, match="unexpected argument"):
        optimizers.Adam(0.01, betas=(0.9, 0.99))
    with pytest.raises(ValueError, match="gradient of shape \\(3,\\) for a weight of shape \\(2,\\)"):
        optimizers.Nadam().apply([np.zeros(2)], [np.zeros(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Keras 3 spellings warn about nothing
        optimizers.get("nadam"), optimizers.get("AdamW"), optimizers.get("adagrad")
