"""NumPy update rules for the optimizers that have no fastrnn.ops kernel yet: RMSprop with
momentum or centered, Adam with amsgrad, Adagrad, Nadam, and decoupled weight decay.

Each is one function with the signature style of fastrnn.ops.adam_update (weight, gradient,
slots, then scalars, then rows), updating in place, so that it can join the kernel table as is.
Scalars are Python floats: NumPy keeps float32 weights and slots in float32. Not the optimizers'
bookkeeping (learning rate, step count, slots): that is in base.py.
"""
from __future__ import annotations

import numpy as np


def _on_rows(step, w, g, slots, rows):
    """step(w, g, *slots) on all of w, or on its rows `rows` (g then holds those rows), in place.
    A slot may be None (absent); the rows of the others are gathered and written back."""
    if rows is None:
        return step(w, g, *slots)
    w_rows = w[rows]
    slot_rows = [None if s is None else s[rows] for s in slots]
    step(w_rows, g, *slot_rows)
    w[rows] = w_rows
    for s, r in zip(slots, slot_rows):
        if s is not None:
            s[rows] = r


def weight_decay_update(w, factor, rows=None):
    """In place: w *= factor (factor = 1 - weight_decay * lr, Keras 3's decoupled decay), on w's
    rows `rows` only if given."""
    if rows is None:
        w *= factor
    else:
        w[rows] *= factor


def rmsprop_full_update(w, g, v, m, a, rho, momentum, lr, epsilon, rows=None):
    """Keras 3's RMSprop with its options, in place: v = rho v + (1 - rho) g^2; centered (a given):
    a = rho a + (1 - rho) g and the denominator is sqrt(v - a^2 + epsilon), else sqrt(v + epsilon);
    increment = lr g / denominator; with momentum (m given): m = momentum m + increment, w -= m;
    else w -= increment.

    Args:
        w: the weight. g: its gradient (or its rows'). v: the velocity slot. m: the momentum slot,
            or None. a: the average-gradient slot (centered), or None. rows: distinct rows of w.
    """
    def step(w, g, v, m, a):
        v *= rho
        v += (1 - rho) * (g * g)
        if a is not None:
            a *= rho
            a += (1 - rho) * g
            denominator = np.sqrt(v - a * a + epsilon)
        else:
            denominator = np.sqrt(v + epsilon)
        increment = lr * g / denominator
        if m is not None:
            m *= momentum
            m += increment
            w -= m
        else:
            w -= increment
    _on_rows(step, w, g, (v, m, a), rows)


def adam_amsgrad_update(w, g, m, v, v_hat, c1, c2, alpha, epsilon, rows=None):
    """Adam with amsgrad, in place: m += c1 (g - m); v += c2 (g^2 - v); v_hat = max(v_hat, v);
    w -= alpha m / (sqrt(v_hat) + epsilon). c1, c2: 1 - beta_1, 1 - beta_2; alpha: the step size
    with the bias corrections in it (as fastrnn.ops.adam_update)."""
    def step(w, g, m, v, v_hat):
        m += c1 * (g - m)
        v += c2 * (g * g - v)
        np.maximum(v_hat, v, out=v_hat)
        w -= alpha * m / (np.sqrt(v_hat) + epsilon)
    _on_rows(step, w, g, (m, v, v_hat), rows)


def adagrad_update(w, g, accumulator, lr, epsilon, rows=None):
    """Adagrad, in place: accumulator += g^2; w -= lr g / sqrt(accumulator + epsilon)."""
    def step(w, g, accumulator):
        accumulator += g * g
        w -= lr * g / np.sqrt(accumulator + epsilon)
    _on_rows(step, w, g, (accumulator,), rows)


def nadam_update(w, g, m, v, c1, c2, u_t, u_next, u_product, u_product_next, beta_2_power, lr, epsilon, rows=None):
    """Keras 3's Nadam, in place: m += c1 (g - m); v += c2 (g^2 - v);
    m_hat = u_next m / (1 - u_product_next) + (1 - u_t) g / (1 - u_product);
    w -= lr m_hat / (sqrt(v / (1 - beta_2_power)) + epsilon).

    Args:
        c1, c2: 1 - beta_1, 1 - beta_2. u_t, u_next: the momentum schedule beta_1 (1 - 0.5 *
            0.96^t) at steps t and t + 1. u_product, u_product_next: its products up to t and
            t + 1. beta_2_power: beta_2^t.
    """
    def step(w, g, m, v):
        m += c1 * (g - m)
        v += c2 * (g * g - v)
        m_hat = (u_next / (1 - u_product_next)) * m + ((1 - u_t) / (1 - u_product)) * g
        w -= lr * m_hat / (np.sqrt(v / (1 - beta_2_power)) + epsilon)
    _on_rows(step, w, g, (m, v), rows)
