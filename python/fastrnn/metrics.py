"""Keras' metrics as per-sample functions (accuracy variants, mae, mse) and the rule that picks
which accuracy 'acc'/'accuracy' means from the loss and output width, as Keras does.

Averaging over batches and epochs is the model's job (weighted by batch size); no losses here.
"""
from __future__ import annotations

import numpy as np


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per sample: mean over the last axis of (y_pred > threshold) == y_true.

    Example:
        >>> binary_accuracy(np.array([[1], [0]]), np.array([[0.7], [0.6]]))
        array([1., 0.])
    """
    y_pred = np.asarray(y_pred)
    y = np.asarray(y_true).reshape(y_pred.shape)
    return np.mean((y_pred > threshold) == (y > 0.5), axis=-1).astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    """Per sample: argmax(y_true) == argmax(y_pred) (one-hot targets)."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """Per sample: y_true == argmax(y_pred) (integer targets, (batch,) or (batch, 1))."""
    y_pred = np.asarray(y_pred)
    y = np.asarray(y_true).reshape(y_pred.shape[:-1])
    return (y == np.argmax(y_pred, axis=-1)).astype(np.float64)


def mean_absolute_error(y_true, y_pred):
    """Per sample: mean(|y_true - y_pred|) over the last axis."""
    y_pred = np.asarray(y_pred)
    return np.mean(np.abs(np.asarray(y_true).reshape(y_pred.shape) - y_pred), axis=-1)


def mean_squared_error(y_true, y_pred):
    """Per sample: mean((y_true - y_pred)^2) over the last axis."""
    y_pred = np.asarray(y_pred)
    return np.mean((np.asarray(y_true).reshape(y_pred.shape) - y_pred) ** 2, axis=-1)


_NAMES = {"binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
          "sparse_categorical_accuracy": sparse_categorical_accuracy, "mae": mean_absolute_error,
          "mean_absolute_error": mean_absolute_error, "mse": mean_squared_error,
          "mean_squared_error": mean_squared_error}


def get(metric, loss_name="", output_width=None):
    """(name to report, per-sample function) for a metric name or a callable.

    'acc'/'accuracy' means binary accuracy for binary_crossentropy (or a 1-wide output),
    sparse categorical accuracy for sparse_categorical_crossentropy, else categorical accuracy.

    Example:
        >>> metrics.get("acc", "binary_crossentropy")[1] is binary_accuracy
        True
    """
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    if metric in ("acc", "accuracy"):
        if loss_name == "binary_crossentropy":
            return metric, binary_accuracy
        if loss_name == "sparse_categorical_crossentropy":
            return metric, sparse_categorical_accuracy
        if loss_name == "categorical_crossentropy" or output_width != 1:
            return metric, categorical_accuracy
        return metric, binary_accuracy
    if metric not in _NAMES:
        raise ValueError(f"unknown metric {metric!r}; expected 'acc', 'accuracy' or one of {', '.join(_NAMES)}")
    return metric, _NAMES[metric]
