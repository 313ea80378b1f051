"""Models: the functional Model (Input tensors to outputs, several of each), Sequential, their
shared training engine (compile, fit, evaluate, predict, ...), load_model and model_from_json."""
from __future__ import annotations

from .functional import Model, model_from_json
from . import keras_format, saving
from .saving import save_model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model", "save_model", "model_from_json"]


def load_model(path, custom_objects=None, compile=True):
    """Load a model saved by model.save: Keras 3's ".keras" zip (written by fastrnn or by Keras,
    for the layers both have) or fastrnn's own format (see fastrnn.models.saving.load_model).

    Example:
        >>> model = load_model("model.keras")
    """
    kind = keras_format.keras_file_kind(path)
    if kind == "keras":
        return keras_format.load_keras(path, compile=compile)
    if kind == "weights.h5":
        raise ValueError(f"{path!r} holds weights only: build the model, then model.load_weights(path)")
    return saving.load_model(path, custom_objects, compile)
