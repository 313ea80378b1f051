"""model.save_weights / load_weights (fastrnn's format and Keras 3's .weights.h5), model.save to
".keras" and load_model's dispatch on the file name; names fastrnn cannot honour are errors."""
import numpy as np
import pytest

from fastrnn.layers import GRU, LSTM, Dense, Embedding
from fastrnn.models import Sequential, load_model


def model_pair(units=6):
    models = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        model = Sequential([Embedding(30, 4), LSTM(units, return_sequences=True), GRU(5), Dense(1, activation="sigmoid")])
        model.build((None, 7))
        model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
        models.append(model)
    return models


X = np.random.default_rng(2).integers(0, 30, (5, 7))


@pytest.mark.parametrize("name", ["w.npz", "w.weights.npz", "w"])
def test_own_format_round_trip(tmp_path, name):
    a, b = model_pair()
    a.save_weights(tmp_path / name)
    assert not np.allclose(a.predict(X), b.predict(X))
    b.load_weights(tmp_path / name)
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_load_weights_reads_a_whole_model_file_and_checks_before_writing(tmp_path):
    a, b = model_pair()
    a.compile(optimizer="adam", loss="binary_crossentropy")
    a.save(tmp_path / "model.npz")
    b.load_weights(tmp_path / "model.npz")
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    small, _ = model_pair(units=3)
    before = small.get_weights()
    with pytest.raises(ValueError, match="layer 'lstm.*shape"):
        small.load_weights(tmp_path / "model.npz")
    for w, v in zip(small.get_weights(), before):  # nothing half-loaded
        np.testing.assert_array_equal(w, v)
    with pytest.warns(UserWarning, match="skipped"):
        small.load_weights(tmp_path / "model.npz", skip_mismatch=True)
    np.testing.assert_array_equal(small.layers[0].get_weights()[0], a.layers[0].get_weights()[0])
    np.testing.assert_array_equal(small.layers[1].get_weights()[0], before[1])


def test_weights_file_is_not_a_model_and_bad_files_are_clear(tmp_path):
    a, _ = model_pair()
    a.save_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="weights only"):
        load_model(tmp_path / "w.npz")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match="not a fastrnn weights file"):
        a.load_weights(tmp_path / "bad.npz")


@pytest.mark.parametrize("call,name,match", [
    ("save", "m.h5", "weights.h5"), ("save_weights", "m.h5", "weights.h5"), ("save", "m.weights.h5", "save_weights"),
    ("save_weights", "m.keras", "model.save"),
])
def test_names_fastrnn_cannot_honour_are_errors_that_write_nothing(tmp_path, call, name, match):
    a, _ = model_pair()
    with pytest.raises(ValueError, match=match):
        getattr(a, call)(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_keras_files_through_the_model_methods(tmp_path):
    pytest.importorskip("h5py")
    a, b = model_pair()
    a.save_weights(tmp_path / "m.weights.h5")
    b.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    a.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    a.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(X), a.predict(X), atol=1e-7)
    assert loaded.loss is not None
    _, c = model_pair()
    c.load_weights(tmp_path / "m.keras")
    np.testing.assert_allclose(c.predict(X), a.predict(X), atol=1e-7)


def test_metric_objects_are_stored_and_functions_left_out_with_a_warning(tmp_path):
    from fastrnn import metrics
    a, _ = model_pair()
    y = np.arange(len(X)) % 2

    def custom(y_true, y_pred):
        return np.abs(y_true - y_pred[..., 0])

    a.compile(optimizer="adam", loss="binary_crossentropy",
              metrics=["acc", metrics.AUC(num_thresholds=50, name="roc"), metrics.Precision(thresholds=0.3), custom])
    with pytest.warns(UserWarning, match="custom"):
        a.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    got = loaded.evaluate(X, y, verbose=0, return_dict=True)
    want = a.evaluate(X, y, verbose=0, return_dict=True)
    assert set(got) == set(want) - {"custom"} and {"roc", "precision"} <= set(got)
    for key in got:
        assert got[key] == pytest.approx(want[key], rel=1e-6)
    with pytest.raises(ValueError, match="cannot be stored"):
        metrics.serialize(metrics.MeanMetricWrapper(custom))
