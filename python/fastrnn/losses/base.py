"""The Loss base class: per-sample values and their gradient, reduced as Keras 3 reduces them
(reduction, sample_weight, and the mask of per-step outputs), with the gradient of that reduction.

A loss here is always a pair: `per_sample(y, p)` (the value of each sample or step, the last axis
reduced) and `gradient(y, p)` (d per_sample / d p). fastrnn has no automatic differentiation, so
a custom loss subclasses Loss and writes both.
"""
from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # Keras' backend epsilon, used to clip probabilities
REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")


def broadcast_sample_weight(owner, shape, sample_weight):
    """sample_weight (None, a scalar, (batch,) for every step of a sample, or `shape`; a trailing
    axis of 1 dropped) broadcast to `shape`, or None; `owner` names the caller in errors."""
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == len(shape) + 1 and sw.shape[-1:] == (1,):
        sw = sw[..., 0]
    if sw.ndim > len(shape) or sw.shape != tuple(shape[:sw.ndim]):
        raise ValueError(f"{owner}: sample_weight of shape {sw.shape} does not fit values of shape "
                         f"{tuple(shape)}; expected a scalar, {tuple(shape[:1])} or {tuple(shape)}")
    return np.broadcast_to(sw.reshape(sw.shape + (1,) * (len(shape) - sw.ndim)), shape)


def weights_for(owner, shape, sample_weight, mask, reduction):
    """Keras 3's weighting of per-sample values of `shape`: (weights or None, divisor), the loss
    being sum(values * weights) / divisor (divisor 0: the loss is 0).

    sample_weight: a scalar, (batch,) (one weight for every step of a sample, as Keras 2
    broadcast it), or `shape` itself (per step); a trailing axis of 1 is dropped. mask: bools of
    `shape`; masked-out values count for nothing, and the mean is over the unmasked ones.
    """
    weights = broadcast_sample_weight(f"loss {owner!r}", shape, sample_weight)
    valid = None
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != tuple(shape):
            raise ValueError(f"loss {owner!r}: a mask of shape {m.shape} does not fit per-sample losses of shape "
                             f"{tuple(shape)}")
        m = m.astype(bool)
        valid = int(m.sum())
        weights = m.astype(np.float64) if weights is None else weights * m
    size = int(np.prod(shape))
    if reduction in ("sum_over_batch_size", "mean", "none"):
        # Keras scales unmasked values by total/valid and divides by total: a mean over the valid ones
        divisor = size if valid is None else valid
    elif reduction == "mean_with_sample_weight":
        divisor = size if weights is None else float(np.sum(weights))
    else:  # "sum"
        divisor = 1
    return weights, divisor


