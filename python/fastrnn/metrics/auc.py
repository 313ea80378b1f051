"""AUC with Keras 3's rules: confusion counts at num_thresholds thresholds (200 by default: 0 - eps,
198 evenly spaced inside (0, 1), 1 + eps), then a Riemann sum under the ROC, PR or PR-gain curve
('interpolation' is the trapezoid for ROC, Davis & Goadrich's interpolation for PR). Multi-label
AUC averages the labels' (weighted by label_weights). Counts as in confusion.py.
"""
from __future__ import annotations

import numpy as np

from .base import Metric
from .confusion import _check_thresholds, _counts, _divide, _evenly_spaced, _inputs

_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(Metric):
    """Area under the ROC (default) or precision-recall curve, accumulated over batches.

    Args:
        num_thresholds: thresholds to count at (> 1, default 200). curve: "ROC", "PR" or "PRGAIN".
        summation_method: "interpolation" (default), "minoring" or "majoring". name: default 'auc'.
        thresholds: explicit thresholds in [0, 1] instead (0 - eps and 1 + eps are added).
        multi_label: y_pred (batch, labels) holds independent labels: one AUC each, averaged.
        num_labels: the number of labels (multi_label). label_weights: per-label weights of the
            average (multi_label) or of the counts. from_logits: apply a sigmoid first.

    Example:
        >>> m = AUC(); m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]); m.result()
        0.75
    """

    default_name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, thresholds=None,
                 multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name)
        if not isinstance(curve, str) or curve.lower() not in _CURVES:
            raise ValueError(f"AUC: argument 'curve' must be 'ROC', 'PR' or 'PRGAIN', got {curve!r}")
        if not isinstance(summation_method, str) or summation_method.lower() not in _SUMMATIONS:
            raise ValueError(f"AUC: argument 'summation_method' must be one of {', '.join(_SUMMATIONS)}, got "
                             f"{summation_method!r}")
        self.curve, self.summation_method = _CURVES[curve.lower()], summation_method.lower()
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_check_thresholds("AUC", thresholds))
            self._evenly = _evenly_spaced(np.array([0.0] + inner + [1.0]))
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(f"AUC: argument 'num_thresholds' must be an int > 1, got {num_thresholds!r}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        # endpoints below 0 and above 1 absorb rounding, as Keras adds them
        self.thresholds = [0.0 - 1e-7] + inner + [1.0 + 1e-7]
        self.num_thresholds = len(self.thresholds)
        self.multi_label, self.num_labels, self.from_logits = bool(multi_label), num_labels, bool(from_logits)
        if num_labels is not None and not multi_label:
            raise ValueError("AUC: argument 'num_labels' is only for multi_label=True")
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float64)
        shape = (self.num_thresholds,) + ((num_labels,) if self.multi_label and num_labels else ())
        self._built = not self.multi_label or bool(num_labels)
        self._allocate(shape)

    def _allocate(self, shape):
        self.true_positives, self.false_positives = np.zeros(shape), np.zeros(shape)
        self.true_negatives, self.false_negatives = np.zeros(shape), np.zeros(shape)

    @property
    def variables(self):
        return [self.true_positives, self.false_positives, self.true_negatives, self.false_negatives]

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        """Add this batch's counts (y_true: 0/1 of y_pred's shape; sample_weight: per sample or
        per entry; mask: False entries weigh 0)."""
        labels, p, w = _inputs(self.name, y_true, y_pred, sample_weight, mask)
        if self.from_logits:
            p = (1 / (1 + np.exp(-p.astype(np.float64)))).astype(np.float32)
        if self.multi_label:
            if p.ndim != 2:
                raise ValueError(f"metric {self.name!r}: multi_label needs outputs of shape (batch, labels), got "
                                 f"{p.shape}")
            if not self._built:
                self._allocate((self.num_thresholds, p.shape[1]))
                self._built = True
            if p.shape[1] != self.true_positives.shape[1]:
                raise ValueError(f"metric {self.name!r}: outputs have {p.shape[1]} labels, the metric "
                                 f"{self.true_positives.shape[1]}")
            columns = [(labels[:, j], p[:, j], None if w is None else w[:, j]) for j in range(p.shape[1])]
        else:
            if self.label_weights is not None:
                w = np.broadcast_to(self.label_weights, p.shape) * (1 if w is None else w)
            columns = [(labels.ravel(), p.ravel(), None if w is None else w.ravel())]
        counts = [_counts(*column, self.thresholds, self._evenly) for column in columns]
        for variable, values in zip(self.variables, zip(*counts)):
            variable += np.stack(values, axis=-1) if self.multi_label else values[0]

    def _average(self, by_label):
        if not self.multi_label:
            return float(by_label)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_divide(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def _interpolate_pr(self):
        """Davis & Goadrich's interpolation of precision between thresholds (Keras' formula)."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return _divide(slope * (dtp + intercept * np.log(np.where(ratio > 0, ratio, 1.0))),
                       np.maximum(tp[1:] + fn[1:], 0)).sum(axis=0)

    def result(self) -> float:
        if self.multi_label and not self._built:
            return 0.0
        tp, fp, tn, fn = self.variables
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average(self._interpolate_pr())
        recall = _divide(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide(tp, tp + fp)
        else:  # PR gain; no true positives: recall gain 0, precision gain 1 (Keras' choice)
            scale = _divide(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0.0, 1 - scale * _divide(fn, tp)), 0)
            y = np.where(tp == 0, 1.0, 1 - scale * _divide(fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average(((x[:-1] - x[1:]) * heights).sum(axis=0))

    def get_config(self):
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "from_logits": self.from_logits,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist()}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
