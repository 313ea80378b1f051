"""Keras' probabilistic losses: binary, categorical and sparse categorical crossentropy (on
probabilities or `from_logits`, with label smoothing) and KL divergence, with their gradients.

On probabilities the crossentropies clip to [1e-7, 1 - 1e-7] as Keras does (the gradient is zero
where clipping bites). A model ending in Dense(sigmoid/softmax) is trained through the fused,
numerically stable logits form (value_and_gradient_from_logits), whatever from_logits says.
"""
from __future__ import annotations

import numpy as np

from .base import EPSILON, Loss


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _check_axis(cls, axis):
    if axis != -1:
        raise ValueError(f"{cls}: fastrnn computes losses over the last axis; argument 'axis' must be -1, "
                         f"got {axis!r}")


def _check_smoothing(cls, label_smoothing):
    if isinstance(label_smoothing, bool) or not 0 <= label_smoothing <= 1:
        raise ValueError(f"{cls}: argument 'label_smoothing' must be a number in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


class _Crossentropy(Loss):
    """Shared by the crossentropies: from_logits picks which of the two forms per_sample and
    gradient compute; value_and_gradient_from_logits always takes logits."""

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        if self.from_logits:  # outputs are logits already: nothing left to fuse with
            self.logits_activation = None

    def per_sample(self, y, p):
        return self._logits(y, p)[0] if self.from_logits else self._probabilities(y, p)[0]

    def gradient(self, y, p):
        return self._logits(y, p)[1] if self.from_logits else self._probabilities(y, p)[1]

    def _evaluate(self, y, p):
        return self._logits(y, p) if self.from_logits else self._probabilities(y, p)

    def value_and_gradient_from_logits(self, y_true, z, sample_weight=None, mask=None):
        """(loss, d loss / d logits) for outputs activation(z), activation = logits_activation.

        Example:
            >>> value, dz = BinaryCrossentropy().value_and_gradient_from_logits(y, dense.logits)
        """
        z = self._outputs(z)
        mask = self._with_valid(y_true, z, mask)
        return self._reduce(*self._logits(self.prepare(y_true, z), z), sample_weight, mask, z.dtype)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


class BinaryCrossentropy(_Crossentropy):
    """mean over the last axis of -(y log p + (1 - y) log(1 - p)), p clipped to [1e-7, 1 - 1e-7]
    (or p = sigmoid(logits)); label_smoothing moves targets towards 0.5: y (1 - s) + s / 2.

    Args:
        from_logits: outputs are logits. label_smoothing: in [0, 1]. axis: -1 only.
        reduction, name: as Loss.

    Example:
        >>> BinaryCrossentropy()(np.array([[1.0]]), np.array([[0.9]]))  # -log(0.9)
        0.10536...
    """

    name, logits_activation = "binary_crossentropy", "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits, reduction, name)
        self.label_smoothing = _check_smoothing("BinaryCrossentropy", label_smoothing)
        _check_axis("BinaryCrossentropy", axis)
        self.axis = axis

    def prepare(self, y_true, y_pred):
        y = super().prepare(y_true, y_pred)
        return y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing if self.label_smoothing else y

    def _probabilities(self, y, p):
        clipped = np.clip(p, EPSILON, 1 - EPSILON)
        values = -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped), axis=-1)
        inside = p == clipped
        return values, inside * (clipped - y) / (clipped * (1 - clipped)) / p.shape[-1]

    def _logits(self, y, z):
        values = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=-1)
        return values, (_sigmoid(z) - y) / z.shape[-1]

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "axis": self.axis}


class CategoricalCrossentropy(_Crossentropy):
    """-sum(y log p) over classes, p renormalised and clipped as Keras (or p = softmax(logits));
    label_smoothing: y (1 - s) + s / classes.

    Args:
        from_logits: outputs are logits. label_smoothing: in [0, 1]. axis: -1 only.
        reduction, name: as Loss.

    Example:
        >>> CategoricalCrossentropy()(np.array([[0, 1.0]]), np.array([[0.5, 0.5]]))  # log 2
        0.69314...
    """

    name, logits_activation = "categorical_crossentropy", "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits, reduction, name)
        self.label_smoothing = _check_smoothing(type(self).__name__, label_smoothing)
        _check_axis(type(self).__name__, axis)
        self.axis = axis

    def prepare(self, y_true, y_pred):
        y = super().prepare(y_true, y_pred)
        s = self.label_smoothing
        return y * (1 - s) + s / y.shape[-1] if s else y

    def _probabilities(self, y, p):
        total = p.sum(axis=-1, keepdims=True)
        q = p / total
        clipped = np.clip(q, EPSILON, 1 - EPSILON)
        dq = -y * (q == clipped) / clipped
        # through the renormalisation q = p / sum(p)
        return -np.sum(y * np.log(clipped), axis=-1), (dq - (dq * q).sum(axis=-1, keepdims=True)) / total

    def _logits(self, y, z):
        log_p = _log_softmax(z)
        return -np.sum(y * log_p, axis=-1), np.exp(log_p) * y.sum(axis=-1, keepdims=True) - y

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical crossentropy with integer class targets of y_pred.shape[:-1] (a trailing axis
    of 1 allowed).

    Args:
        from_logits: outputs are logits. ignore_class: a target value (e.g. -1 or 255) whose
            entries count for nothing, the mean taken over the others (Keras' rule).
        reduction: as Loss. axis: -1 only. name: as Loss.

    Example:
        >>> SparseCategoricalCrossentropy()(np.array([1]), np.array([[0.5, 0.5]]))
        0.69314...
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1, name=None):
        super().__init__(from_logits, 0.0, axis, reduction, name)
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class, int)):
            raise ValueError(f"SparseCategoricalCrossentropy: argument 'ignore_class' must be an int or None, got "
                             f"{ignore_class!r}")
        self.ignore_class = ignore_class

    def _labels(self, y_true, y_pred):
        y = np.asarray(y_true)
        if y.shape == y_pred.shape[:-1] + (1,):
            y = y[..., 0]
        if y.shape != y_pred.shape[:-1]:
            raise ValueError(f"loss {self.name!r}: integer targets of shape {y.shape} do not match model "
                             f"outputs of shape {y_pred.shape}")
        return y

    def _valid(self, y_true, y_pred):
        return None if self.ignore_class is None else self._labels(y_true, y_pred) != self.ignore_class

    def prepare(self, y_true, y_pred):
        y = self._labels(y_true, y_pred)
        if self.ignore_class is not None:
            y = np.where(y == self.ignore_class, 0, y)  # any class: the entry weighs 0
        classes = y_pred.shape[-1]
        if y.size and (y.min() < 0 or y.max() >= classes or not np.all(y == np.round(y))):
            raise ValueError(f"loss {self.name!r}: targets must be integers in [0, {classes})")
        return np.eye(classes, dtype=y_pred.dtype)[y.astype(np.int64)]

    def get_config(self):
        config = super().get_config()
        del config["label_smoothing"]
        return {**config, "ignore_class": self.ignore_class}


class KLDivergence(Loss):
    """sum over the last axis of y log(y / p), y and p clipped to [1e-7, 1] (Keras' rule).

    Example:
        >>> KLDivergence()(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]]))
        0.14384...
    """

    name = "kl_divergence"

    def per_sample(self, y, p):
        y, p = np.clip(y, EPSILON, 1), np.clip(p, EPSILON, 1)
        return np.sum(y * np.log(y / p), axis=-1)

    def gradient(self, y, p):
        clipped = np.clip(p, EPSILON, 1)
        return (p == clipped) * -np.clip(y, EPSILON, 1) / clipped
