"""Stateful metrics against keras.metrics on the same data fed in several batches (AUC in its
curves, summations, thresholds, multi-label and weights; Precision and Recall with thresholds,
top_k and class_id; top-k accuracies; the mean of a per-sample function with masks), by hand,
and the names compile accepts; compiled AUC / precision / recall (names and objects, weighted
too) in evaluate and fit against Keras', reset each epoch; states merged as MPI ranks merge them."""
import os

import numpy as np
import pytest

from fastrnn import metrics
from fastrnn.layers import Dense
from fastrnn.models import Sequential

# Keras' torch backend converts tensors with np.array(x, copy=False), which NumPy 2 warns about
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the comparisons with Keras 3 need keras (torch backend)")


def batches(seed, shape, count=4, logits=False, weighted=False):
    """(y_true, y_pred, sample_weight) batches; predictions include values exactly on thresholds."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        p = rng.random(shape).astype(np.float32)
        flat = p.reshape(-1)
        flat[:6] = [0.0, 1.0, 0.5, 100 / 199, 0.3, 7 / 199]  # on Keras' bucket edges
        if logits:
            p = rng.normal(size=shape).astype(np.float32) * 3
        y = (rng.random(shape) < 0.4).astype(np.float32)
        out.append((y, p, rng.uniform(0.1, 2.0, shape[0]) if weighted else None))
    return out


def compare(keras, ours, theirs, data, rtol=1e-5):
    for y, p, sw in data:
        ours.update_state(y, p, sample_weight=sw)
        theirs.update_state(y, p, sample_weight=sw)
        np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=rtol, atol=1e-6)


AUCS = {
    "default": {},
    "pr": {"curve": "PR"},
    "prgain": {"curve": "PRGAIN"},
    "minoring": {"summation_method": "minoring"},
    "pr_majoring": {"curve": "PR", "summation_method": "majoring"},
    "few_thresholds": {"num_thresholds": 7},
    "explicit_uneven": {"thresholds": [0.1, 0.25, 0.5, 0.9]},
    "explicit_even": {"thresholds": [0.25, 0.5, 0.75]},
    "from_logits": {"from_logits": True},
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", sorted(AUCS))
def test_auc_matches_keras(keras, name, weighted):
    kwargs = AUCS[name]
    data = batches(1, (40, 1), logits=kwargs.get("from_logits", False), weighted=weighted)
    compare(keras, metrics.AUC(**kwargs), keras.metrics.AUC(**kwargs), data)


@pytest.mark.parametrize("kwargs", [{"multi_label": True}, {"multi_label": True, "num_labels": 3},
                                    {"multi_label": True, "label_weights": [1.0, 2.0, 3.0]},
                                    {"label_weights": [1.0, 0.5, 2.0]}, {"multi_label": True, "curve": "PR"}])
def test_auc_multi_label_matches_keras(keras, kwargs):
    compare(keras, metrics.AUC(**kwargs), keras.metrics.AUC(**kwargs), batches(2, (25, 3), weighted=True))


def test_auc_by_hand_and_reset():
    auc = metrics.AUC()
    auc.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert auc.result() == pytest.approx(0.75, abs=1e-6)  # 3 of the 4 (positive, negative) pairs ordered
    auc.update_state([1, 0], [0.9, 0.05])
    assert auc.result() == pytest.approx(8 / 9, abs=1e-6)  # 0.35 is below 0.4 only
    auc.reset_state()
    assert auc.result() == 0.0 and not any(v.any() for v in auc.variables)
    perfect = metrics.AUC(curve="PR")
    perfect.update_state([0, 1, 0, 1], [0.2, 0.9, 0.1, 0.7])
    assert perfect.result() == pytest.approx(1.0, abs=1e-6)


PRECISION_RECALL = {
    "default": {},
    "thresholds": {"thresholds": [0.3, 0.7, 0.5]},
    "even_thresholds": {"thresholds": [0.0, 0.5, 1.0]},
    "top_k": {"top_k": 2},
    "class_id": {"class_id": 1},
    "top_k_class": {"top_k": 1, "class_id": 2},
}


@pytest.mark.parametrize("cls", ["Precision", "Recall"])
@pytest.mark.parametrize("name", sorted(PRECISION_RECALL))
def test_precision_recall_match_keras(keras, cls, name):
    kwargs = PRECISION_RECALL[name]
    data = batches(3, (30, 4), weighted=True)
    compare(keras, getattr(metrics, cls)(**kwargs), getattr(keras.metrics, cls)(**kwargs), data)


def test_precision_recall_by_hand():
    p = metrics.Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    r = metrics.Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert (p.result(), r.result()) == pytest.approx((2 / 3, 2 / 3))
    several = metrics.Precision(thresholds=[0.3, 0.7])
    several.update_state([0, 1, 1], [0.5, 0.6, 0.9])
    np.testing.assert_allclose(several.result(), [2 / 3, 1.0])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracies_match_keras(keras, k):
    rng = np.random.default_rng(4)
    for _ in range(3):
        p = rng.integers(0, 4, (20, 5)).astype(np.float32)  # ties: the target ties with the k-th best
        labels = rng.integers(0, 5, 20)
        sw = rng.uniform(0.1, 2.0, 20)
        ours, theirs = metrics.SparseTopKCategoricalAccuracy(k=k), keras.metrics.SparseTopKCategoricalAccuracy(k=k)
        compare(keras, ours, theirs, [(labels, p, sw)])
        ours, theirs = metrics.TopKCategoricalAccuracy(k=k), keras.metrics.TopKCategoricalAccuracy(k=k)
        compare(keras, ours, theirs, [(np.eye(5)[labels], p, sw)])


def test_top_k_by_hand():
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    np.testing.assert_array_equal(metrics.sparse_top_k_categorical_accuracy([0, 2, 1], p, k=2), [1, 0, 1])
    np.testing.assert_array_equal(metrics.top_k_categorical_accuracy(np.eye(3)[[0, 2, 1]], p, k=1), [1, 0, 0])
    np.testing.assert_array_equal(metrics.sparse_top_k_categorical_accuracy([[0], [2], [1]], p, k=3), [1, 1, 1])


def test_mean_metric_wrapper_masks_and_weights_match_keras(keras):
    from keras.src.backend import set_keras_mask
    import torch

    rng = np.random.default_rng(5)
    ours = metrics.MeanMetricWrapper(metrics.sparse_categorical_accuracy, name="acc")
    theirs = keras.metrics.MeanMetricWrapper(keras.metrics.sparse_categorical_accuracy, name="acc")
    for _ in range(3):
        y = rng.integers(0, 3, (4, 6))
        p = rng.random((4, 6, 3)).astype(np.float32)
        mask = rng.random((4, 6)) > 0.3
        sw = rng.uniform(0.1, 2.0, (4, 6))
        ours.update_state(y, p, sample_weight=sw, mask=mask)
        p_t = torch.tensor(p)
        set_keras_mask(p_t, torch.tensor(mask))
        theirs.update_state(y, p_t, sample_weight=sw)
        assert ours.result() == pytest.approx(float(keras.ops.convert_to_numpy(theirs.result())), rel=1e-6)


def test_mean_over_unmasked_steps_by_hand():
    acc = metrics.MeanMetricWrapper(metrics.binary_accuracy)
    y = np.array([[[1], [0], [1]], [[0], [0], [1]]])
    p = np.array([[[0.9], [0.8], [0.1]], [[0.2], [0.9], [0.7]]])  # right: (T, F, F), (T, F, T)
    mask = np.array([[True, True, False], [True, False, True]])
    acc.update_state(y, p, mask=mask)
    assert acc.result() == pytest.approx(3 / 4)
    acc.update_state(y[:1], p[:1], sample_weight=[3.0])  # (batch,) weights every step of the sample
    assert acc.result() == pytest.approx((3 + 3 * 1) / (4 + 3 * 3))


def test_states_merge_by_adding_variables():
    data = batches(6, (30, 1), count=2, weighted=True)
    whole, first, second = metrics.AUC(curve="PR"), metrics.AUC(curve="PR"), metrics.AUC(curve="PR")
    for (y, p, sw), shard in zip(data, (first, second)):
        whole.update_state(y, p, sample_weight=sw)
        shard.update_state(y, p, sample_weight=sw)
    for a, b in zip(first.variables, second.variables):
        a += b  # what an allreduce over ranks does
    assert first.result() == pytest.approx(whole.result(), rel=1e-12)


def test_names_compile_can_use():
    for name, cls in [("auc", metrics.AUC), ("precision", metrics.Precision), ("recall", metrics.Recall)]:
        metric = metrics.get_metric(name)
        assert type(metric) is cls and metric.name == name
    top = metrics.get_metric("sparse_top_k_categorical_accuracy")
    top.update_state([0, 1], np.array([[0.9, 0.1], [0.8, 0.2]]))
    assert top.name == "sparse_top_k_categorical_accuracy" and top.result() == 1.0  # k=5 > classes
    assert metrics.get("top_k_categorical_accuracy")[1] is metrics.top_k_categorical_accuracy
    acc = metrics.get_metric("acc", "sparse_categorical_crossentropy", 10)
    assert acc.name == "acc" and acc.fn is metrics.sparse_categorical_accuracy
    auc = metrics.AUC(curve="PR", name="pr_auc")
    assert metrics.get_metric(auc) is auc
    with pytest.raises(ValueError, match="stateful.*get_metric"):
        metrics.get("auc")
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        metrics.get_metric("f1")
    assert metrics.AUC.from_config(auc.get_config()).get_config() == auc.get_config()
    assert metrics.Precision.from_config(metrics.Precision(top_k=2).get_config()).top_k == 2


@pytest.mark.parametrize("make, problem_text", [
    (lambda: metrics.AUC(num_thresholds=1), "'num_thresholds' must be an int > 1"),
    (lambda: metrics.AUC(curve="lift"), "'curve' must be"),
    (lambda: metrics.Precision(thresholds=[0.5, 2]), "'thresholds' must be numbers in \\[0, 1\\]"),
    (lambda: metrics.Recall(top_k=0), "'top_k' must be an int >= 1"),
    (lambda: metrics.AUC().update_state(np.zeros((3, 2)), np.zeros((3, 1))), "targets of shape \\(3, 2\\)"),
    (lambda: metrics.Precision().update_state([0, 1], [0.2, 0.8], sample_weight=[1, 2, 3]), "sample_weight"),
    (lambda: metrics.sparse_top_k_categorical_accuracy([0, 3], np.zeros((2, 3))), "class indices in \\[0, 3\\)"),
    (lambda: metrics.MeanMetricWrapper(metrics.binary_accuracy).update_state(
        np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), mask=np.ones((2, 2))), "mask of shape \\(2, 2\\)"),
])
def test_bad_arguments_are_clear_errors(make, problem_text):
    with pytest.raises(ValueError, match=problem_text):
        make()


def test_compile_with_stateful_metric_names():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, :1] + 0.5 * rng.normal(size=(64, 1)) > 0).astype(np.float32)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["auc", "precision", "recall"])
    loss, auc, precision, recall = model.evaluate(x, y, batch_size=16, verbose=0)
    expected = {"auc": metrics.AUC(), "precision": metrics.Precision(), "recall": metrics.Recall()}
    for metric in expected.values():
        metric.update_state(y, model.predict(x))
    assert (auc, precision, recall) == pytest.approx([m.result() for m in expected.values()], rel=1e-6)


def test_state_arrays_round_trip_and_merge():
    data = batches(7, (20, 1), count=2, weighted=True)
    whole, first, second = metrics.Recall(thresholds=[0.2, 0.6]), metrics.Recall(thresholds=[0.2, 0.6]), \
        metrics.Recall(thresholds=[0.2, 0.6])
    for (y, p, sw), shard in zip(data, (first, second)):
        whole.update_state(y, p, sample_weight=sw)
        shard.update_state(y, p, sample_weight=sw)
    states = first.state_arrays()
    first.update_state(*data[0][:2])  # the copies do not change with the metric
    first.set_state_arrays([a + b for a, b in zip(states, second.state_arrays())])
    np.testing.assert_allclose(first.result(), whole.result(), rtol=1e-12)
    mean = metrics.Mean()
    mean.set_state_arrays([np.array(6.0), np.array(4.0)])
    assert mean.result() == 1.5
    with pytest.raises(ValueError, match="argument 'arrays' holds 1 arrays, the state 3"):
        first.set_state_arrays(states[:1])
    with pytest.raises(ValueError, match=r"argument 'arrays': entry 0 has shape \(3,\)"):
        first.set_state_arrays([np.zeros(3)] * 3)


def binary_twins(keras, metric_args):
    """An LSTM classifier with one sigmoid unit in fastrnn and Keras, the same weights, both
    compiled with SGD(0.5) and binary_crossentropy; metric_args(lib) gives compile's metrics."""
    from fastrnn import layers as L, optimizers, utils
    import fastrnn

    def build(lib, layers):
        return lib.models.Sequential([lib.Input(shape=(4, 3)), layers.LSTM(5), layers.Dense(1, activation="sigmoid")])
    utils.set_random_seed(3)
    ours, theirs = build(fastrnn, L), build(keras, keras.layers)
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizers.SGD(0.5), loss="binary_crossentropy", **metric_args(metrics))
    theirs.compile(keras.optimizers.SGD(0.5), loss="binary_crossentropy", **metric_args(keras.metrics))
    rng = np.random.default_rng(8)
    x = rng.normal(size=(60, 4, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1, keepdims=True) + rng.normal(size=(60, 1)) > 0).astype(np.float32)
    return ours, theirs, x, y, rng.uniform(0.2, 2.0, 60)


