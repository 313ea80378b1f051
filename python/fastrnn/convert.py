"""Recurrent weights between Keras' layout (fastrnn's layers and ops) and PyTorch's (nn.LSTM,
nn.GRU, nn.RNN).

Keras: kernel (D, G*H), recurrent_kernel (H, G*H), one bias (G*H,), or for a GRU with reset_after
two, (2, 3H). PyTorch: weight_ih (G*H, D), weight_hh (G*H, H), biases bias_ih and bias_hh (added
for LSTM and RNN; a GRU's bias_hh sits inside its reset gate). NumPy arrays in and out (torch
tensors are accepted as input); torch is never imported here. Cells: "lstm", "gru", "simple_rnn".
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

__all__ = ["keras_to_torch", "torch_to_keras", "torch_names"]


class _Layout(NamedTuple):
    """How one cell's gate blocks line up: `gates` blocks of H rows (torch) / columns (Keras),
    `torch_order[k]` the Keras block that PyTorch's block k holds, and whether Keras keeps the two
    biases apart (rows of a (2, G*H) bias: input, recurrent) instead of their sum."""

    gates: int
    torch_order: tuple
    two_biases: bool


# PyTorch's LSTM gates i, f, g, o are Keras' i, f, c, o: same order. GRU: Keras z, r, h, PyTorch
# r, z, n; its recurrent bias is multiplied by the reset gate, so the two biases stay apart
# (Keras' reset_after=True, PyTorch's only GRU).
_LAYOUTS = {"lstm": _Layout(4, (0, 1, 2, 3), False), "gru": _Layout(3, (1, 0, 2), True),
            "simple_rnn": _Layout(1, (0,), False)}
_ALIASES = {"lstm": "lstm", "gru": "gru", "simple_rnn": "simple_rnn", "simplernn": "simple_rnn", "rnn": "simple_rnn"}


def _layout(cell) -> tuple:
    key = _ALIASES.get(str(cell).lower()) if isinstance(cell, str) else None
    if key is None:
        raise ValueError(f"argument 'cell' must be one of {', '.join(map(repr, _ALIASES))}, got {cell!r}")
    return key, _LAYOUTS[key]


def torch_names(layer=0, reverse=False, bias=True) -> list:
    """PyTorch's parameter names for one layer and direction, in nn.LSTM's order.

    Example:
        >>> torch_names(1, reverse=True)
        ['weight_ih_l1_reverse', 'weight_hh_l1_reverse', 'bias_ih_l1_reverse', 'bias_hh_l1_reverse']
    """
    if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool) or layer < 0:
        raise ValueError(f"argument 'layer' must be an int >= 0, got {layer!r}")
    suffix = f"_l{int(layer)}" + ("_reverse" if reverse else "")
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    return [name + suffix for name in names]


def _to_numpy(name, value) -> np.ndarray:
    """A NumPy array from an array or a (CPU or GPU) torch tensor, without importing torch."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind != "f":
        raise TypeError(f"argument {name!r} must hold floating-point numbers, got dtype {array.dtype}")
    return array


