"""The functional API's symbolic side: Input / InputLayer, KerasTensor and Node. Calling a layer
on KerasTensors records a Node (the layer, its input tensors, its initial_state tensors, its
output tensors) and returns output KerasTensors whose shapes come from compute_output_shape.

Nothing is computed here and there is no arithmetic on KerasTensors: fastrnn.models.Model turns
the nodes between its inputs and outputs into a graph that it runs forwards and backwards.
"""
from __future__ import annotations

import inspect

import numpy as np

from .base import Layer


class KerasTensor:
    """A symbolic tensor: `shape` (batch axis first, None where unknown), `dtype`, and the call
    that made it, `_keras_history` = (layer, node_index, tensor_index).

    Example:
        >>> x = Input(shape=(None, 8)); LSTM(4)(x).shape
        (None, 4)
    """

    def __init__(self, shape, dtype, history, name=None):
        self.shape, self.dtype, self._keras_history, self.name = tuple(shape), dtype, history, name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def node(self) -> "Node":
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is symbolic: it has no values. Build a fastrnn.models.Model(inputs, outputs) "
                        "and call model.predict(data) or model(data)")

    def __repr__(self):
        layer, node_index, tensor_index = self._keras_history
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, "
                f"from={layer.name!r}[{node_index}][{tensor_index}]>")


class Node:
    """One call of `layer` on KerasTensors.

    inputs: the tensors of the call's first argument (several for a merge layer: `listed`).
    states: initial_state tensors ([] when none). outputs: the output tensors (several when the
    layer returns a list, e.g. return_state: `multi_output`).
    """

    def __init__(self, layer, inputs, listed, states, outputs, multi_output):
        self.layer, self.inputs, self.listed, self.states = layer, list(inputs), listed, list(states)
        self.outputs, self.multi_output = list(outputs), multi_output

    @property
    def parents(self) -> list:
        return self.inputs + self.states


def _add_node(layer, inputs, listed, states, shapes, multi_output, dtype):
    """Record a call of `layer` and return its output tensors (a list when multi_output)."""
    nodes = layer.__dict__.setdefault("_inbound_nodes", [])
    index = len(nodes)
    outputs = [KerasTensor(s, dtype, (layer, index, i)) for i, s in enumerate(shapes)]
    nodes.append(Node(layer, inputs, listed, states, outputs, multi_output))
    return outputs if multi_output else outputs[0]


def is_symbolic(x, kwargs) -> bool:
    """Whether a layer call gets KerasTensors (in x, a list x, or initial_state)."""
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    state = kwargs.get("initial_state")
    items += list(state) if isinstance(state, (list, tuple)) else [state]
    return any(isinstance(t, KerasTensor) for t in items)


def symbolic_call(layer, x, mask, kwargs):
    """layer(x) on KerasTensors: build the layer for their shapes, record a Node, return the outputs.

    Raises:
        TypeError: arrays mixed with KerasTensors, an explicit mask, or arguments the layer does
            not take (initial_state on a non-recurrent layer). ValueError: wrong initial states.
    """
    listed = isinstance(x, (list, tuple))
    inputs = list(x) if listed else [x]
    if not inputs or not all(isinstance(t, KerasTensor) for t in inputs):
        raise TypeError(f"layer {layer.name!r}: a functional call takes KerasTensors throughout (from fastrnn.Input "
                        f"or other layers), got {[type(t).__name__ for t in inputs]}")
    if mask is not None:
        raise TypeError(f"layer {layer.name!r}: masks propagate through the graph by themselves (Embedding(mask_zero"
                        "=True), Masking); argument 'mask' cannot be given with KerasTensors")
    kwargs = dict(kwargs)
    states = kwargs.pop("initial_state", None)
    if kwargs:
        raise TypeError(f"layer {layer.name!r}: unexpected argument(s) {', '.join(map(repr, kwargs))}")
    states = [] if states is None else list(states) if isinstance(states, (list, tuple)) else [states]
    if states:
        _check_states(layer, states)
    shapes = [t.shape for t in inputs]
    shape = shapes if listed else shapes[0]
    if not layer.built:
        layer.build(shape)
    out = layer.compute_output_shape(shape)
    multi_output = isinstance(out, list)
    return _add_node(layer, inputs, listed, states, out if multi_output else [out], multi_output, layer.dtype)