def stateful_metrics(lib):
    # Keras names an AUC object "auc_<n>" by a session-wide count: name the Keras twins as ours are named
    named = {} if lib is metrics else {"name": "auc"}
    return {"metrics": ["auc", "precision", "recall", lib.AUC(num_thresholds=50, **named),
                        lib.Precision(thresholds=0.3, **({} if lib is metrics else {"name": "precision"})), "acc"],
            "weighted_metrics": ["auc", lib.Recall(thresholds=0.7, **({} if lib is metrics else {"name": "recall"}))]}


def assert_logs_close(got, want, rtol=1e-5):
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, atol=1e-6, err_msg=key)


def test_compiled_stateful_metrics_match_keras_in_evaluate_and_fit(keras):
    ours, theirs, x, y, sw = binary_twins(keras, stateful_metrics)
    for batch_size in (7, 60):
        want = theirs.evaluate(x, y, sample_weight=sw, batch_size=batch_size, verbose=0, return_dict=True)
        got = ours.evaluate(x, y, sample_weight=sw, batch_size=batch_size, verbose=0, return_dict=True)
        assert sorted(got) == sorted(want) == ["acc", "auc", "auc_1", "loss", "precision", "precision_1", "recall",
                                                "weighted_auc", "weighted_recall"]
        assert_logs_close(got, {k: want[k] for k in got})
    # evaluate's list in Keras' order: the metrics' own names, then the others sorted (Keras lists a
    # value again for each metric sharing a name; fastrnn lists each once)
    order = ["loss", "auc", "precision", "recall", "acc", "auc_1", "precision_1", "weighted_auc", "weighted_recall"]
    np.testing.assert_allclose(ours.evaluate(x, y, sample_weight=sw, batch_size=7, verbose=0),
                               [want[k] for k in order], rtol=1e-5, atol=1e-6)
    # train metrics accumulate over each epoch's batches, from a reset at its start, as the
    # weights move: the same SGD steps in the same order give Keras' History
    fit = dict(batch_size=8, epochs=3, shuffle=False, verbose=0, sample_weight=sw[:48],
               validation_data=(x[48:], y[48:]))
    mine = ours.fit(x[:48], y[:48], **fit).history
    keras_history = theirs.fit(x[:48], y[:48], **fit).history
    assert sorted(mine) == sorted(keras_history)
    for key in keras_history:
        np.testing.assert_allclose(mine[key], keras_history[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # the last epoch's validation metrics are what evaluate gives on the same weights
    after = ours.evaluate(x[48:], y[48:], batch_size=8, verbose=0, return_dict=True)
    assert {k: mine["val_" + k][-1] for k in after} == pytest.approx(after, rel=1e-9)
    # *_on_batch reset the metrics first, as Keras: one batch's values
    assert ours.test_on_batch(x[:9], y[:9], return_dict=True) == pytest.approx(
        theirs.test_on_batch(x[:9], y[:9], return_dict=True), rel=1e-5)


def test_compiled_metrics_report_every_threshold_and_checks_names():
    ours = Sequential([Dense(1, activation="sigmoid", input_shape=(3,))])
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        ours.compile("sgd", loss="binary_crossentropy", metrics=["auc", "f1"])
    several = metrics.Precision(thresholds=[0.2, 0.5, 0.8], name="p")
    ours.compile("sgd", loss="binary_crossentropy", metrics=[several])
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(30, 3)), (rng.random((30, 1)) < 0.5).astype(float)
    logs = ours.evaluate(x, y, verbose=0, return_dict=True)
    check = metrics.Precision(thresholds=[0.2, 0.5, 0.8])
    check.update_state(y, ours.predict(x))
    assert logs["p"].shape == (3,)
    np.testing.assert_allclose(logs["p"], check.result(), rtol=1e-12)
    assert several.result() is not None and np.allclose(several.result(), check.result())  # the very object given


def test_callbacks_maximize_the_stateful_metrics_they_monitor():
    from fastrnn.callbacks import EarlyStopping
    for monitor, best in [("val_auc", -np.inf), ("auc_1", -np.inf), ("val_kind_precision", -np.inf),
                          ("recall_2", -np.inf), ("val_acc", -np.inf), ("val_loss", np.inf), ("val_mae", np.inf)]:
        stop = EarlyStopping(monitor=monitor)
        stop.on_train_begin()
        assert stop.best == best, monitor

