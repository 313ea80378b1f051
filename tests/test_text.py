"""fastrnn.preprocessing.text against hard-coded Keras outputs: the documented example, constructed
cases for every argument and quirk, the helpers, JSON round trips, corrupted JSON and argument
errors.

Comparisons with the keras-preprocessing package on generated inputs are in test_text_vs_keras.py.
"""
import gc
import json
import math
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastrnn.preprocessing import text, tokenizer as tokenizer_module
from fastrnn.preprocessing.text import (Tokenizer, hashing_trick, one_hot, text_to_word_sequence,
                                        tokenizer_from_json)

SAMPLES = ["The cat sat on the mat.", "The dog ate my homework."]


def fitted(texts, **kwargs):
    tokenizer = Tokenizer(**kwargs)
    tokenizer.fit_on_texts(texts)
    return tokenizer


@pytest.fixture(params=["python", "vectorized"])
def path(request, monkeypatch):
    """Run a test through the per-word Python path and through the vectorized one."""
    threshold = 1 << 40 if request.param == "python" else 0
    monkeypatch.setattr(tokenizer_module, "_FAST_MIN_CHARS", threshold)
    return request.param


def test_documented_example(path):
    tokenizer = fitted(SAMPLES, num_words=1000)
    assert tokenizer.texts_to_sequences(SAMPLES) == [[1, 2, 3, 4, 1, 5], [1, 6, 7, 8, 9]]
    assert tokenizer.texts_to_matrix(SAMPLES, mode="binary").shape == (2, 1000)
    assert tokenizer.word_index == {"the": 1, "cat": 2, "sat": 3, "on": 4, "mat": 5, "dog": 6,
                                    "ate": 7, "my": 8, "homework": 9}
    assert list(tokenizer.word_counts.items()) == [
        ("the", 3), ("cat", 1), ("sat", 1), ("on", 1), ("mat", 1), ("dog", 1), ("ate", 1),
        ("my", 1), ("homework", 1)]
    assert isinstance(tokenizer.word_counts, OrderedDict)
    assert dict(tokenizer.word_docs) == {"the": 2, "cat": 1, "sat": 1, "on": 1, "mat": 1,
                                         "dog": 1, "ate": 1, "my": 1, "homework": 1}
    assert dict(tokenizer.index_docs) == {1: 2, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1}
    assert tokenizer.index_word[9] == "homework"
    assert tokenizer.document_count == 2


def test_ties_keep_first_seen_order_and_counts_rank(path):
    tokenizer = fitted(["b a c", "c a", "d"])
    assert tokenizer.word_index == {"a": 1, "c": 2, "b": 3, "d": 4}


def test_num_words_keeps_indices_below_it(path):
    texts = ["a a b", "b c"]
    assert fitted(texts, num_words=2).texts_to_sequences(["a b c x"]) == [[1]]
    assert fitted(texts, num_words=1).texts_to_sequences(["a b c"]) == [[]]
    assert fitted(texts, num_words=3).texts_to_sequences(["a b c"]) == [[1, 2]]
    assert fitted(texts, num_words=2).texts_to_matrix(["a b c"], mode="count").tolist() == [[0, 1]]
    assert len(fitted(texts, num_words=2).word_index) == 3  # word_index keeps every word


def test_oov_token(path):
    tokenizer = fitted(["a a b", "b c"], num_words=3, oov_token="<unk>")
    assert tokenizer.word_index == {"<unk>": 1, "a": 2, "b": 3, "c": 4}
    assert tokenizer.texts_to_sequences(["a b c d"]) == [[2, 1, 1, 1]]
    assert tokenizer.sequences_to_texts([[2, 3, 4, 9]]) == ["a <unk> <unk> <unk>"]


def test_oov_token_that_is_also_a_word_keeps_its_later_index(path):
    tokenizer = fitted(["oov oov x"], oov_token="oov")
    assert tokenizer.word_index == {"oov": 2, "x": 3}
    assert tokenizer.index_word == {2: "oov", 3: "x"}
    assert tokenizer.texts_to_sequences(["y x"]) == [[2, 3]]


def test_oov_token_missing_from_word_index_gives_none(path):
    tokenizer = Tokenizer(oov_token="?", num_words=2)
    tokenizer.word_index = {"a": 1, "b": 2}
    assert tokenizer.texts_to_sequences(["a b c"]) == [[1, None]]


