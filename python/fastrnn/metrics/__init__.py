"""Keras' metrics: per-sample functions (accuracy variants, top-k accuracy, mae, mse), stateful
metric objects with Keras 3's update_state / result / reset_state (AUC, Precision, Recall,
TopKCategoricalAccuracy, ..., and MeanMetricWrapper for any per-sample function), and the rule
that picks which accuracy 'acc'/'accuracy' means from the loss and output width, as Keras does.

Two lookups: `get` gives (name, per-sample function) for a loop that averages per-sample values
over batches; `get_metric` gives a Metric object for every name, the stateful ones (AUC,
precision, recall) included, for a loop that calls update_state per batch and result per epoch.
"""
from __future__ import annotations

from .accuracy import (BinaryAccuracy, CategoricalAccuracy, MeanAbsoluteError, MeanSquaredError,
                       SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy,
                       binary_accuracy, categorical_accuracy, mean_absolute_error, mean_squared_error,
                       sparse_categorical_accuracy, sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .auc import AUC
from .base import Mean, MeanMetricWrapper, Metric
from .confusion import Precision, Recall

__all__ = ["Metric", "Mean", "MeanMetricWrapper", "AUC", "Precision", "Recall", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "MeanAbsoluteError", "MeanSquaredError", "binary_accuracy",
           "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "mean_absolute_error", "mean_squared_error", "get", "get_metric",
           "serialize", "deserialize"]

_NAMES = {"binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
          "sparse_categorical_accuracy": sparse_categorical_accuracy,
          "top_k_categorical_accuracy": top_k_categorical_accuracy,
          "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy, "mae": mean_absolute_error,
          "mean_absolute_error": mean_absolute_error, "mse": mean_squared_error,
          "mean_squared_error": mean_squared_error}
_STATEFUL = {"auc": AUC, "precision": Precision, "recall": Recall}


def _accuracy(loss_name, output_width):
    """The accuracy function 'acc'/'accuracy' means for this loss and output width (Keras' rule)."""
    if loss_name == "binary_crossentropy":
        return binary_accuracy
    if loss_name == "sparse_categorical_crossentropy":
        return sparse_categorical_accuracy
    if loss_name == "categorical_crossentropy" or output_width != 1:
        return categorical_accuracy
    return binary_accuracy


def _unknown(metric):
    return ValueError(f"unknown metric {metric!r}; expected 'acc', 'accuracy', one of "
                      f"{', '.join([*_NAMES, *_STATEFUL])}, a function (y_true, y_pred) or a fastrnn.metrics.Metric")


def get(metric, loss_name="", output_width=None):
    """(name to report, per-sample function) for a metric name or a function (y_true, y_pred).

    'acc'/'accuracy' means binary accuracy for binary_crossentropy (or a 1-wide output),
    sparse categorical accuracy for sparse_categorical_crossentropy, else categorical accuracy.
    Stateful metrics (auc, precision, recall, Metric objects) have no per-sample form: use
    get_metric for them.

    Example:
        >>> metrics.get("acc", "binary_crossentropy")[1] is binary_accuracy
        True
    """
    if isinstance(metric, Metric) or (isinstance(metric, str) and metric.lower() in _STATEFUL):
        raise ValueError(f"metric {getattr(metric, 'name', metric)!r} is stateful (counted over the whole epoch, "
                         "not averaged per sample): the training loop needs fastrnn.metrics.get_metric for it")
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    if metric in ("acc", "accuracy"):
        return metric, _accuracy(loss_name, output_width)
    if metric not in _NAMES:
        raise _unknown(metric)
    return metric, _NAMES[metric]


def get_metric(metric, loss_name="", output_width=None) -> Metric:
    """A Metric object for a name, a function (y_true, y_pred) -> per-sample values, a Metric
    class or a Metric (returned as is). Its `name` is what fit reports ('acc' stays 'acc').

    Args:
        metric: e.g. 'acc', 'auc', 'precision', 'recall', 'top_k_categorical_accuracy', 'mae',
            fastrnn.metrics.AUC(curve="PR"), or a function.
        loss_name, output_width: choose what 'acc'/'accuracy' means (see get).

    Example:
        >>> m = metrics.get_metric("auc"); m.update_state(y, p); m.result()
    """
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, type) and issubclass(metric, Metric):
        return metric()
    if isinstance(metric, str) and metric.lower() in _STATEFUL:
        return _STATEFUL[metric.lower()](name=metric)
    if isinstance(metric, str) and metric not in ("acc", "accuracy") and metric not in _NAMES:
        raise _unknown(metric)
    name, fn = get(metric, loss_name, output_width)
    return MeanMetricWrapper(fn, name=name)


# the metric classes a config can name (a MeanMetricWrapper of an arbitrary function cannot be rebuilt)
_CLASSES = {cls.__name__: cls for cls in (Mean, AUC, Precision, Recall, BinaryAccuracy, CategoricalAccuracy,
                                          SparseCategoricalAccuracy, TopKCategoricalAccuracy,
                                          SparseTopKCategoricalAccuracy, MeanAbsoluteError, MeanSquaredError)}


def serialize(metric) -> dict:
    """{"class_name": ..., "config": ...} of a metric object fastrnn can rebuild (deserialize).

    Raises:
        ValueError: a metric of another class (e.g. a MeanMetricWrapper of a function).
    """
    name = type(metric).__name__
    if _CLASSES.get(name) is not type(metric):
        raise ValueError(f"metric {metric!r} of class {name} cannot be stored; "
                         f"these can: {', '.join(sorted(_CLASSES))}")
    return {"class_name": name, "config": metric.get_config()}


def deserialize(spec) -> Metric:
    """A new metric object from serialize()'s dict."""
    cls = _CLASSES.get(spec.get("class_name")) if isinstance(spec, dict) else None
    if cls is None or not isinstance(spec.get("config"), dict):
        raise ValueError(f"not a stored fastrnn metric: {spec!r:.80}")
    return cls.from_config(spec["config"])
