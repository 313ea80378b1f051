"""keras.utils' helpers: to_categorical (against Keras), get_file (Keras' cache layout, hashes,
safe extraction, never a download), timeseries_dataset_from_array (against Keras where its
tf.data backend is installed, and against the windows Keras documents), pad_sequences, and
clear_session."""
import hashlib
import io
import os
import tarfile
import zipfile

import numpy as np
import pytest

import fastrnn.preprocessing.sequence
from fastrnn import session, utils
from fastrnn.layers import Dense
from fastrnn.models import Sequential


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the comparisons with Keras need keras")


@pytest.mark.parametrize("y, classes", [([0, 2, 1, 2], None), ([[1], [0], [3]], 5), ([[0, 1], [2, 1]], None),
                                        (np.array([1.0, 0.0]), 3)])
def test_to_categorical_matches_keras(keras, y, classes):
    ours = utils.to_categorical(y, classes)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, keras.utils.to_categorical(y, classes))
    assert utils.to_categorical(y, classes, dtype="int64").dtype == np.int64


def test_to_categorical_errors():
    with pytest.raises(ValueError, match="labels must lie in \\[0, 2\\)"):
        utils.to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="non-integral"):
        utils.to_categorical([0.5, 1])
    with pytest.raises(ValueError, match="'num_classes' must be an int >= 1"):
        utils.to_categorical([0], num_classes=0)


URL = "https://example.org/data/files/series.csv"


def put(folder, name, content=b"a,b\n1,2\n"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return str(folder / name)


def test_get_file_finds_cached_files_and_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError) as err:
        utils.get_file("series.csv", URL)
    wanted = str(tmp_path / "home" / "datasets" / "series.csv")
    assert URL in str(err.value) and wanted in str(err.value) and "does not download" in str(err.value)
    path = put(tmp_path / "home" / "datasets", "series.csv")
    assert utils.get_file("series.csv", URL) == path == utils.get_file(origin=URL)  # name from the URL
    other = put(tmp_path / "other" / "here", "x.csv")
    assert utils.get_file("x.csv", URL, cache_dir=tmp_path / "other", cache_subdir="here") == other
    absolute = put(tmp_path / "abs", "series.csv")
    assert utils.get_file("series.csv", URL, cache_subdir=str(tmp_path / "abs")) == absolute
    sha = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    md5 = hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert utils.get_file("series.csv", URL, file_hash=sha) == path
    assert utils.get_file("series.csv", URL, md5_hash=md5) == path
    with pytest.raises(ValueError, match="does not have the expected sha256 hash"):
        utils.get_file("series.csv", URL, file_hash="0" * 64)
    with pytest.raises(ValueError, match="without folders"):
        utils.get_file("sub/series.csv", URL)
    with pytest.raises(ValueError, match="never downloads"):
        utils.get_file("series.csv", URL, force_download=True)
    with pytest.raises(ValueError, match="'origin' must be the URL"):
        utils.get_file("series.csv")


