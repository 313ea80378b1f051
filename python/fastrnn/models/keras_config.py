"""Translation between fastrnn's layers and Keras 3's serialized ones (config.json of a .keras
file): one table entry per layer class (LAYERS), and the h5 groups each layer's weights live in.
keras_compile.py translates compile settings; keras_format.py does the file I/O.

Not a Keras importer: nothing here imports keras; a layer or setting one side cannot express is
a ValueError naming the layer and the setting.
"""
from __future__ import annotations

import re
from typing import Callable, NamedTuple

ANY = object()  # in LAYERS' fastrnn_only: any value is fine (it goes elsewhere, e.g. to the input shape)
_COMMON = ("name", "trainable", "dtype")
_DTYPES = ("float32", "float64")
# every initializer fastrnn has, as Keras 3 serializes it (seed aside, the config must match exactly)
INITIALIZERS = {
    "glorot_uniform": ("GlorotUniform", {"seed": None, "input_axes": None, "output_axes": None}),
    "glorot_normal": ("GlorotNormal", {"seed": None, "input_axes": None, "output_axes": None}),
    "he_uniform": ("HeUniform", {"seed": None, "input_axes": None, "output_axes": None}),
    "orthogonal": ("Orthogonal", {"seed": None, "gain": 1.0}),
    "zeros": ("Zeros", {}), "ones": ("Ones", {}),
    "uniform": ("RandomUniform", {"seed": None, "minval": -0.05, "maxval": 0.05}),
}
_INITIALIZER_NAMES = {cls: name for name, (cls, _) in INITIALIZERS.items()}


def keras_snake_case(name: str) -> str:
    """Keras' naming.to_snake_case ('SimpleRNN' -> 'simple_rnn', 'Conv1D' -> 'conv1d'): the h5 group names."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def policy(dtype: str) -> dict:
    """Keras 3's serialized DTypePolicy."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


# weight groups: (path under the layer's group, the "name" attribute Keras gives it, weight arrays)
def _own(layer):
    return [("vars", layer.name, layer.weights)]


def _cell(layer):
    """An RNN layer keeps its weights in its cell, named e.g. 'lstm_cell'."""
    return [("vars", layer.name, []), ("cell/vars", keras_snake_case(type(layer).__name__) + "_cell", layer.weights)]


def _wrapped(layer):
    groups = [("vars", layer.name, [])]
    for attr in ("forward_layer", "backward_layer"):
        inner = getattr(layer, attr)
        groups += [(f"{attr}/{path}", name, arrays) for path, name, arrays in _entry(inner).groups(inner)]
    return groups


def _bidirectional_save(layer, input_shape):
    return {"layer": to_keras_layer(layer.forward_layer, input_shape),
            "backward_layer": to_keras_layer(layer.backward_layer, input_shape)}


def _bidirectional_load(config, out, where):
    """fastrnn's Bidirectional holds the unwrapped layer; Keras' backward_layer must be its mirror."""
    forward = from_keras_layer(_expect(config.get("layer"), dict, f"{where}.layer"), f"{where}.layer")
    inner = forward["config"]
    if inner["name"].startswith("forward_"):
        inner["name"] = inner["name"][len("forward_"):]  # Keras prefixes it again when wrapping
    backward = config.get("backward_layer")
    if backward is None:  # Keras mirrors the forward layer itself
        out["layer"] = forward
        return out
    backward = from_keras_layer(_expect(backward, dict, f"{where}.backward_layer"), f"{where}.backward_layer")
    mirror = {**inner, "go_backwards": not inner.get("go_backwards", False)}
    ignore = ("name", "zero_output_for_mask")  # both set by the wrapper itself
    if backward["class_name"] != forward["class_name"] or set(backward["config"]) != set(mirror) or any(
            mirror[k] != v for k, v in backward["config"].items() if k not in ignore):
        raise ValueError(f"{where}: its backward_layer is not the forward layer run backwards, which fastrnn's "
                         "Bidirectional cannot express")
    out["layer"] = forward
    return out


