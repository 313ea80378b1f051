"""The functional API's Model: the layer calls recorded between Input tensors and output tensors
(several inputs and outputs, shared layers, initial states, merge layers), run as one graph and
trained by the shared engine (training.py). Also what Sequential inherits: weights, get_layer,
summary, save, and the Keras 3 style config (layers with inbound_nodes) behind to_json.

Not the subclassing API (there is no call() to override), and a Model is not a layer: it cannot be
called on KerasTensors inside another Model.
"""
from __future__ import annotations

import json

from ..layers import serialize
from ..layers.base import unique_name
from ..layers.input_layer import InputLayer, KerasTensor
from . import keras_format, saving, summary as summary_mod
from .graph import Graph, Step
from .training import Trainer


def _flatten(structure, argument):
    """(list of KerasTensors, dict keys or None) of a tensor, a list/tuple or a dict of them."""
    keys = list(structure) if isinstance(structure, dict) else None
    items = list(structure.values()) if keys is not None else list(structure) \
        if isinstance(structure, (list, tuple)) else [structure]
    if not items:
        raise ValueError(f"argument {argument!r} must hold at least one KerasTensor")
    for t in items:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"argument {argument!r} must hold KerasTensors (from fastrnn.Input and layer calls), "
                            f"got {type(t).__name__}")
    return items, keys


def _nodes_between(outputs, input_ids):
    """The nodes computing `outputs` from the tensors `input_ids`, parents before children."""
    order, state = [], {}
    stack = [(t.node, False) for t in reversed(outputs) if id(t) not in input_ids]
    for t in outputs:
        _check_reachable(t, input_ids)
    while stack:
        node, expanded = stack.pop()
        if expanded:
            state[id(node)] = 2
            order.append(node)
            continue
        if state.get(id(node)):
            continue
        state[id(node)] = 1
        stack.append((node, True))
        for parent in reversed(node.parents):
            if id(parent) not in input_ids:
                _check_reachable(parent, input_ids)
                if not state.get(id(parent.node)):
                    stack.append((parent.node, False))
    return order


def _check_reachable(tensor, input_ids):
    layer = tensor._keras_history[0]
    if isinstance(layer, InputLayer) and id(tensor) not in input_ids:
        raise ValueError(f"graph disconnected: the outputs need the Input {layer.name!r}, which is not in argument "
                         "'inputs'")


