"""Character-level text helpers for the classic char-RNN exercise (Keras' lstm_text_generation).

A character vocabulary, the (x, y) training windows ("maxlen characters -> the next one") and
`sample(preds, temperature)` to draw the next character. Not a word tokenizer
(`preprocessing.text` is) and not a model.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CharVocabulary:
    """The sorted distinct characters of a text, with Keras-example names for the two mappings.

    Attributes:
        chars: the sorted list of characters; char_indices: char -> index; indices_char: the
            inverse.

    Example:
        >>> vocab = CharVocabulary("hello")
        >>> vocab.chars, vocab.encode("leh").tolist(), vocab.decode([3, 0])
        (['e', 'h', 'l', 'o'], [2, 0, 1], 'oe')
    """

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.char_indices = {c: i for i, c in enumerate(self.chars)}
        self.indices_char = dict(enumerate(self.chars))

    def __len__(self):
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """(len(text),) int32 indices; ValueError naming the first unknown character."""
        try:
            return np.array([self.char_indices[c] for c in text], dtype=np.int32)
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, indices) -> str:
        """The characters of `indices` joined into a str."""
        return "".join(self.indices_char[int(i)] for i in indices)


class CharWindows(NamedTuple):
    """x: (n, maxlen, V) bool one-hot windows (or (n, maxlen) int32 indices); y: (n, V) bool
    one-hot next characters (or (n,) int32); vocabulary: the CharVocabulary used."""

    x: np.ndarray
    y: np.ndarray
    vocabulary: CharVocabulary


def make_windows(text: str, maxlen: int, step: int = 3, vocabulary=None, one_hot: bool = True):
    """Cut `text` into windows of `maxlen` characters, one every `step`, each with the next one.

    Window i covers text[i*step : i*step + maxlen] and its target is text[i*step + maxlen]; there
    are len(range(0, len(text) - maxlen, step)) of them, as in Keras' example.

    Args:
        text: the training text.
        maxlen: window length (>= 1).
        step: distance between window starts (>= 1).
        vocabulary: a CharVocabulary; default: built from `text`.
        one_hot: bool one-hot arrays (Keras' example) instead of int32 indices.

    Returns:
        CharWindows(x, y, vocabulary).

    Example:
        >>> x, y, vocab = make_windows("hello world", maxlen=4, step=2)
        >>> x.shape, y.shape
        ((4, 4, 8), (4, 8))
    """
    if not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
        raise ValueError(f"argument 'maxlen' must be an int >= 1, got {maxlen!r}")
    if not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"argument 'step' must be an int >= 1, got {step!r}")
    vocabulary = CharVocabulary(text) if vocabulary is None else vocabulary
    ids = vocabulary.encode(text)
    starts = np.arange(0, max(len(text) - maxlen, 0), step)
    x = ids[starts[:, None] + np.arange(maxlen)] if len(starts) else np.zeros((0, maxlen), np.int32)
    y = ids[starts + maxlen]
    if one_hot:
        eye = np.eye(len(vocabulary), dtype=bool)
        x, y = eye[x], eye[y]
    return CharWindows(x, y, vocabulary)


def sample(preds, temperature: float = 1.0, rng=None) -> int:
    """Draw an index from a probability vector reshaped by `temperature` (Keras' example `sample`).

    p_i is proportional to preds_i ** (1 / temperature): below 1 sharpens towards the argmax,
    above 1 flattens towards uniform.

    Args:
        preds: (V,) non-negative probabilities (e.g. a softmax output), not all zero.
        temperature: > 0.
        rng: a numpy Generator, a seed, or None for fresh entropy.

    Returns:
        The drawn index as int.

    Example:
        >>> sample([0.1, 0.7, 0.2], temperature=0.2, rng=0)
        1
    """
    preds = np.asarray(preds, dtype=np.float64)
    if preds.ndim != 1 or len(preds) == 0:
        raise ValueError(f"argument 'preds' must be a non-empty 1-D vector, got shape "
                         f"{preds.shape}")
    if not np.all(preds >= 0) or not np.any(preds > 0):
        raise ValueError("argument 'preds' must be non-negative and not all zero")
    if not temperature > 0:
        raise ValueError(f"argument 'temperature' must be > 0, got {temperature!r}")
    with np.errstate(divide="ignore"):
        logits = np.log(preds) / temperature
    weights = np.exp(logits - logits.max())  # shifted by the max: no overflow at low temperature
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return int(rng.choice(len(weights), p=weights / weights.sum()))
