"""The functional API: Input, layers called on KerasTensors, Model with several inputs and outputs,
shared layers, return_state / initial_state, Concatenate and Add with Keras' mask rules. Checked
against Keras 3 on the same weights (outputs, losses, gradients by torch autograd), by float64
central differences over a whole model, and for config / JSON / file round trips and clear errors."""
import os

import numpy as np
import pytest

import fastrnn
from fastrnn import layers as L
from fastrnn import optimizers, utils
from fastrnn.models import Model, Sequential, load_model, model_from_json


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the comparisons with Keras 3 need keras (torch backend)")


class Capture:
    """Stands in for the optimizer: records the gradients a step would apply."""

    iterations = 0

    def __init__(self):
        self.grads = {}

    def apply(self, weights, grads):
        self.grads.update(zip(map(id, weights), grads))


def gradients(model, x, y, **kwargs):
    """{id(weight): dense gradient} of one train_on_batch."""
    model.optimizer = capture = Capture()
    model.train_on_batch(x, y, **kwargs)
    out = {}
    for w in model.weights:
        g = capture.grads[id(w)]
        if hasattr(g, "indices"):
            dense = np.zeros_like(w)
            dense[g.indices] = g.values
            g = dense
        out[id(w)] = g
    return out


def keras_gradients(km, x, y, sample_weight=None):
    """{variable path: gradient} of Keras' compiled loss, by torch autograd."""
    import torch
    xs = [torch.as_tensor(a) for a in x]
    ys = [torch.as_tensor(a) for a in y]
    loss = km.compute_loss(x=xs, y=ys, y_pred=km(xs, training=True), sample_weight=sample_weight)
    grads = torch.autograd.grad(loss, [v.value for v in km.trainable_weights])
    return {v.path: g.numpy() for v, g in zip(km.trainable_weights, grads)}


def copy_weights(model, km):
    for layer in model.layers:
        if layer.weights:
            km.get_layer(layer.name).set_weights(layer.get_weights())


def assert_same_gradients(model, km, ours, theirs, atol):
    checked = 0
    for layer in model.layers:
        for w, v in zip(layer.weights, km.get_layer(layer.name).trainable_weights):
            np.testing.assert_allclose(ours[id(w)], theirs[v.path], atol=atol, rtol=1e-4, err_msg=layer.name)
            checked += 1
    assert checked == len(km.trainable_weights)


def compile_both(model, km, keras, **kwargs):
    model.compile(optimizers.SGD(0.1), **kwargs)
    km.compile(keras.optimizers.SGD(0.1), **kwargs)


def two_by_two(lib, layers):
    """Two inputs (a sequence, a vector), a Concatenate and an Add, two outputs."""
    a, b = lib.Input(shape=(5, 3), name="a"), lib.Input(shape=(4,), name="b")
    h, _, c = layers.LSTM(6, return_state=True, name="enc")(a)
    d = layers.Dense(6, activation="tanh", name="db")(b)
    yes = layers.Dense(1, activation="sigmoid", name="yes")(layers.Concatenate(name="cat")([h, d]))
    kind = layers.Dense(3, activation="softmax", name="kind")(layers.Add(name="add")([c, d]))
    return lib.Model([a, b], [yes, kind])


def test_two_inputs_two_outputs_match_keras(keras):
    utils.set_random_seed(0)
    model, km = two_by_two(fastrnn, L), two_by_two(keras, keras.layers)
    copy_weights(model, km)
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(7, 5, 3)).astype("float32"), rng.normal(size=(7, 4)).astype("float32")]
    y = [rng.integers(0, 2, (7, 1)).astype("float32"), rng.integers(0, 3, 7)]
    compile_both(model, km, keras, loss=["binary_crossentropy", "sparse_categorical_crossentropy"],
                 loss_weights=[0.5, 2.0], metrics=[["acc"], ["acc"]])
    for ours, theirs in zip(model.predict(x), km.predict(x, verbose=0)):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    want = km.evaluate(x, y, verbose=0, return_dict=True)
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    assert got.keys() == want.keys() and got == pytest.approx(want, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(km.evaluate(x, y, verbose=0), rel=1e-5)  # Keras' order
    assert_same_gradients(model, km, gradients(model, x, y), keras_gradients(km, x, y), atol=1e-6)


def encoder_decoder(lib, layers):
    """Encoder LSTM's final states start the decoder LSTM (ids, masked), softmax per step."""
    source, target = lib.Input(shape=(6, 4), name="source"), lib.Input(shape=(5,), dtype="int32", name="target")
    _, h, c = layers.LSTM(8, return_state=True, name="encoder")(source)
    embedded = layers.Embedding(10, 4, mask_zero=True, name="embed")(target)
    # Keras 3 passes a mask on only to calls with one tensor argument, so initial_state= drops it
    # (tf.keras 2 kept it; so does fastrnn): Keras is given the mask explicitly
    mask = {"mask": lib.ops.not_equal(target, 0)} if lib is not fastrnn else {}
    steps = layers.LSTM(8, return_sequences=True, name="decoder")(embedded, initial_state=[h, c], **mask)
    return lib.Model([source, target], layers.Dense(10, activation="softmax", name="next")(steps))


def test_encoder_decoder_states_match_keras(keras):
    utils.set_random_seed(1)
    model, km = encoder_decoder(fastrnn, L), encoder_decoder(keras, keras.layers)
    copy_weights(model, km)
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 10, (6, 5))
    ids[np.arange(5) >= rng.integers(2, 6, 6)[:, None]] = 0  # right padding, masked
    x, y = [rng.normal(size=(6, 6, 4)).astype("float32"), ids], [rng.integers(0, 10, (6, 5))]
    compile_both(model, km, keras, loss="sparse_categorical_crossentropy", metrics=["acc"])
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), atol=1e-6)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(km.evaluate(x, y, verbose=0), rel=1e-5)
    ours = gradients(model, x, y)
    assert np.abs(ours[id(model.get_layer("encoder").weights[0])]).max() > 1e-4  # reached only through the states
    assert_same_gradients(model, km, ours, keras_gradients(km, x, y), atol=1e-6)


