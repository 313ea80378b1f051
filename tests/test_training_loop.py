"""The training engine both model kinds share: losses and metrics of per-step outputs under their
mask, sample_weight, class_weight and weighted_metrics against Keras 3 (evaluate, train_on_batch,
whole fit epochs); fit on generators, Sequences and iterables (steps_per_epoch, validation
generators) against fit on the same arrays; Keras 2's *_generator aliases; the *_on_batch methods
and model(x); Sequential's get_layer / pop / to_json; arrays checked once per fit; stateful
metrics per output against Keras and under the masks of per-step outputs; MPI ranks with masked
per-step losses against one process; clear errors before any work."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn import layers as L
from fastrnn import optimizers, utils
from fastrnn.models import Model, Sequential, model_from_json
from fastrnn.models.training import Trainer


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the comparisons with Keras 3 need keras (torch backend)")


def tagged(n=12, steps=6, seed=0):
    """Ids with left padding (masked) and a class per step."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 9, (n, steps))
    x[np.arange(steps) < rng.integers(0, 4, n)[:, None]] = 0
    return x, rng.integers(0, 3, (n, steps))


def tagger(lib, layers, functional=False):
    """Embedding(mask_zero) -> LSTM(return_sequences) -> softmax per step."""
    stack = [layers.Embedding(9, 4, mask_zero=True, name="embed"), layers.LSTM(5, return_sequences=True, name="rnn"),
             layers.Dense(3, activation="softmax", name="tag")]
    if not functional:
        return lib.models.Sequential([lib.Input(shape=(6,))] + stack)
    x = inputs = lib.Input(shape=(6,), name="ids")
    for layer in stack:
        x = layer(x)
    return lib.Model(inputs, x)


def twins(keras, build, **compile_args):
    """The same model in fastrnn and Keras, same weights, both compiled with SGD(0.1)."""
    utils.set_random_seed(0)
    ours, theirs = build(fastrnn, L), build(keras, keras.layers)
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizers.SGD(0.1), **compile_args)
    theirs.compile(keras.optimizers.SGD(0.1), **compile_args)
    return ours, theirs


def assert_weights_close(ours, theirs, atol=2e-6):
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=atol)


@pytest.mark.parametrize("functional", [False, True])
def test_masked_per_step_loss_and_metric_match_keras(keras, functional):
    ours, theirs = twins(keras, lambda lib, layers: tagger(lib, layers, functional),
                         loss="sparse_categorical_crossentropy", metrics=["acc"])
    x, y = tagged()
    assert ours.evaluate(x, y, batch_size=5, verbose=0) == pytest.approx(
        theirs.evaluate(x, y, batch_size=5, verbose=0), rel=1e-6)
    mine = ours.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0).history
    keras_history = theirs.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0).history
    assert mine.keys() == keras_history.keys()
    for key in mine:
        np.testing.assert_allclose(mine[key], keras_history[key], rtol=1e-5)
    assert_weights_close(ours, theirs)


def test_sample_weights_class_weights_and_weighted_metrics_match_keras(keras):
    ours, theirs = twins(keras, tagger, loss="sparse_categorical_crossentropy", metrics=["acc"],
                         weighted_metrics=["acc"])
    x, y = tagged(seed=1)
    rng = np.random.default_rng(1)
    weight = rng.uniform(0.1, 2.0, x.shape)  # one per step
    # Keras' torch backend scales the caller's sample_weight in place by a batch's masked-loss factor
    # (apply_mask's `*=`), which leaks into weighted metrics over several batches; in one it cancels
    for batch_size, keys in ((5, ("loss", "acc")), (len(x), ("loss", "acc", "weighted_acc"))):
        want = theirs.evaluate(x, y, sample_weight=weight, batch_size=batch_size, verbose=0, return_dict=True)
        got = ours.evaluate(x, y, sample_weight=weight, batch_size=batch_size, verbose=0, return_dict=True)
        assert got.keys() == want.keys() == {"loss", "acc", "weighted_acc"}
        assert [got[k] for k in keys] == pytest.approx([want[k] for k in keys], rel=1e-5)
    per_sample = weight[:, 0]  # Keras 3 refuses these for per-step outputs; Keras 2 (and fastrnn) spread them
    assert ours.evaluate(x, y, sample_weight=per_sample, batch_size=5, verbose=0) == pytest.approx(
        ours.evaluate(x, y, sample_weight=np.repeat(per_sample[:, None], x.shape[1], 1), batch_size=5, verbose=0))

    def classifier(lib, layers):
        return lib.models.Sequential([lib.Input(shape=(4, 3)), layers.LSTM(5, name="rnn"),
                               layers.Dense(3, activation="softmax", name="out")])
    ours, theirs = twins(keras, classifier, loss="sparse_categorical_crossentropy", metrics=["acc"])
    xs, ys = rng.normal(size=(10, 4, 3)).astype("float32"), rng.integers(0, 3, 10)
    weights = {0: 0.5, 1: 3.0}  # class 2 is missing: it weighs 1, as Keras
    assert ours.train_on_batch(xs, ys, class_weight=weights) == pytest.approx(
        theirs.train_on_batch(xs, ys, class_weight=weights), rel=1e-6)
    assert_weights_close(ours, theirs)
    by_sample = np.array([weights.get(c, 1.0) for c in ys])
    assert ours.evaluate(xs, ys, class_weight=weights, verbose=0) == \
        ours.evaluate(xs, ys, sample_weight=by_sample, verbose=0)