def test_char_level_ignores_filters():
    tokenizer = fitted(["Ab a!"], char_level=True)
    assert tokenizer.word_index == {"a": 1, "b": 2, " ": 3, "!": 4}
    assert tokenizer.texts_to_sequences(["ba!?"]) == [[2, 1, 4]]


def test_lower_false_and_custom_filters_and_split(path):
    assert fitted(["The the THE"], lower=False).word_index == {"The": 1, "the": 2, "THE": 3}
    assert list(fitted(["hello, world"], filters="e").word_index) == ["h", "llo,", "world"]
    assert list(fitted(["a,b c"], split=",").word_index) == ["a", "b c"]
    # lowering comes first, so a capital split letter in the text is no separator
    assert list(fitted(["xAya", "b"], split="A").word_index) == ["xaya", "b"]


def test_pre_split_texts_are_only_lowered(path):
    tokenizer = fitted([["Hello,", "World"], "hello world"])
    assert list(tokenizer.word_counts.items()) == [("hello,", 1), ("world", 2), ("hello", 1)]
    assert tokenizer.texts_to_sequences([["WORLD", "x"]]) == [[1]]


def test_empty_texts(path):
    tokenizer = fitted(["", "...", "a"])
    assert tokenizer.document_count == 3
    assert tokenizer.word_index == {"a": 1}
    assert tokenizer.texts_to_sequences(["", "!!", "a"]) == [[], [], [1]]
    assert tokenizer.texts_to_matrix(["", "a"], mode="freq").tolist() == [[0, 0], [0, 1]]
    assert fitted([]).word_index == {}


def test_unicode_words(path):
    tokenizer = fitted(["Stra\u00dfe \u0130stanbul \u03a3\u039f\u03a6\u039f\u03a3 "
                        "caf\u00e9 \U0001f600x"])
    assert list(tokenizer.word_index) == ["stra\u00dfe", "i\u0307stanbul",
                                          "\u03c3\u03bf\u03c6\u03bf\u03c2", "caf\u00e9",
                                          "\U0001f600x"]


def test_matrix_modes_values(path):
    tokenizer = fitted(["a a b", "b c"])
    rows = {mode: tokenizer.texts_to_matrix(["a a b"], mode=mode)[0] for mode in text.MODES}
    assert rows["binary"].tolist() == [0, 1, 1, 0]
    assert rows["count"].tolist() == [0, 2, 1, 0]
    np.testing.assert_allclose(rows["freq"], [0, 2 / 3, 1 / 3, 0], rtol=1e-15)
    # tf = 1 + ln(count); idf = ln(1 + document_count / (1 + texts holding the word))
    np.testing.assert_allclose(rows["tfidf"], [0, (1 + math.log(2)) * math.log(2),
                                               math.log(1 + 2 / 3), 0], rtol=1e-14)
    assert rows["count"].dtype == np.float64


def test_freq_divides_by_full_length_including_dropped_indices():
    tokenizer = Tokenizer(num_words=3)
    assert tokenizer.sequences_to_matrix([[1, 1, 2, 7]], mode="freq").tolist() == [[0, 0.5, 0.25]]


def test_fit_on_sequences_and_tfidf_without_texts():
    tokenizer = Tokenizer(num_words=4)
    tokenizer.fit_on_sequences([[1, 2, 2], [2], np.array([3, 1])])
    assert tokenizer.document_count == 3
    assert dict(tokenizer.index_docs) == {1: 2, 2: 2, 3: 1}
    assert all(type(k) is int for k in tokenizer.index_docs)
    row = tokenizer.sequences_to_matrix([[2, 2]], mode="tfidf")[0]
    np.testing.assert_allclose(row, [0, 0, (1 + math.log(2)) * math.log(2), 0], rtol=1e-14)


def test_second_fit_overwrites_index_docs_and_adds_counts(path):
    tokenizer = Tokenizer()
    tokenizer.fit_on_sequences([[1], [1]])
    tokenizer.fit_on_texts(["a b", "b"])
    tokenizer.fit_on_texts(["c a"])
    assert list(tokenizer.word_counts.items()) == [("a", 2), ("b", 2), ("c", 1)]
    assert dict(tokenizer.index_docs) == {1: 2, 2: 2, 3: 1}
    assert tokenizer.document_count == 5


def test_generators_are_accepted(path):
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(t for t in SAMPLES)
    assert list(tokenizer.texts_to_sequences_generator(iter(SAMPLES)))[1] == [1, 6, 7, 8, 9]
    assert next(tokenizer.sequences_to_texts_generator([[1, 2]])) == "the cat"


