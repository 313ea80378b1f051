"""Keras 3's file formats (fastrnn.models.keras_format): .keras and .weights.h5 files written by
fastrnn open in Keras 3 with the same outputs and the config Keras itself writes, Keras' own
files load into fastrnn, optimizer state moves both ways, and hostile files are ValueErrors."""
import io
import json
import os
import struct
import sys
import warnings
import zipfile

import numpy as np
import pytest

from fastrnn import layers as F
from fastrnn import losses, optimizers
from fastrnn.models import Sequential, keras_compile, keras_config
from fastrnn.models.keras_format import keras_file_kind, load_keras, load_weights_h5, save_keras, save_weights_h5

h5py = pytest.importorskip("h5py", reason="Keras' file formats need h5py")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the comparisons with Keras 3 need keras (torch backend)")


def _ids(rng):
    x = rng.integers(1, 30, (5, 7))
    x[:3, :2] = 0  # left padding, masked by mask_zero
    return x


def _steps(rng):
    x = rng.standard_normal((5, 6, 3)).astype(np.float32)
    x[:2, :2] = 0  # whole steps of padding, masked by Masking
    return x


def _input(K, shape):
    return K.Input(batch_shape=(None,) + shape, name="input_layer")


# fastrnn layers, the same model in Keras 3, and its inputs
CASES = {
    "embedding_mask_zero": (
        lambda: [F.Embedding(30, 5, mask_zero=True, input_length=7, name="emb"), F.LSTM(4, name="rnn"),
                 F.Dense(1, activation="sigmoid", name="out")],
        lambda K: [_input(K, (7,)), K.layers.Embedding(30, 5, mask_zero=True, name="emb"), K.layers.LSTM(4, name="rnn"),
                   K.layers.Dense(1, activation="sigmoid", name="out")], _ids),
    "simple_rnn": (
        lambda: [F.SimpleRNN(4, activation="relu", return_sequences=True, input_shape=(6, 3), name="rnn"),
                 F.Dense(2, name="out")],
        lambda K: [_input(K, (6, 3)), K.layers.SimpleRNN(4, activation="relu", return_sequences=True, name="rnn"),
                   K.layers.Dense(2, name="out")], _steps),
    "lstm": (
        lambda: [F.LSTM(4, go_backwards=True, unit_forget_bias=False, recurrent_activation="hard_sigmoid",
                        input_shape=(6, 3), name="rnn")],
        lambda K: [_input(K, (6, 3)), K.layers.LSTM(4, go_backwards=True, unit_forget_bias=False,
                                                    recurrent_activation="hard_sigmoid", name="rnn")], _steps),
    "gru": (
        lambda: [F.GRU(3, return_sequences=True, input_shape=(6, 3), name="a"), F.GRU(2, reset_after=False, name="b")],
        lambda K: [_input(K, (6, 3)), K.layers.GRU(3, return_sequences=True, name="a"),
                   K.layers.GRU(2, reset_after=False, name="b")], _steps),
    "dense_flatten_dropout": (
        lambda: [F.Flatten(input_shape=(6, 3), name="flat"), F.Dropout(0.3, name="drop"),
                 F.Dense(5, activation="relu", name="hidden"), F.Dense(3, activation="softmax", name="out")],
        lambda K: [_input(K, (6, 3)), K.layers.Flatten(name="flat"), K.layers.Dropout(0.3, name="drop"),
                   K.layers.Dense(5, activation="relu", name="hidden"),
                   K.layers.Dense(3, activation="softmax", name="out")], _steps),
    "masking": (
        lambda: [F.Masking(mask_value=0.0, input_shape=(6, 3), name="mask"),
                 F.SimpleRNN(3, return_sequences=True, name="a"), F.LSTM(2, name="b")],
        lambda K: [_input(K, (6, 3)), K.layers.Masking(mask_value=0.0, name="mask"),
                   K.layers.SimpleRNN(3, return_sequences=True, name="a"), K.layers.LSTM(2, name="b")], _steps),
    "bidirectional": (  # zero_output_for_mask: what both wrappers set for a return_sequences layer
        lambda: [F.Bidirectional(F.LSTM(3, return_sequences=True, zero_output_for_mask=True, name="a"),
                                 input_shape=(6, 3), name="bi_a"),
                 F.Bidirectional(F.GRU(2, name="b"), merge_mode="ave", name="bi_b")],
        lambda K: [_input(K, (6, 3)), K.layers.Bidirectional(K.layers.LSTM(3, return_sequences=True, name="a"),
                                                             name="bi_a"),
                   K.layers.Bidirectional(K.layers.GRU(2, name="b"), merge_mode="ave", name="bi_b")], _steps),
}