def test_on_batch_methods_and_calls_match_keras(keras):
    ours, theirs = twins(keras, tagger, loss="sparse_categorical_crossentropy", metrics=["acc"])
    x, y = tagged(seed=2)
    np.testing.assert_allclose(ours.predict_on_batch(x), theirs.predict_on_batch(x), atol=1e-6)
    np.testing.assert_array_equal(ours(x), ours.predict(x))
    assert ours.test_on_batch(x, y) == pytest.approx(theirs.test_on_batch(x, y), rel=1e-6)
    assert ours.train_on_batch(x, y, return_dict=True) == pytest.approx(
        theirs.train_on_batch(x, y, return_dict=True), rel=1e-6)
    assert_weights_close(ours, theirs)
    ours.compile("sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(ours.evaluate(x, y, verbose=0), float) and isinstance(ours.train_on_batch(x, y), float)


def small_model(seed=0):
    utils.set_random_seed(seed)
    model = Sequential([L.LSTM(4, input_shape=(5, 2)), L.Dense(1)])
    model.compile(optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def regression(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5, 2))
    return x, x.sum(axis=(1, 2))[:, None] * 0.1


def endless(x, y, size):
    """A Keras 2 style generator: batches in order, forever."""
    while True:
        for start in range(0, len(x), size):
            yield x[start:start + size], y[start:start + size]


class Batches:
    """A keras.utils.Sequence: len() batches, batch i by index, on_epoch_end after each epoch."""

    def __init__(self, x, y, size):
        self.x, self.y, self.size, self.ended = x, y, size, 0

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        return self.x[i * self.size:(i + 1) * self.size], self.y[i * self.size:(i + 1) * self.size]

    def on_epoch_end(self):
        self.ended += 1


def test_generators_and_sequences_train_as_the_same_arrays():
    x, y = regression(30, 0)
    xv, yv = regression(11, 1)
    reference = small_model()
    want = reference.fit(x, y, batch_size=8, epochs=3, shuffle=False, validation_data=(xv, yv), verbose=0).history
    generated = small_model()
    got = generated.fit(endless(x, y, 8), steps_per_epoch=4, epochs=3, validation_data=endless(xv, yv, 8),
                        validation_steps=2, verbose=0).history
    sequence, batches = small_model(), Batches(x, y, 8)
    from_sequence = sequence.fit(batches, epochs=3, shuffle=False, validation_data=Batches(xv, yv, 8), verbose=0)
    assert got == want and from_sequence.history == want and batches.ended == 3
    for model in (generated, sequence):
        for a, b in zip(model.get_weights(), reference.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert reference.evaluate(Batches(xv, yv, 4), verbose=0) == pytest.approx(
        reference.evaluate(xv, yv, batch_size=4, verbose=0), rel=1e-12)
    np.testing.assert_array_equal(reference.predict(Batches(xv, yv, 4)), reference.predict(xv, batch_size=4))
    data = np.arange(60, dtype=float).reshape(30, 2) / 30  # an iterable with len(): windows of a series
    windows = utils.timeseries_dataset_from_array(data, data[5:, :1], sequence_length=5, batch_size=8)
    arrays = [np.concatenate(part) for part in zip(*windows)]
    assert reference.evaluate(windows, verbose=0) == pytest.approx(
        reference.evaluate(*arrays, batch_size=8, verbose=0), rel=1e-12)
    assert len(reference.fit(windows, epochs=2, verbose=0).history["loss"]) == 2


def test_keras2_generator_methods():
    x, y = regression(16, 2)
    reference, model = small_model(), small_model()
    want = reference.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    with pytest.warns(DeprecationWarning, match="fit_generator"):
        got = model.fit_generator(endless(x, y, 4), steps_per_epoch=4, epochs=2, verbose=0).history
    assert got == want
    with pytest.warns(DeprecationWarning, match="evaluate_generator"):
        assert model.evaluate_generator(endless(x, y, 4), steps=4) == model.evaluate(x, y, batch_size=4, verbose=0)
    with pytest.warns(DeprecationWarning, match="predict_generator"):
        np.testing.assert_array_equal(model.predict_generator((x[i:i + 4] for i in range(0, 16, 4)), steps=4),
                                      model.predict(x, batch_size=4))


def test_a_generator_that_runs_out_stops_training_with_a_warning():
    x, y = regression(12, 3)
    model = small_model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(iter([(x[:4], y[:4])] * 3), steps_per_epoch=2, epochs=5, verbose=0)
    assert history.epoch == [0, 1]  # 2 batches, then 1 and the end of the data
    with pytest.warns(UserWarning, match="ran out of data"):
        history = small_model().fit(iter([(x[:4], y[:4]), (x[4:], y[4:])]), epochs=3, verbose=0)
    assert history.epoch == [0]

    class Empty:  # re-iterable but empty: cycling it for steps_per_epoch must not spin forever
        def __iter__(self):
            return iter(())
    with pytest.warns(UserWarning, match="ran out of data"):
        assert small_model().fit(Empty(), steps_per_epoch=2, epochs=2, verbose=0).epoch == []


def test_fit_checks_the_arrays_once(monkeypatch):
    x, y = regression(40, 4)
    checked = []
    inputs = Trainer._inputs

    def counting(self, data):
        checked.append(len(data))
        return inputs(self, data)

    monkeypatch.setattr(Trainer, "_inputs", counting)
    small_model().fit(x, y, batch_size=4, epochs=3, validation_split=0.25, verbose=0)
    assert checked == [40]  # not once per batch: the arrays are sliced after one check


def test_sequential_get_layer_pop_and_json():
    utils.set_random_seed(5)
    model = Sequential([L.Embedding(9, 4, mask_zero=True), L.LSTM(5), L.Dense(2, activation="softmax")])
    lstm = model.get_layer(index=1)
    assert isinstance(lstm, L.LSTM) and model.get_layer(lstm.name) is lstm and model.output_shape == (None, 2)
    head = model.pop()
    assert isinstance(head, L.Dense) and model.output_shape == (None, 5) and len(model.layers) == 2
    model.add(L.Dense(3, activation="sigmoid"))
    x = tagged(4)[0]
    assert model.predict(x).shape == (4, 3)
    twin = model_from_json(model.to_json())
    assert isinstance(twin, Sequential)
    assert [layer.get_config() for layer in twin.layers] == [layer.get_config() for layer in model.layers]
    twin.set_weights(model.get_weights())
    np.testing.assert_array_equal(twin.predict(x), model.predict(x))
    assert isinstance(model, Model)
    empty = Sequential()
    with pytest.raises(TypeError, match="no layers to pop"):
        empty.pop()


def test_several_outputs_report_keras_names_and_order():
    utils.set_random_seed(6)
    a = fastrnn.Input(shape=(5, 2), name="a")
    h = L.LSTM(4, name="rnn")(a)
    model = Model(a, [L.Dense(1, name="value")(h), L.Dense(3, activation="softmax", name="kind")(h)])
    model.compile("adam", loss=["mse", "sparse_categorical_crossentropy"], metrics={"kind": ["acc"]},
                  loss_weights=[2.0, 1.0])
    x, y = regression(9, 7)
    labels = np.arange(9) % 3
    history = model.fit(x, [y, labels], epochs=1, validation_split=0.3, verbose=0).history
    assert list(history) == ["loss", "kind_acc", "value_loss", "kind_loss", "val_loss", "val_kind_acc",
                             "val_value_loss", "val_kind_loss"]
    logs = model.evaluate(x, [y, labels], verbose=0, return_dict=True)
    assert model.evaluate(x, [y, labels], verbose=0) == [logs[k] for k in ("loss", "value_loss", "kind_loss",
                                                                         "kind_acc")]
    assert logs["loss"] == pytest.approx(2 * logs["value_loss"] + logs["kind_loss"])
    assert model.metrics_names == list(logs)


@pytest.mark.parametrize("call, problem", [
    (lambda m, x, y: m.fit(endless(x[:, :, :1], y, 4), steps_per_epoch=2, verbose=0),
     r"fit: batch 0 of the generator: model '\w+' expects input of shape \(None, 5, 2\), got data of shape "
     r"\(4, 5, 1\)"),
    (lambda m, x, y: m.fit(iter([[x[:4], y[:4]]]), verbose=0), "must be a tuple"),
    (lambda m, x, y: m.fit(endless(x, y, 4), y, steps_per_epoch=2, verbose=0), "'y' and 'sample_weight' must be None"),
    (lambda m, x, y: m.fit(x, y, class_weight={0: 1.0, 3: 2.0}, verbose=0), "class 3 is not a class"),
    (lambda m, x, y: m.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(len(x)), verbose=0),
     "either 'sample_weight' or 'class_weight'"),
    (lambda m, x, y: m.fit(x, y, sample_weight=np.ones(len(x) - 1), verbose=0), "same number of samples"),
    (lambda m, x, y: m.fit(x, y, validation_data=endless(x, y, 4), verbose=0), "'validation_steps' is needed"),
    (lambda m, x, y: m.fit(endless(x, y, 4), steps_per_epoch=2, validation_split=0.2, verbose=0),
     "'validation_split' needs array data"),
    (lambda m, x, y: m.fit(x, y, batch_size=4, steps_per_epoch=9, verbose=0), "asks for 9 batches"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), "'batch_size' must be an int >= 1"),
    (lambda m, x, y: m.fit(x, [y, y], verbose=0), "has one output, but argument 'y' holds 2 arrays"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x,), verbose=0), "'validation_data' must be"),
    (lambda m, x, y: m.evaluate(x, None, verbose=0), "argument 'y' is None"),
])
def test_bad_inputs_are_clear_errors_before_any_work(call, problem):
    x, y = regression(12, 8)
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)  # built and trained once, so that nothing may change now
    before = model.get_weights()
    with pytest.raises(ValueError, match=problem):
        call(model, x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_stateful_metrics_per_output_match_keras(keras):
    def build(lib, layers):
        x = inputs = lib.Input(shape=(4, 3), name="seq")
        h = layers.LSTM(5, name="rnn")(x)
        return lib.Model(inputs, [layers.Dense(1, activation="sigmoid", name="flag")(h),
                                  layers.Dense(6, activation="softmax", name="kind")(h)])

    def compile_args(lib):
        # Keras names metric objects by a session-wide count: its twins are named as ours are
        named = (lambda name: {}) if lib is fastrnn.metrics else (lambda name: {"name": name})
        return dict(loss={"flag": "binary_crossentropy", "kind": "categorical_crossentropy"},
                    metrics={"flag": ["auc", "precision", lib.AUC(curve="PR", num_thresholds=40, **named("auc"))],
                             "kind": ["top_k_categorical_accuracy",
                                      lib.TopKCategoricalAccuracy(k=2, **named("top_k_categorical_accuracy")),
                                      lib.Recall(class_id=1, **named("recall"))]},
                    weighted_metrics={"flag": ["recall"], "kind": [lib.Precision(top_k=1, **named("precision"))]})
    utils.set_random_seed(4)
    ours, theirs = build(fastrnn, L), build(keras, keras.layers)
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizers.SGD(0.3), **compile_args(fastrnn.metrics))
    theirs.compile(keras.optimizers.SGD(0.3), **compile_args(keras.metrics))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4, 3)).astype("float32")
    flag = (x[:, :, 0].sum(axis=1, keepdims=True) > 0).astype("float32")
    kind = np.eye(6, dtype="float32")[rng.integers(0, 6, 40)]  # 6 classes: k=5 of the default
    sw = rng.uniform(0.2, 2.0, 40)
    want = theirs.evaluate(x, [flag, kind], sample_weight=sw, batch_size=6, verbose=0, return_dict=True)
    got = ours.evaluate(x, [flag, kind], sample_weight=sw, batch_size=6, verbose=0, return_dict=True)
    assert sorted(got) == sorted(want)
    assert {"flag_auc_1", "kind_top_k_categorical_accuracy_1", "kind_recall", "flag_recall",
            "kind_precision"} <= set(got)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(ours.evaluate(x, [flag, kind], sample_weight=sw, batch_size=6, verbose=0),
                               theirs.evaluate(x, [flag, kind], sample_weight=sw, batch_size=6, verbose=0),
                               rtol=1e-5, atol=1e-6)
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, validation_split=0.25, sample_weight=sw)
    mine = ours.fit(x, [flag, kind], **fit).history
    keras_history = theirs.fit(x, [flag, kind], **fit).history
    assert sorted(mine) == sorted(keras_history)
    for key in keras_history:
        np.testing.assert_allclose(mine[key], keras_history[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert_weights_close(ours, theirs)


class Logs(fastrnn.callbacks.Callback):
    """Keeps the logs of the last training batch, of each epoch and of the last evaluate."""

    def __init__(self):
        self.batch, self.epochs, self.test = None, [], None

    def on_train_batch_end(self, batch, logs=None):
        self.batch = dict(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs))

    def on_test_end(self, logs=None):
        self.test = dict(logs)


def test_stateful_metrics_of_per_step_outputs_weigh_the_mask():
    # Keras counts padded steps in AUC, precision and recall (it masks only mean metrics); fastrnn
    # weighs them 0, as the loss does
    utils.set_random_seed(5)
    model = Sequential([fastrnn.Input(shape=(6,)), L.Embedding(9, 4, mask_zero=True), L.LSTM(5, return_sequences=True),
                        L.Dense(1, activation="sigmoid")])
    model.compile(optimizers.SGD(0.2), loss="binary_crossentropy", metrics=["auc", "precision"],
                  weighted_metrics=[fastrnn.metrics.Recall(thresholds=[0.4, 0.6])])
    x, tags = tagged(16, seed=4)
    y = (tags[..., None] == 1).astype("float32")
    weight = np.random.default_rng(4).uniform(0.2, 2.0, x.shape)
    logs = Logs()
    history = model.fit(x, y, sample_weight=weight, batch_size=5, epochs=2, shuffle=False, verbose=0,
                        callbacks=[logs]).history
    # the epoch's logs, the last batch's and History agree: every batch updates the epoch's metrics
    assert logs.epochs[-1] == {k: v[-1] for k, v in history.items()}
    assert logs.batch["auc"] == history["auc"][-1]
    got = model.evaluate(x, y, sample_weight=weight, batch_size=5, verbose=0, return_dict=True, callbacks=[logs])
    assert logs.test == got
    p, mask = model.predict(x, verbose=0), x != 0
    auc, precision = fastrnn.metrics.AUC(), fastrnn.metrics.Precision()
    recall, unmasked = fastrnn.metrics.Recall(thresholds=[0.4, 0.6]), fastrnn.metrics.AUC()
    auc.update_state(y, p, sample_weight=mask)
    precision.update_state(y, p, sample_weight=mask)
    recall.update_state(y, p, sample_weight=weight * mask)
    unmasked.update_state(y, p)
    assert got["auc"] == pytest.approx(auc.result(), rel=1e-6) and got["auc"] != pytest.approx(unmasked.result())
    assert got["precision"] == pytest.approx(precision.result(), rel=1e-6)
    np.testing.assert_allclose(got["recall"], recall.result(), rtol=1e-6)


def test_class_weight_needs_one_label_per_sample():
    model = tagger(fastrnn, L)
    model.compile("sgd", loss="sparse_categorical_crossentropy")
    x, y = tagged()
    with pytest.raises(ValueError, match="one per step.*sample_weight of shape"):
        model.fit(x, y, class_weight={0: 1.0}, verbose=0)


MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=str(Path(sys.executable).parent))
RANK_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastrnn
    from fastrnn import layers as L, utils
    from fastrnn.models import Sequential
    out, distributed = sys.argv[1], sys.argv[2] == "mpi"
    fastrnn.set_num_threads(1)
    utils.set_random_seed(0)
    strategy = None
    if distributed:
        from fastrnn.distribute import MPIStrategy
        strategy = MPIStrategy(timeout=120)
    rng = np.random.default_rng(1)
    x = rng.integers(1, 20, (30, 7))
    x[np.arange(7) < rng.integers(0, 7, 30)[:, None]] = 0  # uneven padding: shards hold unequal valid steps
    y = rng.integers(0, 3, (30, 7))
    model = Sequential([L.Embedding(20, 4, mask_zero=True, dtype="float64"),
                        L.LSTM(5, return_sequences=True, dtype="float64"),
                        L.Dense(3, activation="softmax", dtype="float64")])
    model.compile("adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, verbose=0, distribute=strategy)
    rank = 0 if strategy is None else strategy.rank
    np.savez(f"{out}-{rank}.npz", *model.get_weights(), history=json.dumps(history.history))
""")


@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
                    reason='needs mpi4py and mpiexec: pip install "fastrnn[mpi]"')
def test_ranks_weigh_masked_per_step_losses_as_one_process(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(fastrnn.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    for command in ([sys.executable, str(script), str(tmp_path / "one"), "single"],
                    [MPIEXEC, "-n", "2", sys.executable, str(script), str(tmp_path / "two"), "mpi"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    one, two = np.load(tmp_path / "one-0.npz"), np.load(tmp_path / "two-0.npz")
    for key in one.files:
        if key != "history":
            np.testing.assert_allclose(two[key], one[key], rtol=0, atol=1e-12)
    want, got = json.loads(str(one["history"])), json.loads(str(two["history"]))
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12)