class Model(Trainer):
    """A model from the functional API.

    Args:
        inputs: a KerasTensor from fastrnn.Input, or a list (or dict by name) of them.
        outputs: the KerasTensor(s) the model returns: one, a list, or a dict by name.
        name: default 'functional', 'functional_1', ...

    Example:
        >>> a, b = Input(shape=(None, 3), name="a"), Input(shape=(4,), name="b")
        >>> merged = Concatenate()([LSTM(8)(a), Dense(8, activation="relu")(b)])
        >>> model = Model([a, b], [Dense(1, activation="sigmoid", name="yes")(merged),
        ...                        Dense(3, activation="softmax", name="kind")(merged)])
        >>> model.compile("adam", loss=["binary_crossentropy", "sparse_categorical_crossentropy"])
        >>> model.fit([xa, xb], [y_yes, y_kind], epochs=5)
    """

    _is_sequential = False

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unexpected argument(s) {', '.join(map(repr, kwargs))}")
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs) builds a functional model and needs both; fastrnn has no "
                            "subclassing API (models with their own call())")
        self.name = name or unique_name("functional")
        in_list, in_keys = _flatten(inputs, "inputs")
        out_list, out_keys = _flatten(outputs, "outputs")
        input_ids = {}
        for t in in_list:
            if not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"argument 'inputs' must hold tensors made by fastrnn.Input, got {t!r}")
            if id(t) in input_ids:
                raise ValueError(f"argument 'inputs' lists the input {t._keras_history[0].name!r} twice")
            input_ids[id(t)] = len(input_ids)
        self._nodes = _nodes_between(out_list, input_ids)
        self.inputs, self.outputs = in_list, out_list
        self._output_dict, self._output_list = out_keys is not None, isinstance(outputs, (list, tuple))
        self._input_dict = in_keys is not None
        self.input_names = in_keys or [t._keras_history[0].name for t in in_list]
        self.output_names = out_keys or _output_names(out_list)
        self._input_shapes = [t.shape for t in in_list]
        self._output_shapes = [t.shape for t in out_list]
        self._output_dtypes = [t.dtype for t in out_list]
        layers = {id(t._keras_history[0]): t._keras_history[0] for t in in_list}
        layers.update((id(node.layer), node.layer) for node in self._nodes)
        self._layers = list(layers.values())
        names = [layer.name for layer in self._layers]
        if len(set(names)) != len(names):
            raise ValueError(f"the layers of model {self.name!r} must have unique names, got {names}")
        self._graph = _graph(in_list, self._nodes, out_list)
        self.built = True

    def _ensure_built(self, xs):
        """A functional model is built when made."""

    # layers and weights (Sequential inherits these)
    @property
    def layers(self) -> list:
        return list(self._layers)

    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def get_weights(self) -> list:
        """Copies of every layer's weights, in layer order."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Overwrite all weights from a get_weights()-shaped list."""
        weights, counts = list(weights), [len(layer.weights) for layer in self.layers]
        if len(weights) != sum(counts):
            raise ValueError(f"model {self.name!r} has {sum(counts)} weight arrays, got {len(weights)}")
        for layer, n in zip(self.layers, counts):
            if n:
                layer.set_weights(weights[:n])
            weights = weights[n:]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def reset_states(self) -> None:
        """Reset the state of every stateful layer."""
        for layer in self.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in model.layers.

        Example:
            >>> model.get_layer("encoder").get_weights()
        """
        if (name is None) == (index is None):
            raise ValueError("get_layer: pass exactly one of 'name' and 'index'")
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) or not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: argument 'index' must be an int in [{-len(layers)}, {len(layers)}), "
                                 f"got {index!r} (model {self.name!r} has {len(layers)} layers)")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; the layers are {[layer.name for layer in layers]}")

    @property
    def input_shape(self):
        shapes = [tuple(s) for s in self._input_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [tuple(s) for s in self._output_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    def summary(self, line_length=None, positions=None, print_fn=None) -> None:
        """Print the Keras table of layers, output shapes, parameter counts (and connections)."""
        summary_mod.print_summary(self, line_length, positions, print_fn)

    def _summary_rows(self):
        """(layer, output shape text, connections text or None) per row of the summary."""
        index = {}
        for node in self._nodes:
            index.setdefault(id(node.layer), []).append(node)
        rows = []
        for layer in self.layers:
            nodes = index.get(id(layer), [])
            if not nodes:
                rows.append((layer, str([tuple(layer.batch_input_shape)]), "[]"))
                continue
            shapes = [t.shape for node in nodes for t in node.outputs]
            links = [f"{t._keras_history[0].name}[{t._keras_history[1]}][{t._keras_history[2]}]"
                     for node in nodes for t in node.parents]
            rows.append((layer, str(shapes[0] if len(shapes) == 1 else shapes), str(links)))
        return rows

    # config and saving
    def get_config(self) -> dict:
        """Keras 3's functional config: layers with their inbound_nodes, input and output layers."""
        kept = _kept_nodes(self)
        ref = lambda t: [t._keras_history[0].name, kept[id(t.node)], t._keras_history[2]]  # noqa: E731

        def tensor(t):
            return {"class_name": "__keras_tensor__", "config": {"shape": list(t.shape), "dtype": t.dtype,
                                                                 "keras_history": ref(t)}}
        layers = []
        for layer in self.layers:
            inbound = []
            for node in (n for n in self._nodes if n.layer is layer):
                args = [[tensor(t) for t in node.inputs]] if node.listed else [tensor(node.inputs[0])]
                kwargs = {"initial_state": [tensor(t) for t in node.states]} if node.states else {}
                inbound.append({"args": args, "kwargs": kwargs})
            layers.append({**serialize(layer), "name": layer.name, "inbound_nodes": inbound})
        pack = lambda tensors, keys, listed: dict(zip(keys, map(ref, tensors))) if keys else \
            [ref(t) for t in tensors] if listed else ref(tensors[0])  # noqa: E731
        return {"name": self.name, "trainable": True, "layers": layers,
                "input_layers": pack(self.inputs, self.input_names if self._input_dict else None,
                                     len(self.inputs) > 1),
                "output_layers": pack(self.outputs, self.output_names if self._output_dict else None,
                                      self._output_list)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model (fresh weights) from get_config()'s dict (Keras 3's functional config)."""
        from .rebuild import functional_from_config
        return functional_from_config(cls, config, custom_objects)

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (no weights); fastrnn.models.model_from_json rebuilds it."""
        kind = "Sequential" if self._is_sequential else "Functional"
        return json.dumps({"class_name": kind, "config": self.get_config()}, **kwargs)

    def save(self, path) -> None:
        """Write architecture, weights and optimizer state to one file, atomically (see load_model):
        Keras 3's zip for a name ending in ".keras" (keras.models.load_model opens it), else
        fastrnn's own format (any other name, e.g. "model.npz")."""
        kind = keras_format.keras_file_kind(path)
        if kind == "keras":
            return keras_format.save_keras(self, path)
        if kind == "weights.h5":
            raise ValueError(f"{path!r}: a .weights.h5 file holds weights only; use model.save_weights(path), "
                             "or save the whole model to 'name.keras'")
        saving.save_model(self, path)

    def save_weights(self, path) -> None:
        """Write the weights alone, atomically: Keras 3's layout for a name ending in
        ".weights.h5" (needs h5py), else fastrnn's own (e.g. "model.weights.npz")."""
        kind = keras_format.keras_file_kind(path)
        if kind == "keras":
            raise ValueError(f"{path!r}: a .keras file holds a whole model; use model.save(path), "
                             "or save the weights to 'name.weights.h5'")
        if kind == "weights.h5":
            return keras_format.save_weights_h5(self, path)
        saving.save_weights(self, path)

    def load_weights(self, path, skip_mismatch=False) -> None:
        """Load weights from save_weights' files (either format) or a model.save file (fastrnn's
        own or .keras), checked against this model before any weight changes.

        Args:
            skip_mismatch: leave layers whose stored shapes differ as they are, with a warning
                (fastrnn's own files; Keras' files must match).
        """
        kind = keras_format.keras_file_kind(path)
        if kind is not None and skip_mismatch:
            raise ValueError("load_weights(skip_mismatch=True) is supported for fastrnn's own weight files only")
        if kind == "weights.h5":
            return keras_format.load_weights_h5(self, path)
        if kind == "keras":
            return self.set_weights(keras_format.load_keras(path, compile=False).get_weights())
        saving.load_weights(self, path, skip_mismatch)


