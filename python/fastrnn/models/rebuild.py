"""A functional Model from its config: make every layer, then call each on the tensors its
inbound_nodes name, in whatever order the references allow. Reads Keras 3's node format
({"args": [...], "kwargs": {...}} with "__keras_tensor__" references, as get_config writes it)
and Keras 2's ([[layer name, node index, tensor index, kwargs], ...]).

Every reference is checked, so a bad config (e.g. from an untrusted file) is a ValueError
saying what is wrong. No weights here: the layers are new.
"""
from __future__ import annotations

from ..layers import deserialize
from ..layers.input_layer import InputLayer


def _history(value, where):
    """(layer name, node index, tensor index) of a reference, checked."""
    if not (isinstance(value, (list, tuple)) and len(value) >= 3 and isinstance(value[0], str)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value[1:3])):
        raise ValueError(f"{where}: a tensor reference must be [layer name, node index, tensor index], "
                         f"got {value!r:.100}")
    return value[0], value[1], value[2]


def _parse(value, where):
    """Node arguments with each "__keras_tensor__" replaced by its (name, node, tensor) reference."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        config = value.get("config")
        if not isinstance(config, dict):
            raise ValueError(f"{where}: a __keras_tensor__ needs a config")
        return ("ref",) + _history(config.get("keras_history"), where)
    if isinstance(value, list):
        return [_parse(v, where) for v in value]
    if isinstance(value, dict):
        return {k: _parse(v, where) for k, v in value.items()}
    return value


def _node_call(node, where):
    """(args, kwargs) of one inbound node, references parsed."""
    if isinstance(node, dict):  # Keras 3
        args, kwargs = node.get("args", []), node.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ValueError(f"{where}: an inbound node needs a list 'args' and a dict 'kwargs'")
        args, kwargs = _parse(args, where), _parse(kwargs, where)
    elif isinstance(node, list) and node:  # Keras 2: one entry per input tensor
        refs = [("ref",) + _history(entry, where) for entry in node]
        args = [refs[0] if len(refs) == 1 else refs]
        extra = node[0][3] if len(node[0]) > 3 else {}
        kwargs = _parse(extra, where) if isinstance(extra, dict) else {}
    else:
        raise ValueError(f"{where}: an inbound node must be an object (Keras 3) or a list (Keras 2), got {node!r:.80}")
    for key in ("training", "mask"):  # Keras records these call arguments; masks flow by themselves here
        if kwargs.get(key) in (None, False):
            kwargs.pop(key, None)
    return args, kwargs


def _refs(value):
    if isinstance(value, tuple) and value and value[0] == "ref":
        return [value[1:]]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def _resolve(value, made, where):
    if isinstance(value, tuple) and value and value[0] == "ref":
        _, name, node, index = value
        outputs = made[(name, node)]
        if index >= len(outputs):
            raise ValueError(f"{where}: layer {name!r} node {node} has {len(outputs)} output(s), no tensor {index}")
        return outputs[index]
    if isinstance(value, list):
        return [_resolve(v, made, where) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, made, where) for k, v in value.items()}
    return value


def _endpoints(spec, made, field):
    """input_layers / output_layers: one reference, a list of them, or a dict by name."""
    if isinstance(spec, dict):
        return {k: _endpoints(v, made, field) for k, v in spec.items()}
    if isinstance(spec, list) and spec and isinstance(spec[0], list):
        return [_endpoints(v, made, field) for v in spec]
    name, node, index = _history(spec, field)
    if (name, node) not in made:
        raise ValueError(f"{field}: no layer {name!r} with a node {node} in the config")
    return _resolve(("ref", name, node, index), made, field)


def functional_from_config(cls, config, custom_objects=None):
    """cls(inputs, outputs, name) rebuilt from a functional config (see module docstring)."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a functional model config must be an object with a list 'layers'")
    layers, made, pending = {}, {}, []
    for i, spec in enumerate(config["layers"]):
        if not isinstance(spec, dict):
            raise ValueError(f"layers[{i}] must be an object, got {spec!r:.80}")
        layer = deserialize(spec, custom_objects)
        name = spec.get("name", layer.name)
        if not isinstance(name, str) or name in layers:
            raise ValueError(f"layers[{i}]: the name {name!r} is not a new str")
        layers[name] = layer
        if isinstance(layer, InputLayer):
            made[(name, 0)] = [layer.output]
            continue
        nodes = spec.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise ValueError(f"layers[{i}] ({name!r}): 'inbound_nodes' must be a list")
        for k, node in enumerate(nodes):
            where = f"layer {name!r}, inbound node {k}"
            pending.append((name, k, _node_call(node, where), where))
    while pending:
        waiting = []
        for name, k, (args, kwargs), where in pending:
            if all((r[0], r[1]) in made for r in _refs([args, kwargs])):
                out = layers[name](*_resolve(args, made, where), **_resolve(kwargs, made, where))
                made[(name, k)] = out if isinstance(out, list) else [out]
            else:
                waiting.append((name, k, (args, kwargs), where))
        if len(waiting) == len(pending):
            missing = sorted({r[:2] for _, _, call, _ in waiting for r in _refs(list(call)) if r[:2] not in made})
            raise ValueError(f"the inbound_nodes refer to layer calls the config never makes: {missing[:5]}")
        pending = waiting
    inputs = _endpoints(config.get("input_layers"), made, "input_layers")
    outputs = _endpoints(config.get("output_layers"), made, "output_layers")
    name = config.get("name")
    return cls(inputs, outputs, name=name if isinstance(name, str) else None)
