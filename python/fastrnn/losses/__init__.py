"""Keras' losses as value-and-gradient pairs: crossentropies (binary, categorical, sparse; from
logits; label smoothing), KL divergence, mean squared / absolute error, Huber, log-cosh, hinge,
squared hinge, categorical hinge. Each reduces per-sample values as Keras 3 does (reduction,
sample_weight, masks of per-step outputs) and gives the gradient of that reduction.

Keras' loss functions are here too (`fastrnn.losses.huber(y_true, y_pred, delta=1.0)` returns
per-sample values) and compile accepts them, as it accepts names, aliases and Loss objects. An
arbitrary Python function is refused with an explanation: fastrnn has no automatic
differentiation, so a custom loss subclasses Loss and writes its gradient. No metrics here.
"""
from __future__ import annotations

import functools

from .base import EPSILON, REDUCTIONS, Loss
from .crossentropy import BinaryCrossentropy, CategoricalCrossentropy, KLDivergence, SparseCategoricalCrossentropy
from .hinge import CategoricalHinge, Hinge, SquaredHinge
from .regression import Huber, LogCosh, MeanAbsoluteError, MeanSquaredError

__all__ = ["Loss", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence",
           "MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh", "Hinge", "SquaredHinge", "CategoricalHinge",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence",
           "mean_squared_error", "mean_absolute_error", "huber", "log_cosh", "hinge", "squared_hinge",
           "categorical_hinge", "mse", "mae", "kld", "logcosh", "get", "serialize", "deserialize", "EPSILON",
           "REDUCTIONS"]


def _per_sample(loss, y_true, y_pred):
    p = loss._outputs(y_pred)
    values = loss.per_sample(loss.prepare(y_true, p), p)
    valid = loss._valid(y_true, p)
    return values if valid is None else values * valid


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary crossentropy (see BinaryCrossentropy), y_pred.shape[:-1]."""
    return _per_sample(BinaryCrossentropy(from_logits, label_smoothing, axis), y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical crossentropy (see CategoricalCrossentropy)."""
    return _per_sample(CategoricalCrossentropy(from_logits, label_smoothing, axis), y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample sparse categorical crossentropy (see SparseCategoricalCrossentropy); 0 where the
    target is ignore_class."""
    return _per_sample(SparseCategoricalCrossentropy(from_logits, ignore_class, axis=axis), y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """Per-sample KL divergence sum(y log(y / p)) (see KLDivergence)."""
    return _per_sample(KLDivergence(), y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error.

    Example:
        >>> mean_squared_error(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]))
        array([2.])
    """
    return _per_sample(MeanSquaredError(), y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error."""
    return _per_sample(MeanAbsoluteError(), y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss (see Huber)."""
    return _per_sample(Huber(delta), y_true, y_pred)


def log_cosh(y_true, y_pred):
    """Per-sample log-cosh error (see LogCosh)."""
    return _per_sample(LogCosh(), y_true, y_pred)


def hinge(y_true, y_pred):
    """Per-sample hinge loss (see Hinge)."""
    return _per_sample(Hinge(), y_true, y_pred)


def squared_hinge(y_true, y_pred):
    """Per-sample squared hinge loss (see SquaredHinge)."""
    return _per_sample(SquaredHinge(), y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """Per-sample categorical hinge loss (see CategoricalHinge)."""
    return _per_sample(CategoricalHinge(), y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

_CLASSES = {cls.__name__: cls for cls in (BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                                          KLDivergence, MeanSquaredError, MeanAbsoluteError, Huber, LogCosh, Hinge,
                                          SquaredHinge, CategoricalHinge)}
_FUNCTIONS = {binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
              sparse_categorical_crossentropy: SparseCategoricalCrossentropy, kl_divergence: KLDivergence,
              mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError, huber: Huber,
              log_cosh: LogCosh, hinge: Hinge, squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge}
_NAMES = {**{fn.__name__: cls for fn, cls in _FUNCTIONS.items()}, **{cls.name: cls for cls in _CLASSES.values()},
          **_CLASSES, "mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
          "MAE": MeanAbsoluteError, "kld": KLDivergence, "KLD": KLDivergence,
          "kullback_leibler_divergence": KLDivergence, "logcosh": LogCosh}


def get(loss):
    """A Loss from a name (as Keras spells them: 'mse', 'huber', 'Huber', ...), a Loss object or
    class, one of this module's functions (or a functools.partial of one, e.g.
    partial(losses.huber, delta=2.0)), or serialize()'s dict.

    Any other callable is refused: fastrnn has no automatic differentiation, so it cannot train
    through a loss whose gradient it does not know. Subclass Loss (per_sample and gradient).

    Example:
        >>> losses.get("binary_crossentropy").name
        'binary_crossentropy'
        >>> losses.get(losses.huber).delta
        1.0
    """
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str) and loss in _NAMES:
        return _NAMES[loss]()
    if isinstance(loss, dict):
        return deserialize(loss)
    cls = next((c for fn, c in _FUNCTIONS.items() if fn is loss), None)
    if cls is not None:
        return cls()
    if isinstance(loss, functools.partial) and not loss.args:
        cls = next((c for fn, c in _FUNCTIONS.items() if fn is loss.func), None)
        if cls is not None:
            return cls(**loss.keywords)
    if callable(loss):
        raise TypeError(
            f"loss {getattr(loss, '__name__', loss)!r} is a plain function. fastrnn has no automatic "
            "differentiation, so it trains only through losses whose gradient it knows: a name such as 'huber', "
            "a class such as fastrnn.losses.Huber(delta=2.0), one of fastrnn.losses' functions, or your own "
            "subclass of fastrnn.losses.Loss defining per_sample(y_true, y_pred) and gradient(y_true, y_pred)")
    raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(sorted(set(_NAMES) - set(_CLASSES)))}, "
                     "a fastrnn.losses.Loss or one of its classes")


def serialize(loss) -> dict:
    """{"class_name", "config"} of a Loss (its reduction and arguments included).

    Example:
        >>> serialize(Huber(delta=2.0))["config"]["delta"]
        2.0
    """
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(spec, custom_objects=None):
    """A Loss from serialize()'s dict; custom_objects maps names to user Loss classes."""
    classes = {**_CLASSES, **(custom_objects or {})}
    if not isinstance(spec, dict) or spec.get("class_name") not in classes:
        name = spec.get("class_name") if isinstance(spec, dict) else spec
        raise ValueError(f"unknown loss class {name!r}; pass it in custom_objects")
    if not isinstance(spec.get("config"), dict):
        raise ValueError(f"the config of loss {spec['class_name']!r} must be an object")
    return classes[spec["class_name"]].from_config(spec["config"])
