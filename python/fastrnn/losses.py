"""Keras' losses as value-and-gradient pairs: binary/categorical/sparse categorical crossentropy,
mse, mae. Each is the per-sample mean over the last axis, averaged over the batch.

Crossentropies also take logits (`from_logits`): a model whose last layer is Dense(sigmoid) or
Dense(softmax) is trained through those fused, numerically stable forms. No metrics here.
"""
from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # Keras' backend epsilon, used to clip probabilities


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Loss:
    """Base loss: `value(y_true, y_pred)` and `gradient(y_true, y_pred)` of the batch mean.

    Crossentropies name the activation they fuse with (`logits_activation`) and provide
    value_and_gradient_from_logits(y_true, z).
    """

    name = ""
    logits_activation = None

    def prepare(self, y_true, y_pred):
        """y_true as an array of y_pred's dtype and shape (a (batch,) target fits (batch, 1))."""
        y = np.asarray(y_true, dtype=y_pred.dtype)
        if y.shape != y_pred.shape and y.size == y_pred.size and y.shape[:1] == y_pred.shape[:1]:
            y = y.reshape(y_pred.shape)
        if y.shape != y_pred.shape:
            raise ValueError(f"loss {self.name!r}: targets of shape {y.shape} do not match model outputs of "
                             f"shape {y_pred.shape}")
        return y

    def __call__(self, y_true, y_pred) -> float:
        y_pred = np.asarray(y_pred)
        return float(np.mean(self.per_sample(self.prepare(y_true, y_pred), y_pred)))

    def value_and_gradient(self, y_true, y_pred):
        """(mean loss, d loss / d y_pred)."""
        y = self.prepare(y_true, y_pred)
        return float(np.mean(self.per_sample(y, y_pred))), self.gradient(y, y_pred) / (y_pred.size // y_pred.shape[-1])


class BinaryCrossentropy(Loss):
    """-(y log p + (1 - y) log(1 - p)), p clipped to [1e-7, 1 - 1e-7] (or p = sigmoid(logits)).

    Example:
        >>> BinaryCrossentropy()(np.array([[1.0]]), np.array([[0.9]]))  # -log(0.9)
        0.10536...
    """

    name, logits_activation = "binary_crossentropy", "sigmoid"

    def per_sample(self, y, p):
        p = np.clip(p, EPSILON, 1 - EPSILON)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1)

    def gradient(self, y, p):
        clipped = np.clip(p, EPSILON, 1 - EPSILON)
        inside = (p == clipped)
        return inside * (clipped - y) / (clipped * (1 - clipped)) / p.shape[-1]

    def value_and_gradient_from_logits(self, y_true, z):
        y = self.prepare(y_true, z)
        per_sample = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=-1)
        return float(np.mean(per_sample)), (_sigmoid(z) - y) / z.size


class CategoricalCrossentropy(Loss):
    """-sum(y log p) over classes, p renormalised and clipped as Keras (or p = softmax(logits)).

    Example:
        >>> CategoricalCrossentropy()(np.array([[0, 1.0]]), np.array([[0.5, 0.5]]))  # log 2
        0.69314...
    """

    name, logits_activation = "categorical_crossentropy", "softmax"

    def per_sample(self, y, p):
        p = np.clip(p / p.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
        return -np.sum(y * np.log(p), axis=-1)

    def gradient(self, y, p):
        total = p.sum(axis=-1, keepdims=True)
        q = p / total
        inside = (q == np.clip(q, EPSILON, 1 - EPSILON))
        dq = -y * inside / np.clip(q, EPSILON, 1 - EPSILON)
        return (dq - (dq * q).sum(axis=-1, keepdims=True)) / total  # through the renormalisation

    def value_and_gradient_from_logits(self, y_true, z):
        y = self.prepare(y_true, z)
        log_p = _log_softmax(z)
        samples = z.size // z.shape[-1]
        grad = (np.exp(log_p) * y.sum(axis=-1, keepdims=True) - y) / samples
        return float(np.mean(-np.sum(y * log_p, axis=-1))), grad


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical crossentropy with integer class targets of shape (batch,) or (batch, 1).

    Example:
        >>> SparseCategoricalCrossentropy()(np.array([1]), np.array([[0.5, 0.5]]))
        0.69314...
    """

    name = "sparse_categorical_crossentropy"

    def prepare(self, y_true, y_pred):
        y = np.asarray(y_true)
        if y.shape == y_pred.shape[:-1] + (1,):
            y = y[..., 0]
        if y.shape != y_pred.shape[:-1]:
            raise ValueError(f"loss {self.name!r}: integer targets of shape {y.shape} do not match model "
                             f"outputs of shape {y_pred.shape}")
        classes = y_pred.shape[-1]
        if y.size and (y.min() < 0 or y.max() >= classes or not np.all(y == np.round(y))):
            raise ValueError(f"loss {self.name!r}: targets must be integers in [0, {classes})")
        return np.eye(classes, dtype=y_pred.dtype)[y.astype(np.int64)]


class MeanSquaredError(Loss):
    """mean((y - p)^2) over the last axis.

    Example:
        >>> MeanSquaredError()(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]))
        2.0
    """

    name = "mse"

    def per_sample(self, y, p):
        return np.mean((p - y) ** 2, axis=-1)

    def gradient(self, y, p):
        return 2 * (p - y) / p.shape[-1]


class MeanAbsoluteError(Loss):
    """mean(|y - p|) over the last axis.

    Example:
        >>> MeanAbsoluteError()(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]))
        1.0
    """

    name = "mae"

    def per_sample(self, y, p):
        return np.mean(np.abs(p - y), axis=-1)

    def gradient(self, y, p):
        return np.sign(p - y) / p.shape[-1]


_NAMES = {"binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
          "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "mse": MeanSquaredError,
          "mean_squared_error": MeanSquaredError, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError}


def get(loss):
    """A Loss from a name (as Keras spells them) or a Loss instance.

    Example:
        >>> losses.get("binary_crossentropy").name
        'binary_crossentropy'
    """
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _NAMES:
        return _NAMES[loss]()
    raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(_NAMES)} or a fastrnn.losses.Loss")
