"""Confusion-matrix metrics with Keras 3's rules: Precision, Recall and AUC (ROC by default, 200
thresholds, trapezoidal "interpolation"; PR and PR-gain curves, minoring/majoring sums).

A prediction counts as positive at threshold t when y_pred > t, in float32 as Keras computes it;
evenly spaced thresholds (AUC's default) use Keras' bucket formula ceil(p (n - 1)) - 1, so
results match Keras to the count. The counts are weighted sums, so states of several shards
merge by adding `variables`. Masked-out steps weigh 0.
"""
from __future__ import annotations

import numpy as np

from .base import Metric

_NEG_INF = -1e10  # what Keras gives predictions outside the top k


def _divide(a, b):
    """a / b, 0 where b is 0 (Keras' divide_no_nan)."""
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _evenly_spaced(thresholds):
    n = len(thresholds)
    return n >= 3 and np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=1e-7)


def _check_thresholds(owner, thresholds):
    values = [thresholds] if np.isscalar(thresholds) else list(thresholds)
    if not values or any(isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not 0 <= t <= 1
                         for t in values):
        raise ValueError(f"{owner}: argument 'thresholds' must be numbers in [0, 1], got {thresholds!r}")
    return [float(t) for t in values]


def _inputs(owner, y_true, y_pred, sample_weight, mask):
    """(labels as bools, predictions as float32, weights or None), all of y_pred's shape."""
    p = np.asarray(y_pred, dtype=np.float32)
    y = np.asarray(y_true)
    if y.shape != p.shape and y.size == p.size and y.shape[:1] == p.shape[:1]:
        y = y.reshape(p.shape)  # (batch,) targets for (batch, 1) outputs, and the reverse
    if y.shape != p.shape:
        raise ValueError(f"metric {owner!r}: targets of shape {y.shape} do not match outputs of shape {p.shape}")
    weights = None
    for name, extra in (("sample_weight", sample_weight), ("mask", mask)):
        if extra is None:
            continue
        e = np.asarray(extra, dtype=np.float64)
        e = e.reshape(e.shape + (1,) * (p.ndim - e.ndim)) if e.ndim < p.ndim else e
        try:
            e = np.broadcast_to(e, p.shape)
        except ValueError:
            raise ValueError(f"metric {owner!r}: {name} of shape {np.shape(extra)} does not fit outputs of shape "
                             f"{p.shape}") from None
        weights = e if weights is None else weights * e
    return y != 0, p, weights


def _counts(labels, p, weights, thresholds, evenly):
    """tp, fp, tn, fn at each threshold (float64 arrays) from flat labels, predictions, weights."""
    w = np.ones(p.shape) if weights is None else weights
    w_pos, w_neg = w * labels, w * ~labels
    n = len(thresholds)
    if evenly:
        # Keras' bucket index: the prediction exceeds thresholds 0..b (b < 0: none of them)
        b = np.ceil(np.clip(p, 0, 1) * np.float32(n - 1)) - 1
        if thresholds[0] < 0 or thresholds[-1] > 1:  # Keras' endpoints at -eps and 1 + eps
            b = np.maximum(b, 0)
        exceeded, order = b.astype(np.int64) + 1, None
    else:
        order = np.argsort(thresholds, kind="stable")
        exceeded = np.searchsorted(np.asarray(thresholds, np.float32)[order], p, side="left")  # how many t < p
    tp = np.cumsum(np.bincount(exceeded, w_pos, n + 1)[::-1])[::-1][1:]
    fp = np.cumsum(np.bincount(exceeded, w_neg, n + 1)[::-1])[::-1][1:]
    if order is not None:
        tp[order], fp[order] = tp.copy(), fp.copy()
    return tp, fp, w_neg.sum() - fp, w_pos.sum() - tp


class _PrecisionRecall(Metric):
    """Precision and Recall: counts at thresholds, optionally of one class or the top k."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None):
        super().__init__(name)
        cls = type(self).__name__
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{cls}: argument 'top_k' must be an int >= 1 or None, got {top_k!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0):
            raise ValueError(f"{cls}: argument 'class_id' must be an int >= 0 or None, got {class_id!r}")
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        if thresholds is not None:
            self.thresholds = _check_thresholds(cls, thresholds)
        else:  # Keras: 0.5, or "any score" among the top k
            self.thresholds = [0.5 if top_k is None else _NEG_INF]
        self._evenly = _evenly_spaced(self.thresholds)
        n = len(self.thresholds)
        self.true_positives, self.false_positives, self.false_negatives = np.zeros(n), np.zeros(n), np.zeros(n)

    @property
    def variables(self):
        return [self.true_positives, self.false_positives, self.false_negatives]

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        """Add this batch's counts (y_true: 0/1 of y_pred's shape; sample_weight: per sample or
        per entry; mask: False entries weigh 0)."""
        labels, p, w = _inputs(self.name, y_true, y_pred, sample_weight, mask)
        if self.top_k is not None:
            top = np.argsort(-p, axis=-1, kind="stable")[..., :self.top_k]
            keep = np.zeros(p.shape, bool)
            np.put_along_axis(keep, top, True, axis=-1)
            p = np.where(keep, p, np.float32(_NEG_INF))
        if self.class_id is not None:
            if p.ndim < 2 or self.class_id >= p.shape[-1]:
                raise ValueError(f"metric {self.name!r}: class_id {self.class_id} needs outputs of shape (batch, "
                                 f"classes > {self.class_id}), got {p.shape}")
            labels, p = labels[..., self.class_id], p[..., self.class_id]
            w = None if w is None else w[..., self.class_id]
        tp, fp, _, fn = _counts(labels.ravel(), p.ravel(), None if w is None else w.ravel(), self.thresholds,
                                self._evenly)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def _value(self, ratio):
        return float(ratio[0]) if len(self.thresholds) == 1 else ratio

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp) of predictions above the threshold(s) (default 0.5).

    Args:
        thresholds: a number or list in [0, 1] (result per threshold). top_k: count only each
            sample's k highest scores as predictions. class_id: score one class only.
        name: default 'precision'.

    Example:
        >>> m = Precision(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); m.result()
        0.666...
    """

    default_name = "precision"

    def result(self):
        return self._value(_divide(self.true_positives, self.true_positives + self.false_positives))


class Recall(_PrecisionRecall):
    """tp / (tp + fn) of predictions above the threshold(s) (default 0.5).

    Args:
        as Precision; name: default 'recall'.

    Example:
        >>> m = Recall(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); m.result()
        0.666...
    """

    default_name = "recall"

    def result(self):
        return self._value(_divide(self.true_positives, self.true_positives + self.false_negatives))