def _fastrnn_model(case, rng):
    model = Sequential(CASES[case][0](), name="m")
    model.set_weights([rng.standard_normal(w.shape) * 0.5 for w in model.get_weights()])  # biases too
    return model


def _keras_model(keras, case, rng):
    model = keras.Sequential(CASES[case][1](keras), name="m")
    for w in model.weights:
        w.assign(rng.standard_normal(tuple(w.shape)).astype(np.float32) * 0.5)
    return model


@pytest.mark.parametrize("case", CASES)
def test_fastrnn_files_open_in_keras(keras, case, rng, tmp_path):
    model, x = _fastrnn_model(case, rng), CASES[case][2](rng)
    save_keras(model, tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                               model.predict(x), atol=1e-6)
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        written = json.loads(archive.read("config.json"))
    twin = keras.Sequential(CASES[case][1](keras), name="m")
    assert written == json.loads(json.dumps(keras.saving.serialize_keras_object(twin)))
    save_weights_h5(model, tmp_path / "m.weights.h5")
    twin.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x), atol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_keras_files_load_into_fastrnn(keras, case, rng, tmp_path):
    twin, x = _keras_model(keras, case, rng), CASES[case][2](rng)
    expected = twin.predict(x, verbose=0)
    twin.save(tmp_path / "k.keras")
    twin.save_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(load_keras(tmp_path / "k.keras").predict(x), expected, atol=1e-6)
    model = Sequential(CASES[case][0](), name="m")
    load_weights_h5(model, tmp_path / "k.weights.h5")
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_round_trip_through_keras_file(case, rng, tmp_path):
    model = _fastrnn_model(case, rng)
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    save_keras(model, tmp_path / "m.keras")
    loaded = load_keras(tmp_path / "m.keras")
    assert loaded.get_config() == model.get_config()
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert type(loaded.optimizer) is optimizers.Adam and loaded.optimizer.learning_rate == 0.01
    assert loaded.loss.name == "mean_squared_error" and loaded._metric_specs == ["mae"]


KERAS_OPTIMIZERS = {"adam_amsgrad": ("Adam", {"amsgrad": True}), "adamw": ("AdamW", {}), "nadam": ("Nadam", {}),
                    "rmsprop": ("RMSprop", {"momentum": 0.5, "centered": True}),
                    "sgd": ("SGD", {"momentum": 0.9}), "sgd_plain": ("SGD", {}), "adagrad": ("Adagrad", {})}


@pytest.mark.parametrize("name", KERAS_OPTIMIZERS)
def test_optimizer_state_moves_both_ways(keras, name, rng, tmp_path):
    """A step after loading equals Keras' next step only if the moments and step count came along."""
    cls, options = KERAS_OPTIMIZERS[name]
    x, y = rng.standard_normal((6, 5, 3)).astype(np.float32), rng.standard_normal((6, 2)).astype(np.float32)
    K = keras.layers
    twin = keras.Sequential([keras.Input((5, 3)), K.Bidirectional(K.GRU(3, return_sequences=True)), K.LSTM(4),
                             K.Dense(2)])
    twin.compile(optimizer=getattr(keras.optimizers, cls)(0.02, **options), loss="mse")
    for _ in range(2):
        twin.train_on_batch(x, y)
    twin.save(tmp_path / "k.keras")
    model = load_keras(tmp_path / "k.keras")
    twin.train_on_batch(x, y)
    model.train_on_batch(x, y)
    assert model.optimizer.iterations == 3
    for a, b in zip(model.get_weights(), twin.weights):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5)
    model.train_on_batch(x, y)
    save_keras(model, tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Keras warns when it skips optimizer variables
        twin = keras.models.load_model(tmp_path / "m.keras")
    twin.train_on_batch(x, y)
    model.train_on_batch(x, y)
    assert int(twin.optimizer.iterations.numpy()) == 5
    for a, b in zip(model.get_weights(), twin.weights):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5)


