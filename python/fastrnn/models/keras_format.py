"""Keras 3's files for fastrnn models: the `.keras` zip (metadata.json, config.json,
model.weights.h5) and weights-only `.weights.h5`, with keras.saving's group names
(`layers/<class>/vars/0`, `.../cell/vars/` of RNN layers, `optimizer/vars/`), so files move both
ways between Keras 3 and fastrnn. keras_config.py translates the layers, keras_compile.py the
compile settings.

Files are read as untrusted, as saving.py reads its own: zip sizes (declared and actual), JSON
depth and fields, and every stored array's link, shape and dtype are checked before anything
is allocated for them or written into a model. Not Keras 2's legacy whole-model `.h5` files.
h5py is an optional dependency: `pip install fastrnn[keras-files]`. Of a model this uses name,
layers, built, input_shape, trainable_weights, compile() and optimizer / loss / _metric_specs.
"""
from __future__ import annotations

import datetime
import io
import json
import math
import os
import warnings
import zipfile
import zlib

import numpy as np

from .. import __version__
from .._atomic_write import atomic_write
from ..layers import deserialize
from ..layers.base import weight_budget
from . import keras_compile, keras_config
from .keras_compile import Unsupported

KERAS_VERSION = "3.15.1"  # the Keras release whose layout these files follow (written to metadata.json)
_LIMITS = {"config.json": 16 << 20, "metadata.json": 1 << 20}  # bytes, uncompressed
_WEIGHTS = "model.weights.h5"
_DEPTH = 64  # Keras' configs nest about 12 deep


def keras_file_kind(path):
    """'keras' for a `.keras` path, 'weights.h5' for `.weights.h5`, None for any other name
    (fastrnn's own format); a bare `.h5`/`.hdf5` (Keras 2's whole-model file) is a ValueError.

    Example:
        >>> keras_file_kind("model.weights.h5")
        'weights.h5'
    """
    name = os.fspath(path).lower()
    if name.endswith(".keras"):
        return "keras"
    if name.endswith(".weights.h5"):
        return "weights.h5"
    if name.endswith((".h5", ".hdf5")):
        raise ValueError(f"{os.fspath(path)!r}: Keras 2's whole-model .h5 files are not supported; use a name "
                         "ending in '.keras' (a whole model, Keras 3's format) or '.weights.h5' (weights only)")
    return None


def _h5py():
    try:
        import h5py
    except ImportError as err:
        raise ImportError("Keras' .keras and .weights.h5 files need h5py: pip install 'fastrnn[keras-files]' "
                          "(or pip install h5py)") from err
    return h5py


