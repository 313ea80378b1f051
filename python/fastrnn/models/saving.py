"""One-file model saving: a NumPy .npz archive holding the JSON architecture and compile
settings, every weight, and the optimizer's state. Written to a temporary file in the same
directory and moved into place with os.replace, so an interrupted save leaves the old file.

Not Keras' .keras/.h5 formats; files are read with allow_pickle=False (no code is loaded).
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from .. import optimizers

FORMAT, VERSION = "fastrnn-model", 1


def save_model(model, path) -> None:
    """Save `model` (architecture, weights, compile settings, optimizer state) to `path`.

    Args:
        model: a built Sequential.
        path: file to write (any extension; ".npz" is a good choice).

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
    arrays["__fastrnn__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".fastrnn-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_model(path, custom_objects=None, compile=True):
    """Load a model written by save_model / model.save.

    Args:
        path: the saved file.
        custom_objects: extra layer classes by name.
        compile: restore the optimizer (with its state), loss and metrics (default True).

    Returns:
        The Sequential model.

    Raises:
        ValueError: the file is not a fastrnn model file, or is corrupt.

    Example:
        >>> model = load_model("model.npz")
    """
    from .sequential import Sequential  # saving is imported by sequential

    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile) or "__fastrnn__" not in data.files:
                raise ValueError("no fastrnn header")
            meta = json.loads(bytes(data["__fastrnn__"]).decode())
            if meta.get("format") != FORMAT:
                raise ValueError("wrong format tag")
            arrays = {k: data[k] for k in data.files if k != "__fastrnn__"}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as err:
        raise ValueError(f"{path!r} is not a fastrnn model file, or it is corrupt ({err})") from err
    if meta.get("version", 0) > VERSION:
        raise ValueError(f"{path!r} was written by a newer fastrnn (format version {meta['version']})")
    model = Sequential.from_config(meta["model"], custom_objects)
    count = sum(1 for k in arrays if k.startswith("weights/"))
    model.set_weights([arrays[f"weights/{i}"] for i in range(count)])
    spec = meta.get("compile")
    if compile and spec:
        model.compile(optimizer=optimizers.deserialize(spec["optimizer"]), loss=spec["loss"],
                      metrics=spec["metrics"])
        model.optimizer.iterations = spec["iterations"]
        slots = [{} for _ in model.weights]
        for key, value in arrays.items():
            if key.startswith("optimizer/"):
                _, i, name = key.split("/", 2)
                slots[int(i)][name] = value
        model.optimizer.set_slots(model.weights, slots)
    return model
