"""Keras' word-level text helpers: `text_to_word_sequence`, `hashing_trick`, `one_hot`.

Same results as keras-preprocessing's functions of those names. Not here: the vocabulary
(`tokenizer.py`); import everything from `fastrnn.preprocessing.text`, as Keras code does.
"""
from __future__ import annotations

from functools import lru_cache
from hashlib import md5

__all__ = ["text_to_word_sequence", "hashing_trick", "one_hot", "DEFAULT_FILTERS"]

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


@lru_cache(maxsize=64)
def _translate_table(filters: tuple, split: str) -> dict:
    """str.translate table that maps each filter character to `split`."""
    return str.maketrans({c: split for c in filters})


def text_to_word_sequence(text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Split a text into words: lowercase, turn every filter character into `split`, split on it.

    Args:
        text: the input string.
        filters: characters to remove (each becomes a separator); default: punctuation, tab,
            newline.
        lower: lowercase the text first.
        split: the separator string.

    Returns:
        The list of non-empty words.

    Example:
        >>> text_to_word_sequence("The cat sat on the mat.")
        ['the', 'cat', 'sat', 'on', 'the', 'mat']
    """
    if lower:
        text = text.lower()
    table = _translate_table(filters if isinstance(filters, str) else tuple(filters), split)
    return list(filter(None, text.translate(table).split(split)))


def hashing_trick(text, n, hash_function=None, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Map each word of `text` to an index in [1, n) with a hash function (collisions possible).

    Args:
        text: the input string.
        n: size of the hashing space; indices are `hash_function(word) % (n - 1) + 1`.
        hash_function: a callable on str, "md5" (stable across runs), or None for Python's `hash`,
            which is salted per process (set PYTHONHASHSEED for repeatable results).
        filters, lower, split: as in `text_to_word_sequence`.

    Returns:
        A list of int, one per word.

    Example:
        >>> hashing_trick("the cat the", 10, hash_function="md5")
        [6, 3, 6]
    """
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        def hash_function(word):
            return int(md5(word.encode()).hexdigest(), 16)
    words = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    return [hash_function(w) % (n - 1) + 1 for w in words]


def one_hot(text, n, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """`hashing_trick` with Python's `hash`: indices in [1, n), not unique, not stable across runs.

    Args:
        text, n, filters, lower, split: as in `hashing_trick`.

    Returns:
        A list of int, one per word.

    Example:
        >>> len(one_hot("The cat sat.", 50))
        3
    """
    return hashing_trick(text, n, hash_function=hash, filters=filters, lower=lower, split=split)