def test_batches_keep_first_seen_order(path, monkeypatch):
    monkeypatch.setattr(tokenizer_module, "_BATCH_CHARS", 8)
    texts = ["zz yy", "xx zz", "ww", "", "vv xx yy"]
    tokenizer = fitted(texts)
    assert list(tokenizer.word_counts.items()) == [("zz", 2), ("yy", 2), ("xx", 2), ("ww", 1),
                                                   ("vv", 1)]
    assert tokenizer.texts_to_sequences(texts) == [[1, 2], [3, 1], [4], [], [5, 3, 2]]


def test_garbage_collector_state_is_restored(path):
    tokenizer = fitted(SAMPLES)
    assert gc.isenabled()
    tokenizer.texts_to_sequences(SAMPLES)
    assert gc.isenabled()
    generator = tokenizer.texts_to_sequences_generator(SAMPLES)
    next(generator)
    assert gc.isenabled()  # not paused between two yields
    with pytest.raises(AttributeError):
        tokenizer.texts_to_sequences(["a", None])
    assert gc.isenabled()
    gc.disable()
    try:
        tokenizer.texts_to_sequences(SAMPLES)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_sequences_to_matrix_errors():
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer().sequences_to_matrix([[1]])
    with pytest.raises(ValueError, match="tfidf"):
        Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf")
    with pytest.raises(ValueError, match="'mode'"):
        Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="counts")
    with pytest.raises(ValueError, match="negative"):
        Tokenizer(num_words=3).sequences_to_matrix([[1, -1]])


def test_constructor_arguments():
    with pytest.warns(UserWarning, match="num_words"):
        assert Tokenizer(nb_words=7).num_words == 7
    with pytest.raises(TypeError, match="Unrecognized"):
        Tokenizer(max_words=7)


def test_text_to_word_sequence():
    assert text_to_word_sequence("The cat, sat\ton  the\nmat!") == ["the", "cat", "sat", "on",
                                                                    "the", "mat"]
    assert text_to_word_sequence("A-b", filters=["-"], lower=False) == ["A", "b"]
    assert text_to_word_sequence("a--b", filters="-", split="-") == ["a", "b"]
    assert text_to_word_sequence("...") == []


def test_hashing_trick_and_one_hot():
    assert hashing_trick("the cat the", 10, hash_function="md5") == [6, 3, 6]
    assert hashing_trick("The Cat sat", 1000, hash_function="md5") == [132, 759, 622]
    assert hashing_trick("a b", 5, hash_function=len) == [2, 2]
    indices = one_hot("the cat sat on the mat", 7)
    assert len(indices) == 6 and all(1 <= i < 7 for i in indices)
    assert indices[0] == indices[4]


def test_to_json_layout_is_keras():
    tokenizer = fitted(["a b b"], num_words=5, oov_token="?")
    config = json.loads(tokenizer.to_json())
    assert config["class_name"] == "Tokenizer"
    inner = config["config"]
    assert json.loads(inner["word_counts"]) == {"a": 1, "b": 2}
    assert json.loads(inner["index_docs"]) == {"3": 1, "2": 1}
    assert json.loads(inner["word_index"]) == {"?": 1, "b": 2, "a": 3}
    assert {k: inner[k] for k in ("num_words", "oov_token", "document_count", "lower", "split",
                                  "char_level")} == {"num_words": 5, "oov_token": "?",
                                                     "document_count": 1, "lower": True,
                                                     "split": " ", "char_level": False}
    assert json.loads(tokenizer.to_json(indent=2)) == config


def test_loaded_tokenizer_keeps_fitting(path):
    tokenizer = tokenizer_from_json(fitted(["a b"]).to_json())
    tokenizer.fit_on_texts(["c b"])
    tokenizer.fit_on_sequences([[4]])
    assert tokenizer.word_index == {"b": 1, "a": 2, "c": 3}
    assert tokenizer.index_docs[4] == 1


words = st.text(alphabet="abcAB\u00e9\u03a3 .,!", min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(words, max_size=8), num_words=st.sampled_from([None, 2, 5]),
       oov_token=st.sampled_from([None, "<oov>"]), lower=st.booleans())