def merged(lib, layers, how):
    """Two id sequences embedded with masks (for 'unmasked', the second is a plain float
    sequence), merged, then an LSTM and a softmax per step."""
    a = lib.Input(shape=(6,), dtype="int32", name="a")
    ea = layers.Embedding(9, 3, mask_zero=True, name="ea")(a)
    if how == "unmasked":
        b = lib.Input(shape=(6, 3), name="b")
        eb = b
    else:
        b = lib.Input(shape=(4 if how == "time" else 6,), dtype="int32", name="b")
        eb = layers.Embedding(9, 3, mask_zero=True, name="eb")(b)
    merge = {"add": layers.Add(name="merge"), "time": layers.Concatenate(axis=1, name="merge")}.get(
        how, layers.Concatenate(name="merge"))
    steps = layers.LSTM(5, return_sequences=True, name="rnn")(merge([ea, eb]))
    return lib.Model([a, b], layers.Dense(3, activation="softmax", name="out")(steps))


@pytest.mark.parametrize("how", ["features", "time", "add", "unmasked"])
def test_masks_through_merges_match_keras(keras, how):
    utils.set_random_seed(2)
    model, km = merged(fastrnn, L, how), merged(keras, keras.layers, how)
    copy_weights(model, km)
    rng = np.random.default_rng(2)
    a = rng.integers(1, 9, (8, 6))
    a[np.arange(6) < rng.integers(0, 4, 8)[:, None]] = 0  # left padding
    b = rng.normal(size=(8, 6, 3)).astype("float32") if how == "unmasked" else rng.integers(0, 9, (8, 4 if how == "time"
                                                                                                    else 6))
    x = [a, b]
    y = [rng.integers(0, 3, (8, 10 if how == "time" else 6))]
    compile_both(model, km, keras, loss="sparse_categorical_crossentropy", metrics=["acc"])
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), atol=1e-6)
    assert model.evaluate(x, y, batch_size=3, verbose=0) == pytest.approx(
        km.evaluate(x, y, batch_size=3, verbose=0), rel=1e-5)
    assert_same_gradients(model, km, gradients(model, x, y), keras_gradients(km, x, y), atol=1e-6)


def siamese(lib, layers):
    """One Embedding and one LSTM shared by two inputs; the two codes concatenated."""
    left, right = lib.Input(shape=(5,), dtype="int32", name="left"), lib.Input(shape=(5,), dtype="int32", name="right")
    embed, encode = layers.Embedding(12, 4, mask_zero=True, name="embed"), layers.LSTM(6, name="encode")
    codes = layers.Concatenate(name="codes")([encode(embed(left)), encode(embed(right))])
    return lib.Model([left, right], layers.Dense(1, activation="sigmoid", name="same")(codes))


def test_shared_layers_sum_their_gradients_as_keras(keras):
    utils.set_random_seed(3)
    model, km = siamese(fastrnn, L), siamese(keras, keras.layers)
    assert [layer.name for layer in model.layers] == ["left", "right", "embed", "encode", "codes", "same"]
    copy_weights(model, km)
    rng = np.random.default_rng(3)
    x = [rng.integers(0, 12, (6, 5)), rng.integers(0, 12, (6, 5))]
    x[0][:, :2] = 0
    y = [rng.integers(0, 2, (6, 1)).astype("float32")]
    compile_both(model, km, keras, loss="binary_crossentropy")
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), atol=1e-6)
    assert_same_gradients(model, km, gradients(model, x, y), keras_gradients(km, x, y), atol=1e-6)
    model.compile("adam", loss="binary_crossentropy")  # both calls train the one set of weights
    before = model.get_layer("encode").get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_layer("encode").get_weights()))


