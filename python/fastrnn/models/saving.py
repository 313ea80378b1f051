"""One-file model saving: a NumPy .npz archive holding the JSON architecture and compile
settings, every weight, and the optimizer's state, written atomically (fastrnn._atomic_write).

Loading treats the file as untrusted: the zip directory, each member's .npy header and the JSON
are checked before anything is allocated, and memory stays bounded by the file's size. Not
Keras' .keras/.h5 formats; nothing is unpickled (no code is loaded).
"""
from __future__ import annotations

import json
import math
import os
import re
import zipfile
import zlib

import numpy as np

from .. import optimizers
from .._atomic_write import atomic_write
from ..layers.base import weight_budget

FORMAT, VERSION = "fastrnn-model", 1
_MEMBER = re.compile(r"(__fastrnn__|weights/\d+|optimizer/\d+/\w+)\.npy")
_HEADER = "__fastrnn__"


def save_model(model, path) -> None:
    """Save `model` (architecture, weights, compile settings, optimizer state) to `path`.

    The file is written beside `path` and moved into place only when complete (see
    fastrnn._atomic_write), so an interrupted save leaves the old file as it was.

    Args:
        model: a built Sequential.
        path: file to write (any extension; ".npz" is a good choice).

    Raises:
        ValueError: the model has no weights yet.

    Example:
        >>> save_model(model, "model.npz"); model2 = load_model("model.npz")
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} has no weights yet: build or fit it before saving")
    meta = {"format": FORMAT, "version": VERSION, "model": model.get_config(), "compile": None}
    arrays = {f"weights/{i}": w for i, w in enumerate(model.get_weights())}
    if model.loss is not None:
        meta["compile"] = {"optimizer": optimizers.serialize(model.optimizer), "loss": model.loss.name,
                           "metrics": [m for m in model._metric_specs if isinstance(m, str)],
                           "iterations": model.optimizer.iterations}
        for i, slots in enumerate(model.optimizer.get_slots(model.weights)):
            arrays.update({f"optimizer/{i}/{k}": v for k, v in slots.items()})
    arrays[_HEADER] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_model(path, custom_objects=None, compile=True):
    """Load a model written by save_model / model.save.

    The file is checked before memory is allocated for it: its zip directory (only the members
    save_model writes, their total size within the file's), each member's .npy header (a plain
    numeric dtype, shape times item size equal to the member's data) and the JSON's fields. The
    model's weights are then created within the bytes the stored weights hold, so a crafted file
    cannot make the load use much more memory than the file's size.

    Args:
        path: the saved file.
        custom_objects: extra layer classes by name.
        compile: restore the optimizer (with its state), loss and metrics (default True).

    Returns:
        The Sequential model.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not a fastrnn model file or is corrupt (the message names the
            problem), was written by a newer fastrnn, or describes a model that cannot be built.

    Example:
        >>> model = load_model("model.npz")
    """
    path = os.fspath(path)
    try:
        meta, arrays = _read(path)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, RecursionError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"{path!r} is not a fastrnn model file, or it is corrupt ({err})") from err
    if meta["version"] > VERSION:
        raise ValueError(f"{path!r} was written by a newer fastrnn (format version {meta['version']})")
    try:
        return _build(meta, arrays, custom_objects, compile)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as err:
        raise ValueError(f"{path!r}: the model it describes cannot be built ({err})") from err


def _read(path):
    """(meta, {member name: array}) of a model file, every size checked before it is read."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        with zipfile.ZipFile(f) as archive:
            members = archive.infolist()
            _check_directory(members, size)
            arrays = {m.filename[:-len(".npy")]: _read_member(archive, m) for m in members}
    header = arrays.pop(_HEADER)
    if header.dtype != np.uint8 or header.ndim != 1:
        raise ValueError(f"the fastrnn header is {header.dtype} of shape {header.shape}, not bytes")
    meta = json.loads(header.tobytes().decode("utf-8"))  # deep nesting: RecursionError, caught by the caller
    _check_meta(meta)
    return meta, arrays


def _check_directory(members, size):
    """The zip directory lists save_model's members once each, within the file's size."""
    names = [m.filename for m in members]
    if f"{_HEADER}.npy" not in names:
        raise ValueError("no fastrnn header")
    if len(set(names)) != len(names):
        raise ValueError("the zip directory lists a member twice")
    for m in members:
        if not _MEMBER.fullmatch(m.filename):
            raise ValueError(f"unexpected member {m.filename!r}")
        if m.flag_bits & 0x1 or m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"member {m.filename!r} is encrypted or uses an unsupported compression")
    for what, total in (("uncompressed", sum(m.file_size for m in members)),
                        ("compressed", sum(m.compress_size for m in members))):
        if total > size:
            raise ValueError(f"the members claim {total} bytes {what}, more than the file's {size} bytes")


def _read_member(archive, member):
    """One member's array, its .npy header checked against the member's size before reading."""
    name = member.filename
    with archive.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"member {name!r} has .npy format version {version}, expected 1.0 or 2.0")
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"member {name!r} has dtype {dtype}, not a plain numeric dtype")
        if any(d < 0 for d in shape):
            raise ValueError(f"member {name!r} has a negative dimension in its shape {shape}")
        nbytes, held = math.prod(shape) * dtype.itemsize, member.file_size - fp.tell()
        if nbytes != held:
            raise ValueError(f"member {name!r}: its header's shape {shape} of {dtype} needs {nbytes} bytes, "
                             f"the member holds {held}")
        data = fp.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"member {name!r} is truncated")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")


