"""Where dataset files are looked for, and the error that says how to get a missing one.

The default folder is Keras' cache, `$KERAS_HOME/datasets` (else `~/.keras/datasets`), so files a
Keras install already downloaded are found. Nothing here downloads anything.
"""
from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """The default dataset folder: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def locate(path, default_name: str, url: str) -> Path:
    """`path` (or `default_name` in `data_home()`) if that file exists, else a FileNotFoundError."""
    path = data_home() / default_name if path is None else Path(path)
    if path.is_file():
        return path
    raise FileNotFoundError(
        f"file {path} not found. fastrnn does not download data: fetch {url} and save it as "
        f"{path} (or pass path=... pointing to where it is)")