def float64_graph():
    """Everything at once, in float64: masks, return_state into initial_state, a Dense shared by a
    per-step path and a state path, Add, Concatenate, two outputs (one per step)."""
    kw = {"dtype": "float64"}
    ids, extra = fastrnn.Input(shape=(5,), dtype="int64", name="ids"), fastrnn.Input(shape=(5, 2), name="extra")
    seq, h, c = L.LSTM(3, return_sequences=True, return_state=True, name="lstm", **kw)(
        L.Embedding(7, 3, mask_zero=True, name="embed", **kw)(ids))
    rnn = L.SimpleRNN(3, return_sequences=True, name="rnn", **kw)(extra, initial_state=[h])
    shared = L.Dense(3, activation="tanh", name="shared", **kw)
    steps = L.Add(name="add")([shared(seq), shared(rnn)])
    per_step = L.Dense(4, activation="softmax", name="per_step", **kw)(steps)
    summary = L.Concatenate(name="cat")([h, c, L.LSTM(2, name="tail", **kw)(steps)])
    return Model([ids, extra], [per_step, L.Dense(1, name="value", **kw)(summary)])


def test_whole_model_gradient_by_central_differences():
    utils.set_random_seed(4)
    model = float64_graph()
    model.compile(optimizers.SGD(0.1), loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.3])
    rng = np.random.default_rng(4)
    ids = rng.integers(1, 7, (4, 5))
    ids[0, :2] = ids[2, 3:] = 0  # left and right padding: masked steps in the per-step loss
    x, y = [ids, rng.normal(size=(4, 5, 2))], [rng.integers(0, 4, (4, 5)), rng.normal(size=(4, 1))]
    weight = rng.uniform(0.5, 2.0, 4)
    ours = gradients(model, x, y, sample_weight=weight)
    for w in model.weights:
        numeric = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            keep = w[i]
            w[i] = keep + 1e-6
            up = model.test_on_batch(x, y, sample_weight=weight)[0]  # [loss, per-output losses]
            w[i] = keep - 1e-6
            down = model.test_on_batch(x, y, sample_weight=weight)[0]
            w[i] = keep
            numeric[i] = (up - down) / 2e-6
        np.testing.assert_allclose(ours[id(w)], numeric, atol=1e-7, rtol=1e-5)


def test_config_json_and_file_round_trips(tmp_path):
    utils.set_random_seed(5)
    model = float64_graph()
    rng = np.random.default_rng(5)
    x = [rng.integers(0, 7, (6, 5)), rng.normal(size=(6, 5, 2))]
    y = [rng.integers(0, 4, (6, 5)), rng.normal(size=(6, 1))]
    for twin in (Model.from_config(model.get_config()), model_from_json(model.to_json())):
        assert twin.get_config() == model.get_config()
        assert [type(a) for a in twin.layers] == [type(b) for b in model.layers]
        twin.set_weights(model.get_weights())
        for a, b in zip(twin.predict(x), model.predict(x)):
            np.testing.assert_array_equal(a, b)
    model.compile(optimizers.Adam(0.01), loss={"per_step": "sparse_categorical_crossentropy", "value": "huber"},
                  loss_weights={"per_step": 1.0, "value": 0.5}, metrics={"per_step": ["acc"]})
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    model.save(tmp_path / "graph.npz")
    loaded = load_model(tmp_path / "graph.npz")
    assert isinstance(loaded, Model) and not isinstance(loaded, Sequential)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(x, y, verbose=0, return_dict=True)
    model.train_on_batch(x, y)  # the same next step from the restored Adam moments
    loaded.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_json_keras3_node_format_and_keras2_nodes():
    a = fastrnn.Input(shape=(3,), name="in_a")
    model = Model(a, L.Dense(2, name="out")(L.Dense(4, name="hidden")(a)))
    config = model.get_config()
    assert config["layers"][1]["inbound_nodes"] == [{"args": [{"class_name": "__keras_tensor__", "config": {
        "shape": [None, 3], "dtype": "float32", "keras_history": ["in_a", 0, 0]}}], "kwargs": {}}]
    assert config["input_layers"] == ["in_a", 0, 0] and config["output_layers"] == ["out", 0, 0]
    for spec in config["layers"][1:]:  # Keras 2 wrote [[layer, node, tensor, kwargs]]
        history = spec["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
        spec["inbound_nodes"] = [[history + [{}]]]
    twin = Model.from_config(config)
    twin.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 3))
    np.testing.assert_array_equal(twin.predict(x), model.predict(x))


