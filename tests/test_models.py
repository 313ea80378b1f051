"""Sequential end to end: the issue's workflow (compile/fit/evaluate/predict, History keys),
reproducibility, frozen pretrained embeddings, config round-trip, save/load (including an
interrupted save and foreign or corrupt files), clear errors, and a model that must learn."""
import numpy as np
import pytest

from fastrnn import utils
from fastrnn.examples import memory
from fastrnn.layers import LSTM, Dense, Embedding, SimpleRNN
from fastrnn.models import Sequential, load_model
from fastrnn.optimizers import Adam


def text_data(n=96, steps=12, seed=0):
    """Integer sequences whose label says whether token 1 occurs (learnable in a few epochs)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(2, 50, (n, steps))
    y = rng.integers(0, 2, n)
    x[y == 1, rng.integers(0, steps, int(y.sum()))] = 1
    return x, y


def issue_model(vocab=50):
    model = Sequential()
    model.add(Embedding(vocab, 8))
    model.add(SimpleRNN(8, return_sequences=True))
    model.add(LSTM(8))
    model.add(Dense(1, activation="sigmoid"))
    return model


@pytest.mark.parametrize("metric", ["acc", "accuracy"])
def test_issue_workflow(metric):
    utils.set_random_seed(0)
    x, y = text_data()
    model = issue_model()
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=[metric])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", metric, "val_loss", "val_" + metric}
    assert all(len(v) == 3 for v in history.history.values()) and history.epoch == [0, 1, 2]
    assert all(0 <= a <= 1 for a in history.history["val_" + metric])
    loss, acc = model.evaluate(x[72:], y[72:], verbose=0)
    assert loss == pytest.approx(history.history["val_loss"][-1]) and acc == history.history["val_" + metric][-1]
    assert model.predict(x[:5]).shape == (5, 1)


def test_validation_data_and_initial_epoch():
    x, y = text_data()
    model = issue_model()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=3, initial_epoch=1, validation_data=(x[:10], y[:10]), verbose=0)
    assert history.epoch == [1, 2] and set(history.history) == {"loss", "val_loss"}
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_seeded_runs_are_reproducible():
    runs = []
    for _ in range(2):
        utils.set_random_seed(3)
        x, y = text_data()
        model = issue_model()
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["acc"])
        runs.append(model.fit(x, y, epochs=2, batch_size=16, verbose=0).history)
    assert runs[0] == runs[1]


def test_frozen_pretrained_embedding_does_not_move():
    x, y = text_data()
    model = issue_model()
    matrix = np.random.default_rng(1).normal(size=(50, 8))
    model.layers[0].set_weights([matrix])
    model.layers[0].trainable = False
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    after = model.get_weights()
    np.testing.assert_allclose(after[0], matrix.astype(np.float32))
    assert not np.allclose(after[1], before[1])


def test_config_round_trip():
    model = issue_model()
    twin = Sequential.from_config(model.get_config())
    assert [layer.get_config() for layer in twin.layers] == [layer.get_config() for layer in model.layers]
    twin.set_weights(model.get_weights())
    x, _ = text_data(4)
    np.testing.assert_array_equal(twin.predict(x), model.predict(x))


def test_save_load_round_trip_restores_weights_and_optimizer(tmp_path):
    x, y = text_data()
    model = issue_model()
    model.compile(optimizer=Adam(0.01), loss="binary_crossentropy", metrics=["acc"])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert loaded.loss.name == "binary_crossentropy" and loaded._metric_specs == ["acc"]
    model.train_on_batch(x[:16], y[:16])  # the same next step from the restored Adam moments
    loaded.train_on_batch(x[:16], y[:16])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary files left


def test_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    model = issue_model()
    path = tmp_path / "model.npz"
    model.save(path)
    old = path.read_bytes()
    writes = []

    def failing_write(*args, **kwargs):
        writes.append(1)
        if len(writes) == 2:
            raise KeyboardInterrupt("interrupted mid-save")
        return real_write(*args, **kwargs)

    real_write = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    monkeypatch.undo()
    assert load_model(path).count_params() == model.count_params()


def test_foreign_and_corrupt_files_are_clear_errors(tmp_path):
    foreign = tmp_path / "other.npz"
    np.savez(foreign, a=np.zeros(3))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    truncated = tmp_path / "cut.npz"
    issue_model().save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    for path in (foreign, text, truncated):
        with pytest.raises(ValueError, match="not a fastrnn model file"):
            load_model(path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")


def test_clear_errors():
    x, y = text_data()
    model = issue_model()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y)
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        model.compile(optimizer="adamax", loss="mse")
    with pytest.raises(ValueError, match="unknown loss 'poisson'"):
        model.compile(loss="poisson")
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        model.compile(loss="mse", metrics=["f1"])
    model.compile(loss="binary_crossentropy")
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match=r"targets of shape \(32, 2\) do not match model outputs of shape \(32, 1\)"):
        model.fit(x, np.zeros((96, 2)), verbose=0)
    rows = Sequential([LSTM(4, input_shape=(28, 28)), Dense(10, activation="softmax")])
    rows.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 28, 28\)"):
        rows.fit(np.zeros((4, 28, 27)), np.zeros(4), verbose=0)


def test_lstm_learns_the_memory_task_and_simple_rnn_does_not():
    """The README demo at small size, seeded: at length 40 the LSTM reaches >= 0.9 test accuracy within
    8 epochs while the SimpleRNN stays near chance (0.25)."""
    results = memory.run(lengths=(40,), samples=3000, epochs=8, seed=0, plot="", out=lambda *a: None)
    rnn, lstm = results[40]
    assert max(lstm) >= 0.9
    assert max(rnn) < 0.4