class KerasLayer(NamedTuple):
    """How one fastrnn layer class maps to the Keras 3 class of the same name.

    keys: Keras' config keys after name/trainable/dtype, in Keras' order; fastrnn's config has the
        same key unless it is in keras_only or free.
    keras_only: Keras-only keys and the value fastrnn behaves as (written on save; on load any
        other value is refused).
    free: Keras-only keys that do not change results (seed, unroll): written on save, ignored on load.
    fastrnn_only: fastrnn-only keys and the value Keras behaves as (ANY: handled elsewhere); other
        values are refused on save.
    build_config: whether Keras writes a build_config for the layer.
    groups: layer -> [(h5 path under layers/<name>/, name attribute, weight arrays)], arrays
        concatenated in the layer's weights order.
    nested: keys holding sublayers, converted by save(layer, input_shape) -> {key: config} and
        load(keras_config, fastrnn_config, where) -> fastrnn_config.
    """

    keys: tuple
    keras_only: dict = {}
    free: dict = {}
    fastrnn_only: dict = {}
    build_config: bool = True
    groups: Callable = _own
    nested: tuple = ()
    save: Callable = None
    load: Callable = None


_NO_REGULARIZERS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
                    "kernel_constraint", "recurrent_constraint", "bias_constraint")


def _recurrent(extra_after_activation=(), extra_after_bias=(), tail=()):
    keys = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask", "units",
            "activation", *extra_after_activation, "use_bias", "kernel_initializer", "recurrent_initializer",
            "bias_initializer", *extra_after_bias, *_NO_REGULARIZERS, "dropout", "recurrent_dropout", *tail)
    free = {"unroll": False, **({"seed": None} if "seed" in tail else {})}
    return KerasLayer(keys, keras_only=dict.fromkeys(_NO_REGULARIZERS), free=free, groups=_cell)


