"""SGD (momentum, Nesterov), RMSprop (momentum, centered) and Adagrad with Keras 3's update rules
and defaults. Plain SGD-with-momentum and RMSprop steps are fastrnn.ops kernels (C++ on the cpu
backend); RMSprop's options and Adagrad are the NumPy rules of rules.py.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from . import rules
from .base import Default, Optimizer, check_number


class SGD(Optimizer):
    """w += m with m = momentum * m - lr * g (Nesterov: w += momentum * m - lr * g); plain
    w -= lr * g without momentum.

    Args:
        learning_rate: default 0.01. momentum: in [0, 1], default 0. nesterov: default False.
        Others as Optimizer (weight_decay, clipnorm, clipvalue, global_clipnorm, name).

    Example:
        >>> model.compile(optimizer=SGD(0.1, momentum=0.9), loss="mse")
    """

    def __init__(self, learning_rate=Default(0.01), momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = check_number("SGD", "momentum", momentum, 0, 1)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def _update(self, w, g, slots, rows, lr):
        if self.momentum:
            return ops.momentum_update(w, g, slots["momentum"], self.momentum, lr, self.nesterov, rows)
        if rows is None:
            w -= lr * g
        else:
            w[rows] -= lr * g

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + epsilon) (Keras 3's form). centered: also
    a = rho a + (1 - rho) g, dividing by sqrt(v - a^2 + epsilon); momentum: the increments
    accumulate in m = momentum m + increment and w -= m.

    Args:
        learning_rate: default 0.001. rho: default 0.9. momentum: default 0. epsilon: default
            1e-7. centered: default False. Others as Optimizer.

    Example:
        >>> model.compile(optimizer=RMSprop(learning_rate=1e-3, momentum=0.9, centered=True), loss="mse")
    """

    def __init__(self, learning_rate=Default(0.001), rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = check_number("RMSprop", "rho", rho, 0, 1)
        self.momentum = check_number("RMSprop", "momentum", momentum, 0, 1)
        self.epsilon = check_number("RMSprop", "epsilon", epsilon, 0)
        self.centered = bool(centered)
        self.slot_names = ("velocity",) + (("momentum",) if self.momentum else ()) + \
            (("average_gradient",) if self.centered else ())

    def _update(self, w, g, slots, rows, lr):
        if not self.momentum and not self.centered:  # the plain form has a kernel
            return ops.rmsprop_update(w, g, slots["velocity"], self.rho, 1 - self.rho, lr, self.epsilon, rows)
        rules.rmsprop_full_update(w, g, slots["velocity"], slots.get("momentum"), slots.get("average_gradient"),
                                  self.rho, self.momentum, lr, self.epsilon, rows)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """accumulator += g^2; w -= lr g / sqrt(accumulator + epsilon), the accumulator starting at
    initial_accumulator_value.

    Args:
        learning_rate: default 0.001. initial_accumulator_value: default 0.1. epsilon: default
            1e-7. Others as Optimizer.

    Example:
        >>> model.compile(optimizer=Adagrad(learning_rate=0.01), loss="mse")
    """

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=Default(0.001), initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = check_number("Adagrad", "initial_accumulator_value",
                                                      initial_accumulator_value, 0)
        self.epsilon = check_number("Adagrad", "epsilon", epsilon, 0)

    def _new_slots(self, w):
        return {"accumulator": np.full_like(w, self.initial_accumulator_value)}

    def _update(self, w, g, slots, rows, lr):
        rules.adagrad_update(w, g, slots["accumulator"], lr, self.epsilon, rows)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
