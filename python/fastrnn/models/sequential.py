"""Sequential: a stack of layers, run as a Model whose graph is a line, with the same training
engine as the functional API (compile / fit / evaluate / predict / *_on_batch, masks honoured by
losses and metrics).

It is built once its input shape is known: an Input or InputLayer added first, a first layer's
input_shape, build(input_shape), or the first data it sees. Not for layers with several inputs
or outputs (return_state): use the functional Model.
"""
from __future__ import annotations

from ..layers import Layer, deserialize, serialize
from ..layers.base import unique_name
from ..layers.input_layer import InputLayer, KerasTensor
from .functional import Model
from .graph import Graph, Step


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers (same as calling add() on each); it may start with
            fastrnn.Input(shape=...) or an InputLayer.
        name: default 'sequential', 'sequential_1', ...

    Example:
        >>> model = Sequential([Embedding(10000, 32), LSTM(32), Dense(1, activation="sigmoid")])
        >>> model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
        >>> history = model.fit(x, y, epochs=10, batch_size=128, validation_split=0.2)
    """

    _is_sequential = True

    def __init__(self, layers=None, name=None):
        self.name = name or unique_name("sequential")
        self._layers, self._input_layer = [], None
        self.built, self._graph, self._input_shapes, self._output_shapes = False, None, None, None
        self._input_dict = self._output_dict = self._output_list = False
        for layer in layers or []:
            self.add(layer)

    # building
    def add(self, layer) -> None:
        """Append a layer; the model is built as soon as the input shape is known.

        Example:
            >>> model = Sequential(); model.add(Input(shape=(None, 3))); model.add(LSTM(8))
        """
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
            if not isinstance(layer, InputLayer):
                raise TypeError("Sequential.add takes layers, or a tensor from fastrnn.Input; got the output of "
                                f"layer {layer.name!r} (use the functional Model for graphs)")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"model {self.name!r}: an Input or InputLayer can only come first")
            self._input_layer = layer
            self.build(layer.batch_input_shape)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a fastrnn layer, got {layer!r}")
        if getattr(layer, "return_state", False):
            raise ValueError(f"layer {layer.name!r} has return_state=True, which a Sequential model cannot pass on")
        self._layers.append(layer)
        if self.built:
            self.build(self._input_shapes[0])
        elif len(self._layers) == 1 and layer.batch_input_shape is not None:
            self.build(layer.batch_input_shape)

    def pop(self):
        """Remove and return the last layer.

        Example:
            >>> head = model.pop(); model.add(Dense(3, activation="softmax"))
        """
        if not self._layers:
            raise TypeError(f"model {self.name!r} has no layers to pop")
        layer = self._layers.pop()
        if self.built:
            self.build(self._input_shapes[0])
        return layer

    def build(self, input_shape) -> None:
        """Create every layer's weights for inputs of `input_shape` (batch axis first, may be None)."""
        shape = tuple(input_shape)
        self._input_shapes = [shape]
        for layer in self._layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._output_shapes = [shape]
        steps = [Step(layer, (i,), False, (), (i + 1,), False) for i, layer in enumerate(self._layers)]
        self._graph = Graph([0], steps, [len(steps)])
        self.built = True

    def _ensure_built(self, xs):
        if not self._layers:
            raise RuntimeError(f"model {self.name!r} has no layers")
        if not self.built:
            self.build((None,) + xs[0].shape[1:])

    @property
    def input_names(self) -> list:
        if self._input_layer is not None:
            return [self._input_layer.name]
        return [f"{self._layers[0].name}_input" if self._layers else "input"]

    @property
    def output_names(self) -> list:
        return [self._layers[-1].name if self._layers else "output"]

    @property
    def _output_dtypes(self) -> list:
        return [self._layers[-1].dtype if self._layers else "float32"]

    @property
    def input_shape(self):
        return None if self._input_shapes is None else self._input_shapes[0]

    @property
    def output_shape(self):
        return None if self._output_shapes is None else self._output_shapes[0]

    def _summary_rows(self):
        shape, rows = self.input_shape, []
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
            rows.append((layer, str(shape), None))
        return rows

    # config
    def get_config(self) -> dict:
        """{"name", "layers": [{"class_name", "config"}, ...], "input_shape"}; from_config rebuilds it."""
        return {"name": self.name, "layers": [serialize(layer) for layer in self._layers],
                "input_shape": None if self.input_shape is None else list(self.input_shape)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model (fresh weights) from get_config()'s dict."""
        model = cls([deserialize(spec, custom_objects) for spec in config["layers"]], name=config.get("name"))
        if config.get("input_shape") is not None and not model.built:
            model.build(config["input_shape"])
        return model