def _check_states(layer, states):
    """initial_state: KerasTensors, as many as the layer has states, each (batch, units)."""
    if "initial_state" not in inspect.signature(layer.forward).parameters:
        raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) takes no argument 'initial_state'")
    if not all(isinstance(s, KerasTensor) for s in states):
        raise TypeError(f"layer {layer.name!r}: argument 'initial_state' must hold KerasTensors when the input "
                        "is one")
    count, units = getattr(layer, "_state_count", None), getattr(layer, "units", None)
    if len(states) != count:
        raise ValueError(f"layer {layer.name!r}: argument 'initial_state' needs {count} tensor(s), got {len(states)}")
    for s in states:
        if s.ndim != 2 or s.shape[1] not in (None, units):
            raise ValueError(f"layer {layer.name!r}: argument 'initial_state' needs tensors of shape (batch, {units}), "
                             f"got {s.shape}")


def _shape_tuple(name, shape):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"Input: argument {name!r} must be a tuple of ints or None, got {shape!r}") from None
    if any(d is not None and d < 0 for d in shape):
        raise ValueError(f"Input: argument {name!r} must hold sizes >= 0 or None, got {shape!r}")
    return shape


class InputLayer(Layer):
    """The layer behind fastrnn.Input: it holds a model input's shape, dtype and name.

    Args:
        shape: one sample's shape (no batch axis). batch_size: optional fixed batch size.
        dtype: the data's dtype (default "float32"; "int32"/"int64" for an Embedding's ids).
        batch_shape: the full shape instead of shape and batch_size. name: the input's name.
        input_shape, batch_input_shape: Keras 2's names of shape and batch_shape.

    Example:
        >>> layer = InputLayer(shape=(None, 3)); layer.output.shape
        (None, None, 3)
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, sparse=None,
                 ragged=None, input_shape=None, batch_input_shape=None, **kwargs):
        if sparse or ragged:
            raise ValueError("Input: sparse and ragged inputs are not supported; pass dense, padded arrays")
        shape = input_shape if shape is None else shape
        batch_shape = batch_input_shape if batch_shape is None else batch_shape
        if (shape is None) == (batch_shape is None):
            raise ValueError("Input: pass exactly one of 'shape' (one sample's shape) and 'batch_shape'")
        if batch_shape is None:
            batch_shape = (batch_size,) + _shape_tuple("shape", shape)
        batch_shape = _shape_tuple("batch_shape", batch_shape)
        if not batch_shape:
            raise ValueError("Input: the shape needs a batch axis; got an empty batch_shape")
        kwargs.pop("trainable", None)
        kwargs.pop("optional", None)
        super().__init__(name=name, **kwargs)
        try:
            self.dtype = np.dtype(dtype or "float32").name
        except TypeError:
            raise ValueError(f"Input: argument 'dtype' must be a NumPy dtype name, got {dtype!r}") from None
        self.batch_input_shape, self.built, self.trainable = batch_shape, True, False
        self.output = _add_node(self, [], False, [], [batch_shape], False, self.dtype)
        self.output.name = self.name

    def forward(self, x, training=False, mask=None):
        return x

    def get_config(self):
        return {"batch_shape": list(self.batch_input_shape), "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None, **kwargs):  # noqa: N802 (Keras' name)
    """A symbolic model input: call layers on it, then build fastrnn.models.Model(inputs, outputs).

    Args:
        shape: one sample's shape, e.g. (None, 8) for sequences of any length with 8 features.
        batch_size: optional fixed batch size. name: the input's name (keys of dict data).
        dtype: default "float32"; "int32" for an Embedding's ids. batch_shape: full shape instead.

    Returns:
        A KerasTensor.

    Example:
        >>> ids = Input(shape=(None,), dtype="int32", name="ids")
        >>> h = LSTM(16)(Embedding(1000, 8, mask_zero=True)(ids))
        >>> model = Model(ids, Dense(1, activation="sigmoid")(h))
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name,
                      **kwargs).output
