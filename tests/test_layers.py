"""Layer shapes, parameter counts, the Keras summary, config and weight round-trips, masks
(right and left padding against unpadded runs), go_backwards, Bidirectional, stateful, dropout,
and clear errors for bad arguments."""
import numpy as np
import pytest

import fastrnn
from fastrnn import layers, utils
from fastrnn.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, Flatten, Masking, SimpleRNN
from fastrnn.models import Sequential

KERAS_SUMMARY = '''\
Model: "{name}"
_________________________________________________________________
 Layer (type)                Output Shape              Param #   
=================================================================
 {emb:<27} (None, None, 32)          320000    
                                                                 
 {rnn:<27} (None, None, 32)          2080      
                                                                 
 {lstm:<27} (None, 32)                8320      
                                                                 
 {dense:<27} (None, 1)                 33        
                                                                 
=================================================================
Total params: 330,433
Trainable params: {trainable}
Non-trainable params: {frozen}
_________________________________________________________________'''


def issue_model():
    model = Sequential()
    model.add(Embedding(10000, 32))
    model.add(SimpleRNN(32, return_sequences=True))
    model.add(LSTM(32))
    model.add(Dense(1, activation="sigmoid"))
    return model


def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def test_summary_matches_keras_for_the_issue_example():
    model = issue_model()
    names = [f"{layer.name} ({type(layer).__name__})" for layer in model.layers]
    expected = dict(name=model.name, emb=names[0], rnn=names[1], lstm=names[2], dense=names[3])
    assert summary_text(model) == KERAS_SUMMARY.format(**expected, trainable="330,433", frozen="0")
    model.layers[0].set_weights([np.ones((10000, 32))])
    model.layers[0].trainable = False
    assert summary_text(model) == KERAS_SUMMARY.format(**expected, trainable="10,433", frozen="320,000")
    assert [layer.count_params() for layer in model.layers] == [320000, 2080, 8320, 33]


def test_default_names_follow_keras():
    a, b = Dense(1), Dense(1)
    assert a.name.startswith("dense") and b.name != a.name and SimpleRNN(2).name.startswith("simple_rnn")


def test_unbuilt_summary_is_a_clear_error():
    with pytest.raises(ValueError, match="not been built"):
        Sequential([LSTM(3)]).summary()


@pytest.mark.parametrize("layer,shape,out", [
    (Embedding(7, 3, input_length=4), (2, 4), (2, 4, 3)),
    (SimpleRNN(5), (2, 6, 3), (2, 5)),
    (LSTM(5, return_sequences=True), (2, 6, 3), (2, 6, 5)),
    (Dense(4), (2, 6, 3), (2, 6, 4)),
    (Flatten(), (2, 6, 3), (2, 18)),
    (Dropout(0.3), (2, 3), (2, 3)),
    (Masking(), (2, 6, 3), (2, 6, 3)),
    (Bidirectional(LSTM(5, return_sequences=True)), (2, 6, 3), (2, 6, 10)),
    (Bidirectional(SimpleRNN(5), merge_mode="sum"), (2, 6, 3), (2, 5)),
    (GRU(5, return_sequences=True), (2, 6, 3), (2, 6, 5)),
    (Bidirectional(GRU(5, reset_after=False)), (2, 6, 3), (2, 10)),
])
def test_shapes_and_config_round_trip(layer, shape, out):
    x = np.random.default_rng(0).integers(0, 7, shape) if isinstance(layer, Embedding) else np.ones(shape)
    y = layer(x)
    assert y.shape == out == tuple(d if d is not None else out[i] for i, d in enumerate(
        layer.compute_output_shape((shape[0],) + shape[1:])))
    twin = layers.deserialize(layers.serialize(layer))
    assert type(twin) is type(layer) and twin.get_config() == layer.get_config()
    if layer.weights:
        twin(x)
        twin.set_weights(layer.get_weights())
        np.testing.assert_array_equal(twin(x), y)


def test_weights_use_keras_layout_and_defaults():
    utils.set_random_seed(0)
    lstm = LSTM(4)
    lstm.build((None, None, 3))
    kernel, recurrent, bias = lstm.get_weights()
    assert kernel.shape == (3, 16) and recurrent.shape == (4, 16) and bias.shape == (16,)
    np.testing.assert_array_equal(bias, [0] * 4 + [1] * 4 + [0] * 8)  # unit_forget_bias
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)  # orthogonal rows
    assert np.abs(kernel).max() <= np.sqrt(6 / (3 + 16))  # glorot_uniform limit
    assert lstm.get_weights()[0] is not lstm.weights[0]
    with pytest.raises(ValueError, match="recurrent_kernel"):
        lstm.set_weights([kernel, recurrent.T, bias])
    with pytest.raises(ValueError, match="expects 3 weight arrays"):
        lstm.set_weights([kernel])