def test_compile_settings_move_both_ways(keras, rng, tmp_path):
    model = Sequential([F.LSTM(3, input_shape=(4, 2)), F.Dense(1)])
    model.compile(optimizer=optimizers.RMSprop(0.02, rho=0.8),
                  loss=losses.BinaryCrossentropy(from_logits=True), metrics=["acc"])
    save_keras(model, tmp_path / "m.keras")
    twin = keras.models.load_model(tmp_path / "m.keras")
    spec = twin.get_compile_config()
    assert spec["optimizer"]["class_name"] == "RMSprop" and spec["metrics"] == ["acc"]
    assert np.isclose(spec["optimizer"]["config"]["learning_rate"], 0.02) and spec["optimizer"]["config"]["rho"] == 0.8
    assert spec["loss"]["class_name"] == "BinaryCrossentropy" and spec["loss"]["config"]["from_logits"] is True
    twin.compile(optimizer=keras.optimizers.Adagrad(0.03), loss="huber", metrics=["mae"])
    twin.save(tmp_path / "k.keras")
    loaded = load_keras(tmp_path / "k.keras")
    assert type(loaded.optimizer) is optimizers.Adagrad and np.isclose(loaded.optimizer.learning_rate, 0.03)
    assert type(loaded.loss) is losses.Huber and loaded._metric_specs == ["mae"]
    twin.compile(optimizer="adam", loss="mse", metrics=[keras.metrics.AUC()])
    twin.save(tmp_path / "k.keras")
    with pytest.warns(UserWarning, match="uncompiled"):
        assert load_keras(tmp_path / "k.keras").loss is None
    assert load_keras(tmp_path / "m.keras", compile=False).loss is None
    model.compile(optimizer="adam", loss="mse", metrics=[lambda y, p: np.abs(y - p)])
    with pytest.warns(UserWarning, match="without its compile settings"):
        save_keras(model, tmp_path / "m.keras")
    assert keras.models.load_model(tmp_path / "m.keras").get_compile_config() == {}


def test_name_tables_match_keras(keras):
    for name, (cls, config) in keras_config.INITIALIZERS.items():
        assert keras.saving.serialize_keras_object(keras.initializers.get(name)) == {
            "module": "keras.initializers", "class_name": cls, "config": config, "registered_name": None}
    for name, _ in keras_compile.LOSSES.values():
        keras.losses.get(name)
    for name in keras_compile.METRICS:
        if name != "acc":  # compile alone resolves 'acc'
            keras.metrics.get(name)


def test_weights_h5_round_trip_with_optimizer_state(rng, tmp_path):
    model = _fastrnn_model("bidirectional", rng)
    model.compile(optimizer="adam", loss="mse")
    x, y = _steps(rng), rng.standard_normal((5, 2)).astype(np.float32)
    model.train_on_batch(x, y)
    save_weights_h5(model, tmp_path / "m.weights.h5")
    other = Sequential(CASES["bidirectional"][0](), name="m")
    other.compile(optimizer="adam", loss="mse")
    load_weights_h5(other, tmp_path / "m.weights.h5")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert other.optimizer.iterations == 1
    for mine, theirs in zip(other.optimizer.get_slots(other.weights), model.optimizer.get_slots(model.weights)):
        assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)