def test_get_file_paths_are_keras_paths(keras, tmp_path):
    put(tmp_path / "datasets", "series.csv")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("inner/values.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"1 2"))
    put(tmp_path / "datasets", "bundle.tar.gz", archive.getvalue())
    for kwargs in [{"fname": "series.csv"}, {"fname": "bundle.tar.gz", "extract": True}]:
        ours = utils.get_file(origin=URL, cache_dir=str(tmp_path), **kwargs)
        assert ours == keras.utils.get_file(origin=URL, cache_dir=str(tmp_path), **kwargs)


def test_get_file_extracts_local_archives_safely(tmp_path):
    folder = tmp_path / "datasets"
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in [("aclImdb/train/pos/1.txt", b"good"), ("aclImdb/README", b"readme")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    put(folder, "aclImdb_v1.tar.gz", archive.getvalue())
    out = utils.get_file("aclImdb_v1.tar.gz", URL, extract=True, cache_dir=tmp_path)
    assert out == str(folder / "aclImdb_v1_extracted")
    assert (folder / "aclImdb_v1_extracted" / "aclImdb" / "train" / "pos" / "1.txt").read_bytes() == b"good"
    (folder / "aclImdb_v1.tar.gz").unlink()  # extracted already: the archive is no longer needed
    assert utils.get_file("aclImdb_v1.tar.gz", URL, extract=True, cache_dir=tmp_path) == out
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a/b.txt", "zip")
    put(folder, "pack_archive", zipped.getvalue())  # Keras' name for an extension-less fname's archive
    assert utils.get_file("pack", URL, extract=True, cache_dir=tmp_path) == str(folder / "pack")
    assert (folder / "pack" / "a" / "b.txt").read_text() == "zip"
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    put(folder, "evil.tar", evil.getvalue())
    with pytest.raises(tarfile.FilterError):
        utils.get_file("evil.tar", URL, extract=True, cache_dir=tmp_path)
    assert not (folder / "escaped.txt").exists()


def windows_by_hand(n, length, stride, rate, start=0, stop=None):
    stop = n if stop is None else stop
    return [list(range(s, s + length * rate, rate)) for s in range(start, stop - (length - 1) * rate, stride)]


@pytest.mark.parametrize("kwargs", [
    {"sequence_length": 10, "sampling_rate": 2, "sequence_stride": 3, "batch_size": 8},  # Keras' example 1
    {"sequence_length": 5, "batch_size": 16},
    {"sequence_length": 4, "sequence_stride": 2, "start_index": 10, "end_index": 60, "batch_size": 7},
])
def test_timeseries_windows_are_keras_windows(kwargs):
    data = np.arange(99) * 10  # Keras' example: "indices [0, 1, ... 98]"
    ds = utils.timeseries_dataset_from_array(data, np.arange(99), **kwargs)
    inputs = np.concatenate([b[0] for b in ds])
    targets = np.concatenate([b[1] for b in ds])
    expected = windows_by_hand(99, kwargs["sequence_length"], kwargs.get("sequence_stride", 1),
                               kwargs.get("sampling_rate", 1), kwargs.get("start_index", 0), kwargs.get("end_index"))
    np.testing.assert_array_equal(inputs, np.array(expected) * 10)
    np.testing.assert_array_equal(targets, [w[0] for w in expected])  # the target of a window's first step
    assert len(ds) == -(-len(expected) // kwargs["batch_size"])
    assert all(len(b[0]) == kwargs["batch_size"] for b in list(ds)[:-1])
    if kwargs.get("sampling_rate") == 2:  # Keras' documented first and last windows
        assert list(inputs[0] // 10) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
        assert list(inputs[-1] // 10) == [78, 80, 82, 84, 86, 88, 90, 92, 94, 96]


def test_timeseries_matches_keras_batches_where_keras_can_run(keras):
    data, targets = np.arange(50, dtype=np.float32).reshape(25, 2), np.arange(25)
    try:
        theirs = keras.utils.timeseries_dataset_from_array(data, targets, 4, sequence_stride=2, batch_size=3)
    except ImportError as err:  # Keras builds it on tf.data (or grain)
        pytest.skip(f"keras.utils.timeseries_dataset_from_array needs its data backend: {err}")
    ours = utils.timeseries_dataset_from_array(data, targets, 4, sequence_stride=2, batch_size=3)
    for (a, b), (c, d) in zip(ours, theirs):
        np.testing.assert_array_equal(a, np.asarray(c))
        np.testing.assert_array_equal(b, np.asarray(d))


def test_timeseries_iterates_each_epoch_shuffles_and_unbatched():
    data = np.arange(40).reshape(20, 2)
    ds = utils.timeseries_dataset_from_array(data, None, 3, batch_size=4)
    first, second = [b.copy() for b in ds], [b.copy() for b in ds]
    assert all(np.array_equal(a, b) for a, b in zip(first, second)) and first[0].shape == (4, 3, 2)
    shuffled = utils.timeseries_dataset_from_array(data, np.arange(20), 3, batch_size=5, shuffle=True, seed=7)
    epoch1, epoch2 = [np.concatenate([b[1] for b in shuffled]) for _ in range(2)]
    order = np.arange(18)
    np.random.RandomState(7).shuffle(order)
    np.testing.assert_array_equal(epoch1, order)  # Keras' seeded shuffle of the window starts
    assert sorted(epoch2) == list(range(18)) and not np.array_equal(epoch1, epoch2)
    single = utils.timeseries_dataset_from_array(data, np.arange(20), 3, batch_size=None)
    window, target = next(iter(single))
    np.testing.assert_array_equal(window, data[:3])
    assert target == 0 and len(single) == 18


@pytest.mark.parametrize("kwargs, problem", [
    ({"sequence_length": 0}, "'sequence_length' must be an int >= 1"),
    ({"sequence_length": 3, "batch_size": 0}, "'batch_size' must be an int >= 1 or None"),
    ({"sequence_length": 3, "start_index": 30}, "'start_index' must lie in \\[0, 20\\)"),
    ({"sequence_length": 3, "end_index": 20}, "'end_index' must lie in"),
    ({"sequence_length": 3, "sequence_stride": 20}, "must be lower than the length of the data"),
])
def test_timeseries_errors(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        utils.timeseries_dataset_from_array(np.zeros((20, 2)), None, **kwargs)


def test_pad_sequences_is_reexported():
    assert utils.pad_sequences is fastrnn.preprocessing.sequence.pad_sequences
    np.testing.assert_array_equal(utils.pad_sequences([[1, 2], [3]], maxlen=3), [[0, 1, 2], [0, 0, 3]])


def test_clear_session_restarts_default_names():
    Dense(1), Sequential()
    assert Dense(1).name != "dense"
    session.clear_session()
    assert Dense(1).name == "dense" and Dense(1).name == "dense_1" and Sequential().name == "sequential"
    session.clear_session(free_memory=False)
    assert Dense(2).name == "dense"
