"""Keras' `Tokenizer` (vocabulary; texts to sequences and matrices) and `tokenizer_from_json`.

Attributes, outputs and JSON equal keras-preprocessing's, quirks included (see `Tokenizer`).
Batches of large plain-string input go through the vectorized engine in `_fast_words.py`, the
rest through a per-word Python path; both give the same results. Import it from
`fastrnn.preprocessing.text`, as Keras code does.
"""
from __future__ import annotations

import gc
import json
import warnings
from collections import Counter, OrderedDict, defaultdict
from contextlib import contextmanager
from itertools import chain, islice
from operator import itemgetter

import numpy as np

from . import _fast_words
from .words import DEFAULT_FILTERS, text_to_word_sequence

__all__ = ["Tokenizer", "tokenizer_from_json", "MODES"]

MODES = ("binary", "count", "tfidf", "freq")
_FAST_MIN_CHARS = 1 << 15  # below this many characters per batch the per-word Python path is faster
_BATCH_CHARS = 1 << 20  # texts are processed in batches of about this many characters
_BATCH_TEXTS = 1 << 16  # ... or this many texts, whichever comes first


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector (if it is on) while sequences are built.

    Every new list counts towards a collection, and the collections rescan the growing result
    again and again (a fifth of texts_to_sequences' time on large inputs); lists of ints cannot
    form cycles, so nothing is missed, and the next collection after the pause scans them once.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Tokenizer:
    """Vocabulary of a corpus: words to integer indices, texts to sequences or matrices (Keras API).

    Args:
        num_words: if set, conversions keep only indices below `num_words` (the `num_words - 1`
            most frequent words, counting the oov token); `word_index` still holds every word.
        filters: characters removed from texts (each acts as a separator).
        lower: lowercase texts (and the items of pre-split texts).
        split: word separator.
        char_level: every character is a token (filters are then NOT applied, as in Keras).
        oov_token: if set, it gets index 1 and replaces unknown (or beyond `num_words`) words.
        document_count: starting count of texts seen (used by tfidf).

    Attributes (same types and contents as Keras'): `word_counts` (OrderedDict, first-seen order),
    `word_docs` (word -> number of texts containing it), `index_docs` (same keyed by int index),
    `word_index` (word -> index, 1-based, by count descending, ties in first-seen order),
    `index_word` (the inverse), `document_count`.

    Keras quirks kept on purpose: an item of `texts` that is a list is taken as already split
    (only lowered); `word_index` is rebuilt from all counts after every fit; when the oov token
    also occurs as a word, `dict(zip(...))` keeps its later index and index 1 has no word; an
    oov token absent from `word_index` (e.g. after `fit_on_sequences` only) makes
    `texts_to_sequences` emit None for unknown words; 'freq' divides by the full sequence length,
    including indices dropped by `num_words`; a second fit overwrites (does not add to)
    `index_docs` entries of known words. Deliberate differences: a tokenizer loaded from JSON
    can keep fitting (Keras raises KeyError), `sequences_to_matrix` rejects an unknown mode and
    negative indices up front (Keras wraps negative indices around), `index_docs` keys are int
    even for NumPy integer input, and batches of texts are read before the first sequence is
    yielded by `texts_to_sequences_generator`.

    Example:
        >>> tokenizer = Tokenizer(num_words=1000)
        >>> tokenizer.fit_on_texts(['The cat sat on the mat.', 'The dog ate my homework.'])
        >>> tokenizer.texts_to_sequences(['The cat sat on the mat.'])
        [[1, 2, 3, 4, 1, 5]]
        >>> tokenizer.texts_to_matrix(['The cat.'], mode='binary').shape
        (1, 1000)
    """

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None, document_count=0, **kwargs):
        if "nb_words" in kwargs:  # Keras 1 spelling, still accepted by keras-preprocessing
            warnings.warn("The `nb_words` argument in `Tokenizer` has been renamed `num_words`.")
            num_words = kwargs.pop("nb_words")
        if kwargs:
            raise TypeError("Unrecognized keyword arguments: " + str(kwargs))
        self.word_counts = OrderedDict()
        self.word_docs = defaultdict(int)
        self.filters = filters
        self.split = split
        self.lower = lower
        self.num_words = num_words
        self.document_count = document_count
        self.char_level = char_level
        self.oov_token = oov_token
        self.index_docs = defaultdict(int)
        self.word_index = {}
        self.index_word = {}

    def fit_on_texts(self, texts):
        """Count the words of `texts` and rebuild `word_index`.

        Args:
            texts: an iterable of strings, or of lists of tokens (taken as already split).

        Example:
            >>> tokenizer.fit_on_texts(["a b b", "b c"]); tokenizer.word_index
            {'b': 1, 'a': 2, 'c': 3}
        """
        counts, docs = {}, {}  # this call's totals, words in first-seen order
        for batch, vectorize in self._batches(texts):
            self.document_count += len(batch)
            counted = None
            if vectorize:
                words = _fast_words.split_texts(batch, self.filters, self.split, self.lower)
                counted = _fast_words.count_words(words, self.split)
            if counted is None:
                counted = self._count_in_python(batch)
            for word, count, texts_with in zip(*counted):
                counts[word] = counts.get(word, 0) + count
                docs[word] = docs.get(word, 0) + texts_with
        word_counts, word_docs = self.word_counts, self.word_docs
        for word, count in counts.items():
            word_counts[word] = word_counts.get(word, 0) + count
        for word, texts_with in docs.items():
            word_docs[word] = word_docs.get(word, 0) + texts_with
        # sorted() is stable, also with reverse=True: ties keep their first-seen order
        ranked = sorted(word_counts.items(), key=itemgetter(1), reverse=True)
        vocabulary = [] if self.oov_token is None else [self.oov_token]
        vocabulary.extend(word for word, _ in ranked)
        self.word_index = dict(zip(vocabulary, range(1, len(vocabulary) + 1)))
        self.index_word = {index: word for word, index in self.word_index.items()}
        for word, texts_with in list(word_docs.items()):
            self.index_docs[self.word_index[word]] = texts_with

    def fit_on_sequences(self, sequences):
        """Count in how many sequences each index occurs (for tfidf without `fit_on_texts`).

        Args:
            sequences: a list of sequences of int word indices.

        Example:
            >>> tokenizer.fit_on_sequences([[1, 2, 2], [2]]); dict(tokenizer.index_docs)
            {1: 1, 2: 2}
        """
        self.document_count += len(sequences)
        counts = Counter(chain.from_iterable(map(set, sequences)))
        for index, docs in counts.items():
            index = int(index) if isinstance(index, np.integer) else index  # keeps to_json working
            self.index_docs[index] = self.index_docs.get(index, 0) + docs

    def texts_to_sequences(self, texts):
        """Turn each text into a list of word indices (see `texts_to_sequences_generator`).

        Python's cyclic garbage collector is paused during the call (the result is lists of
        ints, which cannot form cycles; rescanning it as it grows would cost a fifth of the time).

        Args:
            texts: an iterable of strings, or of lists of tokens.

        Returns:
            A list of lists of int.

        Example:
            >>> tokenizer.texts_to_sequences(["the cat"])
            [[1, 2]]
        """
        with _gc_paused():  # also while the result grows, see _gc_paused
            return list(chain.from_iterable(self._convert_batches(texts)))

    def texts_to_sequences_generator(self, texts):
        """Yield one list of word indices per text.

        Unknown words are dropped, or replaced by the oov index when `oov_token` is set; indices
        at or above `num_words` are dropped, or replaced by the oov index.

        Args:
            texts: an iterable of strings, or of lists of tokens.

        Yields:
            A list of int per text.

        Example:
            >>> next(tokenizer.texts_to_sequences_generator(["the cat"]))
            [1, 2]
        """
        for sequences in self._convert_batches(texts):
            yield from sequences

    def sequences_to_texts(self, sequences):
        """Turn each sequence of indices back into a space-joined string of words.

        Args:
            sequences: an iterable of sequences of int.

        Returns:
            A list of str.

        Example:
            >>> tokenizer.sequences_to_texts([[1, 2]])
            ['the cat']
        """
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """Yield one string per sequence; unknown or too-large indices follow the oov rules.

        Args:
            sequences: an iterable of sequences of int.

        Yields:
            A str per sequence.

        Example:
            >>> next(tokenizer.sequences_to_texts_generator([[1, 2]]))
            'the cat'
        """
        num_words = self.num_words
        oov_index = self.word_index.get(self.oov_token)
        for seq in sequences:
            words = []
            for index in seq:
                word = self.index_word.get(index)
                if word is not None:
                    if num_words and index >= num_words:
                        if oov_index is not None:
                            words.append(self.index_word[oov_index])
                    else:
                        words.append(word)
                elif self.oov_token is not None:
                    words.append(self.index_word[oov_index])
            yield " ".join(words)

    def texts_to_matrix(self, texts, mode="binary"):
        """`sequences_to_matrix(texts_to_sequences(texts), mode)`.

        Args:
            texts: a list of strings (or of lists of tokens).
            mode: "binary", "count", "tfidf" or "freq".

        Returns:
            A (len(texts), num_words) float64 array (num_words = len(word_index) + 1 if unset).

        Example:
            >>> tokenizer.texts_to_matrix(["the cat the"], mode="count")[0, :3]
            array([0., 2., 1.])
        """
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """One row per sequence, one column per index below `num_words`.

        binary: 1 where the index occurs; count: occurrences; freq: occurrences / len(sequence);
        tfidf: (1 + log(count)) * log(1 + document_count / (1 + index_docs[index])).

        Args:
            sequences: a list of sequences of non-negative int indices.
            mode: "binary", "count", "tfidf" or "freq".

        Returns:
            A (len(sequences), num_words) float64 array.

        Raises:
            ValueError: unknown mode, negative index, no `num_words` and nothing fitted, or
                tfidf before any fit.

        Example:
            >>> tokenizer.sequences_to_matrix([[1, 1, 3]], mode="count")[0, :4]
            array([0., 2., 0., 1.])
        """
        if mode not in MODES:
            raise ValueError(f"argument 'mode' must be one of {MODES}, got {mode!r}")
        if not self.num_words:
            if not self.word_index:
                raise ValueError("Specify a dimension (`num_words` argument), "
                                 "or fit on some text data first.")
            num_words = len(self.word_index) + 1
        else:
            num_words = self.num_words
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using tfidf mode.")
        lengths = np.fromiter(map(len, sequences), np.int64, len(sequences))
        flat = np.fromiter(chain.from_iterable(sequences), np.int64, int(lengths.sum()))
        if len(flat) and flat.min() < 0:
            raise ValueError(f"argument 'sequences' holds a negative index ({flat.min()})")
        rows = np.repeat(np.arange(len(sequences)), lengths)
        keep = flat < num_words
        cells = rows[keep] * num_words + flat[keep]  # flat positions in the matrix
        x = np.zeros((len(sequences), num_words))
        if mode == "binary":
            x.ravel()[cells] = 1
            return x
        cells, counts = np.unique(cells, return_counts=True)
        rows, cols = np.divmod(cells, num_words)
        if mode == "count":
            x.ravel()[cells] = counts
        elif mode == "freq":
            x.ravel()[cells] = counts / lengths[rows]
        else:  # tfidf
            columns = np.unique(cols)
            docs = np.array([self.index_docs.get(j, 0) for j in columns.tolist()], dtype=np.float64)
            idf = np.zeros(num_words)
            idf[columns] = np.log(1 + self.document_count / (1 + docs))
            x.ravel()[cells] = (1 + np.log(counts)) * idf[cols]
        return x

    def get_config(self):
        """The constructor arguments plus the five dictionaries, each as a JSON string (Keras).

        Returns:
            A dict: the "config" part of `to_json()`.

        Example:
            >>> sorted(Tokenizer().get_config())[:3]
            ['char_level', 'document_count', 'filters']
        """
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs):
        """The tokenizer as a JSON string that Keras' and fastrnn's `tokenizer_from_json` both read.

        Args:
            **kwargs: passed to `json.dumps`.

        Returns:
            A str.

        Example:
            >>> tokenizer_from_json(tokenizer.to_json()).word_index == tokenizer.word_index
            True
        """
        return json.dumps({"class_name": self.__class__.__name__, "config": self.get_config()},
                          **kwargs)

    def _batches(self, texts):
        """Group `texts` into batches; yield (batch, whether the vectorized path applies)."""
        vectorizable = not self.char_level and _fast_words.supported(self.filters, self.split)
        texts = iter(texts)
        while True:
            batch = list(islice(texts, _BATCH_TEXTS))
            if not batch:
                return
            if not vectorizable or set(map(type, batch)) != {str}:
                yield batch, False
                continue
            # cut the batch where its running length passes each multiple of _BATCH_CHARS
            ends = np.cumsum(np.fromiter(map(len, batch), np.int64, len(batch)))
            cuts = np.searchsorted(ends, np.arange(_BATCH_CHARS, ends[-1], _BATCH_CHARS)) + 1
            bounds = [0] + np.unique(cuts).tolist() + [len(batch)]
            for a, b in zip(bounds[:-1], bounds[1:]):
                if b > a:
                    chars = ends[b - 1] - (ends[a - 1] if a else 0)
                    yield batch[a:b], chars >= _FAST_MIN_CHARS

    def _tokens(self, text):
        """The tokens of one text, exactly as Keras makes them."""
        if self.char_level or isinstance(text, list):
            if self.lower:
                return [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return text
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def _count_in_python(self, batch):
        """(words, counts, text counts) of a batch, words in first-seen order."""
        counts, docs = Counter(), Counter()
        for text in batch:
            tokens = self._tokens(text)
            counts.update(tokens)
            docs.update(set(tokens))
        return list(counts), list(counts.values()), [docs[w] for w in counts]

    def _convert_batches(self, texts):
        """Yield, per batch of `texts`, the list of their index sequences."""
        convert = self._python_converter()
        table = None  # built for the first batch that takes the vectorized path
        oov_index = None if self.oov_token is None else self.word_index.get(self.oov_token)
        # an oov token missing from word_index yields None items, which only the Python path makes
        can_vectorize = self.oov_token is None or oov_index is not None
        for batch, vectorize in self._batches(texts):
            if vectorize and can_vectorize and table is None:
                try:
                    table = _fast_words.VocabTable(self.word_index, self.num_words, oov_index)
                except (TypeError, OverflowError):  # values that are not int64
                    can_vectorize = False
            with _gc_paused():
                if vectorize and can_vectorize:
                    sequences = self._convert_vectorized(batch, table)
                else:
                    sequences = list(map(convert, batch))
            yield sequences

    def _python_converter(self):
        """A function text -> list of indices applying Keras' num_words and oov rules."""
        get, num_words = self.word_index.get, self.num_words
        oov_index = get(self.oov_token)
        if self.oov_token is None:
            if num_words:
                return lambda text: [i for i in map(get, self._tokens(text))
                                     if i is not None and not i >= num_words]
            return lambda text: [i for i in map(get, self._tokens(text)) if i is not None]
        if oov_index is None:  # unknown words become None; words beyond num_words are dropped
            return lambda text: [i for i in map(get, self._tokens(text))
                                 if i is None or not (num_words and i >= num_words)]
        return lambda text: [oov_index if i is None or (num_words and i >= num_words) else i
                             for i in map(get, self._tokens(text))]

    def _convert_vectorized(self, batch, table):
        """Lists of indices for a batch of str, through the vectorized path."""
        words = _fast_words.split_texts(batch, self.filters, self.split, self.lower)
        values, found = table.lookup(words, self.split)
        if table.oov_index is None:  # unknown words are dropped
            kept_before = np.concatenate(([0], np.cumsum(found)))
            ends = kept_before[np.cumsum(words.per_text)].tolist()
            flat = values[found].tolist()
        else:  # unknown words become the oov index
            values[~found] = table.oov_index
            ends, flat = np.cumsum(words.per_text).tolist(), values.tolist()
        return [flat[a:b] for a, b in zip([0] + ends[:-1], ends)]


# the constructor fields of Tokenizer.to_json()'s config (optional, as in Keras) and their types
_CONFIG_FIELDS = {"num_words": (int, type(None)), "filters": (str,), "lower": (bool,), "split": (str,),
                  "char_level": (bool,), "oov_token": (str, type(None)), "document_count": (int,)}
# its five dictionaries (required): key type once parsed (JSON keys are str), value type
_TABLES = {"word_counts": (str, int), "word_docs": (str, int), "index_docs": (int, int),
           "index_word": (int, str), "word_index": (str, int)}


def tokenizer_from_json(json_string):
    """Rebuild a `Tokenizer` from `Tokenizer.to_json()` output (fastrnn's or Keras').

    The structure is checked at the call: an object with a "config" object; the constructor
    fields, where present, of their types (num_words int or null, filters and split str, lower
    and char_level bool, oov_token str or null, document_count int >= 0); and the five
    dictionaries, each a JSON string of an object with str keys (int keys for index_docs and
    index_word) and int values (str for index_word).

    Args:
        json_string: the JSON text.

    Returns:
        A Tokenizer with the same configuration and dictionaries.

    Raises:
        ValueError: not JSON, not an object with a "config" object, a dictionary missing or not
            JSON, a key that is not an int where one is needed (the field is named).
        TypeError: a field or a dictionary entry of the wrong type (the field is named).

    Example:
        >>> tokenizer_from_json(Tokenizer(num_words=5).to_json()).num_words
        5
    """
    spec = _parse_json(json_string, "argument 'json_string'")
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError("argument 'json_string' must hold an object with a \"config\" object, as "
                         "Tokenizer.to_json() writes")
    config = dict(spec["config"])
    for field, types in _CONFIG_FIELDS.items():
        value = config.get(field)
        if field not in config or (isinstance(value, types) and (bool in types or not isinstance(value, bool))):
            continue  # absent (the constructor's default), or of its type (a bool is not an int here)
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise TypeError(f"field 'config.{field}' must be {names}, got {type(value).__name__}: {value!r:.80}")
    if config.get("document_count", 0) < 0:
        raise ValueError(f"field 'config.document_count' must be >= 0, got {config['document_count']}")
    tables = {name: _table(config.pop(name, None), name, *types) for name, types in _TABLES.items()}
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = OrderedDict(tables["word_counts"])
    tokenizer.word_docs = defaultdict(int, tables["word_docs"])
    tokenizer.index_docs = defaultdict(int, tables["index_docs"])
    tokenizer.word_index = tables["word_index"]
    tokenizer.index_word = tables["index_word"]
    return tokenizer


def _parse_json(text, what):
    """json.loads, with a ValueError naming `what` for anything that is not JSON text."""
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"{what} is not valid JSON ({err})") from None


def _table(text, name, key_type, value_type):
    """One of the five dictionaries of a tokenizer's JSON config, its keys and values checked."""
    field = f"field 'config.{name}'"
    if text is None:
        raise ValueError(f"{field} is missing: not Tokenizer.to_json() output")
    if not isinstance(text, str):
        raise TypeError(f"{field} must be a JSON string (as to_json writes it), got {type(text).__name__}")
    table = _parse_json(text, field)
    if not isinstance(table, dict):
        raise TypeError(f"{field} must be a JSON object, got {type(table).__name__}")
    if key_type is int:
        parsed = {}
        for key, value in table.items():
            try:
                parsed[int(key)] = value
            except ValueError:
                raise ValueError(f"{field} must have int keys, got {key!r}") from None
        table = parsed
    if not set(map(type, table.values())) <= {value_type}:
        key, value = next((k, v) for k, v in table.items() if type(v) is not value_type)
        raise TypeError(f"{field}: entry {key!r} is {type(value).__name__} {value!r:.80}, expected "
                        f"{value_type.__name__}")
    return table