def _expect(value, types, field, what):
    """`value` if it is one of `types` (bool is not an int here), else a ValueError naming `field`."""
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ValueError(f"field {field!r} must be {what}, got {type(value).__name__}: {value!r:.80}")
    return value


def _check_meta(meta):
    """The JSON has the fields and types save_model writes."""
    _expect(meta, (dict,), "(top level)", "an object")
    if meta.get("format") != FORMAT:
        raise ValueError("wrong format tag")
    _expect(meta.get("version"), (int,), "version", "an int")
    model = _expect(meta.get("model"), (dict,), "model", "an object")
    _expect(model.get("name"), (str, type(None)), "model.name", "a str or null")
    for i, layer in enumerate(_expect(model.get("layers"), (list,), "model.layers", "a list")):
        _expect(layer, (dict,), f"model.layers[{i}]", "an object")
        _expect(layer.get("class_name"), (str,), f"model.layers[{i}].class_name", "a str")
        _expect(layer.get("config"), (dict,), f"model.layers[{i}].config", "an object")
    shape = _expect(model.get("input_shape"), (list, type(None)), "model.input_shape", "a list or null")
    if shape is not None and not all(d is None or (type(d) is int and d >= 0) for d in shape):
        raise ValueError(f"field 'model.input_shape' must hold ints >= 0 or nulls, got {shape!r:.80}")
    spec = _expect(meta.get("compile"), (dict, type(None)), "compile", "an object or null")
    if spec is not None:
        optimizer = _expect(spec.get("optimizer"), (dict,), "compile.optimizer", "an object")
        _expect(optimizer.get("class_name"), (str,), "compile.optimizer.class_name", "a str")
        _expect(optimizer.get("config"), (dict,), "compile.optimizer.config", "an object")
        _expect(spec.get("loss"), (str,), "compile.loss", "a str")
        for m in _expect(spec.get("metrics"), (list,), "compile.metrics", "a list"):
            _expect(m, (str,), "compile.metrics", "a list of str")
        if _expect(spec.get("iterations"), (int,), "compile.iterations", "an int") < 0:
            raise ValueError(f"field 'compile.iterations' must be >= 0, got {spec['iterations']}")


def _build(meta, arrays, custom_objects, compile):
    """The model of a checked file: weights created within the stored weights' bytes, then filled."""
    from .sequential import Sequential  # saving is imported by sequential

    count = sum(k.startswith("weights/") for k in arrays)
    if any(f"weights/{i}" not in arrays for i in range(count)):
        raise ValueError("the weight members are not numbered 0, 1, 2, ...")
    weights = [arrays.pop(f"weights/{i}") for i in range(count)]
    with weight_budget(sum(w.nbytes for w in weights)):
        model = Sequential.from_config(meta["model"], custom_objects)
    model.set_weights(weights)
    spec = meta["compile"]
    if compile and spec:
        model.compile(optimizer=optimizers.deserialize(spec["optimizer"]), loss=spec["loss"],
                      metrics=spec["metrics"])
        model.optimizer.iterations = spec["iterations"]
        slots = [{} for _ in model.weights]
        for key, value in arrays.items():  # only optimizer/<i>/<name> members are left
            _, i, name = key.split("/", 2)
            i = int(i)
            if i >= len(slots) or name not in model.optimizer.slot_names or value.shape != model.weights[i].shape:
                raise ValueError(f"member {key!r} of shape {value.shape} is not a slot of this "
                                 f"{type(model.optimizer).__name__} for a weight of the model")
            slots[i][name] = value
        if any(s and set(s) != set(model.optimizer.slot_names) for s in slots):
            raise ValueError(f"the optimizer state lacks some of the slots {model.optimizer.slot_names}")
        model.optimizer.set_slots(model.weights, slots)
    return model