def save_weights_h5(model, path) -> None:
    """Write the model's weights (and optimizer state, when Keras can name the optimizer) to a
    Keras 3 `.weights.h5` file, atomically; Keras' `model.load_weights(path)` reads it.

    Args:
        model: a built Sequential. path: the file to write.

    Raises:
        ValueError: the model is not built, or has a layer Keras cannot express (nothing written).

    Example:
        >>> save_weights_h5(model, "model.weights.h5")
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} has no weights yet: build or fit it before saving")
    groups = keras_config.model_groups(model)
    _, optimizer_groups = _compile_for_keras(model, "its optimizer state")
    data = _h5_bytes(groups + optimizer_groups)
    with atomic_write(path) as f:
        f.write(data)


def load_weights_h5(model, path) -> None:
    """Read a Keras 3 `.weights.h5` file (from Keras' `save_weights` or save_weights_h5) into the model.

    Every stored array is checked against the model (the file's layers are the model's, each
    weight's shape matches, dtypes are floats) before any weight is written, so a bad file
    leaves the model as it was. A compiled model also gets the optimizer state when the file
    holds one its optimizer can use (else a warning, as Keras gives).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not HDF5, is corrupt, or does not match the model (the message
            names the layer and weight).

    Example:
        >>> load_weights_h5(model, "model.weights.h5")
    """
    h5py = _h5py()
    path = os.fspath(path)
    if not model.built:
        raise ValueError(f"model {model.name!r} has no weights yet: build it before loading weights")
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except OSError as err:
        raise ValueError(f"{path!r} is not an HDF5 file, or it is corrupt ({err})") from err
    with f:
        updates = _checked(path, lambda: _read_weights(f, model, h5py))
        state = _checked(path, lambda: _read_optimizer(f, model, h5py, path)) if _compiled(model) else None
    _apply(model, updates, state)


def save_keras(model, path) -> None:
    """Write the model as a Keras 3 `.keras` file, atomically; `keras.models.load_model(path)`
    rebuilds it with the same outputs. Compile settings and optimizer state go too when Keras
    can name them (else a warning, and the file holds the model uncompiled).

    Raises:
        ValueError: the model is not built, or a layer or setting has no Keras equivalent (the
            message names it); nothing is written.

    Example:
        >>> save_keras(model, "model.keras"); keras.models.load_model("model.keras")
    """
    config = keras_config.model_to_keras(model)
    config["compile_config"], optimizer_groups = _compile_for_keras(model, "its compile settings")
    data = _h5_bytes(keras_config.model_groups(model) + optimizer_groups)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "saved_by": f"fastrnn {__version__}"}
    with atomic_write(path) as f, zipfile.ZipFile(f, "w") as archive:  # members stored, as Keras writes them
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr(_WEIGHTS, data)


def load_keras(path, compile=True):
    """Read a Keras 3 `.keras` file (from Keras' `model.save` or save_keras) into a fastrnn Sequential.

    Args:
        path: the file. compile: compile the model as saved and restore its optimizer state
            (default True); settings fastrnn cannot name leave it uncompiled, with a warning.

    Returns:
        The Sequential model.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not a .keras zip or is corrupt, or holds a layer class or setting
            fastrnn does not have (the message names the problem).

    Example:
        >>> model = load_keras("model.keras")
    """
    h5py = _h5py()
    path = os.fspath(path)
    try:
        config, data = _read_archive(path)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, RecursionError, UnicodeDecodeError, zipfile.BadZipFile,
            zlib.error) as err:
        raise ValueError(f"{path!r} is not a Keras 3 .keras file, or it is corrupt ({err})") from err
    model = _checked(path, lambda: _build(config, len(data)))
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except OSError as err:
        raise ValueError(f"{path!r}: its {_WEIGHTS} is not an HDF5 file, or it is corrupt ({err})") from err
    with f:
        updates = _checked(path, lambda: _read_weights(f, model, h5py))
        state = None
        spec = config.get("compile_config")
        if compile and spec:
            try:
                optimizer, loss, metrics = keras_compile.compile_from_keras(spec)
                model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
            except (Unsupported, ValueError, TypeError) as err:
                warnings.warn(f"{path!r}: the model is loaded uncompiled ({err})", stacklevel=2)
            else:
                state = _checked(path, lambda: _read_optimizer(f, model, h5py, path))
    _apply(model, updates, state)
    return model


def _checked(path, read):
    """read(), any error from a malformed file a ValueError naming the file."""
    try:
        return read()
    except (ValueError, KeyError, TypeError, OSError, RuntimeError, AttributeError, IndexError,
            OverflowError, RecursionError) as err:
        raise ValueError(f"{path!r}: {err}") from err


def _compiled(model):
    """(optimizer, loss, metric specs) of a compiled model, else None."""
    optimizer, loss = getattr(model, "optimizer", None), getattr(model, "loss", None)
    return None if optimizer is None or loss is None else (optimizer, loss, getattr(model, "_metric_specs", []))


def _compile_for_keras(model, what):
    """(Keras' compile_config, [the optimizer's h5 group]) of the model; ({}, []) when uncompiled
    or when Keras cannot name a setting (then with a warning that `what` is not saved)."""
    compiled = _compiled(model)
    if compiled is None:
        return {}, []
    try:
        config = keras_compile.compile_to_keras(*compiled)
    except Unsupported as err:
        warnings.warn(f"model {model.name!r} is saved without {what}: {err}", stacklevel=3)
        return {}, []
    optimizer = compiled[0]
    return config, [("optimizer/vars", optimizer.name,
                     keras_compile.optimizer_variables(optimizer, model.trainable_weights))]


def _h5_bytes(groups):
    """An HDF5 file, in memory, with each (path, name attribute, arrays) group as Keras writes it."""
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for path, name, arrays in groups:
            group = f.require_group(path)
            group.attrs["name"] = name
            for i, array in enumerate(arrays):
                group.create_dataset(str(i), data=array)
    return buffer.getvalue()


def _node(parent, path, h5py, kind):
    """The group or dataset at `path`, reached through hard links only; None when absent."""
    node = parent
    for part in path.split("/"):
        if not isinstance(node, h5py.Group):
            raise ValueError(f"{path!r}: {node.name!r} is not a group")
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):  # soft and external links point outside what was checked
            raise ValueError(f"{path!r} is a {type(link).__name__}, not data stored in the file")
        node = node[part]
    if not isinstance(node, kind):
        raise ValueError(f"{path!r} is not an HDF5 {kind.__name__}")
    return node


def _array(group, key, path, shape, kinds, h5py, what):
    """The dataset `key` of `group` as an array, after checking its shape, dtype and stored bytes."""
    ds = _node(group, key, h5py, h5py.Dataset)
    if ds is None:
        raise ValueError(f"{what}: {path}/{key} is missing")
    if ds.shape != tuple(shape) or ds.dtype.kind not in kinds or ds.dtype.itemsize > 8:
        raise ValueError(f"{what} has shape {tuple(shape)}, but {path}/{key} holds {ds.dtype} of shape {ds.shape}")
    nbytes = math.prod(ds.shape) * ds.dtype.itemsize
    if ds.id.get_storage_size() < nbytes:
        raise ValueError(f"{path}/{key} stores {ds.id.get_storage_size()} bytes of its {nbytes} (compressed, "
                         "or not written): only plain datasets, as Keras writes them, are read")
    return np.asarray(ds[()])


def _read_weights(f, model, h5py):
    """{id(weight): stored array} for every weight of the model, each checked against the model."""
    groups = keras_config.model_groups(model)
    expected = {path.split("/")[1] for path, _, _ in groups if path.startswith("layers/")}
    layers = _node(f, "layers", h5py, h5py.Group)
    extra = sorted(set(layers.keys()) - expected) if layers is not None else []
    if extra:
        raise ValueError(f"the file holds weights of layers {extra} that model {model.name!r} lacks "
                         f"(its layer groups: {sorted(expected)})")
    names = {id(w): (layer.name, key) for layer in model.layers for key, w in getattr(layer, "_params", {}).items()}
    updates = {}
    for path, _, arrays in groups:
        group = _node(f, path, h5py, h5py.Group)
        keys = sorted(group.keys()) if group is not None else []
        if keys != sorted(str(i) for i in range(len(arrays))):
            owner = names.get(id(arrays[0]), ("?",))[0] if arrays else path.split("/")[1]
            raise ValueError(f"layer {owner!r}: {path} holds datasets {keys[:10]}, the layer has {len(arrays)} "
                             "weights there")
        for i, w in enumerate(arrays):
            layer_name, key = names.get(id(w), ("?", str(i)))
            updates[id(w)] = _array(group, str(i), path, w.shape, "f", h5py,
                                    f"layer {layer_name!r}: weight {key!r}").astype(w.dtype, copy=False)
    return updates


def _read_optimizer(f, model, h5py, path):
    """(iterations, slots per trainable weight) stored for the model's optimizer; None, with a
    warning as Keras gives, when the file holds none or a different number of variables."""
    group = _node(f, "optimizer/vars", h5py, h5py.Group)
    if group is None:
        return None
    optimizer, weights = model.optimizer, model.trainable_weights
    if type(optimizer).__name__ not in keras_compile.SLOT_GROUPS:
        warnings.warn(f"{path!r}: optimizer state not restored: fastrnn's {type(optimizer).__name__} has no "
                      "Keras layout", stacklevel=3)
        return None
    layout, stored = keras_compile.optimizer_layout(optimizer, weights), len(group.keys())
    if stored != len(layout) and stored <= 2:  # iterations and learning rate alone: never built, no step taken
        return None
    if stored != len(layout):
        warnings.warn(f"{path!r}: optimizer state not restored: the file holds {stored} optimizer "
                      f"variables, this {type(optimizer).__name__} has {len(layout)}", stacklevel=3)
        return None
    slots = [{} for _ in weights]
    iterations = 0
    for index, (kind, i, slot) in enumerate(layout):
        if kind == "slot":
            what = f"optimizer slot {slot!r} of weight {i}"
            slots[i][slot] = _array(group, str(index), "optimizer/vars", weights[i].shape, "f", h5py, what)
        else:
            value = _array(group, str(index), "optimizer/vars", (), "iu" if kind == "iterations" else "f", h5py,
                           f"optimizer {kind}")
            iterations = int(value) if kind == "iterations" else iterations
    if iterations < 0:
        raise ValueError(f"optimizer iterations is {iterations}, below 0")
    return iterations, slots


def _apply(model, updates, state):
    """Write checked weights (and optimizer state) into the model."""
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([updates[id(w)] for w in layer.weights])
    if state is not None:
        model.optimizer.iterations = state[0]
        model.optimizer.set_slots(model.trainable_weights, state[1])


def _read_archive(path):
    """(config.json's object, model.weights.h5's bytes) of a .keras file, sizes checked before reading."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        with zipfile.ZipFile(f) as archive:
            members = {m.filename: m for m in archive.infolist()}
            _check_directory(archive.infolist(), members, size)
            texts = [_read_member(archive, members[n]) for n in ("config.json", "metadata.json") if n in members]
            data = _read_member(archive, members[_WEIGHTS])
    config, *metadata = [json.loads(t.decode("utf-8")) for t in texts]  # deep nesting: RecursionError
    if metadata and not isinstance(metadata[0], dict):
        raise ValueError("metadata.json is not a JSON object")
    stack = [(config, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > _DEPTH:
            raise ValueError(f"config.json nests deeper than {_DEPTH} levels")
        if isinstance(value, (dict, list)):
            stack += [(v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)]
    return config, data


def _check_directory(infos, members, size):
    """The zip lists Keras' members once each, none encrypted, within bounded sizes."""
    if len(members) != len(infos):
        raise ValueError("the zip directory lists a member twice")
    for name, m in members.items():
        if name == "model.weights.npz":
            raise ValueError("its weights are in Keras' npz format; fastrnn reads model.weights.h5")
        if name not in _LIMITS and name != _WEIGHTS:
            raise ValueError(f"unexpected member {name!r} (assets of preprocessing layers are not supported)")
        if m.flag_bits & 0x1 or m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"member {name!r} is encrypted or uses an unsupported compression")
        # floats barely compress: weights declared at more than twice the archive's size are a bomb
        limit = _LIMITS.get(name, 2 * size)
        if m.file_size > limit:
            raise ValueError(f"member {name!r} declares {m.file_size} bytes uncompressed, more than the {limit} "
                             "allowed")
    for name in ("config.json", _WEIGHTS):
        if name not in members:
            raise ValueError(f"no {name}")
    if sum(m.compress_size for m in infos) > size:
        raise ValueError(f"the members claim more bytes than the file's {size}")


def _read_member(archive, member):
    """A member's bytes, at most its declared size plus one (reading to the end checks its CRC)."""
    with archive.open(member) as fp:
        data = fp.read(member.file_size + 1)
    if len(data) != member.file_size:
        raise ValueError(f"member {member.filename!r} holds {len(data)} bytes, its header says {member.file_size}")
    return data


def _build(config, stored_bytes):
    """The fastrnn Sequential config.json describes, its weights created within 4x the stored bytes
    (weights stored as float16 may load as float64)."""
    from .sequential import Sequential  # keras_format may be imported by sequential

    name, specs, shape = keras_config.model_from_keras(config)
    if shape is None:
        raise ValueError("config.json gives no input shape for the model")
    if specs:
        first = specs[0]["config"]
        first["batch_input_shape"] = shape
        if specs[0]["class_name"] == "Embedding" and len(shape) == 2:
            first["input_length"] = shape[1]
    with weight_budget(4 * stored_bytes):
        model = Sequential(name=name)
        for spec in specs:
            model.add(deserialize(spec))
        if not model.built:
            model.build(shape)
    return model