def test_get_layer_dict_io_and_calling_the_model():
    utils.set_random_seed(6)
    a, b = fastrnn.Input(shape=(3,), name="a"), fastrnn.Input(shape=(2,), name="b")
    joined = L.concatenate([a, b])
    model = Model({"a": a, "b": b}, {"sum": L.Dense(1, name="s")(joined), "parts": L.Dense(2, name="p")(joined)})
    assert model.get_layer("s") is model.get_layer(index=-2) and model.get_layer(index=0).name == "a"
    rng = np.random.default_rng(6)
    x = {"b": rng.normal(size=(5, 2)), "a": rng.normal(size=(5, 3))}
    out = model.predict(x)
    assert set(out) == {"sum", "parts"} and out["parts"].shape == (5, 2)
    called = model(x)
    np.testing.assert_allclose(called["sum"], out["sum"], rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x)["parts"], out["parts"], rtol=1e-6)
    model.compile("sgd", loss={"sum": "mse", "parts": "mae"})
    y = {"sum": rng.normal(size=(5, 1)), "parts": rng.normal(size=(5, 2))}
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "sum_loss", "parts_loss"}
    assert logs["loss"] == pytest.approx(logs["sum_loss"] + logs["parts_loss"])


def test_layers_still_run_eagerly_on_arrays():
    rng = np.random.default_rng(7)
    x, h, c = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    lstm = L.LSTM(5, return_sequences=True, dtype="float64")
    lstm.build((None, 4, 3))
    with_state = lstm(x, initial_state=[h, c])
    assert with_state.shape == (2, 4, 5) and not np.allclose(with_state, lstm(x))
    np.testing.assert_array_equal(L.Concatenate(axis=1)([x, x]), np.concatenate([x, x], axis=1))
    np.testing.assert_array_equal(L.add([x, x[:, :1]]), x + x[:, :1])  # size-1 axes broadcast


def test_clear_errors():
    a, b = fastrnn.Input(shape=(4, 3), name="a"), fastrnn.Input(shape=(2,), name="b")
    out = L.Dense(1)(L.LSTM(2)(a))
    with pytest.raises(TypeError, match="needs both"):
        Model(a)
    with pytest.raises(ValueError, match="graph disconnected.*'a'"):
        Model(b, out)
    with pytest.raises(ValueError, match="lists the input 'a' twice"):
        Model([a, a], out)
    with pytest.raises(TypeError, match="argument 'outputs' must hold KerasTensors"):
        Model(a, np.zeros(3))
    with pytest.raises(TypeError, match="takes no argument 'initial_state'"):
        L.Dense(2)(a, initial_state=[b])
    with pytest.raises(ValueError, match="'initial_state' needs 2 tensor"):
        L.LSTM(2)(a, initial_state=[L.Dense(2)(b)])
    with pytest.raises(ValueError, match=r"needs tensors of shape \(batch, 2\)"):
        L.LSTM(2)(a, initial_state=[fastrnn.Input(shape=(3,)), L.Dense(2)(b)])
    with pytest.raises(TypeError, match="KerasTensors throughout"):
        L.Concatenate()([b, np.zeros((1, 2))])
    with pytest.raises(ValueError, match="must match on every axis but"):
        L.Concatenate(axis=1)([a, fastrnn.Input(shape=(4, 2))])
    with pytest.raises(ValueError, match="cannot be added elementwise"):
        L.Add()([b, fastrnn.Input(shape=(3,))])
    with pytest.raises(ValueError, match="unique names"):
        Model(b, L.Dense(1, name="same")(L.Dense(2, name="same")(b)))
    model = Model([a, b], [out, L.Dense(1)(b)])
    with pytest.raises(TypeError, match="nesting models is not supported"):
        model([a, b])
    with pytest.raises(ValueError, match=r"has 2 inputs \(a, b\).*got one array"):
        model.predict(np.zeros((3, 4, 3)))
    with pytest.raises(ValueError, match=r"the dict has the keys \['a', 'c'\]"):
        model.predict({"a": np.zeros((3, 4, 3)), "c": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=r"expects input 'b' of shape \(None, 2\), got data of shape \(3, 5\)"):
        model.predict([np.zeros((3, 4, 3)), np.zeros((3, 5))])
    with pytest.raises(ValueError, match="'loss' holds 3 entries"):
        model.compile("sgd", loss=["mse"] * 3)
    with pytest.raises(ValueError, match=r"\['nope'\] are not outputs"):
        model.compile("sgd", loss={"nope": "mse"})
    with pytest.raises(ValueError, match="get_layer: no layer named 'x'"):
        model.get_layer("x")
    with pytest.raises(ValueError, match="exactly one of 'name' and 'index'"):
        model.get_layer()
    with pytest.raises(ValueError, match="refer to layer calls the config never makes"):
        config = model.get_config()
        config["layers"] = [spec for spec in config["layers"] if spec["name"] != "b"]
        Model.from_config(config)
