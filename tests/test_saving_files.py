"""Model files as untrusted input and saves as atomic, durable writes: hostile files crafted here
(huge configs, zip bombs, lying .npy headers, deep or mistyped JSON, other formats) give a
ValueError with bounded memory; a save killed midway, the saved file's mode and the directory
fsync. Not the training round trip (test_models.py)."""
import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn.layers import LSTM, Dense, Embedding, SimpleRNN
from fastrnn.models import Sequential, load_model

PYTHON_DIR = str(Path(fastrnn.__file__).resolve().parents[1])  # the package under test, for child processes
HEADER = "__fastrnn__.npy"


def small_model(compiled=True):
    model = Sequential([Embedding(50, 8), SimpleRNN(8, return_sequences=True), LSTM(8),
                        Dense(1, activation="sigmoid")])
    model.build((None, 6))
    if compiled:
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["acc"])
        x = np.random.default_rng(0).integers(0, 50, (8, 6))
        model.fit(x, np.arange(8) % 2, epochs=1, verbose=0)
    return model


def npy(array):
    """The .npy bytes of an array."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=True)
    return buf.getvalue()


def npy_header(descr, shape):
    """A version 1.0 .npy header claiming `descr` and `shape` (the data is up to the caller)."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def members_of(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def saved_file(tmp_path, edit_meta=None, edit_members=None):
    """A valid model file, its JSON (and members) edited by the given functions."""
    path = tmp_path / "model.npz"
    small_model().save(path)
    members = members_of(path)
    if edit_meta:
        meta = json.loads(np.load(io.BytesIO(members[HEADER])).tobytes())
        meta = edit_meta(meta)
        members[HEADER] = npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    if edit_members:
        edit_members(members)
    return write_zip(tmp_path / "edited.npz", members)


def huge_embedding(meta):
    meta["model"]["layers"][0]["config"]["input_dim"] = 10 ** 8  # 3.2 GB of float32
    return meta


def zip_bomb(path, claimed=2 ** 31):
    """A zip whose one member is a deflated .npy of `claimed` zero bytes (about 2 MB on disk)."""
    header = npy_header("|u1", (claimed,))
    chunk = bytes(1 << 24)
    pack = zlib.compressobj(9, zlib.DEFLATED, -15)
    # after a full flush the compressor starts afresh, so every chunk of zeros compresses alike
    head = pack.compress(header) + pack.flush(zlib.Z_FULL_FLUSH)
    body = pack.compress(chunk) + pack.flush(zlib.Z_FULL_FLUSH)
    stream = head + body * (claimed // len(chunk)) + pack.flush()
    crc = zlib.crc32(header)
    for _ in range(claimed // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    members = [(HEADER, npy(np.frombuffer(b'{"format": "fastrnn-model"}', np.uint8)), 0),
               ("weights/0.npy", stream, 8)]
    out, central = bytearray(), bytearray()
    for name, data, method in members:
        size = len(header) + claimed if method else len(data)
        crc_of = crc if method else zlib.crc32(data)
        n = name.encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc_of, len(data), size,
                               len(n), 0, 0, 0, 0, 0, len(out)) + n
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc_of, len(data), size, len(n), 0)
        out += n + data
    out += central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central),
                                 len(out), 0)
    path.write_bytes(bytes(out))
    return path


