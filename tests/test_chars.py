"""fastrnn.datasets.chars: the character vocabulary, char-RNN windows (checked against the loop of
Keras' lstm_text_generation example) and temperature sampling; the chars example's stateful
generation checked against the window model re-reading the whole prefix."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastrnn import utils
from fastrnn.datasets.chars import CharVocabulary, make_windows, sample
from fastrnn.examples import chars
from fastrnn.layers import LSTM, Dense
from fastrnn.models import Sequential
from fastrnn.optimizers import RMSprop


def test_vocabulary():
    vocab = CharVocabulary("hello")
    assert vocab.chars == ["e", "h", "l", "o"] and len(vocab) == 4
    assert vocab.char_indices == {"e": 0, "h": 1, "l": 2, "o": 3}
    assert vocab.indices_char[3] == "o"
    assert vocab.encode("leh").tolist() == [2, 0, 1] and vocab.encode("").dtype == np.int32
    assert vocab.decode(np.array([3, 0])) == "oe"
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("hz")


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1, max_size=60), data=st.data())
def test_encode_decode_round_trip(text, data):
    vocab = CharVocabulary(text)
    part = data.draw(st.text(alphabet=sorted(set(text)), max_size=20))
    assert vocab.decode(vocab.encode(part)) == part


def keras_example_windows(text, maxlen, step, vocab):
    """The vectorization loop of Keras' lstm_text_generation.py."""
    sentences, next_chars = [], []
    for i in range(0, len(text) - maxlen, step):
        sentences.append(text[i: i + maxlen])
        next_chars.append(text[i + maxlen])
    x = np.zeros((len(sentences), maxlen, len(vocab)), dtype=bool)
    y = np.zeros((len(sentences), len(vocab)), dtype=bool)
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            x[i, t, vocab.char_indices[char]] = 1
        y[i, vocab.char_indices[next_chars[i]]] = 1
    return x, y


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet="abc d\n", max_size=40), maxlen=st.integers(1, 8),
       step=st.integers(1, 4))
def test_windows_match_the_keras_example(text, maxlen, step):
    x, y, vocab = make_windows(text, maxlen, step)
    expected_x, expected_y = keras_example_windows(text, maxlen, step, vocab)
    assert x.dtype == bool and x.shape == expected_x.shape and np.array_equal(x, expected_x)
    assert y.dtype == bool and y.shape == expected_y.shape and np.array_equal(y, expected_y)
    ids_x, ids_y, _ = make_windows(text, maxlen, step, vocabulary=vocab, one_hot=False)
    eye = np.eye(len(vocab), dtype=bool)
    assert np.array_equal(eye[ids_x], expected_x) and np.array_equal(eye[ids_y], expected_y)


def test_windows_by_hand_and_errors():
    x, y, vocab = make_windows("abcdef", maxlen=3, step=2, one_hot=False)
    assert vocab.decode(x[0]) + vocab.decode(x[1]) == "abccde"
    assert vocab.decode(y) == "df"
    for kwargs in (dict(maxlen=0), dict(maxlen=2, step=0), dict(maxlen=2.0)):
        with pytest.raises(ValueError, match="'maxlen'|'step'"):
            make_windows("abc", **kwargs)


def test_sample_follows_the_tempered_distribution():
    preds = np.array([0.1, 0.6, 0.3, 0.0])
    rng = np.random.default_rng(7)
    counts = np.bincount([sample(preds, 1.0, rng) for _ in range(4000)], minlength=4)
    np.testing.assert_allclose(counts / 4000, preds, atol=0.03)
    assert counts[3] == 0
    sharp = [sample(preds, 0.05, rng) for _ in range(200)]
    assert set(sharp) == {1}
    flat = np.bincount([sample(preds, 50.0, rng) for _ in range(3000)], minlength=4) / 3000
    np.testing.assert_allclose(flat[:3], 1 / 3, atol=0.04)
    assert sample(preds, 0.5, rng=3) == sample(preds, 0.5, rng=3)
    assert isinstance(sample([1.0], 1.0), int)