# hostile files
def _small_keras(tmp_path, rng):
    model = Sequential([F.Dense(3, input_shape=(4,), name="a"), F.Dense(2, name="b")], name="m")
    model.set_weights([rng.standard_normal(w.shape) for w in model.get_weights()])
    save_keras(model, tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        return model, {name: archive.read(name) for name in archive.namelist()}


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _h5(build):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        build(f)
    return buffer.getvalue()


def _with_config(members, edit):
    config = json.loads(members["config.json"])
    edit(config)
    return {**members, "config.json": json.dumps(config)}


def _declared_size(data, name, size):
    """The zip with `name`'s uncompressed size in its central directory entry set to `size`."""
    at = data.index(b"PK\x01\x02")
    while data[at + 46:at + 46 + len(name)] != name.encode():
        at = data.index(b"PK\x01\x02", at + 4)
    return data[:at + 24] + struct.pack("<I", size) + data[at + 28:]


def _wrong_shape(f):
    f["layers/dense/vars/0"] = np.zeros((4, 3), np.float32)
    f["layers/dense/vars/1"] = np.zeros(3, np.float32)
    f["layers/dense_1/vars/0"] = np.zeros((5, 2), np.float32)
    f["layers/dense_1/vars/1"] = np.zeros(2, np.float32)


def _soft_link(f):
    _wrong_shape(f)
    del f["layers/dense_1/vars/0"]
    f["layers/dense_1/vars/0"] = h5py.SoftLink("/layers/dense/vars/0")


def _deep(depth):
    return "[" * depth + "]" * depth


def _layer(config, key, value):
    config["config"]["layers"][1]["config"][key] = value


HOSTILE = {
    "not a zip": (lambda m, raw: b"not a zip file" * 100, "not a Keras 3 .keras file"),
    "first member cut off": (lambda m, raw: raw[100:], "not a Keras 3 .keras file"),
    "truncated zip": (lambda m, raw: raw[:len(raw) // 2], "not a Keras 3 .keras file"),
    "missing config.json": (lambda m, raw: {k: v for k, v in m.items() if k != "config.json"}, "no config.json"),
    "assets member": (lambda m, raw: {**m, "assets/vocab.txt": b"a"}, "unexpected member"),
    "huge config.json": (lambda m, raw: _declared_size(raw, "config.json", 0xFFFFFFF0), "declares"),
    "huge weights": (lambda m, raw: _declared_size(raw, "model.weights.h5", 0xFFFFFFF0), "declares"),
    "deep JSON": (lambda m, raw: {**m, "config.json": _deep(100)}, "deeper than"),
    "very deep JSON": (lambda m, raw: {**m, "config.json": _deep(100000)}, "recursion"),
    "wrong shape": (lambda m, raw: {**m, "model.weights.h5": _h5(_wrong_shape)}, "layer 'b': weight 'kernel'"),
    "soft link": (lambda m, raw: {**m, "model.weights.h5": _h5(_soft_link)}, "SoftLink"),
    "unknown layer class": (lambda m, raw: _with_config(m, lambda c: c["config"]["layers"][1].update(
        class_name="LayerNormalization")), "'LayerNormalization'"),
    "regularizer": (lambda m, raw: _with_config(m, lambda c: _layer(c, "kernel_regularizer", {"class_name": "L2"})),
                    "kernel_regularizer"),
    "functional model": (lambda m, raw: _with_config(m, lambda c: c.update(class_name="Functional")), "Sequential"),
    "wrong field type": (lambda m, raw: _with_config(m, lambda c: c["config"].update(layers={})), "config.layers"),
    "huge layer": (lambda m, raw: _with_config(m, lambda c: _layer(c, "units", 10 ** 9)), "more than"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_keras_files_are_value_errors(case, rng, tmp_path):
    _, members = _small_keras(tmp_path, rng)
    raw = (tmp_path / "m.keras").read_bytes()
    bad = HOSTILE[case][0](members, raw)
    path = tmp_path / "bad.keras"
    if isinstance(bad, dict):
        _zip(path, bad)
    else:
        path.write_bytes(bad)
    with pytest.raises(ValueError, match=HOSTILE[case][1]):
        load_keras(path)


def test_bad_weights_h5_leaves_the_model_untouched(rng, tmp_path):
    model, _ = _small_keras(tmp_path, rng)
    before = model.get_weights()
    (tmp_path / "bad.weights.h5").write_bytes(_h5(_wrong_shape))  # layer 'a' fits, layer 'b' does not
    with pytest.raises(ValueError, match=r"layer 'b': weight 'kernel' has shape \(3, 2\).*\(5, 2\)"):
        load_weights_h5(model, tmp_path / "bad.weights.h5")
    (tmp_path / "extra.weights.h5").write_bytes(_h5(lambda f: (_wrong_shape(f), f.create_group("layers/lstm"))))
    with pytest.raises(ValueError, match=r"layers \['lstm'\]"):
        load_weights_h5(model, tmp_path / "extra.weights.h5")
    (tmp_path / "text.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        load_weights_h5(model, tmp_path / "text.weights.h5")
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


class Scaled(F.Dense):
    """A user layer: Keras has no class of this name."""


@pytest.mark.parametrize("layers, match", [
    (lambda: [Scaled(2, input_shape=(3,), name="custom")], "layer 'custom': fastrnn's Scaled"),
    (lambda: [F.Dense(2, input_shape=(3,), kernel_initializer=lambda shape, dtype: np.ones(shape, dtype), name="d")],
     "layer 'd': kernel_initializer"),
    (lambda: [F.LSTM(2, stateful=True, input_shape=(4, 3), name="s")], "fixed batch size"),
])
def test_what_keras_cannot_express_writes_nothing(layers, match, tmp_path):
    model = Sequential(layers())
    (tmp_path / "m.keras").write_bytes(b"old")
    with pytest.raises(ValueError, match=match):
        save_keras(model, tmp_path / "m.keras")
    assert os.listdir(tmp_path) == ["m.keras"] and (tmp_path / "m.keras").read_bytes() == b"old"


def test_file_kinds_and_missing_h5py(monkeypatch, tmp_path):
    assert [keras_file_kind(p) for p in ("a.keras", "a.weights.h5", "a.npz")] == ["keras", "weights.h5", None]
    with pytest.raises(ValueError, match=r"'\.keras'.*'\.weights\.h5'"):
        keras_file_kind("model.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"fastrnn\[keras-files\]"):
        load_keras(tmp_path / "m.keras")
