"""IMDB movie-review sentiment data from files already on disk: Keras' imdb.npz or raw aclImdb/.

The .npz path reproduces `keras.datasets.imdb.load_data` exactly (same shuffle, offsets, oov and
length filtering, quirks included); the folder path reads the review texts and their labels.
The .npz's pickled lists are read by a restricted unpickler (no code in the file can run).
Nothing is downloaded: a missing file raises FileNotFoundError with the URL to fetch.
"""
from __future__ import annotations

import json
import pickle
import re
import zipfile
from itertools import chain
from pathlib import Path

import numpy as np

from ._files import locate

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
WORD_INDEX_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json"
ACLIMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
_REVIEW_FILE = re.compile(r"(\d+)_(\d+)\.txt")


def load_data(path=None, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """Read the IMDB train and test splits, as word-index sequences (.npz) or as texts (folder).

    From Keras' imdb.npz, as Keras does: each split is shuffled with
    `np.random.RandomState(seed)` (train first, then test, one generator); every word index gets
    `index_from` added and `start_char` is prepended; with `maxlen`, sequences of `maxlen` or
    more items (start char included) are dropped; then indices outside [skip_top, num_words)
    become `oov_char` (or are removed if it is None). Keras quirks kept: without `num_words` the
    bound is the largest index, so that one word becomes `oov_char`; `skip_top` compares the
    shifted indices, so it also replaces a `start_char` below it.

    The file is read without np.load's allow_pickle: its x members (1-D object arrays, pickled
    inside the .npy members) go through an unpickler that can only rebuild NumPy arrays, so a
    crafted file cannot run code; x must then hold lists of int (or 1-D int arrays), y ints.

    From an aclImdb/ folder (train/ and test/, each with pos/ and neg/ holding `<id>_<rating>.txt`):
    the texts, negatives then positives, each by id; the sequence arguments must keep their
    defaults. Shuffle and tokenize them yourself (e.g. with `preprocessing.text.Tokenizer`).

    Args:
        path: imdb.npz or an aclImdb folder; default: imdb.npz in Keras' cache folder
            ($KERAS_HOME/datasets or ~/.keras/datasets).
        num_words: keep indices below this; None: all (see the quirk above).
        skip_top: indices below this become `oov_char`.
        maxlen: drop sequences with `maxlen` or more items; None or 0: keep all.
        seed: shuffle seed.
        start_char: index put first in every sequence, or None.
        oov_char: index replacing removed words, or None to delete them.
        index_from: offset added to every word index of the file.

    Returns:
        (x_train, y_train), (x_test, y_test). From .npz: x are 1-D object arrays of lists of
        int, y int arrays. From a folder: x are lists of str, y int64 arrays (0 neg, 1 pos).

    Raises:
        FileNotFoundError: the file or a folder of the layout is missing (with the URL).
        ValueError: the .npz is not in this format (the file and member are named), nothing is
            left after `maxlen` filtering, or sequence arguments with a folder.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)
        >>> x_train[0][:3], int(y_train[0])
        ([1, 14, 22], 1)
    """
    if path is not None and Path(path).is_dir():
        given = dict(num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                     start_char=start_char, oov_char=oov_char, index_from=index_from)
        defaults = dict(num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
                        oov_char=2, index_from=3)
        changed = sorted(k for k in given if given[k] != defaults[k])
        if changed:
            raise ValueError(f"arguments {changed} apply to imdb.npz, not to the folder {path}")
        return _load_folder(Path(path))
    if path is not None and not Path(path).exists():
        raise FileNotFoundError(
            f"{path} not found. fastrnn does not download data: fetch {URL} and save it as {path}, "
            f"or fetch {ACLIMDB_URL} and extract it (it unpacks to aclImdb/), then pass that path")
    path = locate(path, "imdb.npz", URL)
    x_train, labels_train, x_test, labels_test = _read_npz(path)
    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, labels_train = x_train[order], labels_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, labels_test = x_test[order], labels_test[order]

    lengths = np.fromiter(map(len, chain(x_train, x_test)), np.int64, len(x_train) + len(x_test))
    flat = np.fromiter(chain.from_iterable(chain(x_train, x_test)), np.int64, int(lengths.sum()))
    flat += index_from
    if start_char is not None:
        flat = np.insert(flat, np.cumsum(lengths) - lengths, start_char)
        lengths = lengths + 1
    labels = np.concatenate([labels_train, labels_test])
    is_train = np.arange(len(lengths)) < len(x_train)
    if maxlen:
        short = lengths < maxlen
        flat = flat[np.repeat(short, lengths)]
        lengths, labels, is_train = lengths[short], labels[short], is_train[short]
        if is_train.all() or not is_train.any():
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, "
                             f"no sequence was kept. Increase maxlen.")
    if not num_words:
        num_words = flat.max()
    kept = (flat >= skip_top) & (flat < num_words)
    if oov_char is not None:
        flat = np.where(kept, flat, oov_char)
    else:
        flat = flat[kept]
        lengths = np.bincount(np.repeat(np.arange(len(lengths)), lengths)[kept],
                              minlength=len(lengths))
    xs = _as_lists(flat, lengths)
    n_train = int(is_train.sum())
    return (xs[:n_train], labels[:n_train]), (xs[n_train:], labels[n_train:])