def run_python(code, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


LIMITED_LOAD = """
    import resource, sys
    from fastrnn.models import load_model
    with open("/proc/self/status") as f:
        mapped = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = mapped + 200 * 2 ** 20  # what is mapped after the imports, plus 200 MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    try:
        load_model(sys.argv[1])
    except ValueError as err:
        sys.exit("ValueError: " + str(err)[:300])
    except MemoryError:
        sys.exit("MemoryError")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and limits RLIMIT_AS")
@pytest.mark.parametrize("craft", ["huge_config", "zip_bomb"])
def test_hostile_file_is_refused_within_200_mb(tmp_path, craft):
    path = saved_file(tmp_path, huge_embedding) if craft == "huge_config" else zip_bomb(tmp_path / "bomb.npz")
    assert path.stat().st_size < 3 * 2 ** 20
    result = run_python(LIMITED_LOAD, path)
    last = (result.stderr.strip().splitlines() or [""])[-1]
    assert result.returncode == 1 and last.startswith("ValueError: "), result.stderr[-2000:]


def huge_shape(members):
    members["weights/0.npy"] = npy_header("<f4", (2 ** 40,)) + bytes(64)  # claims 4 TiB, holds 64 bytes


def object_member(members):
    members["weights/0.npy"] = npy(np.array([[1], "x"], dtype=object))


def gap_in_weights(members):
    del members["weights/3.npy"]


def extra_member(members):
    members["payload.pkl"] = b"\x80\x04N."


def deep_json(members):
    members[HEADER] = npy(np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8))


def drop(*keys):
    """An edit deleting meta[keys[0]]...[keys[-1]]."""
    def edit(meta):
        inner = meta
        for key in keys[:-1]:
            inner = inner[key]
        del inner[keys[-1]]
        return meta
    return edit


def put(value, *keys):
    """An edit setting meta[keys[0]]...[keys[-1]] = value."""
    def edit(meta):
        inner = meta
        for key in keys[:-1]:
            inner = inner[key]
        inner[keys[-1]] = value
        return meta
    return edit


@pytest.mark.parametrize("edit_members, problem", [
    (huge_shape, "needs 4398046511104 bytes"),
    (object_member, "not a plain numeric dtype"),
    (gap_in_weights, "not numbered"),
    (extra_member, "unexpected member 'payload.pkl'"),
    (deep_json, "recursion"),
])
def test_crafted_members_are_clear_errors(tmp_path, edit_members, problem):
    with pytest.raises(ValueError, match=problem):
        load_model(saved_file(tmp_path, edit_members=edit_members))


@pytest.mark.parametrize("edit_meta, problem", [
    (lambda meta: [meta], "field '\\(top level\\)' must be an object"),
    (drop("model"), "field 'model' must be an object"),
    (put("1", "version"), "field 'version' must be an int"),
    (put("abc", "model", "layers"), "field 'model.layers' must be a list"),
    (drop("model", "layers"), "field 'model.layers' must be a list"),
    (put([], "model", "layers", 0, "config"), "field 'model.layers\\[0\\].config' must be an object"),
    (put(None, "model", "layers", 1, "class_name"), "model.layers\\[1\\].class_name"),
    (put(["x", 6], "model", "input_shape"), "model.input_shape"),
    (put("many", "compile", "iterations"), "compile.iterations"),
    (drop("compile", "loss"), "compile.loss"),
    (put(5, "model", "layers", 2, "config", "dtype"), "cannot be built"),
    (put(1, "model", "layers", 3, "config", "bogus"), "cannot be built.*bogus"),
    (put("fast", "compile", "optimizer", "config", "learning_rate"), "cannot be built"),
    (put({"class_name": "LSTM"}, "model", "layers", 2), "model.layers\\[2\\].config"),
])
def test_missing_or_mistyped_fields_are_clear_errors(tmp_path, edit_meta, problem):
    with pytest.raises(ValueError, match=problem):
        load_model(saved_file(tmp_path, edit_meta))


def test_huge_config_is_refused_before_allocating(tmp_path):
    with pytest.raises(ValueError, match="weight 'embeddings' of shape \\(100000000, 8\\) needs 3200000000 bytes"):
        load_model(saved_file(tmp_path, huge_embedding))


def test_other_files_are_clear_errors(tmp_path):
    npy_file = tmp_path / "weights.npy"
    np.save(npy_file, np.zeros(3))
    truncated = tmp_path / "cut.npz"
    small_model().save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:truncated.stat().st_size // 2])
    noise = tmp_path / "noise.npz"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    for path in (npy_file, truncated, noise, empty, tmp_path):
        with pytest.raises(ValueError, match="not a fastrnn model file"):
            load_model(path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")


def test_round_trip_still_works(tmp_path):
    model = small_model()
    model.save(tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.optimizer.get_slots(model.weights), loaded.optimizer.get_slots(loaded.weights)):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    uncompiled = small_model(compiled=False)
    uncompiled.save(tmp_path / "plain.npz")
    assert load_model(tmp_path / "plain.npz").count_params() == uncompiled.count_params()


# saves: atomic, durable, with the usual mode

KILLED_SAVE = """
    import sys, time
    import numpy as np
    from fastrnn.layers import Dense
    from fastrnn.models import Sequential
    real = np.lib.format.write_array
    def slow_write(*args, **kwargs):  # write the first array, then wait to be killed
        real(*args, **kwargs)
        print("writing", flush=True)
        time.sleep(120)
    np.lib.format.write_array = slow_write
    Sequential([Dense(3, input_shape=(4,))]).save(sys.argv[1])
"""


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_save_killed_midway_leaves_a_temporary_the_next_save_removes(tmp_path):
    path = tmp_path / "model.npz"
    model = small_model()
    model.save(path)
    old = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_SAVE), str(path)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    left = temporaries(tmp_path)
    assert len(left) == 1 and str(child.pid) in left[0] and "model.npz" in left[0]
    assert path.read_bytes() == old
    model.save(path)
    assert temporaries(tmp_path) == []
    assert load_model(path).count_params() == model.count_params()


def test_next_save_keeps_temporaries_of_live_processes_and_other_targets(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process (barring reuse within the test)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = [f".fastrnn-{alive.pid}-0a1b2c3d-model.npz.tmp", f".fastrnn-{dead.pid}-0a1b2c3d-other.npz.tmp",
                f".fastrnn-{os.getpid()}-0a1b2c3d-model.npz.tmp"]
        for name in kept + [f".fastrnn-{dead.pid}-0a1b2c3d-model.npz.tmp"]:
            (tmp_path / name).write_bytes(b"partial")
        small_model(compiled=False).save(tmp_path / "model.npz")
        assert temporaries(tmp_path) == sorted(kept)
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_file_mode_follows_the_umask(tmp_path, umask):
    model = small_model(compiled=False)
    saved = os.umask(umask)
    try:
        model.save(tmp_path / "model.npz")
    finally:
        os.umask(saved)
    assert stat.S_IMODE((tmp_path / "model.npz").stat().st_mode) == 0o666 & ~umask


def test_overwritten_file_keeps_its_mode(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    path.chmod(0o640)
    small_model(compiled=False).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_directory_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        info = os.fstat(fd)
        events.append(("fsync dir" if stat.S_ISDIR(info.st_mode) else "fsync file", info.st_ino))
        return real_fsync(fd)

    def replace(src, dst, **kwargs):
        events.append(("replace", os.path.basename(dst)))
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    small_model(compiled=False).save(tmp_path / "model.npz")
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync file", "replace", "fsync dir"]
    assert events[1][1] == "model.npz" and events[2][1] == tmp_path.stat().st_ino
