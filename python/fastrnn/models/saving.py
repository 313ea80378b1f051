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
import warnings
import zipfile
import zlib

import numpy as np

from .. import losses, metrics as metrics_mod, optimizers
from .._atomic_write import atomic_write
from ..layers.base import weight_budget

FORMAT, WEIGHTS_FORMAT, VERSION = "fastrnn-model", "fastrnn-weights", 1
_MEMBER = re.compile(r"(__fastrnn__|weights/\d+|optimizer/\d+/\w+)\.npy")
_HEADER = "__fastrnn__"


def save_model(model, path) -> None:
    """Save `model` (architecture, weights, compile settings, optimizer state) to `path`.

    The file is written beside `path` and moved into place only when complete (see
    fastrnn._atomic_write), so an interrupted save leaves the old file as it was.

    Args:
        model: a built Sequential or functional Model.
        path: file to write (any extension; ".npz" is a good choice).

    Raises:
        ValueError: the model has no weights yet.

    Example:
        >>> save_model(model, "model.npz"); model2 = load_model("model.npz")
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} has no weights yet: build or fit it before saving")
    kind = "Sequential" if model._is_sequential else "Functional"
    meta = {"format": FORMAT, "version": VERSION, "class_name": kind, "model": model.get_config(), "compile": None}
    arrays = {f"weights/{i}": w for i, w in enumerate(model.get_weights())}
    if model.compiled:
        meta["compile"] = {"optimizer": optimizers.serialize(model.optimizer), "loss": _nested(model.loss, _loss_json),
                           "loss_weights": model.loss_weights, "metrics": _names(model._metric_specs),
                           "weighted_metrics": _names(model._weighted_metric_specs),
                           "iterations": model.optimizer.iterations}
        for i, slots in enumerate(model.optimizer.get_slots(model.weights)):
            arrays.update({f"optimizer/{i}/{k}": v for k, v in slots.items()})
    arrays[_HEADER] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def save_weights(model, path) -> None:
    """Save the weights of `model` alone (fastrnn's format: an .npz of the arrays with each
    layer's name and weight shapes), atomically; `load_weights` puts them back.

    Example:
        >>> save_weights(model, "weights.npz"); load_weights(twin, "weights.npz")
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} has no weights yet: build or fit it before saving its weights")
    meta = {"format": WEIGHTS_FORMAT, "version": VERSION,
            "layers": [[layer.name, [list(w.shape) for w in layer.weights]] for layer in model.layers]}
    arrays = {f"weights/{i}": w for i, w in enumerate(model.get_weights())}
    arrays[_HEADER] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_weights(model, path, skip_mismatch=False) -> None:
    """Load weights saved by save_weights (or model.save) into `model`, layer by layer in order.

    Every stored array is checked against the model's weights before any is written, so a
    mismatch leaves the model as it was.

    Args:
        skip_mismatch: leave a layer whose stored shapes differ (or that the file lacks) as it
            is, with a warning, instead of raising (Keras' skip_mismatch).

    Raises:
        ValueError: not a fastrnn weights or model file, corrupt, or its shapes do not fit the
            model (the message names the layer and weight).
    """
    path = os.fspath(path)
    meta, arrays = _read_or_explain(path, "weights")
    stored = [arrays[f"weights/{i}"] for i in range(sum(k.startswith("weights/") for k in arrays))]
    if not model.built:
        raise ValueError(f"model {model.name!r} has no weights yet: build it before loading weights into it")
    updates, offset = [], 0
    for layer in model.layers:
        mine, theirs = layer.weights, stored[offset:offset + len(layer.weights)]
        offset += len(mine)
        problem = None
        if len(theirs) != len(mine):
            problem = f"the file holds {len(theirs)} of its {len(mine)} weights"
        else:
            problem = next((f"weight {i} has shape {t.shape} in the file, {w.shape} in the model"
                            for i, (w, t) in enumerate(zip(mine, theirs)) if w.shape != t.shape), None)
        if problem is None:
            updates.append((layer, theirs))
        elif skip_mismatch:
            warnings.warn(f"load_weights: layer {layer.name!r} skipped: {problem}", stacklevel=3)
        else:
            raise ValueError(f"{path!r} does not fit model {model.name!r}: layer {layer.name!r}: {problem}")
    if offset != len(stored) and not skip_mismatch:
        raise ValueError(f"{path!r} holds {len(stored)} weight arrays, model {model.name!r} has {offset}")
    for layer, theirs in updates:
        layer.set_weights(theirs)


