"""Adam (amsgrad), AdamW (Adam with Keras 3's decoupled weight decay on by default) and Nadam
(Keras 3's schedule-multiplied Nesterov momentum). Plain Adam's step is a fastrnn.ops kernel (C++
on the cpu backend); amsgrad and Nadam are the NumPy rules of rules.py.
"""
from __future__ import annotations

import math

from .. import ops
from . import rules
from .base import Default, Optimizer, check_number


class Adam(Optimizer):
    """m += (1 - b1)(g - m); v += (1 - b2)(g^2 - v); w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps);
    amsgrad divides by the running maximum of v instead.

    Args:
        learning_rate: default 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7. amsgrad: False.
        Others as Optimizer (weight_decay, clipnorm, clipvalue, global_clipnorm, name).

    Example:
        >>> model.compile(optimizer=Adam(1e-3), loss="sparse_categorical_crossentropy")
    """

    def __init__(self, learning_rate=Default(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        cls = type(self).__name__
        self.beta_1 = check_number(cls, "beta_1", beta_1, 0, 1, high_inclusive=False)
        self.beta_2 = check_number(cls, "beta_2", beta_2, 0, 1, high_inclusive=False)
        self.epsilon = check_number(cls, "epsilon", epsilon, 0)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def _alpha(self, lr):
        # a Python float: NumPy rounds it to the weights' dtype, and the step stays in that dtype
        t = self.iterations
        return lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)

    def _update(self, w, g, slots, rows, lr):
        c1, c2, alpha = 1 - self.beta_1, 1 - self.beta_2, self._alpha(lr)
        if self.amsgrad:
            return rules.adam_amsgrad_update(w, g, slots["m"], slots["v"], slots["v_hat"], c1, c2, alpha,
                                             self.epsilon, rows)
        ops.adam_update(w, g, slots["m"], slots["v"], c1, c2, alpha, self.epsilon, rows)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): before each step
    w *= 1 - weight_decay * lr, then Adam's step (Keras 3's AdamW).

    Args:
        learning_rate: default 0.001. weight_decay: default 0.004 (a number; not None).
        beta_1, beta_2, epsilon, amsgrad: as Adam. Others as Optimizer.

    Example:
        >>> model.compile(optimizer=AdamW(learning_rate=1e-3, weight_decay=0.01), loss="mse")
    """

    def __init__(self, learning_rate=Default(0.001), weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: argument 'weight_decay' must be a number >= 0, got None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, **kwargs)


class Nadam(Optimizer):
    """Keras 3's Nadam: Adam's moments with the momentum schedule u_t = beta_1 (1 - 0.5 * 0.96^t):
    m_hat = u_{t+1} m / (1 - prod u_1..u_{t+1}) + (1 - u_t) g / (1 - prod u_1..u_t),
    w -= lr m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon).

    Args:
        learning_rate: default 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7. Others as Optimizer.

    Example:
        >>> model.compile(optimizer=Nadam(2e-3), loss="categorical_crossentropy")
    """

    slot_names = ("m", "v")

    def __init__(self, learning_rate=Default(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = check_number("Nadam", "beta_1", beta_1, 0, 1, high_inclusive=False)
        self.beta_2 = check_number("Nadam", "beta_2", beta_2, 0, 1, high_inclusive=False)
        self.epsilon = check_number("Nadam", "epsilon", epsilon, 0)
        self._product, self._product_step = 1.0, 0  # prod u_1..u_step

    def _u(self, t):
        return self.beta_1 * (1 - 0.5 * 0.96 ** t)

    def _begin_step(self):
        t = self.iterations
        if self._product_step != t - 1:  # iterations was set (a loaded model): rebuild the product
            self._product = math.prod(self._u(s) for s in range(1, t))
        self._product, self._product_step = self._product * self._u(t), t

    def _update(self, w, g, slots, rows, lr):
        t = self.iterations
        u_t, u_next = self._u(t), self._u(t + 1)
        rules.nadam_update(w, g, slots["m"], slots["v"], 1 - self.beta_1, 1 - self.beta_2, u_t, u_next,
                           self._product, self._product * u_next, self.beta_2 ** t, lr, self.epsilon, rows)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
