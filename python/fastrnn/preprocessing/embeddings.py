"""Pretrained word vectors in the GloVe / word2vec text format, read into an embedding matrix.

The file (plain or gzip) is streamed line by line; given a `word_index`, only the rows that the
vocabulary needs are parsed and kept. Not here: the binary word2vec format, zip archives (extract
the .txt first), and downloading (the error for a missing file says where to get one).
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

GLOVE_URL = "https://nlp.stanford.edu/data/glove.6B.zip"


class EmbeddingMatrix(NamedTuple):
    """Result of `load_word_vectors` with a `word_index`.

    matrix: (num_words, dim) float32; row i is the vector of the word with index i, zeros for
    row 0 and for words the file lacks. found: how many rows were filled from the file.
    """

    matrix: np.ndarray
    found: int


class WordVectors(NamedTuple):
    """Result of `load_word_vectors` without a `word_index`: words (list of str, file order)
    and vectors ((len(words), dim) float32)."""

    words: list
    vectors: np.ndarray


def load_word_vectors(path, word_index=None, num_words=None, dim=None):
    """Read word vectors from a GloVe / word2vec text file (`word v1 v2 ... vdim` per line).

    A first line of two integers (`count dim`, the word2vec header) is checked, not read as a
    vector. Words may contain spaces (the last `dim` fields are the values). Given a `word_index`,
    only lines of words with an index in [1, num_words) are parsed to floats (every line's field
    count is checked); a word listed twice keeps its first vector.

    Args:
        path: the .txt file, or its gzip-compressed form (detected by its first bytes).
        word_index: dict word -> int index, e.g. `Tokenizer.word_index`; None returns every vector.
        num_words: rows of the matrix (default: largest index + 1, i.e. len(word_index) + 1 for
            a Tokenizer); without `word_index`, read at most this many vectors.
        dim: expected vector size; default: taken from the header or the first vector.

    Returns:
        With `word_index`: EmbeddingMatrix(matrix, found), matrix (num_words, dim) float32.
        Without: WordVectors(words, vectors), vectors (n, dim) float32.

    Raises:
        FileNotFoundError: no file at `path` (the message says where to download one).
        ValueError: a malformed line (its number is given), a dimension that differs from `dim`
            or from the header, a header count that differs from the vectors read, no vectors,
            or a corrupt or truncated gzip file (with the line being read).

    Example:
        >>> matrix, found = load_word_vectors("glove.6B.100d.txt", tokenizer.word_index)
        >>> matrix.shape == (len(tokenizer.word_index) + 1, 100)
        True
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no word-vector file at {path}: download GloVe vectors from {GLOVE_URL}, extract "
            f"one file (e.g. glove.6B.100d.txt) and pass its path")
    if word_index is not None:
        if num_words is None:
            num_words = max(word_index.values(), default=0) + 1
        if num_words < 1:
            raise ValueError(f"argument 'num_words' must be >= 1, got {num_words}")
    reader = _VectorLines(path, dim)
    if word_index is None:
        return _read_all(reader, num_words)
    matrix, filled = None, None
    for word, values, lineno in reader:
        if matrix is None:
            matrix = np.zeros((num_words, reader.dim), np.float32)
            filled = np.zeros(num_words, bool)
        index = word_index.get(word)
        if index is not None and 0 < index < num_words and not filled[index]:
            matrix[index] = _parse(values, lineno, path)
            filled[index] = True
    if matrix is None:
        raise ValueError(f"{path}: no vectors found")
    return EmbeddingMatrix(matrix, int(filled.sum()))


def _read_all(reader, limit):
    """Every vector of the file (the first `limit` if given), in file order."""
    words, rows = [], None
    for word, values, lineno in reader:
        if limit is not None and len(words) >= limit:
            break
        if rows is None or len(words) == len(rows):  # grow the buffer geometrically
            grown = np.empty((max(1024, 2 * len(words)), reader.dim), np.float32)
            if rows is not None:
                grown[:len(rows)] = rows
            rows = grown
        rows[len(words)] = _parse(values, lineno, reader.path)
        words.append(word)
    if not words:
        raise ValueError(f"{reader.path}: no vectors found")
    return WordVectors(words, rows[:len(words)].copy())


def _parse(values, lineno, path):
    """The float32 vector of one line's space-separated values."""
    try:
        return np.array(list(map(float, values.split(" "))), np.float32)
    except ValueError as err:
        raise ValueError(f"{path}, line {lineno}: malformed value ({err})") from None


class _VectorLines:
    """Iterates (word, values text, line number) over a vector file; sets `dim` on the way."""

    def __init__(self, path, dim):
        self.path, self.dim = path, dim

    def __iter__(self):
        with self._open() as f:
            header_count, count = None, 0
            for lineno, raw in self._numbered(f):
                try:
                    line = raw.decode("utf-8").rstrip()
                except UnicodeDecodeError:
                    raise ValueError(f"{self.path}, line {lineno}: not UTF-8 text") from None
                if lineno == 1:
                    line = line.lstrip("\ufeff")
                    fields = line.split()
                    if len(fields) == 2 and all(f.isascii() and f.isdigit() for f in fields):
                        header_count = int(fields[0])
                        self._check_dim(int(fields[1]), "the header")
                        continue
                if not line:
                    continue
                spaces = line.count(" ")
                if self.dim is None or count == 0:
                    self._check_dim(spaces, f"line {lineno}")
                # the word is all but the last `dim` fields (it may hold spaces); the values are
                # only split when the caller parses them
                if spaces == self.dim:
                    word = line.partition(" ")[0]
                else:
                    word = line.rsplit(" ", self.dim)[0]
                if spaces < self.dim or not word:
                    raise ValueError(f"{self.path}, line {lineno}: expected a word and {self.dim} "
                                     f"values, found {len(line.split())} fields")
                count += 1
                yield word, line[len(word) + 1:], lineno
            if header_count is not None and header_count != count:
                raise ValueError(f"{self.path}: the header announces {header_count} vectors, "
                                 f"the file holds {count}")

    def _numbered(self, f):
        """(line number, raw line) of the open file; corrupt or truncated gzip data is a ValueError."""
        lineno = 0
        try:
            for lineno, raw in enumerate(f, 1):
                yield lineno, raw
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            raise ValueError(f"{self.path}, line {lineno + 1}: the gzip data is corrupt or truncated "
                             f"({err})") from None

    def _check_dim(self, found, where):
        """Adopt or check the vector size `found` at `where`."""
        if found < 1:
            raise ValueError(f"{self.path}, {where}: no vector values")
        if self.dim is None:
            self.dim = found
        elif found != self.dim:
            raise ValueError(f"{self.path}: {where} has dimension {found}, expected dim={self.dim}")

    def _open(self):
        """The file as binary lines, gunzipped if it starts with the gzip magic bytes."""
        with open(self.path, "rb") as f:
            magic = f.read(4)
        if magic[:2] == b"\x1f\x8b":
            return gzip.open(self.path, "rb")
        if magic == b"PK\x03\x04":
            raise ValueError(f"{self.path} is a zip archive: extract the .txt file inside and pass "
                             f"that path")
        return open(self.path, "rb")