def _reorder(array, order, axis):
    """The gate blocks of `array` along `axis` taken in `order` (a copy)."""
    blocks = np.split(array, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def _inverse(order) -> tuple:
    return tuple(int(k) for k in np.argsort(order))


def keras_to_torch(cell, weights, *, layer=0, reverse=False) -> dict:
    """PyTorch's state_dict entries (NumPy arrays) for one layer of Keras-layout weights.

    LSTM, SimpleRNN: Keras' single bias goes to bias_ih; bias_hh is zeros (PyTorch adds the two).
    GRU: the rows of Keras' (2, 3H) bias go to bias_ih and bias_hh, gates reordered z, r, h ->
    r, z, n. Only a reset_after=True GRU (Keras 3's default) computes what nn.GRU computes: a
    (3H,) bias (reset_after=False) is an error; without a bias the layer must be reset_after=True too.

    Args:
        cell: "lstm", "gru" or "simple_rnn" (also "rnn").
        weights: [kernel (D, G*H), recurrent_kernel (H, G*H), bias (G*H,) or for a GRU (2, 3H)],
            or without the bias for a layer with use_bias=False (G = 4 for LSTM, 3 for GRU, 1 for
            SimpleRNN), e.g. get_weights().
        layer, reverse: which of a stacked / bidirectional module's layers the names are for.

    Returns:
        {"weight_ih_l0": (G*H, D), "weight_hh_l0": (G*H, H), "bias_ih_l0": (G*H,), "bias_hh_l0": (G*H,)}
        (names per torch_names), C-contiguous copies in the weights' dtype.

    Example:
        >>> state = keras_to_torch("lstm", fastrnn_lstm_layer.get_weights())
        >>> torch_lstm.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    """
    name, layout = _layout(cell)
    weights = list(weights)
    if len(weights) not in (2, 3):
        raise ValueError(f"argument 'weights' must be [kernel, recurrent_kernel] or [kernel, recurrent_kernel, "
                         f"bias], got {len(weights)} arrays")
    kernel, recurrent = _to_numpy("kernel", weights[0]), _to_numpy("recurrent_kernel", weights[1])
    width = recurrent.shape[-1] if recurrent.ndim == 2 else -1
    units = recurrent.shape[0] if recurrent.ndim == 2 else -1
    if recurrent.ndim != 2 or width != layout.gates * units:
        raise ValueError(f"argument 'recurrent_kernel' of a {name} must have shape (H, {layout.gates}*H), "
                         f"got {recurrent.shape}")
    if kernel.ndim != 2 or kernel.shape[1] != width:
        raise ValueError(f"argument 'kernel' must have shape (D, {width}) to match recurrent_kernel "
                         f"{recurrent.shape}, got {kernel.shape}")
    bias = _to_numpy("bias", weights[2]) if len(weights) == 3 else None
    bias_shape = (2, width) if layout.two_biases else (width,)
    if bias is not None and bias.shape != bias_shape:
        why = (" (input and recurrent bias, reset_after=True: a reset_after=False GRU has no PyTorch equivalent)"
               if layout.two_biases else "")
        raise ValueError(f"argument 'bias' must have shape {bias_shape}{why}, got {bias.shape}")
    arrays = [_reorder(kernel, layout.torch_order, 1).T, _reorder(recurrent, layout.torch_order, 1).T]
    if bias is not None and layout.two_biases:
        arrays += [_reorder(bias[0], layout.torch_order, 0), _reorder(bias[1], layout.torch_order, 0)]
    elif bias is not None:
        torch_bias = _reorder(bias, layout.torch_order, 0)
        arrays += [torch_bias, np.zeros_like(torch_bias)]
    names = torch_names(layer, reverse, bias is not None)
    return {key: np.ascontiguousarray(a) for key, a in zip(names, arrays)}


def torch_to_keras(cell, state_or_tensors, *, layer=0, reverse=False) -> list:
    """Keras-layout weights from one layer of PyTorch's parameters.

    LSTM, SimpleRNN: the two biases are summed into Keras' one (the same function of the inputs).
    GRU: they become the rows of a (2, 3H) bias, gates reordered r, z, n -> z, r, h, for a Keras
    GRU with reset_after=True (Keras 3's default) or ops.gru_forward.

    Args:
        cell: "lstm", "gru" or "simple_rnn" (also "rnn").
        state_or_tensors: a state_dict (a mapping with PyTorch's names; this picks `layer` and
            `reverse`'s entries), or the tensors (weight_ih, weight_hh[, bias_ih, bias_hh]) of one
            layer. Tensors or arrays; tensors are detached and copied to the CPU.
        layer, reverse: the layer and direction to take from a state_dict.

    Returns:
        [kernel (D, G*H), recurrent_kernel (H, G*H), bias (G*H,) or for a GRU (2, 3H)], or
        without the bias when the module has none; NumPy arrays, C-contiguous, ready for a
        layer's set_weights.

    Example:
        >>> fastrnn_lstm_layer.set_weights(torch_to_keras("lstm", torch_lstm.state_dict()))
    """
    name, layout = _layout(cell)
    if isinstance(state_or_tensors, Mapping):
        names = torch_names(layer, reverse, bias=torch_names(layer, reverse)[2] in state_or_tensors)
        missing = [key for key in names if key not in state_or_tensors]
        if missing:
            raise KeyError(f"argument 'state_or_tensors' has no {', '.join(missing)} "
                           f"(it has {', '.join(map(str, state_or_tensors))})")
        tensors = [state_or_tensors[key] for key in names]
    else:
        tensors, names = list(state_or_tensors), ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        if len(tensors) not in (2, 4):
            raise ValueError(f"argument 'state_or_tensors' must be a state_dict or (weight_ih, weight_hh"
                             f"[, bias_ih, bias_hh]), got {len(tensors)} tensors")
    arrays = [_to_numpy(key, t) for key, t in zip(names, tensors)]
    w_ih, w_hh = arrays[:2]
    units = w_hh.shape[1] if w_hh.ndim == 2 else -1
    width = layout.gates * units
    if w_hh.shape != (width, units):
        raise ValueError(f"{names[1]} of a {name} must have shape ({layout.gates}*H, H), got {w_hh.shape}")
    if w_ih.ndim != 2 or w_ih.shape[0] != width:
        raise ValueError(f"{names[0]} must have shape ({width}, D) to match {names[1]} {w_hh.shape}, "
                         f"got {w_ih.shape}")
    for key, b in zip(names[2:], arrays[2:]):
        if b.shape != (width,):
            raise ValueError(f"{key} must have shape ({width},), got {b.shape}")
    back = _inverse(layout.torch_order)
    keras = [_reorder(w_ih.T, back, 1), _reorder(w_hh.T, back, 1)]
    if len(arrays) == 4 and layout.two_biases:
        keras.append(np.stack([_reorder(arrays[2], back, 0), _reorder(arrays[3], back, 0)]))
    elif len(arrays) == 4:
        keras.append(_reorder(arrays[2] + arrays[3], back, 0))
    return [np.ascontiguousarray(a) for a in keras]