def get_word_index(path=None):
    """The word -> index dict of imdb.npz (index before `index_from` is added).

    Args:
        path: imdb_word_index.json; default: that name in Keras' cache folder.

    Returns:
        A dict str -> int (1 is the most frequent word).

    Example:
        >>> index = imdb.get_word_index(); index["the"]
        1
    """
    path = locate(path, "imdb_word_index.json", WORD_INDEX_URL)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles what NumPy's pickle of an array refers to, and refuses every other global."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only NumPy arrays may be unpickled")
        return super().find_class(module, name)


def _read_npz(path):
    """x_train, y_train, x_test, y_test of imdb.npz, each checked; the x pickles read restrictedly."""
    try:
        with zipfile.ZipFile(path) as archive:
            x_train, y_train, x_test, y_test = (_read_member(archive, path, name)
                                                for name in ("x_train", "y_train", "x_test", "y_test"))
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path} is not an .npz file ({err})") from None
    for x_name, x, y_name, y in (("x_train", x_train, "y_train", y_train), ("x_test", x_test, "y_test", y_test)):
        _check_sequences(path, x_name, x)
        if not (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu" and len(y) == len(x)):
            raise ValueError(f"{path}, member {y_name!r}: expected a 1-D int array of {len(x)} labels (one "
                             f"per {x_name} sequence), got {getattr(y, 'dtype', type(y).__name__)} of shape "
                             f"{np.shape(y)}")
    return x_train, y_train, x_test, y_test


def _read_member(archive, path, name):
    """One .npy member: numeric arrays as np.load reads them, object arrays by _ArrayUnpickler."""
    try:
        with archive.open(f"{name}.npy") as fp:
            version = np.lib.format.read_magic(fp)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f".npy format version {version} (expected 1.0 or 2.0)")
            _, _, dtype = read_header(fp)
            if dtype.hasobject:
                return _ArrayUnpickler(fp, encoding="ASCII").load()  # ASCII, as np.load: Python 2 files
            fp.seek(0)
            return np.lib.format.read_array(fp, allow_pickle=False)
    except KeyError:
        raise ValueError(f"{path} has no member {name!r}: not Keras' imdb.npz") from None
    except (pickle.UnpicklingError, ValueError, TypeError, EOFError, AttributeError, IndexError,
            OverflowError, ImportError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}, member {name!r}: cannot be read as an array ({err})") from None


def _check_sequences(path, name, x):
    """x is a 1-D object array of lists of int or 1-D int arrays (or a 2-D int array)."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{path}, member {name!r}: expected an array of sequences, got {type(x).__name__}")
    if x.dtype.kind in "iu" and x.ndim == 2:
        return
    if x.dtype != object or x.ndim != 1:
        raise ValueError(f"{path}, member {name!r}: expected a 1-D object array of lists of int, "
                         f"got {x.dtype} of shape {x.shape}")
    for i, item in enumerate(x):
        if type(item) is not list and not (isinstance(item, np.ndarray) and item.ndim == 1
                                           and item.dtype.kind in "iu"):
            raise ValueError(f"{path}, member {name!r}: item {i} is {type(item).__name__}, not a list of int")
    kinds = set(map(type, chain.from_iterable(item for item in x if type(item) is list)))
    if not kinds <= {int}:
        raise ValueError(f"{path}, member {name!r}: the lists hold {sorted(k.__name__ for k in kinds - {int})}, "
                         f"not only int")


def _as_lists(flat, lengths):
    """A 1-D object array of lists of int, cut from `flat` by `lengths`."""
    values = flat.tolist()
    ends = np.cumsum(lengths).tolist()
    out = np.empty(len(ends), dtype=object)
    for i, (a, b) in enumerate(zip([0] + ends[:-1], ends)):
        out[i] = values[a:b]
    return out


def _load_folder(root):
    """(texts, labels) per split from an aclImdb folder."""
    splits = []
    for split in ("train", "test"):
        texts, labels = [], []
        for label, polarity in enumerate(("neg", "pos")):
            folder = root / split / polarity
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"{root} is not an aclImdb folder: {folder} is missing. Fetch {ACLIMDB_URL} "
                    f"and extract it (it unpacks to aclImdb/ with train/ and test/, each with "
                    f"pos/ and neg/)")
            files = [(m, p) for p in folder.iterdir() if (m := _REVIEW_FILE.fullmatch(p.name))]
            for _, p in sorted(files, key=lambda mp: (int(mp[0][1]), int(mp[0][2]))):
                texts.append(p.read_text(encoding="utf-8"))
                labels.append(label)
        splits.append((texts, np.array(labels, dtype=np.int64)))
    return tuple(splits)
