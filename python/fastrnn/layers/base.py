"""The Layer base class: config in __init__, weights created by build(), forward() that keeps
what backward() needs, backward() that returns the input gradient and fills `self.grads`.

Not a graph or autodiff engine: a Sequential model calls forward in order and backward in
reverse. Weights are NumPy arrays updated in place by the optimizers.
"""
from __future__ import annotations

import collections
import contextlib
import math
import re
import threading
from typing import NamedTuple

import numpy as np

_name_counts: collections.Counter = collections.Counter()
_budget = threading.local()  # .bytes: what add_weight may still allocate in this thread (None: no limit)


def unique_name(base: str) -> str:
    """Keras-style unique names: 'dense', 'dense_1', 'dense_2', ... per process."""
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def snake_case(name: str) -> str:
    """'SimpleRNN' -> 'simple_rnn', 'LSTM' -> 'lstm', as Keras derives default layer names."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


@contextlib.contextmanager
def weight_budget(nbytes: int):
    """Inside the block, add_weight (in this thread) fails before allocating past `nbytes` in all.

    Model loading uses it so that a file's config cannot ask for more weight memory than the
    file's stored weights hold.

    Args:
        nbytes: total bytes the block's new weights may take.

    Example:
        >>> with weight_budget(stored_bytes):
        ...     model = Sequential.from_config(config)
    """
    saved = getattr(_budget, "bytes", None)
    _budget.bytes = int(nbytes)
    try:
        yield
    finally:
        _budget.bytes = saved


class IndexedRows(NamedTuple):
    """A sparse gradient: `values[k]` is the gradient of row `indices[k]` (indices unique)."""

    indices: np.ndarray
    values: np.ndarray


class Layer:
    """Base class of fastrnn's layers.

    Args:
        name: unique default derived from the class name ('simple_rnn', 'dense_1', ...).
        trainable: whether fit() updates this layer's weights.
        dtype: weight and computation dtype, "float32" (default) or "float64".
        input_shape: shape of one sample (no batch axis), for a model's first layer.

    Subclasses implement build(input_shape), forward(x, training, mask), backward(dy),
    compute_output_shape and get_config.
    """

    supports_masking = False

    def __init__(self, name=None, trainable=True, dtype="float32", input_shape=None, batch_input_shape=None):
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = np.dtype(dtype).name
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"{self.name}: dtype must be 'float32' or 'float64', got {dtype!r}")
        if input_shape is not None:
            batch_input_shape = (None,) + tuple(input_shape)
        self.batch_input_shape = None if batch_input_shape is None else tuple(batch_input_shape)
        self.built = False
        self._params: dict = {}
        self.grads: dict = {}

    # weights
    def add_weight(self, name, shape, initializer):
        """Create, register and return a weight; `initializer` is a callable (shape, dtype).

        Raises:
            ValueError: `shape` is not a tuple of ints >= 0, or the weight would exceed the
                `weight_budget` in force (checked before anything is allocated).
        """
        shape = tuple(shape)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ValueError(f"layer {self.name!r}: weight {name!r} needs a shape of ints >= 0, got {shape}")
        budget = getattr(_budget, "bytes", None)
        if budget is not None:
            nbytes = math.prod(int(d) for d in shape) * np.dtype(self.dtype).itemsize
            if nbytes > budget:
                raise ValueError(f"layer {self.name!r}: weight {name!r} of shape {shape} needs {nbytes} bytes, "
                                 f"more than the {budget} bytes of weights left to load")
            _budget.bytes = budget - nbytes
        value = np.ascontiguousarray(initializer(shape, self.dtype), dtype=self.dtype)
        self._params[name] = value
        return value

    @property
    def weights(self) -> list:
        """The weight arrays themselves (not copies), in the Keras order."""
        return list(self._params.values())

    @property
    def trainable_weights(self) -> list:
        return self.weights if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        return [] if self.trainable else self.weights

    def get_weights(self) -> list:
        """Copies of the weights in the Keras layout and order.

        Example:
            >>> kernel, recurrent_kernel, bias = model.layers[1].get_weights()
        """
        return [w.copy() for w in self._params.values()]

    def set_weights(self, weights) -> None:
        """Overwrite the weights in place from arrays in the get_weights() order and shapes.

        Args:
            weights: a list with one array per weight.

        Example:
            >>> model.layers[0].set_weights([embedding_matrix])
        """
        if not self.built:
            raise RuntimeError(f"layer {self.name!r} has no weights yet: build it (or the model) first")
        names = list(self._params)
        if len(weights) != len(names):
            raise ValueError(f"layer {self.name!r} expects {len(names)} weight arrays ({', '.join(names)}), "
                             f"got {len(weights)}")
        for key, new in zip(names, weights):
            new = np.asarray(new)
            if new.shape != self._params[key].shape:
                raise ValueError(f"layer {self.name!r}: weight {key!r} has shape {self._params[key].shape}, "
                                 f"got {new.shape}")
        for key, new in zip(names, weights):
            self._params[key][...] = new

    def count_params(self) -> int:
        return int(sum(w.size for w in self._params.values()))

    # running
    def build(self, input_shape) -> None:
        """Create the weights for inputs of `input_shape` (batch axis first, may be None)."""
        self.built = True

    def __call__(self, x, training=False, mask=None, **kwargs):
        """Run the layer on arrays; on KerasTensors (fastrnn.Input), record the call for a
        functional Model instead. kwargs: e.g. initial_state=[h, c] for recurrent layers."""
        from .input_layer import is_symbolic, symbolic_call  # imported here: input_layer imports this module
        if is_symbolic(x, kwargs):
            return symbolic_call(self, x, mask, kwargs)
        if not self.built:
            self.build(tuple(np.shape(x)))
        return self.forward(x, training=training, mask=mask, **kwargs)

    def forward(self, x, training=False, mask=None):
        raise NotImplementedError

    def backward(self, dy, input_gradient=True):
        """Gradient of the last forward(training=True) call: returns dx and sets self.grads.

        input_gradient=False: the caller drops dx (the model's first trained layer, fed with
        data), so a layer may skip computing it and return None."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, x, mask):
        """The mask for the next layer, given this layer's input and input mask."""
        return mask if self.supports_masking else None

    # config
    def get_config(self) -> dict:
        """The constructor arguments that recreate this layer (without its weights)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt layer from get_config()'s dict.

        Example:
            >>> twin = LSTM.from_config(layer.get_config())
        """
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"
