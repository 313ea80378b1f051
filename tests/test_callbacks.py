"""Callbacks in real fit runs of a small Sequential model and against Keras 3's callbacks driven
with the same logs: ReduceLROnPlateau, LearningRateScheduler, CSVLogger (byte for byte, append,
separator, whole files), LambdaCallback, TerminateOnNaN, ModelCheckpoint (save_weights_only,
save_freq, filename formatting) and Keras 2's on_batch_* hooks."""
import csv
import os
import warnings

import numpy as np
import pytest

from fastrnn import callbacks, optimizers, utils
from fastrnn.layers import Dense
from fastrnn.models import Sequential

# Keras' torch backend converts tensors with np.array(x, copy=False), which NumPy 2 warns about
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the comparisons with Keras 3 need keras (torch backend)")


def linear_problem(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, x @ np.array([[1.0], [-2.0], [0.5]], np.float32)


def small_model(optimizer=None, seed=0):
    utils.set_random_seed(seed)
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer=optimizer or optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


class Stub:
    """A stand-in model: an optimizer, stop_training, and save/save_weights that record calls."""

    def __init__(self, optimizer=None):
        self.optimizer, self.stop_training, self.saved = optimizer, False, []

    def save(self, path):
        self.saved.append(("save", path))

    def save_weights(self, path):
        self.saved.append(("save_weights", path))


VAL_LOSSES = [1.0, 0.9, 0.895, 0.9, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91, 0.5, 0.6, 0.7]


@pytest.mark.parametrize("kwargs", [
    {"factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.01, "min_delta": 0.01},
    {"factor": 0.1, "patience": 1},
    {"monitor": "val_acc", "factor": 0.5, "patience": 1, "mode": "max"},
])
def test_reduce_lr_on_plateau_follows_keras(keras, kwargs):
    ours, theirs = Stub(optimizers.SGD(0.1)), Stub(keras.optimizers.SGD(0.1))
    mine, reference = callbacks.ReduceLROnPlateau(**kwargs), keras.callbacks.ReduceLROnPlateau(**kwargs)
    mine.set_model(ours)
    reference.set_model(theirs)
    mine.on_train_begin()
    reference.on_train_begin()
    monitor = kwargs.get("monitor", "val_loss")
    for epoch, value in enumerate(VAL_LOSSES):
        logs, keras_logs = {monitor: value}, {monitor: value}
        mine.on_epoch_end(epoch, logs)
        reference.on_epoch_end(epoch, keras_logs)
        assert logs["learning_rate"] == pytest.approx(keras_logs["learning_rate"], rel=1e-6)
        assert ours.optimizer.learning_rate == pytest.approx(
            float(keras.ops.convert_to_numpy(theirs.optimizer.learning_rate)), rel=1e-6)
    assert ours.optimizer.learning_rate < 0.1  # it did reduce


def test_reduce_lr_on_plateau_in_fit():
    x, y = linear_problem()
    model = small_model(optimizers.SGD(0.05))
    rates = []
    track = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: rates.append(logs["learning_rate"]))
    # min_delta larger than any change: after the first epoch nothing counts as an improvement
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=1e6, min_lr=0.01)
    model.fit(x, y, epochs=7, batch_size=16, verbose=0, callbacks=[plateau, track])
    assert rates == pytest.approx([0.05, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125])
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    with pytest.raises(ValueError, match="monitors 'val_loss', which is not in the logs"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ReduceLROnPlateau()])
    with pytest.raises(ValueError, match="'factor' must be a number in \\[0, 1\\)"):
        callbacks.ReduceLROnPlateau(factor=1.0)


@pytest.mark.parametrize("schedule", [lambda epoch: 0.1 * 0.5 ** epoch, lambda epoch, lr: lr * 0.5 if epoch else 0.1])
def test_learning_rate_scheduler_drives_the_updates(schedule):
    x, y = linear_problem()
    scheduled = small_model(optimizers.SGD(0.3))
    scheduled.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                  callbacks=[callbacks.LearningRateScheduler(schedule)])
    by_hand = small_model(optimizers.SGD(0.3))
    for epoch in range(3):  # the same epochs, the rate set by hand
        by_hand.optimizer.learning_rate = 0.1 * 0.5 ** epoch
        by_hand.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(scheduled.get_weights(), by_hand.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert scheduled.optimizer.learning_rate == pytest.approx(0.025)


def test_learning_rate_scheduler_logs_and_errors():
    x, y = linear_problem()
    model = small_model()
    seen = []
    sched = callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[sched, callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(logs["learning_rate"]))])
    assert seen == pytest.approx([0.01, 0.02])
    with pytest.raises(ValueError, match="must return a number, got 'fast'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda epoch: "fast")])
    with pytest.raises(ValueError, match="'schedule' must be a function"):
        callbacks.LearningRateScheduler(0.1)


def read_csv(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_in_fit(tmp_path):
    x, y = linear_problem()
    path = tmp_path / "log.csv"
    model = small_model()
    rows_seen = []

    class Peek(callbacks.Callback):  # after CSVLogger: the file is whole at each epoch's end
        def on_epoch_end(self, epoch, logs=None):
            rows_seen.append(len(read_csv(path)))

    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[callbacks.CSVLogger(path), Peek()])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2] and rows_seen == [2, 3, 4]
    np.testing.assert_allclose([float(r[3]) for r in rows[1:]], history.history["val_loss"], rtol=1e-12)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    rows = read_csv(path)
    assert len(rows) == 6 and rows[0][0] == "epoch" and [r[0] for r in rows[4:]] == ["0", "1"]
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]  # no temporaries left
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, separator=";")])
    assert read_csv(path, ";") == [["epoch", "loss", "mae", "val_loss", "val_mae"], read_csv(path, ";")[1]]
    assert read_csv(path, ";")[1][3:] == ["NA", "NA"]  # Keras' val_ columns without validation
    with pytest.raises(ValueError, match="'separator' must be one character"):
        callbacks.CSVLogger(path, separator="::")


