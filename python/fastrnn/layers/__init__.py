"""Keras-style layers on fastrnn's kernels: Embedding, SimpleRNN, LSTM, GRU, Dense, Flatten, Dropout,
Masking, Bidirectional. Each layer does forward and backward itself; models chain them.

`deserialize` rebuilds a layer from {"class_name", "config"} (used by model saving).
"""
from __future__ import annotations

from .base import IndexedRows, Layer
from .conv import Conv1D
from .core import Activation, Dropout, Flatten, Masking, RepeatVector
from .dense import Dense
from .embedding import Embedding
from .input_layer import Input, InputLayer, KerasTensor
from .merge import Add, Concatenate, add, concatenate
from .pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .recurrent import GRU, LSTM, SimpleRNN
from .wrappers import Bidirectional, TimeDistributed

__all__ = ["Layer", "IndexedRows", "Embedding", "SimpleRNN", "LSTM", "GRU", "Dense", "Flatten", "Dropout", "Masking",
           "Bidirectional", "serialize", "deserialize"]
__all__ += ["Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
            "TimeDistributed", "Activation", "RepeatVector"]

_CLASSES = {cls.__name__: cls for cls in (Embedding, SimpleRNN, LSTM, GRU, Dense, Flatten, Dropout, Masking,
                                          Bidirectional)}
_CLASSES.update({cls.__name__: cls for cls in (Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D,
                                               GlobalAveragePooling1D, TimeDistributed, Activation, RepeatVector)})

__all__ += ["Input", "InputLayer", "KerasTensor", "Concatenate", "Add", "concatenate", "add"]
_CLASSES.update({cls.__name__: cls for cls in (InputLayer, Concatenate, Add)})


def serialize(layer) -> dict:
    """{"class_name": ..., "config": ...} for a layer.

    Example:
        >>> deserialize(serialize(Dense(3))).units
        3
    """
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec, custom_objects=None):
    """A new layer from serialize()'s dict; custom_objects maps extra class names to classes."""
    classes = {**_CLASSES, **(custom_objects or {})}
    name = spec.get("class_name")
    if name not in classes:
        raise ValueError(f"unknown layer class {name!r}; pass it in custom_objects")
    return classes[name].from_config(spec["config"])
