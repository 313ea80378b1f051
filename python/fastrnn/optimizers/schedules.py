"""Learning-rate schedules, Keras 3's `keras.optimizers.schedules`: step -> learning rate, given to
an optimizer as `learning_rate` and evaluated at `optimizer.iterations` before each step.

ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay and CosineDecay (with warmup) follow
Keras 3's formulas (computed here in float64; Keras uses float32). Not callbacks: epoch-level
changes are LearningRateScheduler / ReduceLROnPlateau in fastrnn.callbacks.
"""
from __future__ import annotations

import inspect
import math
import numbers


def _number(cls, name, value, low=None, low_inclusive=True, integer=False):
    """value as a float (or int), or a ValueError naming the argument."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if not ok:
        bound = "" if low is None else f" {'>=' if low_inclusive else '>'} {low}"
        raise ValueError(f"{cls}: argument '{name}' must be a finite {'int' if integer else 'number'}{bound}, "
                         f"got {value!r}")
    return int(value) if integer else float(value)


class LearningRateSchedule:
    """Base class: subclasses define `__call__(step) -> float` and `get_config()`.

    Example:
        >>> class Halving(LearningRateSchedule):
        ...     def __init__(self, lr, every):
        ...         self.lr, self.every = lr, every
        ...     def __call__(self, step):
        ...         return self.lr * 0.5 ** (step // self.every)
        ...     def get_config(self):
        ...         return {"lr": self.lr, "every": self.every}
        >>> SGD(learning_rate=Halving(0.1, 1000))
    """

    def __call__(self, step):
        raise NotImplementedError(f"learning rate schedule {type(self).__name__} must define __call__(self, step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"learning rate schedule {type(self).__name__} must define get_config() "
                                  "to be saved")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Decay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments (checked) and config."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        cls = type(self).__name__
        self.initial_learning_rate = _number(cls, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(cls, "decay_steps", decay_steps, 0, low_inclusive=False)
        self.decay_rate = _number(cls, "decay_rate", decay_rate)
        self.staircase, self.name = bool(staircase), name

    def _periods(self, step):
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_Decay):
    """initial_learning_rate * decay_rate ** (step / decay_steps), the exponent floored when
    `staircase`.

    Args:
        initial_learning_rate: the rate at step 0. decay_steps: steps per factor of decay_rate
            (> 0). decay_rate: the factor. staircase: decay in whole periods only.

    Example:
        >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)(25)
        0.025
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._periods(step)


class InverseTimeDecay(_Decay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps), the ratio floored when
    `staircase` (Keras 2's `decay=` argument is this with decay_steps=1).

    Example:
        >>> InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5)(2)
        0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._periods(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after boundaries[-1].

    Args:
        boundaries: increasing steps, one fewer than values. values: the rates.

    Example:
        >>> PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])(150)
        0.5
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        cls = type(self).__name__
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise ValueError(f"{cls}: 'boundaries' and 'values' must be lists, got {boundaries!r} and {values!r}")
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"{cls}: 'boundaries' must have one entry fewer than 'values', got "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        self.boundaries = [_number(cls, "boundaries", b) for b in boundaries]
        self.values = [_number(cls, "values", v) for v in values]
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"{cls}: 'boundaries' must increase, got {boundaries!r}")
        self.name = name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup from initial_learning_rate to warmup_target over warmup_steps, then
    a cosine decay over decay_steps from the peak (warmup_target, else initial_learning_rate)
    down to alpha * peak, held after.

    Args:
        initial_learning_rate: the rate at step 0. decay_steps: length of the decay (> 0).
        alpha: the fraction of the peak rate kept at the end (default 0). warmup_target: the
            peak after warmup (None: no warmup). warmup_steps: length of the warmup.

    Example:
        >>> CosineDecay(0.1, decay_steps=100)(50)    # half way down the cosine
        0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        cls = type(self).__name__
        self.initial_learning_rate = _number(cls, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(cls, "decay_steps", decay_steps, 0, low_inclusive=False)
        self.alpha = _number(cls, "alpha", alpha)
        self.warmup_target = None if warmup_target is None else _number(cls, "warmup_target", warmup_target)
        self.warmup_steps = _number(cls, "warmup_steps", warmup_steps, 0)
        self.name = name

    def _decayed(self, step, peak):
        cosine = 0.5 * (1 + math.cos(math.pi * step / self.decay_steps))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decayed(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * fraction + self.initial_learning_rate
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay)}


def takes_step(fn) -> bool:
    """Whether a plain callable learning rate takes the step (fn(step)); else it is called with
    no argument, as Keras 3 calls one."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: pass the step
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    return bool(positional)


def serialize(schedule) -> dict:
    """{"class_name", "config"} of a schedule; a named function is stored by its name.

    Example:
        >>> serialize(ExponentialDecay(0.1, 100, 0.9))["class_name"]
        'ExponentialDecay'
    """
    if isinstance(schedule, LearningRateSchedule):
        return {"class_name": type(schedule).__name__, "config": schedule.get_config()}
    name = getattr(schedule, "__name__", None)
    if not callable(schedule) or not name or name == "<lambda>":
        raise ValueError(f"cannot save the learning rate {schedule!r}: use a LearningRateSchedule (with "
                         "get_config) or a named function, passed again through custom_objects when loading")
    return {"class_name": "function", "config": name}


def deserialize(spec, custom_objects=None):
    """A schedule from serialize()'s dict; custom_objects maps names to user schedules and functions.

    Example:
        >>> deserialize({"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 9}})
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError(f"a learning rate schedule must be {{'class_name': str, 'config': ...}}, got {spec!r:.80}")
    name, config, custom = spec["class_name"], spec.get("config"), dict(custom_objects or {})
    if name == "function":
        if config not in custom:
            raise ValueError(f"the learning rate function {config!r} is not known: pass it in custom_objects")
        return custom[config]
    classes = {**_CLASSES, **custom}
    if name not in classes:
        raise ValueError(f"unknown learning rate schedule {name!r}; expected one of {', '.join(_CLASSES)} or a "
                         "class passed in custom_objects")
    if not isinstance(config, dict):
        raise ValueError(f"the config of schedule {name!r} must be an object, got {config!r:.80}")
    return classes[name].from_config(config)
