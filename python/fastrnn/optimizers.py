"""SGD (momentum, Nesterov), RMSprop and Adam with Keras 3's update rules and defaults, gradient
clipping (clipnorm per weight, global_clipnorm, clipvalue), and sparse row updates.

Sparse gradients (IndexedRows from Embedding) update only the rows they name, slots included:
momentum, RMSprop's and Adam's moments of untouched rows are left as they are (the "lazy"
variant, like LazyAdam or torch's SparseAdam) so a step costs O(rows touched), not O(table).

The steps are fastrnn.ops kernels (adam_update, ...): on the cpu backend one pass of the C++ core
over each weight (a table's rows in place), with the bits of their NumPy twins.
"""
from __future__ import annotations

import math

import numpy as np

from . import ops
from .layers.base import IndexedRows


class Optimizer:
    """Base optimizer: clipping, sparse gradients, slot storage; subclasses write `_update`, one
    step of a weight (or of its rows `rows`) through a fastrnn.ops kernel.

    Args:
        learning_rate: step size.
        clipnorm: clip each weight's gradient to this L2 norm. global_clipnorm: clip all gradients
            together to this norm. clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
    """

    slot_names: tuple = ()

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None):
        if not learning_rate > 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be positive, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations = 0
        self._slots: dict = {}

    def apply(self, weights, grads) -> None:
        """One update of `weights` (arrays, changed in place) from `grads` (arrays or IndexedRows).

        Example:
            >>> opt.apply(model.trainable_weights, grads)
        """
        grads = self._clip(list(grads))
        self.iterations += 1
        for w, g in zip(weights, grads):
            slots = self._slots.get(id(w))
            if slots is None:
                slots = self._slots[id(w)] = {k: np.zeros_like(w) for k in self.slot_names}
            if isinstance(g, IndexedRows):
                self._update(w, g.values.astype(w.dtype, copy=False), slots, np.asarray(g.indices, np.int64))
            else:
                self._update(w, np.asarray(g, w.dtype), slots, None)

    def _clip(self, grads):
        values = [g.values if isinstance(g, IndexedRows) else g for g in grads]
        if self.clipvalue is not None:
            values = [np.clip(v, -self.clipvalue, self.clipvalue) for v in values]
        if self.clipnorm is not None:
            values = [v * min(1.0, self.clipnorm / (np.linalg.norm(v) + 1e-12)) for v in values]
        if self.global_clipnorm is not None:
            total = np.sqrt(sum(float(np.sum(v * v)) for v in values))
            values = [v * min(1.0, self.global_clipnorm / (total + 1e-12)) for v in values]
        return [IndexedRows(g.indices, v) if isinstance(g, IndexedRows) else v for g, v in zip(grads, values)]

    def _update(self, w, g, slots, rows):
        """One step of w (in place), or of its rows `rows` when g holds those rows' gradient."""
        raise NotImplementedError

    # state and config
    def get_slots(self, weights) -> list:
        """Per weight (in the order given): its slot arrays by name ({} before its first update)."""
        return [dict(self._slots.get(id(w), {})) for w in weights]

    def set_slots(self, weights, slots) -> None:
        """Restore get_slots()'s result for the same weights in the same order."""
        for w, s in zip(weights, slots):
            if s:
                self._slots[id(w)] = {k: np.array(v, dtype=w.dtype) for k, v in s.items()}

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SGD(Optimizer):
    """w += m with m = momentum * m - lr * g (Nesterov: w += momentum * m - lr * g); plain
    w -= lr * g without momentum.

    Args:
        learning_rate: default 0.01. momentum: default 0. nesterov: default False.

    Example:
        >>> model.compile(optimizer=SGD(0.1, momentum=0.9), loss="mse")
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must lie in [0, 1], got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def _update(self, w, g, slots, rows):
        if self.momentum:
            return ops.momentum_update(w, g, slots["momentum"], self.momentum, self.learning_rate, self.nesterov, rows)
        if rows is None:
            w -= self.learning_rate * g
        else:
            w[rows] -= self.learning_rate * g

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + epsilon) (Keras 3's form).

    Args:
        learning_rate: default 0.001. rho: default 0.9. epsilon: default 1e-7.

    Example:
        >>> model.compile(optimizer=RMSprop(learning_rate=1e-3), loss="binary_crossentropy")
    """

    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, w, g, slots, rows):
        ops.rmsprop_update(w, g, slots["velocity"], self.rho, 1 - self.rho, self.learning_rate, self.epsilon, rows)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """m += (1 - b1)(g - m); v += (1 - b2)(g^2 - v); w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps).

    Args:
        learning_rate: default 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7.

    Example:
        >>> model.compile(optimizer=Adam(1e-3), loss="sparse_categorical_crossentropy")
    """

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _alpha(self):
        # a Python float: NumPy rounds it to the weights' dtype, and the step stays in that dtype
        t = self.iterations
        return self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)

    def _update(self, w, g, slots, rows):
        ops.adam_update(w, g, slots["m"], slots["v"], 1 - self.beta_1, 1 - self.beta_2, self._alpha(), self.epsilon,
                        rows)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


_NAMES = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(optimizer):
    """An Optimizer from a name ('sgd', 'rmsprop', 'adam', any case) with Keras defaults, or as given.

    Example:
        >>> optimizers.get("rmsprop").learning_rate
        0.001
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _NAMES:
        return _NAMES[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(_NAMES)} or a "
                     "fastrnn.optimizers.Optimizer")


def serialize(optimizer) -> dict:
    """{"class_name", "config"} for saving."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(spec):
    """An optimizer from serialize()'s dict."""
    classes = {cls.__name__: cls for cls in _NAMES.values()}
    if spec.get("class_name") not in classes:
        raise ValueError(f"unknown optimizer class {spec.get('class_name')!r}")
    return classes[spec["class_name"]].from_config(spec["config"])