@pytest.mark.parametrize("preds, temperature, message", [
    ([0.5, 0.5], 0.0, "'temperature'"), ([0.5, 0.5], -1, "'temperature'"),
    ([[0.5, 0.5]], 1.0, "1-D"), ([], 1.0, "1-D"), ([0.0, 0.0], 1.0, "not all zero"),
    ([-0.1, 1.1], 1.0, "non-negative"),
])
def test_sample_errors(preds, temperature, message):
    with pytest.raises(ValueError, match=message):
        sample(preds, temperature)


def trained_char_model(text, maxlen, units=16):
    """The chars example's model (LSTM -> softmax over the characters), fitted briefly on `text`."""
    x, y, vocab = make_windows(text, maxlen, 3)
    utils.set_random_seed(0)
    model = Sequential([LSTM(units, input_shape=(maxlen, len(vocab))), Dense(len(vocab), activation="softmax")])
    model.compile(optimizer=RMSprop(0.01), loss="categorical_crossentropy")
    model.fit(x.astype(np.float32), y.astype(np.float32), epochs=3, batch_size=32, verbose=0)
    return model, vocab


TEXT = "the quick brown fox jumps over the lazy dog. " * 8


def test_stateful_generation_gives_the_window_models_probabilities():
    maxlen = 10
    model, vocab = trained_char_model(TEXT, maxlen)
    step_model = chars.stateful_twin(model)
    assert step_model.layers[0].stateful and not model.layers[0].stateful
    # the window model reading the whole prefix at once (any length, past the trained maxlen too)
    window = Sequential([LSTM(16, input_shape=(None, len(vocab))), Dense(len(vocab), activation="softmax")])
    window.set_weights(model.get_weights())
    eye = np.eye(len(vocab), dtype=np.float32)
    seed = TEXT[5:5 + maxlen]
    steps = list(chars.continue_text(step_model, vocab, seed, 3 * maxlen, 1.0, np.random.default_rng(0)))
    assert len(steps) == 3 * maxlen
    np.testing.assert_allclose(steps[0][0], model.predict(eye[vocab.encode(seed)][None])[0], rtol=1e-5, atol=1e-6)
    prefix = seed
    for preds, char in steps:
        np.testing.assert_allclose(preds, window.predict(eye[vocab.encode(prefix)][None])[0], rtol=1e-5, atol=1e-6)
        prefix += char
    assert len(set(prefix[maxlen:])) > 1  # the probabilities were compared along a real continuation


def test_stateful_generation_draws_what_rereading_the_prefix_draws():
    maxlen = 8
    model, vocab = trained_char_model(TEXT, maxlen)
    window = Sequential([LSTM(16, input_shape=(None, len(vocab))), Dense(len(vocab), activation="softmax")])
    window.set_weights(model.get_weights())
    eye = np.eye(len(vocab), dtype=np.float32)
    seed, rng = TEXT[:maxlen], np.random.default_rng(3)
    expected = seed
    for _ in range(40):  # the slow way: the whole prefix again for every character, same random draws
        preds = window.predict(eye[vocab.encode(expected)][None])[0]
        expected += vocab.indices_char[sample(preds, 0.7, rng)]
    step_model = chars.stateful_twin(model)
    assert chars.generate(step_model, vocab, seed, 40, 0.7, np.random.default_rng(3)) == expected[maxlen:]
    # each call starts from the seed again (reset_states), not from the last call's state
    assert chars.generate(step_model, vocab, seed, 40, 0.7, np.random.default_rng(3)) == expected[maxlen:]


def test_stateful_twin_copies_the_weights():
    model, vocab = trained_char_model(TEXT, 6, units=4)
    twin = chars.stateful_twin(model)
    assert twin.input_shape == (1, None, len(vocab))
    assert all(np.array_equal(a, b) for a, b in zip(twin.get_weights(), model.get_weights()))
    twin.layers[1].weights[0][...] = 0  # the twin's weights are its own
    assert np.any(model.layers[1].get_weights()[0] != 0)