def _output_names(outputs):
    """Keras' output names: the producing layers' names, made unique when a layer gives several."""
    names = [t._keras_history[0].name for t in outputs]
    return [f"{n}_{t._keras_history[2]}" if names.count(n) > 1 and t._keras_history[2] else n
            for n, t in zip(names, outputs)]


def _graph(inputs, nodes, outputs):
    ids = {id(t): i for i, t in enumerate(inputs)}
    steps = []
    for node in nodes:
        for t in node.outputs:
            ids[id(t)] = len(ids)
        steps.append(Step(node.layer, tuple(ids[id(t)] for t in node.inputs), node.listed,
                          tuple(ids[id(t)] for t in node.states), tuple(ids[id(t)] for t in node.outputs),
                          node.multi_output))
    return Graph(range(len(inputs)), steps, [ids[id(t)] for t in outputs])


def _kept_nodes(model):
    """{id(node): its index among its layer's nodes in this model} (Keras' config numbering)."""
    kept, counts = {}, {}
    for t in model.inputs:
        kept[id(t.node)] = 0
    for node in model._nodes:
        kept[id(node)] = counts.get(id(node.layer), 0)
        counts[id(node.layer)] = kept[id(node)] + 1
    return kept


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from to_json()'s text: a Sequential or a functional Model.

    Example:
        >>> twin = model_from_json(model.to_json()); twin.set_weights(model.get_weights())
    """
    from .sequential import Sequential
    try:
        spec = json.loads(json_string)
    except (TypeError, ValueError) as err:
        raise ValueError(f"model_from_json: argument 'json_string' is not JSON ({err})") from None
    kinds = {"Sequential": Sequential, "Functional": Model, "Model": Model}
    if not isinstance(spec, dict) or spec.get("class_name") not in kinds or not isinstance(spec.get("config"), dict):
        raise ValueError("model_from_json: expected {\"class_name\": \"Sequential\" or \"Functional\", \"config\": "
                         "{...}} as model.to_json() writes")
    return kinds[spec["class_name"]].from_config(spec["config"], custom_objects)