class Loss:
    """Base loss: subclasses define per_sample(y, p) and gradient(y, p) on prepared targets.

    Args:
        reduction: how per-sample values become the loss, as Keras 3: "sum_over_batch_size"
            (default; "auto" and "mean" say the same), "sum", "mean_with_sample_weight" (divide
            by the sum of the weights), or "none"/None (no reduction when called; training then
            averages, as Keras 3's compile does).
        name: default the Keras function name ('binary_crossentropy', 'huber_loss', ...).

    Example:
        >>> class Cubic(Loss):          # a custom loss: values and their gradient
        ...     name = "cubic"
        ...     def per_sample(self, y, p):
        ...         return np.mean(np.abs(p - y) ** 3, axis=-1)
        ...     def gradient(self, y, p):
        ...         return 3 * (p - y) * np.abs(p - y) / p.shape[-1]
        >>> model.compile(optimizer="adam", loss=Cubic())
    """

    name = ""
    logits_activation = None  # the output activation the loss can fuse with (see value_and_gradient_from_logits)

    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction is None or reduction == "auto":  # Keras 2 spelled the default "auto"
            reduction = "none" if reduction is None else "sum_over_batch_size"
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: argument 'reduction' must be one of {', '.join(REDUCTIONS)} "
                             f"or None, got {reduction!r}")
        self.reduction = reduction
        if name is not None:
            if not isinstance(name, str):
                raise ValueError(f"{type(self).__name__}: argument 'name' must be a str, got {name!r}")
            self.name = name

    # what subclasses define
    def per_sample(self, y, p):
        """The loss of each sample (or step): p.shape[:-1]."""
        raise NotImplementedError(f"loss {type(self).__name__} must define per_sample(y_true, y_pred)")

    def gradient(self, y, p):
        """d per_sample / d p, of p's shape."""
        raise NotImplementedError(f"loss {type(self).__name__} must define gradient(y_true, y_pred): fastrnn "
                                  "has no automatic differentiation")

    def prepare(self, y_true, y_pred):
        """y_true as an array of y_pred's dtype and shape (a (batch,) target fits (batch, 1))."""
        y = np.asarray(y_true, dtype=y_pred.dtype)
        if y.shape != y_pred.shape and y.size == y_pred.size and y.shape[:1] == y_pred.shape[:1]:
            y = y.reshape(y_pred.shape)
        if y.shape != y_pred.shape:
            raise ValueError(f"loss {self.name!r}: targets of shape {y.shape} do not match model outputs of "
                             f"shape {y_pred.shape}")
        return y

    # what callers use
    def _outputs(self, y_pred):
        p = np.asarray(y_pred)
        if not np.issubdtype(p.dtype, np.floating):
            p = p.astype(np.float32 if p.dtype.itemsize <= 4 else np.float64)
        if p.ndim < 1:
            raise ValueError(f"loss {self.name!r}: model outputs must have a batch axis, got a scalar")
        return p

    def _evaluate(self, y, p):
        """(per-sample values, their gradient) on prepared targets; crossentropies choose logits here."""
        return self.per_sample(y, p), self.gradient(y, p)

    def _valid(self, y_true, y_pred):
        """Which per-sample values count (bools), from the targets; None: all (sparse
        crossentropy's ignore_class says otherwise)."""
        return None

    def _with_valid(self, y_true, p, mask):
        valid = self._valid(y_true, p)
        if valid is None or mask is None:
            return valid if mask is None else mask
        mask = np.asarray(mask)
        return mask.astype(bool) & valid if mask.shape == valid.shape else mask  # weights_for names a bad shape

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss (a float; per-sample values when reduction is "none").

        Example:
            >>> MeanSquaredError()(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]), sample_weight=[0.5])
            1.0
        """
        p = self._outputs(y_pred)
        values = self.per_sample(self.prepare(y_true, p), p)
        weights, divisor = weights_for(self.name, values.shape, sample_weight, self._valid(y_true, p), self.reduction)
        weighted = values if weights is None else values * weights.astype(values.dtype)
        if self.reduction == "none":
            return weighted
        total = float(np.sum(weighted, dtype=np.float64))
        return total / divisor if divisor else 0.0

    def value_and_gradient(self, y_true, y_pred, sample_weight=None, mask=None):
        """(loss, d loss / d y_pred) of a batch, as Keras 3 reduces it for training.

        Args:
            y_true: targets. y_pred: model outputs, (batch, ..., classes).
            sample_weight: scalar, (batch,) or per step (batch, time). mask: bools of
                y_pred.shape[:-1] (per-step outputs of a masked sequence): the loss is the
                (weighted) mean over the unmasked steps.

        Returns:
            (float, array of y_pred's shape and dtype).

        Example:
            >>> value, grad = losses.get("mse").value_and_gradient(y, out, mask=x != 0)
        """
        p = self._outputs(y_pred)
        mask = self._with_valid(y_true, p, mask)
        return self._reduce(*self._evaluate(self.prepare(y_true, p), p), sample_weight, mask, p.dtype)

    def _reduce(self, values, grad, sample_weight, mask, dtype):
        """The reduced value and its gradient from per-sample values and their gradient."""
        weights, divisor = weights_for(self.name, values.shape, sample_weight, mask, self.reduction)
        if not divisor or values.size == 0:
            return 0.0, np.zeros(grad.shape, dtype)
        scale = 1.0 / divisor if weights is None else weights / divisor
        value = float(np.sum(values * scale, dtype=np.float64))
        scale = np.asarray(scale, dtype)
        return value, (grad * (scale[..., None] if scale.ndim else scale)).astype(dtype, copy=False)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
