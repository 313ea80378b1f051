"""fastrnn.datasets.imdb and .mnist on small files in the real formats, written by the tests:
Keras' imdb.npz (object arrays of int lists), the aclImdb/ folder layout, and mnist.npz; and
crafted imdb.npz files whose pickles would run code or hold other objects."""
import io
import json
import pickle
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastrnn.datasets import imdb, mnist

TRAIN = [[1, 2, 3], [4, 5], [6]]
TEST = [[7, 8], [9]]


def object_array(lists):
    out = np.empty(len(lists), dtype=object)
    for i, item in enumerate(lists):
        out[i] = list(item)
    return out


def write_imdb(path, x_train, y_train, x_test, y_test):
    np.savez(path, x_train=object_array(x_train), y_train=np.array(y_train, dtype=np.int64),
             x_test=object_array(x_test), y_test=np.array(y_test, dtype=np.int64))
    return path


def keras_imdb(path, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
               oov_char=2, index_from=3):
    """keras.datasets.imdb.load_data's steps after get_file, written as Keras writes them."""
    with np.load(path, allow_pickle=True) as f:
        x_train, labels_train, x_test, labels_test = (f["x_train"], f["y_train"], f["x_test"],
                                                      f["y_test"])
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    else:
        x_train = [[w for w in x] for x in x_train]
        x_test = [[w for w in x] for x in x_test]
    if maxlen:
        keep = [len(x) < maxlen for x in x_train]
        x_train = [x for x, k in zip(x_train, keep) if k]
        labels_train = labels_train[np.array(keep, bool)]
        keep = [len(x) < maxlen for x in x_test]
        x_test = [x for x, k in zip(x_test, keep) if k]
        labels_test = labels_test[np.array(keep, bool)]
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, ...")
    xs = x_train + x_test
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if (skip_top <= w < num_words) else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    idx = len(x_train)
    return (xs[:idx], labels[:idx]), (xs[idx:], labels[idx:])


@pytest.fixture
def imdb_npz(tmp_path):
    return write_imdb(tmp_path / "imdb.npz", TRAIN, [0, 1, 0], TEST, [1, 0])


def as_lists(x):
    return [list(seq) for seq in x]


@pytest.mark.parametrize("kwargs, train, test", [
    # shuffled with RandomState(113): train order [2, 0, 1], test order [1, 0]; the largest
    # index (12) becomes oov when num_words is None, as in Keras
    ({}, [[1, 9], [1, 4, 5, 6], [1, 7, 8]], [[1, 2], [1, 10, 11]]),
    (dict(num_words=8), [[1, 2], [1, 4, 5, 6], [1, 7, 2]], [[1, 2], [1, 2, 2]]),
    (dict(skip_top=5), [[2, 9], [2, 2, 5, 6], [2, 7, 8]], [[2, 2], [2, 10, 11]]),
    (dict(maxlen=3), [[1, 9]], [[1, 2]]),
    (dict(num_words=8, oov_char=None), [[1], [1, 4, 5, 6], [1, 7]], [[1], [1]]),
    (dict(start_char=None, index_from=0), [[6], [1, 2, 3], [4, 5]], [[2], [7, 8]]),
])
def test_imdb_npz_keras_semantics(imdb_npz, kwargs, train, test):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(imdb_npz, **kwargs)
    assert as_lists(x_train) == train and as_lists(x_test) == test
    assert x_train.dtype == object and x_train.ndim == 1
    assert all(type(w) is int for seq in x_train for w in seq)
    n_train, n_test = len(train), len(test)
    assert y_train.tolist() == [0, 0, 1][:n_train] and y_test.tolist() == [0, 1][:n_test]


def test_imdb_maxlen_that_keeps_nothing(imdb_npz):
    with pytest.raises(ValueError, match="maxlen=2"):
        imdb.load_data(imdb_npz, maxlen=2)