def test_json_round_trip(texts, num_words, oov_token, lower):
    tokenizer = fitted(texts, num_words=num_words, oov_token=oov_token, lower=lower)
    loaded = tokenizer_from_json(tokenizer.to_json())
    assert loaded.to_json() == tokenizer.to_json()
    for name in ("word_counts", "word_docs", "index_docs", "word_index", "index_word"):
        assert list(getattr(loaded, name).items()) == list(getattr(tokenizer, name).items())
    assert loaded.texts_to_sequences(texts) == tokenizer.texts_to_sequences(texts)
    if texts and (num_words or tokenizer.word_index):  # else the matrix has no width
        assert np.array_equal(loaded.texts_to_matrix(texts, "tfidf"),
                              tokenizer.texts_to_matrix(texts, "tfidf"))


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(words, max_size=8), lower=st.booleans())
def test_sequences_to_texts_inverts_texts_to_sequences(texts, lower):
    tokenizer = fitted(texts, lower=lower)
    back = tokenizer.sequences_to_texts(tokenizer.texts_to_sequences(texts))
    assert back == [" ".join(text_to_word_sequence(t, lower=lower)) for t in texts]


def corrupted(edit):
    """A fitted tokenizer's JSON with `edit(config)` applied to its config."""
    spec = json.loads(fitted(["the cat sat", "the dog"], oov_token="?").to_json())
    edit(spec["config"])
    return json.dumps(spec)


def setting(field, value):
    return lambda config: config.__setitem__(field, value)


def table_setting(field, table):
    return lambda config: config.__setitem__(field, json.dumps(table))


@pytest.mark.parametrize("json_string, error, message", [
    ("{not json", ValueError, "argument 'json_string' is not valid JSON"),
    (b"\xff", ValueError, "argument 'json_string' is not valid JSON"),
    (None, ValueError, "argument 'json_string' is not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, ValueError, "argument 'json_string' is not valid JSON"),
    ("[]", ValueError, "a \"config\" object"),
    ('{"config": []}', ValueError, "a \"config\" object"),
    (corrupted(lambda config: config.pop("word_index")), ValueError, "field 'config.word_index' is missing"),
    (corrupted(setting("word_counts", {"a": 1})), TypeError, "field 'config.word_counts' must be a JSON string"),
    (corrupted(setting("word_docs", "{broken")), ValueError, "field 'config.word_docs' is not valid JSON"),
    (corrupted(setting("word_docs", "[1]")), TypeError, "field 'config.word_docs' must be a JSON object"),
    (corrupted(table_setting("word_index", {"the": "1"})), TypeError, "'config.word_index': entry 'the' is str"),
    (corrupted(table_setting("word_counts", {"the": 2.5})), TypeError, "'config.word_counts': entry 'the' is float"),
    (corrupted(table_setting("word_docs", {"the": True})), TypeError, "'config.word_docs': entry 'the' is bool"),
    (corrupted(table_setting("index_word", {"one": "the"})), ValueError, "'config.index_word' must have int keys"),
    (corrupted(table_setting("index_word", {"1": 1})), TypeError, "'config.index_word': entry 1 is int"),
    (corrupted(table_setting("index_docs", {"x": 1})), ValueError, "'config.index_docs' must have int keys"),
    (corrupted(setting("num_words", "100")), TypeError, "field 'config.num_words' must be int or null, got str"),
    (corrupted(setting("num_words", True)), TypeError, "field 'config.num_words' must be int or null, got bool"),
    (corrupted(setting("lower", "yes")), TypeError, "field 'config.lower' must be bool"),
    (corrupted(setting("char_level", 0)), TypeError, "field 'config.char_level' must be bool"),
    (corrupted(setting("filters", None)), TypeError, "field 'config.filters' must be str"),
    (corrupted(setting("split", 1)), TypeError, "field 'config.split' must be str"),
    (corrupted(setting("oov_token", 1)), TypeError, "field 'config.oov_token' must be str or null"),
    (corrupted(setting("document_count", 2.0)), TypeError, "field 'config.document_count' must be int"),
    (corrupted(setting("document_count", -1)), ValueError, "field 'config.document_count' must be >= 0"),
])
def test_corrupted_json_is_a_clear_error_at_the_call(json_string, error, message):
    with pytest.raises(error, match=message):
        tokenizer_from_json(json_string)


def test_json_without_constructor_fields_uses_the_defaults():
    spec = json.loads(fitted(["a b b"]).to_json())
    for field in ("num_words", "filters", "lower", "split", "char_level", "oov_token", "document_count"):
        del spec["config"][field]
    loaded = tokenizer_from_json(json.dumps(spec))
    assert loaded.word_index == {"b": 1, "a": 2} and loaded.num_words is None and loaded.lower is True
