"""Keras 3's optimizers with its update rules and defaults: SGD (momentum, Nesterov), RMSprop
(momentum, centered), Adam (amsgrad), AdamW, Adagrad, Nadam; learning-rate schedules
(`fastrnn.optimizers.schedules`); gradient clipping, decoupled weight decay and sparse row updates.

Sparse gradients (IndexedRows from Embedding) update only the rows they name, slots included:
the slots of untouched rows are left as they are (the "lazy" variant, like LazyAdam or torch's
SparseAdam), so a step costs O(rows touched), not O(table).

The plain SGD-momentum, RMSprop and Adam steps are fastrnn.ops kernels (on the cpu backend one
pass of the C++ core, with the bits of their NumPy twins); the other rules are NumPy (rules.py).
"""
from __future__ import annotations

from . import schedules
from .adam import Adam, AdamW, Nadam
from .base import Optimizer
from .classic import SGD, Adagrad, RMSprop

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Nadam", "schedules", "get", "serialize",
           "deserialize"]

_CLASSES = {cls.__name__: cls for cls in (SGD, RMSprop, Adam, AdamW, Adagrad, Nadam)}
_NAMES = {name.lower(): cls for name, cls in _CLASSES.items()}


def get(optimizer):
    """An Optimizer from a name ('sgd', 'rmsprop', 'adam', 'adamw', 'adagrad', 'nadam', any case)
    with Keras defaults, from serialize()'s dict, or as given.

    Example:
        >>> optimizers.get("rmsprop").learning_rate
        0.001
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        return deserialize(optimizer)
    if isinstance(optimizer, str) and optimizer.lower() in _NAMES:
        return _NAMES[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(_NAMES)} or a "
                     "fastrnn.optimizers.Optimizer")


def serialize(optimizer) -> dict:
    """{"class_name", "config"} for saving.

    Example:
        >>> serialize(Adam(learning_rate=0.01))["config"]["learning_rate"]
        0.01
    """
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(spec, custom_objects=None):
    """An optimizer from serialize()'s dict; custom_objects maps names to user optimizer classes,
    schedules and learning-rate functions.

    Example:
        >>> deserialize(serialize(SGD(0.1, momentum=0.9))).momentum
        0.9
    """
    classes = {**_CLASSES, **{k: v for k, v in (custom_objects or {}).items() if isinstance(v, type)
                              and issubclass(v, Optimizer)}}
    if not isinstance(spec, dict) or spec.get("class_name") not in classes:
        name = spec.get("class_name") if isinstance(spec, dict) else spec
        raise ValueError(f"unknown optimizer class {name!r}")
    if not isinstance(spec.get("config"), dict):
        raise ValueError(f"the config of optimizer {spec['class_name']!r} must be an object")
    return classes[spec["class_name"]].from_config(spec["config"], custom_objects)
