"""The vectorized word engine (preprocessing/_fast_words.py) against the plain Python definitions.

Word boundaries, exact keys around the 8- and 15-byte limits, hash collisions (which must fall
back or keep probing, never merge two words) and the cases the engine refuses.
"""
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastrnn.preprocessing import _fast_words, tokenizer as tokenizer_module
from fastrnn.preprocessing.text import DEFAULT_FILTERS, Tokenizer, text_to_word_sequence

ALPHABET = "abAB\u00e9\u0130\u03a3\x00\ud800\U0001f600'. ,!\t\n"
LENGTHS = ["x" * n for n in (1, 7, 8, 9, 14, 15, 16, 17, 40)] + ["\u00e9" * 4 + "x" * 8,
                                                                 "abcdefg\u00e9h", "a\x00", "a"]
texts = st.lists(st.one_of(st.text(ALPHABET, max_size=40),
                           st.lists(st.sampled_from(LENGTHS), max_size=8).map(" ".join)),
                 max_size=8)


def python_words(batch, filters, split, lower):
    return [text_to_word_sequence(t, filters, lower, split) for t in batch]


def first_seen_counts(per_text):
    counts = Counter(w for words in per_text for w in words)
    docs = Counter(w for words in per_text for w in set(words))
    return list(counts), list(counts.values()), [docs[w] for w in counts]


@settings(max_examples=200, deadline=None)
@given(batch=texts, lower=st.booleans(), split=st.sampled_from([" ", "a", "A", "\t"]),
       filters=st.sampled_from([DEFAULT_FILTERS, "", "b"]))
def test_split_and_count_match_python(batch, lower, split, filters):
    expected = python_words(batch, filters, split, lower)
    words = _fast_words.split_texts(batch, filters, split, lower)
    assert words.per_text.tolist() == [len(w) for w in expected]
    assert words.decode(np.arange(len(words.starts)), split) == [w for ws in expected for w in ws]
    assert _fast_words.count_words(words, split) == first_seen_counts(expected)


def test_keys_are_exact_around_the_word_limits():
    words = _fast_words.split_texts([" ".join(LENGTHS + LENGTHS)], "", " ", False)
    n = len(LENGTHS)
    keys = list(zip(words.key0.tolist(), words.key1.tolist()))
    short = [i for i, w in enumerate(LENGTHS) if len(w.encode()) <= _fast_words.SHORT]
    assert len({keys[i] for i in short}) == len(short)  # distinct words, distinct keys
    assert all(keys[i] == keys[i + n] for i in short)  # the same word, the same key
    assert words.long.tolist() == [i for i in range(2 * n)
                                   if len(LENGTHS[i % n].encode()) > _fast_words.SHORT]


def test_hash_collisions_fall_back_or_keep_probing(monkeypatch):
    batch = ["the cat sat on the mat", "a cat is not a mat " + "long" * 5]
    monkeypatch.setattr(_fast_words, "_slots", lambda k0, k1, shift: np.zeros(len(k0), np.int64))
    words = _fast_words.split_texts(batch, DEFAULT_FILTERS, " ", True)
    assert _fast_words.count_words(words, " ") is None  # every word in one group: refused
    vocab = {"the": 1, "cat": 2, "mat": 3, "a": 4, "long" * 5: 5, "zzz": 6}
    values, found = _fast_words.VocabTable(vocab).lookup(words, " ")
    assert values[found].tolist() == [1, 2, 1, 3, 4, 2, 4, 3, 5]

    monkeypatch.setattr(tokenizer_module, "_FAST_MIN_CHARS", 0)  # the Tokenizer falls back
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(batch)
    assert list(tokenizer.word_index) == ["the", "cat", "mat", "a", "sat", "on", "is", "not",
                                          "long" * 5]
    assert tokenizer.texts_to_sequences(batch) == [[1, 2, 5, 6, 1, 3], [4, 2, 7, 8, 4, 3, 9]]


def test_non_int_word_index_values_use_the_python_path(monkeypatch):
    with pytest.raises(TypeError):
        _fast_words.VocabTable({"a": 1.0})
    monkeypatch.setattr(tokenizer_module, "_FAST_MIN_CHARS", 0)
    tokenizer = Tokenizer(num_words=3)
    tokenizer.word_index = {"a": 1.0, "b": 2, "c": 3}
    assert tokenizer.texts_to_sequences(["a b c"]) == [[1.0, 2]]


def test_supported_arguments():
    assert _fast_words.supported(DEFAULT_FILTERS, " ")
    assert _fast_words.supported(list("!?"), "x")
    assert not _fast_words.supported(DEFAULT_FILTERS, ", ")  # multi-character split
    assert not _fast_words.supported(DEFAULT_FILTERS, "\u00e9")  # non-ASCII split
    assert not _fast_words.supported("\u00e9", " ")  # non-ASCII filter
    assert not _fast_words.supported(["ab"], " ")
    assert not _fast_words.supported(None, " ")
