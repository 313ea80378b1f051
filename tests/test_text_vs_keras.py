"""fastrnn.preprocessing.text against the keras-preprocessing package on generated inputs.

Every test runs the per-word Python path and the vectorized path; both must give Keras' exact
attributes (dict order included), sequences, texts and matrices (bit for bit). The hard-coded
expectations that hold without keras-preprocessing are in test_text.py.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fastrnn.datasets import corpus
from fastrnn.preprocessing import text, tokenizer as tokenizer_module
from fastrnn.preprocessing.text import Tokenizer, tokenizer_from_json

keras_text = pytest.importorskip("keras_preprocessing.text")

# characters that stress the byte-level splitter: capitals, multi-byte letters whose lowercase
# grows (U+0130) or depends on context (final sigma), NUL, a lone surrogate, an emoji, filters
ALPHABET = "abAB\u00e9\u0130\u03a3\u00df\x00\ud800\U0001f600'. ,!\t\n-"
POOL = ["the", "a", "internationalization", "abcdefgh", "abcdefghi", "abcdefghijklmno",
        "abcdefghijklmnop", "abcdefghijklmnopq", "\u00e9t\u00e9", "\u03a3\u039f\u03a3",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "x" * 40]
text_items = st.one_of(
    st.text(ALPHABET, max_size=30),
    st.lists(st.sampled_from(POOL), max_size=10).map(" ".join),
    st.lists(st.sampled_from(POOL + ["", "b"]), max_size=4),  # an already split text
)
configs = st.fixed_dictionaries({
    "num_words": st.sampled_from([None, 0, 1, 2, 3, 7]),
    "oov_token": st.sampled_from([None, "a", "<oov>", "\u00e9t\u00e9"]),
    "lower": st.booleans(),
    "split": st.sampled_from([" ", " ", "a", "A", "\n", ", ", "\u00e9"]),
    "filters": st.sampled_from([text.DEFAULT_FILTERS, "", "a\u00e9", "\x00 ", "!-"]),
    "char_level": st.sampled_from([False, False, False, True]),
    "document_count": st.sampled_from([0, 3]),
})
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["python", "vectorized"])
def path(request, monkeypatch):
    """Run a test through the per-word Python path and through the vectorized one."""
    threshold = 1 << 40 if request.param == "python" else 0
    monkeypatch.setattr(tokenizer_module, "_FAST_MIN_CHARS", threshold)
    return request.param


def outcome(fn, *args):
    """fn(*args), or the type of the exception it raised."""
    try:
        return fn(*args)
    except Exception as err:  # both libraries must fail the same way
        return type(err)


def assert_same_state(ours, ref):
    for name in ("word_counts", "word_index", "index_word"):
        assert list(getattr(ours, name).items()) == list(getattr(ref, name).items()), name
    assert dict(ours.word_docs) == dict(ref.word_docs)
    assert dict(ours.index_docs) == dict(ref.index_docs)
    assert ours.document_count == ref.document_count


def assert_same_outputs(ours, ref, texts):
    assert outcome(ours.texts_to_sequences, texts) == outcome(ref.texts_to_sequences, texts)
    sequences = [[0, 1, 2, 3, 5, 9], [4, 4], []]
    assert outcome(ours.sequences_to_texts, sequences) == outcome(ref.sequences_to_texts, sequences)
    for mode in text.MODES:
        mine, theirs = outcome(ours.texts_to_matrix, texts, mode), outcome(ref.texts_to_matrix,
                                                                            texts, mode)
        if isinstance(theirs, np.ndarray):
            assert isinstance(mine, np.ndarray) and mine.dtype == theirs.dtype
            assert np.array_equal(mine, theirs), mode
        else:
            assert mine is theirs, mode


@SETTINGS
@given(fit=st.lists(text_items, max_size=8), convert=st.lists(text_items, max_size=4),
       config=configs)
def test_same_as_keras(path, fit, convert, config):
    ours, ref = Tokenizer(**config), keras_text.Tokenizer(**config)
    mine, theirs = outcome(ours.fit_on_texts, fit), outcome(ref.fit_on_texts, fit)
    assert mine is theirs  # None, or the same exception type
    if theirs is not None:
        return
    assert_same_state(ours, ref)
    assert_same_outputs(ours, ref, fit + convert)


@SETTINGS
@given(first=st.lists(text_items, max_size=5), second=st.lists(text_items, max_size=5),
       sequences=st.lists(st.lists(st.integers(0, 9), max_size=6), max_size=4))
def test_repeated_fits_same_as_keras(path, first, second, sequences):
    ours, ref = Tokenizer(oov_token="<oov>"), keras_text.Tokenizer(oov_token="<oov>")
    for tokenizer in (ours, ref):
        tokenizer.fit_on_sequences(sequences)
        tokenizer.fit_on_texts(first)
        tokenizer.fit_on_texts(second)
    assert_same_state(ours, ref)
    assert_same_outputs(ours, ref, first + second)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(text_items, max_size=6), num_words=st.sampled_from([None, 3]),
       oov_token=st.sampled_from([None, "<oov>"]))
def test_json_loads_across_libraries(texts, num_words, oov_token):
    ours = Tokenizer(num_words=num_words, oov_token=oov_token)
    ref = keras_text.Tokenizer(num_words=num_words, oov_token=oov_token)
    ours.fit_on_texts(texts)
    ref.fit_on_texts(texts)
    assert_same_state(tokenizer_from_json(ref.to_json()), ref)
    assert_same_state(keras_text.tokenizer_from_json(ours.to_json()), ours)
    assert_same_outputs(tokenizer_from_json(ref.to_json()), ref, texts)


@pytest.mark.parametrize("config", [dict(num_words=2000), dict(oov_token="<unk>", num_words=500),
                                    dict(lower=False), dict(char_level=True)])
def test_real_corpus_in_several_batches(path, monkeypatch, config):
    monkeypatch.setattr(tokenizer_module, "_BATCH_CHARS", 50_000)
    docs = corpus.load_text(300_000).split("\n\n")
    ours, ref = Tokenizer(**config), keras_text.Tokenizer(**config)
    ours.fit_on_texts(docs)
    ref.fit_on_texts(docs)
    assert_same_state(ours, ref)
    assert ours.texts_to_sequences(docs[::-1]) == ref.texts_to_sequences(docs[::-1])
    for mode in text.MODES:
        assert np.array_equal(ours.texts_to_matrix(docs[:200], mode),
                              ref.texts_to_matrix(docs[:200], mode))


def test_helpers_same_as_keras():
    for sample in ["The cat, sat\ton  the\nmat!", "\u0130I \u03a3\u03a3. x", "", "a--b"]:
        for kwargs in [{}, dict(lower=False), dict(filters="-", split="-"), dict(split="a")]:
            assert (text.text_to_word_sequence(sample, **kwargs)
                    == keras_text.text_to_word_sequence(sample, **kwargs))
        assert (text.hashing_trick(sample, 11, hash_function="md5")
                == keras_text.hashing_trick(sample, 11, hash_function="md5"))
        assert text.one_hot(sample, 13) == keras_text.one_hot(sample, 13)