def test_csv_logger_writes_keras_bytes(keras, tmp_path):
    epochs = [{"loss": 0.5, "acc": 0.25, "val_loss": 0.75, "val_acc": 0.125},
              {"loss": 0.25, "acc": 0.5, "val_loss": 0.5, "val_acc": 0.375}]
    for append in (False, True):
        for logger in (callbacks.CSVLogger(tmp_path / "ours.csv", append=append),
                       keras.callbacks.CSVLogger(str(tmp_path / "keras.csv"), append=append)):
            logger.on_train_begin()
            for epoch, logs in enumerate(epochs):
                logger.on_epoch_end(epoch, dict(logs))
            logger.on_train_end()
        assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "keras.csv").read_bytes()


def test_lambda_callback_and_keras_2_batch_hooks():
    x, y = linear_problem(32)
    model = small_model()
    calls = []
    hooks = callbacks.LambdaCallback(on_train_begin=lambda logs: calls.append("begin"),
                                     on_epoch_begin=lambda epoch, logs: calls.append(("epoch", epoch)),
                                     on_batch_end=lambda batch, logs: calls.append(("batch", batch)),
                                     on_train_end=lambda logs: calls.append("end"))

    class Keras2(callbacks.Callback):  # classic code overrides on_batch_begin
        def on_batch_begin(self, batch, logs=None):
            calls.append(("keras2", batch))

    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[hooks, Keras2()])
    assert calls == ["begin", ("epoch", 0), ("keras2", 0), ("batch", 0), ("keras2", 1), ("batch", 1),
                     ("epoch", 1), ("keras2", 0), ("batch", 0), ("keras2", 1), ("batch", 1), "end"]
    with pytest.raises(TypeError, match="'on_epoch_middle' is not a callback hook"):
        callbacks.LambdaCallback(on_epoch_middle=print)
    with pytest.raises(ValueError, match="on_epoch_end must be a function"):
        callbacks.LambdaCallback(on_epoch_end=3)


def test_terminate_on_nan_in_fit():
    x, y = linear_problem()
    model = small_model(optimizers.SGD(1e4))  # diverges to inf, then nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the overflow itself
        history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
        assert len(history.epoch) < 20 and not np.isfinite(history.history["loss"][-1])
        model = small_model(optimizers.SGD(1e4))
        with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch"):
            model.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[callbacks.TerminateOnNaN(raise_error=True)])
    stub = Stub()
    guard = callbacks.TerminateOnNaN()
    guard.set_model(stub)
    guard.on_train_batch_end(0, {"loss": 1.5})
    assert not stub.stop_training
    guard.on_train_batch_end(1, {"loss": float("nan")})
    assert stub.stop_training


def test_model_checkpoint_saves_weights_with_keras_file_names(tmp_path):
    stub = Stub()
    every = callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}-{val_loss:.2f}.npz"), save_weights_only=True)
    best = callbacks.ModelCheckpoint(tmp_path / "sub" / "best.npz", save_weights_only=True, save_best_only=True,
                                     initial_value_threshold=0.85)
    for cb in (every, best):
        cb.set_model(stub)
        cb.on_train_begin()
    for epoch, val_loss in enumerate([0.9, 0.5, 0.7, 0.25]):
        for cb in (every, best):
            cb.on_epoch_begin(epoch)
            cb.on_epoch_end(epoch, {"loss": 1.0, "val_loss": val_loss})
    assert stub.saved == [("save_weights", str(tmp_path / "w-01-0.90.npz")),
                          ("save_weights", str(tmp_path / "w-02-0.50.npz")),
                          ("save_weights", str(tmp_path / "sub" / "best.npz")),  # 0.9 did not beat 0.85
                          ("save_weights", str(tmp_path / "w-03-0.70.npz")),
                          ("save_weights", str(tmp_path / "w-04-0.25.npz")),
                          ("save_weights", str(tmp_path / "sub" / "best.npz"))]
    assert (tmp_path / "sub").is_dir()  # folders are made, as Keras makes them
    with pytest.raises(KeyError, match="cannot format the filepath"):
        every.on_epoch_end(4, {"loss": 1.0})
    with pytest.raises(ValueError, match="'save_freq' must be 'epoch' or an int"):
        callbacks.ModelCheckpoint("x.npz", save_freq="batch")


def test_model_checkpoint_every_n_batches_in_fit(tmp_path):
    x, y = linear_problem(48)

    class Recording(Sequential):  # save_weights as a model will have it: records the calls
        saved = []

        def save_weights(self, path):
            self.saved.append(path)

    utils.set_random_seed(0)
    model = Recording([Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    pattern = str(tmp_path / "e{epoch}-b{batch}.npz")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,  # 3 batches an epoch, a save every 2 (across epochs)
              callbacks=[callbacks.ModelCheckpoint(pattern, save_weights_only=True, save_freq=2)])
    assert model.saved == [str(tmp_path / n) for n in ("e1-b2.npz", "e2-b1.npz", "e2-b3.npz")]