reviews = st.lists(st.lists(st.integers(1, 30), min_size=1, max_size=8), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(train=reviews, test=reviews, num_words=st.sampled_from([None, 0, 5, 20]),
       skip_top=st.sampled_from([0, 2, 6]), maxlen=st.sampled_from([None, 0, 6, 100]),
       seed=st.integers(0, 1000), start_char=st.sampled_from([None, 1]),
       oov_char=st.sampled_from([None, 2]), index_from=st.sampled_from([0, 3]))
def test_imdb_npz_same_as_keras_code(tmp_path_factory, train, test, num_words, skip_top, maxlen,
                                     seed, start_char, oov_char, index_from):
    path = write_imdb(tmp_path_factory.mktemp("imdb") / "imdb.npz", train,
                      np.arange(len(train)) % 2, test, np.arange(len(test)) % 2)
    kwargs = dict(num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                  start_char=start_char, oov_char=oov_char, index_from=index_from)
    try:
        expected = keras_imdb(path, **kwargs)
    except ValueError:  # Keras finds nothing left after maxlen: so must we
        with pytest.raises(ValueError):
            imdb.load_data(path, **kwargs)
        return
    (x_train, y_train), (x_test, y_test) = imdb.load_data(path, **kwargs)
    assert as_lists(x_train) == expected[0][0] and as_lists(x_test) == expected[1][0]
    assert y_train.tolist() == expected[0][1].tolist()
    assert y_test.tolist() == expected[1][1].tolist()


def npy_member(array):
    """The .npy bytes np.savez stores for `array` (object arrays pickled inside)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=True)
    return buf.getvalue()


def write_members(path, **members):
    """An .npz of raw .npy members; the labels of TRAIN and TEST unless given."""
    members = {"x_train": npy_member(object_array(TRAIN)), "y_train": npy_member(np.array([0, 1, 0])),
               "x_test": npy_member(object_array(TEST)), "y_test": npy_member(np.array([1, 0])), **members}
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    return path


def object_npy(pickle_bytes, length=3):
    """An object-array .npy member whose pickle is `pickle_bytes` (as crafted as one likes)."""
    text = repr({"descr": "|O", "fortran_order": False, "shape": (length,)}).encode()
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + pickle_bytes


def test_imdb_npz_pickled_by_old_numpy_loads(tmp_path):
    # Keras' file was pickled by Python 2 and NumPy 1: numpy.core.multiarray._reconstruct, and
    # the typecode b'b' as a Python 2 str (SHORT_BINSTRING), which np.load decodes as ASCII
    def as_written_by_python2(lists):
        old = pickle.dumps(object_array(lists), protocol=3).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        assert old.count(b"C\x01b") == 1 and b"cnumpy.core.multiarray\n_reconstruct\n" in old
        return object_npy(old.replace(b"C\x01b", b"U\x01b"), len(lists))

    path = write_members(tmp_path / "imdb.npz", x_train=as_written_by_python2(TRAIN),
                         x_test=as_written_by_python2(TEST))
    with np.load(path, allow_pickle=True) as f:  # what the old loader read: the same lists
        assert as_lists(f["x_train"]) == TRAIN and as_lists(f["x_test"]) == TEST
    expected = imdb.load_data(write_imdb(tmp_path / "new.npz", TRAIN, [0, 1, 0], TEST, [1, 0]))
    (x_train, y_train), (x_test, y_test) = imdb.load_data(path)
    assert as_lists(x_train) == as_lists(expected[0][0]) and as_lists(x_test) == as_lists(expected[1][0])
    assert y_train.tolist() == expected[0][1].tolist() and y_test.tolist() == expected[1][1].tolist()


def test_imdb_int_array_sequences_load(tmp_path):
    x_train = np.empty(len(TRAIN), dtype=object)
    for i, seq in enumerate(TRAIN):
        x_train[i] = np.array(seq)
    path = write_members(tmp_path / "imdb.npz", x_train=npy_member(x_train),
                         x_test=npy_member(np.array([[7, 8], [9, 9]])))
    (x_train, _), (x_test, _) = imdb.load_data(path, start_char=None, index_from=0, num_words=100)
    assert sorted(as_lists(x_train)) == sorted(TRAIN) and sorted(as_lists(x_test)) == [[7, 8], [9, 9]]


@pytest.mark.parametrize("payload", [
    b"cos\nsystem\n(S'touch {marker}'\ntR.",  # the classic: a shell command
    b"cbuiltins\nopen\n(S'{marker}'\nS'w'\ntR.",  # any other callable
    b"cnumpy.core.multiarray\n_reconstruct\n(cos\nsystem\nS'touch {marker}'\nS'b'\ntR.",  # hidden in an arg
])
def test_crafted_imdb_pickle_cannot_run_code(tmp_path, payload):
    marker = tmp_path / "marker"
    path = write_members(tmp_path / "imdb.npz",
                         x_train=object_npy(payload.replace(b"{marker}", str(marker).encode())))
    with pytest.raises(ValueError, match="member 'x_train'"):
        imdb.load_data(path)
    assert not marker.exists()


@pytest.mark.parametrize("items, problem", [
    ([[1, 2], "abc", [3]], "item 1 is str"),
    ([[1, 2], {"a": 1}, [3]], "item 1 is dict"),
    ([[1, 2], {1, 2}, [3]], "item 1 is set"),
    ([[1, 2], [np.int64(3)], [3]], "refused to load numpy._core.multiarray.scalar"),
    ([[1, 2], [3.5], [3]], "float"),
    ([[1, 2], [True], [3]], "bool"),
])
def test_imdb_pickle_of_other_items_is_refused(tmp_path, items, problem):
    x_train = np.empty(3, dtype=object)
    x_train[:] = [None] * 3
    for i, item in enumerate(items):
        x_train[i] = item
    path = write_members(tmp_path / "imdb.npz", x_train=npy_member(x_train))
    with pytest.raises(ValueError, match=f"imdb.npz, member 'x_train'.*{problem}"):
        imdb.load_data(path)


def test_imdb_npz_of_another_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="member 'y_test': expected a 1-D int array of 2 labels"):
        imdb.load_data(write_members(tmp_path / "short.npz", y_test=npy_member(np.array([1]))))
    np.savez(tmp_path / "partial.npz", x_train=object_array(TRAIN))
    with pytest.raises(ValueError, match="no member 'y_train'"):
        imdb.load_data(tmp_path / "partial.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not an .npz file"):
        imdb.load_data(tmp_path / "text.npz")


@pytest.fixture
def acl_imdb(tmp_path):
    root = tmp_path / "aclImdb"
    files = {"train/pos": {"0_9.txt": "Great film.<br />Loved it.",
                           "10_8.txt": "Fine \u00e9t\u00e9", "2_7.txt": "Good"},
             "train/neg": {"3_4.txt": "Dull", "1_1.txt": "Awful"},
             "test/pos": {"0_10.txt": "Superb"}, "test/neg": {"0_2.txt": "Bad"},
             "train/unsup": {"0_0.txt": "unlabelled"}}
    for folder, contents in files.items():
        (root / folder).mkdir(parents=True)
        for name, body in contents.items():
            (root / folder / name).write_text(body, encoding="utf-8")
    (root / "train" / "urls_pos.txt").write_text("http://example.invalid\n")
    (root / "train" / "pos" / "notes.md").write_text("not a review")
    return root


def test_acl_imdb_folder(acl_imdb):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(acl_imdb)
    assert x_train == ["Awful", "Dull", "Great film.<br />Loved it.", "Good", "Fine \u00e9t\u00e9"]
    assert y_train.tolist() == [0, 0, 1, 1, 1] and y_train.dtype == np.int64
    assert (x_test, y_test.tolist()) == (["Bad", "Superb"], [0, 1])
    with pytest.raises(ValueError, match="num_words"):
        imdb.load_data(acl_imdb, num_words=100)


def test_incomplete_acl_imdb_folder(acl_imdb):
    for item in (acl_imdb / "test" / "neg").iterdir():
        item.unlink()
    (acl_imdb / "test" / "neg").rmdir()
    with pytest.raises(FileNotFoundError, match="aclImdb_v1.tar.gz"):
        imdb.load_data(acl_imdb)


def test_missing_files_say_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    expected_at = str(tmp_path / "keras" / "datasets" / "mnist.npz")
    with pytest.raises(FileNotFoundError, match="tf-keras-datasets/mnist.npz") as err:
        mnist.load_data()
    assert expected_at in str(err.value)
    with pytest.raises(FileNotFoundError, match="imdb.npz.*aclImdb_v1.tar.gz"):
        imdb.load_data(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="imdb_word_index.json"):
        imdb.get_word_index()


def test_default_folder_is_keras_cache(tmp_path, monkeypatch, imdb_npz):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    imdb_npz.rename(tmp_path / "datasets" / "imdb.npz")
    (tmp_path / "datasets" / "imdb_word_index.json").write_text(json.dumps({"the": 1, "a": 2}))
    assert as_lists(imdb.load_data()[1][0]) == [[1, 2], [1, 10, 11]]
    assert imdb.get_word_index() == {"the": 1, "a": 2}


def test_mnist(tmp_path):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
                  y_train=np.arange(5, dtype=np.uint8),
                  x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
                  y_test=np.arange(3, dtype=np.uint8))
    np.savez(tmp_path / "mnist.npz", **arrays)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(tmp_path / "mnist.npz")
    for name, got in zip(("x_train", "y_train", "x_test", "y_test"),
                         (x_train, y_train, x_test, y_test)):
        assert got.dtype == np.uint8 and np.array_equal(got, arrays[name])
    np.savez(tmp_path / "partial.npz", x_train=arrays["x_train"])
    with pytest.raises(ValueError, match="y_train"):
        mnist.load_data(tmp_path / "partial.npz")
