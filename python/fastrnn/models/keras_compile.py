"""Compile settings in Keras 3's files: the compile_config of config.json (optimizer, loss,
metrics) for the names both libraries share, and the order of Keras' optimizer variables in
`optimizer/vars/` (iterations, learning rate, then each trainable weight's slots).

Not a general bridge: a setting one side cannot name raises `Unsupported`, and callers save or
load the model without compile settings, with a warning. Nothing here imports keras.
"""
from __future__ import annotations

import math

import numpy as np

_OPTIMIZERS = ("SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Nadam")
_OPTIMIZER_FIXED = {"use_ema": False, "loss_scale_factor": None, "gradient_accumulation_steps": None}
_OPTIMIZER_FREE = {"ema_momentum": 0.99, "ema_overwrite_frequency": None}  # unused without EMA
_SCHEDULES = ("ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay", "CosineDecay")
# Keras' slot variables after iterations and learning_rate: per group, every trainable weight's slots
# (Adam's moments interleave weight by weight; RMSprop's come one kind at a time)
SLOT_GROUPS = {"SGD": (("momentum",),), "RMSprop": (("velocity",), ("momentum",), ("average_gradient",)),
               "Adam": (("m", "v"), ("v_hat",)), "AdamW": (("m", "v"), ("v_hat",)), "Nadam": (("m", "v"),),
               "Adagrad": (("accumulator",),)}
# fastrnn loss class -> (the name Keras' compile accepts, Keras' config keys beyond name and reduction)
LOSSES = {"BinaryCrossentropy": ("binary_crossentropy", ("from_logits", "label_smoothing", "axis")),
          "CategoricalCrossentropy": ("categorical_crossentropy", ("from_logits", "label_smoothing", "axis")),
          "SparseCategoricalCrossentropy": ("sparse_categorical_crossentropy", ("from_logits", "ignore_class")),
          "KLDivergence": ("kl_divergence", ()), "MeanSquaredError": ("mean_squared_error", ()),
          "MeanAbsoluteError": ("mean_absolute_error", ()), "Huber": ("huber", None),  # Keras' config drops delta
          "LogCosh": ("log_cosh", ()), "Hinge": ("hinge", ()), "SquaredHinge": ("squared_hinge", ()),
          "CategoricalHinge": ("categorical_hinge", ())}
METRICS = ("acc", "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mae", "mse", "mean_absolute_error",
           "mean_squared_error", "auc", "precision", "recall")


class Unsupported(ValueError):
    """A compile setting one side cannot name: the model is saved / loaded without compile settings."""