LAYERS = {
    "Dense": KerasLayer(("units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
                         "kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint",
                         "quantization_config"),
                        keras_only=dict.fromkeys(("kernel_regularizer", "bias_regularizer", "kernel_constraint",
                                                  "bias_constraint", "quantization_config"))),
    "Embedding": KerasLayer(("input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                             "activity_regularizer", "embeddings_constraint", "mask_zero", "quantization_config"),
                            keras_only=dict.fromkeys(("embeddings_regularizer", "activity_regularizer",
                                                      "embeddings_constraint", "quantization_config")),
                            fastrnn_only={"input_length": ANY}),
    "SimpleRNN": _recurrent(),
    "LSTM": _recurrent(("recurrent_activation",), ("unit_forget_bias",), ("seed",)),
    "GRU": _recurrent(("recurrent_activation",), (), ("reset_after", "seed")),
    "Dropout": KerasLayer(("rate", "seed", "noise_shape"), free={"seed": None}, build_config=False),
    "Flatten": KerasLayer(("data_format",), keras_only={"data_format": "channels_last"}),
    "Masking": KerasLayer(("mask_value",), build_config=False),
    "Bidirectional": KerasLayer(("merge_mode", "layer", "backward_layer"), groups=_wrapped,
                                nested=("layer", "backward_layer"), save=_bidirectional_save, load=_bidirectional_load),
}


def _entry(layer):
    cls = type(layer).__name__
    if cls not in LAYERS:
        raise ValueError(f"layer {layer.name!r}: fastrnn's {cls} has no Keras file mapping (add it to "
                         "fastrnn.models.keras_config.LAYERS)")
    return LAYERS[cls]


def _expect(value, types, where):
    """`value` if it is of `types` (bool is no int here), else a ValueError naming the field."""
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ValueError(f"config.json: field {where} must be {' or '.join(t.__name__ for t in types)}, "
                         f"got {type(value).__name__}: {value!r:.80}")
    return value


def _initializer_to_keras(value, where):
    name = "uniform" if value == "random_uniform" else value
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(f"{where}: initializer {value!r} cannot be expressed in a Keras file")
    cls, config = INITIALIZERS[name]
    return {"module": "keras.initializers", "class_name": cls, "config": dict(config), "registered_name": None}


def _initializer_from_keras(value, where):
    if isinstance(value, str) and value in INITIALIZERS:
        return value
    if isinstance(value, dict) and value.get("class_name") in _INITIALIZER_NAMES:
        name = _INITIALIZER_NAMES[value["class_name"]]
        config = _expect(value.get("config", {}), dict, f"{where}.config")
        if all(config.get(k, v) == v for k, v in INITIALIZERS[name][1].items() if k != "seed"):
            return name
    raise ValueError(f"{where}: Keras initializer {value!r:.120} has no fastrnn equivalent")


def to_keras_layer(layer, input_shape) -> dict:
    """Keras 3's serialized form of a built fastrnn layer whose input has shape `input_shape`."""
    entry, cls = _entry(layer), type(layer).__name__
    config = layer.get_config()
    for key, value in config.items():
        if key in _COMMON or key in entry.keys or key == "batch_input_shape":  # the input shape goes to InputLayer
            continue
        expected = entry.fastrnn_only.get(key, object())
        if expected is not ANY and value != expected:
            raise ValueError(f"layer {layer.name!r}: {cls}'s setting {key}={value!r} cannot be expressed in a "
                             "Keras file")
    if config.get("stateful") and input_shape[0] is None:
        raise ValueError(f"layer {layer.name!r} is stateful, which Keras needs a fixed batch size for: build the "
                         "model with batch_input_shape=(batch, ...)")
    out = {"name": config["name"], "trainable": config["trainable"], "dtype": policy(config["dtype"])}
    nested = entry.save(layer, input_shape) if entry.nested else {}
    for key in entry.keys:
        if key in entry.keras_only:
            out[key] = entry.keras_only[key]
        elif key in entry.free:
            out[key] = entry.free[key]
        elif key in nested:
            out[key] = nested[key]
        elif key not in config:
            raise ValueError(f"layer {layer.name!r}: {cls}.get_config() lacks {key!r}, which Keras' {cls} needs")
        elif key.endswith("_initializer"):
            out[key] = _initializer_to_keras(config[key], f"layer {layer.name!r}: {key}")
        else:
            out[key] = list(config[key]) if isinstance(config[key], tuple) else config[key]
    spec = {"module": "keras.layers", "class_name": cls, "config": out, "registered_name": None}
    if entry.build_config:
        spec["build_config"] = {"input_shape": list(input_shape)}
    return spec


def dtype_from_keras(value, where) -> str:
    """'float32' or 'float64' from a Keras dtype: a name or a (Float)DTypePolicy."""
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        value = _expect(value.get("config"), dict, f"{where}.config").get("name")
    if value not in _DTYPES:
        raise ValueError(f"{where}: dtype {value!r:.80} is not supported (fastrnn computes in float32 or float64)")
    return value


def from_keras_layer(spec, where) -> dict:
    """fastrnn's {"class_name", "config"} for one serialized Keras layer."""
    cls = _expect(spec.get("class_name"), str, f"{where}.class_name")
    config = _expect(spec.get("config"), dict, f"{where}.config")
    name = config.get("name")
    module = spec.get("module")
    if cls not in LAYERS or not (module is None or (isinstance(module, str) and module.startswith("keras"))):
        raise ValueError(f"{where}: Keras layer class {cls!r} (module {module!r}, layer {name!r}) has no fastrnn "
                         f"equivalent; fastrnn reads {', '.join(LAYERS)}")
    entry = LAYERS[cls]
    out = {"name": _expect(name, str, f"{where}.config.name"),
           "trainable": _expect(config.get("trainable", True), bool, f"{where}.config.trainable"),
           "dtype": dtype_from_keras(config.get("dtype", "float32"), f"{where}.config.dtype")}
    for key, value in config.items():
        if key in _COMMON or key in entry.free or key in entry.nested:
            continue
        if key in entry.keras_only:
            if value != entry.keras_only[key]:
                raise ValueError(f"layer {name!r}: Keras setting {key}={value!r:.80} has no fastrnn equivalent")
        elif key in entry.keys:
            initializer = key.endswith("_initializer")
            out[key] = _initializer_from_keras(value, f"layer {name!r}: {key}") if initializer else value
        elif value is not None and value is not False:  # another Keras version's setting, left off: no change
            raise ValueError(f"layer {name!r}: Keras setting {key}={value!r:.80} of {cls} has no fastrnn equivalent")
    return {"class_name": cls, "config": entry.load(config, out, where) if entry.load else out}


def model_to_keras(model) -> dict:
    """Keras 3's serialized Sequential (compile_config aside) for a built fastrnn model."""
    if not model.built or model.input_shape is None:
        raise ValueError(f"model {model.name!r} has no weights yet: build or fit it before saving")
    shape = list(model.input_shape)
    layers = [{"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": shape, "dtype": model.layers[0].dtype if model.layers else "float32",
                          "sparse": False, "ragged": False, "name": "input_layer", "optional": False},
               "registered_name": None}]
    current = tuple(shape)
    for layer in model.layers:
        layers.append(to_keras_layer(layer, current))
        current = layer.compute_output_shape(current)
    config = {"name": model.name, "trainable": True, "dtype": policy("float32"), "layers": layers,
              "build_input_shape": shape}
    return {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None,
            "build_config": {"input_shape": shape}}


