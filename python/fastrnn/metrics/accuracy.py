"""Keras' per-sample metric functions (accuracy variants, top-k accuracy, mae, mse) and their
mean-metric classes (BinaryAccuracy, TopKCategoricalAccuracy, ...), as keras.metrics has both.

Each function returns one value per sample (per step for sequence outputs); the classes average
them over batches with sample weights and masks (MeanMetricWrapper).
"""
from __future__ import annotations

import numpy as np

from .base import MeanMetricWrapper


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


def _in_top_k(targets, y_pred, k, owner):
    """Whether each target class scores among the k best (ties with the k-th best count, as
    Keras' in_top_k)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{owner}: argument 'k' must be an int >= 1, got {k!r}")
    classes = y_pred.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= classes):
        raise ValueError(f"{owner}: targets must be class indices in [0, {classes})")
    score = np.take_along_axis(y_pred, targets[..., None].astype(np.int64), axis=-1)
    return (np.sum(y_pred > score, axis=-1) < k).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per sample: whether the target class (argmax of the one-hot y_true) is among the k highest
    scores of y_pred.

    Example:
        >>> top_k_categorical_accuracy(np.eye(3)[[0, 2]], np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]]), k=2)
        array([1., 0.])
    """
    y_pred = np.asarray(y_pred)
    y = np.asarray(y_true)
    if y.shape != y_pred.shape:
        raise ValueError(f"top_k_categorical_accuracy: one-hot targets of shape {y.shape} do not match outputs "
                         f"of shape {y_pred.shape}")
    return _in_top_k(np.argmax(y, axis=-1), y_pred, k, "top_k_categorical_accuracy")


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per sample: whether the integer target is among the k highest scores of y_pred.

    Example:
        >>> sparse_top_k_categorical_accuracy(np.array([0, 2]), np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]]), k=2)
        array([1., 0.])
    """
    y_pred = np.asarray(y_pred)
    y = np.asarray(y_true)
    if y.shape == y_pred.shape[:-1] + (1,):
        y = y[..., 0]
    if y.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse_top_k_categorical_accuracy: integer targets of shape {y.shape} do not match "
                         f"outputs of shape {y_pred.shape}")
    return _in_top_k(y, y_pred, k, "sparse_top_k_categorical_accuracy")


def mean_absolute_error(y_true, y_pred):
    """Per sample: mean(|y_true - y_pred|) over the last axis."""
    y_pred = np.asarray(y_pred)
    return np.mean(np.abs(np.asarray(y_true).reshape(y_pred.shape) - y_pred), axis=-1)


def mean_squared_error(y_true, y_pred):
    """Per sample: mean((y_true - y_pred)^2) over the last axis."""
    y_pred = np.asarray(y_pred)
    return np.mean((np.asarray(y_true).reshape(y_pred.shape) - y_pred) ** 2, axis=-1)


class BinaryAccuracy(MeanMetricWrapper):
    """Mean binary_accuracy. Example: `BinaryAccuracy(threshold=0.5).update_state(y, p)`."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """Mean categorical_accuracy (one-hot targets)."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Mean sparse_categorical_accuracy (integer targets)."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the k highest scores.

    Args:
        k: default 5. name: default 'top_k_categorical_accuracy'.

    Example:
        >>> m = TopKCategoricalAccuracy(k=2); m.update_state(np.eye(3)[[0, 2]], np.array([[.5, .3, .2]] * 2))
        >>> m.result()
        0.5
    """

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(top_k_categorical_accuracy, name, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is among the k highest scores.

    Args:
        k: default 5. name: default 'sparse_top_k_categorical_accuracy'.

    Example:
        >>> m = SparseTopKCategoricalAccuracy(k=1); m.update_state([0, 1], np.array([[.9, .1], [.8, .2]]))
        >>> m.result()
        0.5
    """

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(sparse_top_k_categorical_accuracy, name, k=k)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of mean_absolute_error."""

    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


class MeanSquaredError(MeanMetricWrapper):
    """Mean of mean_squared_error."""

    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)