def _optimizer_to_keras(optimizer):
    from .. import optimizers
    cls = type(optimizer).__name__
    if cls not in _OPTIMIZERS or type(optimizer) is not getattr(optimizers, cls):
        raise Unsupported(f"optimizer {cls} has no Keras equivalent")
    config = optimizer.get_config()
    if config.pop("decay", 0):
        raise Unsupported("Keras 3 has no 'decay' (use a learning-rate schedule)")
    rate = config.pop("learning_rate")
    if isinstance(rate, dict):
        if rate.get("class_name") not in _SCHEDULES:
            raise Unsupported(f"learning-rate schedule {rate.get('class_name')!r} has no Keras equivalent")
        rate = {"module": "keras.optimizers.schedules", **rate, "registered_name": None}
    head = {"name": config.pop("name"), "learning_rate": rate, **{k: config.pop(k) for k in
            ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue")}, **_OPTIMIZER_FIXED, **_OPTIMIZER_FREE}
    return {"module": "keras.optimizers", "class_name": cls, "config": {**head, **config}, "registered_name": None}


def _loss_to_keras(loss):
    """The loss's Keras name when it has its defaults, else Keras' serialized loss object."""
    from .. import losses
    cls = type(loss).__name__
    if cls not in LOSSES or type(loss) is not getattr(losses, cls):
        raise Unsupported(f"loss {cls} has no Keras equivalent")
    name, keys = LOSSES[cls]
    config = loss.get_config()
    if config == type(loss)().get_config():
        return name
    extra = {k: v for k, v in config.items() if k not in ("name", "reduction")}
    if keys is not None and "axis" not in keys and extra.get("axis", -1) == -1:
        extra.pop("axis", None)  # Keras' sparse crossentropy always reduces the last axis
    if keys is None or set(extra) != set(keys):
        raise Unsupported(f"loss {cls} with settings {extra} has no Keras equivalent")
    config = {"name": config["name"], "reduction": config["reduction"], **{k: extra[k] for k in keys}}
    return {"module": "keras.losses", "class_name": cls, "config": config, "registered_name": None}


def compile_to_keras(optimizer, loss, metric_specs) -> dict:
    """Keras' compile_config for a model compiled with these.

    Raises:
        Unsupported: Keras has no name for the optimizer, the loss or a metric.

    Example:
        >>> compile_to_keras(Adam(), losses.get("mse"), ["mae"])["loss"]
        'mean_squared_error'
    """
    metrics = list(metric_specs or [])
    bad = [m for m in metrics if not (isinstance(m, str) and m in METRICS)]
    if bad:
        raise Unsupported(f"metrics {bad!r:.100} have no Keras name")
    return {"optimizer": _optimizer_to_keras(optimizer), "loss": _loss_to_keras(loss), "loss_weights": None,
            "metrics": metrics or None, "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def compile_from_keras(config):
    """(optimizer, loss, metrics) for fastrnn's compile from Keras' compile_config.

    Raises:
        Unsupported: fastrnn has no equivalent of a setting (the message names it).

    Example:
        >>> optimizer, loss, metrics = compile_from_keras(config["compile_config"])
    """
    from .. import losses, optimizers
    from ..optimizers import schedules
    if not isinstance(config, dict):
        raise Unsupported(f"compile_config is a {type(config).__name__}, not an object")
    spec = config.get("optimizer")
    spec = {"class_name": spec, "config": {}} if isinstance(spec, str) else spec
    cls = spec.get("class_name") if isinstance(spec, dict) else None
    options = spec.get("config") if isinstance(spec, dict) else None
    if cls not in _OPTIMIZERS or not isinstance(options, dict):
        raise Unsupported(f"Keras optimizer {cls or spec!r:.80} has no fastrnn equivalent")
    options = {k: v for k, v in options.items() if k not in _OPTIMIZER_FREE}
    for key, value in _OPTIMIZER_FIXED.items():
        if options.pop(key, value) != value:
            raise Unsupported(f"optimizer setting {key} has no fastrnn equivalent")
    for key in ("loss_weights", "weighted_metrics"):
        if config.get(key) is not None:
            raise Unsupported(f"compile setting {key} has no fastrnn equivalent")
    metrics = config.get("metrics") or []
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise Unsupported(f"metrics {metrics!r:.100} are not a list of names")
    rate = options.get("learning_rate")
    if isinstance(rate, dict) and rate.get("class_name") not in _SCHEDULES:
        raise Unsupported(f"learning-rate schedule {rate.get('class_name')!r:.60} has no fastrnn equivalent")
    try:
        if isinstance(rate, dict):
            options["learning_rate"] = schedules.deserialize({"class_name": rate["class_name"],
                                                              "config": rate.get("config")})
        loss = config.get("loss")
        if isinstance(loss, dict):
            loss = losses.deserialize({"class_name": loss.get("class_name"), "config": loss.get("config")})
        return getattr(optimizers, cls)(**options), losses.get(loss), metrics
    except (ValueError, TypeError, AttributeError) as err:
        raise Unsupported(str(err)) from err


def optimizer_layout(optimizer, weights):
    """Keras' optimizer variables in order, as (kind, weight index, slot name); kind is
    'iterations', 'learning_rate', 'slot' or Nadam's 'u_product'."""
    layout = [("iterations", None, None)]
    if not isinstance(optimizer.get_config()["learning_rate"], dict):  # a schedule is no variable
        layout.append(("learning_rate", None, None))
    for group in SLOT_GROUPS[type(optimizer).__name__]:
        names = [n for n in group if n in optimizer.slot_names]
        layout += [("slot", i, n) for i in range(len(weights)) for n in names]
    if type(optimizer).__name__ == "Nadam":
        layout.append(("u_product", None, None))
    return layout


def optimizer_variables(optimizer, weights) -> list:
    """The arrays of Keras' optimizer variables (optimizer_layout's order) for the trainable `weights`."""
    slots = optimizer.get_slots(weights)
    values = []
    for kind, i, slot in optimizer_layout(optimizer, weights):
        if kind == "iterations":
            values.append(np.asarray(optimizer.iterations, np.int64))
        elif kind == "learning_rate":
            values.append(np.asarray(optimizer.learning_rate, np.float32))
        elif kind == "u_product":  # Nadam's prod of u_1..u_t, u_s = beta_1 (1 - 0.5 * 0.96^s)
            product = math.prod(optimizer.beta_1 * (1 - 0.5 * 0.96 ** s) for s in range(1, optimizer.iterations + 1))
            values.append(np.asarray(product, np.float32))
        else:  # a weight not updated yet has the slots a first step would start from
            values.append((slots[i] or optimizer._new_slots(weights[i]))[slot])
    return values