def padded_batch(padding):
    rng = np.random.default_rng(0)
    lengths = [6, 3, 1, 5]
    seqs = [rng.normal(size=(n, 3)) for n in lengths]
    x = np.zeros((4, 6, 3))
    mask = np.zeros((4, 6), bool)
    for i, s in enumerate(seqs):
        sl = slice(0, len(s)) if padding == "post" else slice(6 - len(s), 6)
        x[i, sl], mask[i, sl] = s, True
    return seqs, x, mask


@pytest.mark.parametrize("padding", ["post", "pre"])
@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("backwards", [False, True])
def test_masked_batch_matches_unpadded_runs(padding, cell, backwards):
    seqs, x, mask = padded_batch(padding)
    layer = cell(4, return_sequences=True, go_backwards=backwards, dtype="float64")
    out = layer(x, mask=mask)
    for i, s in enumerate(seqs):
        alone = layer(s[None])[0]
        rows = np.flatnonzero(mask[i][::-1] if backwards else mask[i])
        np.testing.assert_allclose(out[i, rows], alone, atol=1e-12)
        after = np.arange(6) > rows[-1]
        np.testing.assert_allclose(out[i, after], np.broadcast_to(alone[-1], (after.sum(), 4)))  # carried
        np.testing.assert_array_equal(out[i, np.arange(6) < rows[0]], 0)
    last = cell(4, go_backwards=backwards, dtype="float64")
    last(x)
    last.set_weights(layer.get_weights())
    np.testing.assert_allclose(last(x, mask=mask), out[:, -1] if padding == "post" and not backwards else
                               np.stack([layer(s[None])[0, -1] for s in seqs]), atol=1e-12)


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_mask_zero_and_masking_reach_the_rnn(padding):
    utils.set_random_seed(0)
    ids = [[3, 1, 4, 1, 5], [9, 2], [6]]
    x = np.zeros((3, 5), int)
    for i, s in enumerate(ids):
        if padding == "post":
            x[i, :len(s)] = s
        else:
            x[i, 5 - len(s):] = s
    model = Sequential([Embedding(10, 4, mask_zero=True), LSTM(3)])
    batch = model.predict(x)
    alone = np.concatenate([model.predict(np.array([s])) for s in ids])
    np.testing.assert_allclose(batch, alone, atol=1e-6)
    floats = Sequential([Masking(input_shape=(5, 4)), LSTM(3)])
    floats.layers[1].build((None, 5, 4))
    floats.layers[1].set_weights(model.layers[1].get_weights())
    vectors = model.layers[0].get_weights()[0][x] * (x != 0)[..., None]
    np.testing.assert_allclose(floats.predict(vectors), alone, atol=1e-6)


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("backwards", [False, True])
def test_mask_with_holes_carries_the_state_over_masked_steps(cell, backwards):
    """A mask with holes: each masked step keeps the state and repeats the last output, as a
    step-by-step loop over the unmasked steps gives (Keras' semantics)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 7, 4))
    mask = np.array([[1, 0, 1, 1, 0, 0, 1], [0, 1, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0]], bool)
    layer = cell(5, return_sequences=True, return_state=True, go_backwards=backwards, dtype="float64")
    out, h, *_ = layer(x, mask=mask)
    step = cell(5, return_state=True, dtype="float64")
    step(x[:, :1])
    step.set_weights(layer.get_weights())
    order = range(6, -1, -1) if backwards else range(7)
    for b in range(3):
        states, last = None, np.zeros(5)
        for k, t in enumerate(order):
            if mask[b, t]:
                last, *states = step.forward(x[b:b + 1, t:t + 1], initial_state=states)
                last = last[0]
            np.testing.assert_allclose(out[b, k], last, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h[b], last if states else 0, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave"])
def test_bidirectional_is_forward_plus_reversed(merge):
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    bi = Bidirectional(SimpleRNN(4, return_sequences=True), merge_mode=merge)
    y = bi(x)
    fwd_w, bwd_w = bi.get_weights()[:3], bi.get_weights()[3:]
    fwd, bwd = SimpleRNN(4, return_sequences=True), SimpleRNN(4, return_sequences=True)
    fwd(x), bwd(x)
    fwd.set_weights(fwd_w), bwd.set_weights(bwd_w)
    a, b = fwd(x), bwd(x[:, ::-1])[:, ::-1]
    expected = {"concat": np.concatenate([a, b], -1), "sum": a + b, "mul": a * b, "ave": (a + b) / 2}[merge]
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert bi.count_params() == 2 * fwd.count_params()
    assert bi.forward_layer.name.startswith("forward_") and bi.backward_layer.go_backwards


def test_stateful_carries_state_between_calls():
    x = np.random.default_rng(0).normal(size=(2, 8, 3))
    full = LSTM(4)
    expected = full(x)
    stateful = LSTM(4, stateful=True)
    stateful(x)
    stateful.set_weights(full.get_weights())
    stateful.reset_states()
    stateful(x[:, :5])
    np.testing.assert_allclose(stateful(x[:, 5:]), expected, atol=1e-6)
    with pytest.raises(ValueError, match="reset_states"):
        stateful(x[:1])
    stateful.reset_states()
    np.testing.assert_allclose(stateful(x), expected, atol=1e-6)


def test_rnn_input_dropout_only_in_training():
    utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(4, 6, 3))
    layer = SimpleRNN(5, dropout=0.5)
    plain = SimpleRNN(5)
    plain(x)
    layer(x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_array_equal(layer(x), plain(x))
    assert not np.allclose(layer.forward(x, training=True), plain(x))


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_recurrent_dropout_step_loop_matches_the_fused_kernel_when_nothing_is_dropped(cell):
    _, x, mask = padded_batch("pre")
    layer = cell(4, recurrent_dropout=1e-12, return_sequences=True, dtype="float64")
    fused = layer(x, mask=mask)
    np.testing.assert_allclose(layer.forward(x, training=True, mask=mask), fused, atol=1e-10)
    layer.recurrent_dropout = 0.5
    assert not np.allclose(layer.forward(x, training=True, mask=mask), fused)
    np.testing.assert_array_equal(layer(x, mask=mask), fused)  # inference: no dropout


def test_backends_agree():
    x = np.random.default_rng(0).normal(size=(3, 7, 5))
    layer = LSTM(4, return_sequences=True, dtype="float64")
    cpu = layer(x)
    previous = fastrnn.get_backend()
    fastrnn.set_backend("numpy")
    try:
        np.testing.assert_allclose(layer(x), cpu, atol=1e-12)
    finally:
        fastrnn.set_backend(previous)


@pytest.mark.parametrize("make,match", [
    (lambda: Dense(3, activation="swish"), "activation"),
    (lambda: SimpleRNN(3, activation="gelu"), "activation"),
    (lambda: LSTM(3, recurrent_activation="nope"), "recurrent_activation"),
    (lambda: LSTM(3, recurrent_dropout=1.0), "recurrent_dropout"),
    (lambda: LSTM(0), "units"),
    (lambda: Dense(3, kernel_initializer="magic"), "initializer"),
    (lambda: Bidirectional(Dense(3)), "SimpleRNN, LSTM or GRU"),
    (lambda: Bidirectional(LSTM(3), merge_mode="max"), "merge_mode"),
    (lambda: Dropout(1.0), "rate"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs():
    layer = LSTM(3)
    layer(np.ones((1, 2, 4)))
    with pytest.raises(ValueError, match=r"\(batch, time, 4\)"):
        layer(np.ones((1, 2, 5)))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        Embedding(5, 2)(np.array([[1, 5]]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("vocabulary, ids_shape", [(10000, (16, 50)), (6, (9, 40)), (10**5, (5, 7)), (4, (0, 3))])
def test_embedding_lookup_and_gradient_rows_from_the_core_match_numpy_bit_for_bit(dtype, vocabulary, ids_shape):
    # cpu backend: one pass in C++ each (the gradient's distinct ids from a marked table, or a
    # sort for a vocabulary much larger than the batch); numpy backend: table[ids], np.unique +
    # np.add.at. Same rows, same sums in the same order.
    rng = np.random.default_rng(5)
    ids = rng.integers(0, vocabulary, ids_shape)
    dy = rng.standard_normal(ids_shape + (33,)).astype(dtype)
    results = []
    for backend in ("numpy", "cpu"):
        layer = Embedding(vocabulary, 33, dtype=dtype, embeddings_initializer="zeros")
        layer.set_weights([np.arange(vocabulary * 33, dtype=dtype).reshape(vocabulary, 33)])
        with fastrnn.set_backend(backend):
            out = layer(ids, training=True)
            layer.backward(dy)
        results.append((out, *layer.grads["embeddings"]))
    (want_out, want_rows, want), (out, rows, values) = results
    assert out.shape == ids_shape + (33,) and out.dtype == dtype
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(values, want)
    assert values.dtype == dtype and np.array_equal(rows, np.unique(ids))


@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("backwards", [False, True])
def test_masked_outputs_match_keras(seq, backwards):
    """Against Keras 3 itself, when it is installed (with the torch backend; skipped otherwise)."""
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype(np.float32)
    mask = np.array([[1] * 6, [1] * 3 + [0] * 3, [0] * 2 + [1] * 4, [0, 1, 1, 0, 1, 0]], bool)  # holes too
    x = np.concatenate([x, x[:1]])
    for ours, theirs in ((LSTM, keras.layers.LSTM), (SimpleRNN, keras.layers.SimpleRNN), (GRU, keras.layers.GRU)):
        layer = ours(5, return_sequences=seq, go_backwards=backwards)
        layer(x)
        reference = theirs(5, return_sequences=seq, go_backwards=backwards)
        reference.build((None, 6, 4))
        reference.set_weights(layer.get_weights())
        np.testing.assert_allclose(layer(x, mask=mask), keras.ops.convert_to_numpy(reference(x, mask=mask)),
                                   atol=1e-6)