def model_from_keras(spec):
    """(name, [fastrnn layer specs], batch input shape or None) of a serialized Keras Sequential."""
    _expect(spec, dict, "(top level)")
    if spec.get("class_name") != "Sequential":
        raise ValueError(f"config.json describes a Keras {spec.get('class_name')!r:.60} model; fastrnn reads "
                         "Sequential models")
    config = _expect(spec.get("config"), dict, "config")
    shape, specs = None, []
    for i, layer in enumerate(_expect(config.get("layers"), list, "config.layers")):
        where = f"config.layers[{i}]"
        if _expect(layer, dict, where).get("class_name") == "InputLayer":
            if i:
                raise ValueError(f"config.json: {where} is an InputLayer after other layers")
            options = _expect(layer.get("config"), dict, f"{where}.config")
            shape = options.get("batch_shape", options.get("batch_input_shape"))
            continue
        specs.append(from_keras_layer(layer, where))
    if shape is None:
        shape = config.get("build_input_shape")
    if shape is None:
        shape = _expect(spec.get("build_config") or {}, dict, "build_config").get("input_shape")
    if shape is not None and not (isinstance(shape, list) and len(shape) >= 1 and all(
            d is None or (type(d) is int and d >= 0) for d in shape)):
        raise ValueError(f"config.json: the input shape {shape!r:.80} is not a list of ints >= 0 or nulls")
    return _expect(config.get("name", "sequential"), str, "config.name"), specs, shape


def model_groups(model):
    """Every h5 group Keras writes for the model's layers: (path, name attribute, weight arrays).

    A layer's group is named after its class, not the layer ('dense', 'dense_1', ...), as Keras
    names the members of its layers list."""
    groups, used = [("vars", model.name, [])], {}
    for layer in model.layers:
        key = keras_snake_case(type(layer).__name__)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        own = _entry(layer).groups(layer)
        if [id(a) for _, _, arrays in own for a in arrays] != [id(w) for w in layer.weights]:
            raise ValueError(f"layer {layer.name!r}: LAYERS[{type(layer).__name__!r}].groups does not list its "
                             "weights in order")
        groups += [(f"layers/{key}/{path}", name, arrays) for path, name, arrays in own]
    return groups