def _check_weights_meta(meta, arrays):
    """A weights file's header: the layers' names and shapes, matching the stored arrays."""
    _expect(meta.get("version"), (int,), "version", "an int")
    layers = _expect(meta.get("layers"), (list,), "layers", "a list")
    shapes = []
    for i, entry in enumerate(layers):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], list)):
            raise ValueError(f"field 'layers[{i}]' must be [name, [shapes]], got {entry!r:.80}")
        shapes += [tuple(s) if isinstance(s, list) else None for s in entry[1]]
    if any(k.startswith("optimizer/") for k in arrays):
        raise ValueError("a weights file holds no optimizer state")
    for i, shape in enumerate(shapes):
        array = arrays.get(f"weights/{i}")
        if array is None or array.shape != shape:
            raise ValueError(f"weight {i}: the header says shape {shape}, the file holds "
                             f"{None if array is None else array.shape}")
    if len(arrays) != len(shapes):
        raise ValueError(f"the header lists {len(shapes)} weights, the file holds {len(arrays)}")


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
        The Sequential or functional Model.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not a fastrnn model file or is corrupt (the message names the
            problem), was written by a newer fastrnn, or describes a model that cannot be built.

    Example:
        >>> model = load_model("model.npz")
    """
    path = os.fspath(path)
    meta, arrays = _read_or_explain(path, "model")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} holds weights only: build the model, then model.load_weights(path)")
    if meta["version"] > VERSION:
        raise ValueError(f"{path!r} was written by a newer fastrnn (format version {meta['version']})")
    try:
        return _build(meta, arrays, custom_objects, compile)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as err:
        raise ValueError(f"{path!r}: the model it describes cannot be built ({err})") from err


def _read_or_explain(path, what):
    """_read, with every way a file can be wrong or corrupt as one ValueError naming the file
    (a missing file stays FileNotFoundError)."""
    try:
        return _read(path)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, RecursionError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"{path!r} is not a fastrnn {what} file, or it is corrupt ({err})") from err


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
    _expect(meta, (dict,), "(top level)", "an object")
    if meta.get("format") == WEIGHTS_FORMAT:
        _check_weights_meta(meta, arrays)
    else:
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


def _nested(spec, leaf):
    """`spec` (a value, a list of them, or a dict of them by output name) with leaf() on each value."""
    if isinstance(spec, dict):
        return {k: _nested(v, leaf) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_nested(v, leaf) for v in spec]
    return leaf(spec)


def _loss_json(loss):
    return None if loss is None else losses.serialize(loss)


def _storable(metric):
    """Whether compile's metric `metric` can be stored: a name, or an object of a class fastrnn
    can rebuild (metrics.serialize); functions cannot."""
    if isinstance(metric, str):
        return True
    try:
        metrics_mod.serialize(metric)
        return True
    except ValueError:
        return False


def _names(metrics):
    """compile's metrics as JSON, structure kept: names, and objects as their serialized dicts;
    what cannot be stored (functions) is left out with a warning."""
    if isinstance(metrics, dict):
        return {k: _names(v) for k, v in metrics.items()}
    if isinstance(metrics, (list, tuple)):
        dropped = [m for m in metrics if not isinstance(m, (list, tuple, dict)) and not _storable(m)]
        if dropped:
            warnings.warn(f"save: the metrics {dropped!r} cannot be stored and are left out of the file", stacklevel=4)
        return [_names(m) for m in metrics if isinstance(m, (list, tuple, dict)) or _storable(m)]
    if isinstance(metrics, str) or metrics is None:
        return metrics
    return metrics_mod.serialize(metrics) if _storable(metrics) else None


def _check_nested(value, field, leaf_types, what, depth=0):
    """`value` is a leaf of leaf_types, or (two levels at most) a list or dict of them."""
    if isinstance(value, (list, dict)) and depth < 2 and not (isinstance(value, dict) and "class_name" in value):
        for item in (value.values() if isinstance(value, dict) else value):
            _check_nested(item, field, leaf_types, what, depth + 1)
    elif not isinstance(value, leaf_types) or isinstance(value, bool):
        raise ValueError(f"field {field!r} must hold {what}, got {type(value).__name__}: {value!r:.80}")


def _from_json(spec, deserialize):
    """Stored losses or metrics: names (kept), serialized objects (deserialize), or lists / dicts
    of them by output."""
    if isinstance(spec, dict) and "class_name" in spec:
        return deserialize(spec)
    if isinstance(spec, list):
        return [_from_json(v, deserialize) for v in spec]
    if isinstance(spec, dict):
        return {k: _from_json(v, deserialize) for k, v in spec.items()}
    return spec


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
    if meta.get("class_name", "Sequential") not in ("Sequential", "Functional"):
        raise ValueError(f"field 'class_name' must be 'Sequential' or 'Functional', got {meta.get('class_name')!r:.80}")
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
        if spec.get("loss") is None:
            raise ValueError("field 'compile.loss' must hold a loss, or one per output")
        _check_nested(spec["loss"], "compile.loss", (str, dict, type(None)), "loss names or objects")
        _check_nested(spec.get("loss_weights"), "compile.loss_weights", (int, float, type(None)), "numbers")
        for key in ("metrics", "weighted_metrics"):
            _check_nested(spec.get(key), f"compile.{key}", (str, dict, type(None)), "metric names or objects")
        if _expect(spec.get("iterations"), (int,), "compile.iterations", "an int") < 0:
            raise ValueError(f"field 'compile.iterations' must be >= 0, got {spec['iterations']}")


def _build(meta, arrays, custom_objects, compile):
    """The model of a checked file: weights created within the stored weights' bytes, then filled."""
    from .functional import Model  # saving is imported by the models
    from .sequential import Sequential

    count = sum(k.startswith("weights/") for k in arrays)
    if any(f"weights/{i}" not in arrays for i in range(count)):
        raise ValueError("the weight members are not numbered 0, 1, 2, ...")
    weights = [arrays.pop(f"weights/{i}") for i in range(count)]
    with weight_budget(sum(w.nbytes for w in weights)):
        kind = Sequential if meta.get("class_name", "Sequential") == "Sequential" else Model
        model = kind.from_config(meta["model"], custom_objects)
    model.set_weights(weights)
    spec = meta["compile"]
    if compile and spec:
        model.compile(optimizer=optimizers.deserialize(spec["optimizer"]), loss=_from_json(spec["loss"], losses.deserialize),
                      loss_weights=spec.get("loss_weights"), metrics=_from_json(spec["metrics"], metrics_mod.deserialize),
                      weighted_metrics=_from_json(spec.get("weighted_metrics"), metrics_mod.deserialize))
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
