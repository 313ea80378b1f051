"""fastrnn.torch.LSTM, GRU and RNN: torch.nn.RNNBase modules (so the same parameters, names, shapes,
initialization and state_dict as nn.LSTM / nn.GRU / nn.RNN) whose forward runs fastrnn's kernels.

Stacking, directions, PackedSequence and inter-layer dropout are done here as nn.LSTM does them;
each layer-direction is one kernel call (_autograd.run). CPU tensors, float32 and float64 only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from . import _autograd

_DTYPES = (torch.float32, torch.float64)


def _check_kwargs(name, proj_size, device):
    if proj_size:
        raise ValueError(f"{name}: argument 'proj_size' must be 0 (fastrnn's kernels have no projection), "
                         f"got {proj_size!r}")
    if device is not None and torch.device(device).type != "cpu":
        raise ValueError(f"{name}: argument 'device' must be the CPU, got {device!r} (fastrnn.torch runs on "
                         "CPU tensors; fastrnn's 'cuda' backend is not wired to it)")


def _pack_like(padded, lengths, like):
    """`padded` (T, B, F), batch in original order, packed with `like`'s batch_sizes and ordering."""
    if like.sorted_indices is not None:
        padded, lengths = padded.index_select(1, like.sorted_indices), lengths[like.sorted_indices]
    data = pack_padded_sequence(padded, lengths, enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class _Recurrent(torch.nn.RNNBase):
    """forward() shared by LSTM, GRU and RNN; subclasses set _cell (the kernel) and _states (1 or 2)."""

    _cell, _states = "", 1

    @property
    def _activation(self):
        return "relu" if self.mode == "RNN_RELU" else "tanh"

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            like = input
            x, lengths = pad_packed_sequence(input)  # (T, B, D) in the caller's batch order
            time_major, batched = True, True
        elif isinstance(input, torch.Tensor):
            x, time_major, batched = input, not self.batch_first, input.dim() == 3
            if input.dim() == 2:  # one unbatched sequence (T, D), as nn.LSTM takes
                x = input.unsqueeze(1 if time_major else 0)
            elif input.dim() != 3:
                raise ValueError(f"{self._name()}: argument 'input' must be 3-D {self._layout_name()} or 2-D "
                                 f"(T, {self.input_size}), got shape {tuple(input.shape)}")
        else:
            raise TypeError(f"{self._name()}: argument 'input' must be a torch.Tensor or a PackedSequence, "
                            f"got {type(input).__name__}")
        self._check_tensor("input", x)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: argument 'input' must have {self.input_size} features (last axis), "
                             f"got shape {tuple(input.shape if not packed else x.shape)}")
        batch = x.shape[1 if time_major else 0]
        states = self._initial_states(hx, batch, batched)
        directions = 2 if self.bidirectional else 1
        finals = [[] for _ in range(self._states)]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                call = _autograd.Call(self._cell, self._activation, None if lengths is None else lengths.numpy(),
                                      direction == 1, time_major)
                weights = [getattr(self, name) for name in self._all_weights[k]]
                w_ih, w_hh, b_ih, b_hh = weights if self.bias else weights + [None, None]
                h0, c0 = [None if s is None else s[k] for s in states] + [None] * (2 - len(states))
                out, h, c = _autograd.run(call, layer_input, w_ih, w_hh, b_ih, b_hh, h0, c0)
                outputs.append(out)
                finals[0].append(h)
                if self._states == 2:
                    finals[1].append(c)
            layer_input = outputs[0] if directions == 1 else torch.cat(outputs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = self._dropout(layer_input, lengths, like if packed else None, time_major)
        finals = [torch.stack(f) for f in finals]
        if packed:
            output = _pack_like(layer_input, lengths, like)
        elif batched:
            output = layer_input
        else:
            output = layer_input.squeeze(1 if time_major else 0)
            finals = [f.squeeze(1) for f in finals]
        return output, (finals[0] if self._states == 1 else tuple(finals))

    def _dropout(self, y, lengths, like, time_major):
        """nn.LSTM's inter-layer dropout, with its masks: drawn over the time-major output, or
        over the packed data for a PackedSequence (so one seed gives PyTorch's masks)."""
        if like is not None:
            data = F.dropout(_pack_like(y, lengths, like).data, self.dropout, True)
            repacked = PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)
            return pad_packed_sequence(repacked, total_length=y.shape[0])[0]
        if time_major:
            return F.dropout(y, self.dropout, True)
        # contiguous time-major, as nn.LSTM's layers hand it on, so the mask is drawn in its order
        return F.dropout(y.transpose(0, 1).contiguous(), self.dropout, True).transpose(0, 1)

    def _initial_states(self, hx, batch, batched):
        """hx as a list of (L*dirs, B, H) tensors, one per state, or [None] * states."""
        if hx is None:
            return [None] * self._states
        if self._states == 2:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{self._name()}: argument 'hx' must be a tuple (h_0, c_0), got {type(hx).__name__}")
            names, hx = ("h_0", "c_0"), list(hx)
        else:
            if not isinstance(hx, torch.Tensor):
                raise TypeError(f"{self._name()}: argument 'hx' must be a tensor h_0, got {type(hx).__name__}")
            names, hx = ("h_0",), [hx]
        layers = self.num_layers * (2 if self.bidirectional else 1)
        expected = (layers, batch, self.hidden_size) if batched else (layers, self.hidden_size)
        for name, state in zip(names, hx):
            if not isinstance(state, torch.Tensor) or tuple(state.shape) != expected:
                shape = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
                raise ValueError(f"{self._name()}: {name} in argument 'hx' must have shape {expected} "
                                 f"(num_layers * num_directions, batch, hidden_size), got {shape}")
            self._check_tensor(name, state)
        return hx if batched else [s.unsqueeze(1) for s in hx]

    def _check_tensor(self, name, t):
        """Tensors must be on the CPU and of the parameters' dtype (float32 or float64)."""
        weight = self.weight_ih_l0
        for what, tensor in ((name, t), ("the parameters", weight)):
            if tensor.device.type != "cpu":
                raise ValueError(f"{self._name()}: {what} must be on the CPU, got a tensor on {tensor.device} "
                                 "(fastrnn.torch runs on CPU tensors; fastrnn's 'cuda' backend is not wired to it)")
        if weight.dtype not in _DTYPES:
            raise TypeError(f"{self._name()}: the parameters must be float32 or float64, got {weight.dtype}")
        if t.dtype != weight.dtype:
            raise TypeError(f"{self._name()}: {name} must have the parameters' dtype {weight.dtype}, got {t.dtype}")

    def _name(self):
        return f"fastrnn.torch.{type(self).__name__}"

    def _layout_name(self):
        return f"(B, T, {self.input_size})" if self.batch_first else f"(T, B, {self.input_size})"


class LSTM(_Recurrent):
    """torch.nn.LSTM run by fastrnn's kernels: the same arguments, parameters and results.

    A trained nn.LSTM's state_dict loads unchanged (and the other way round); with the same seed
    the initial weights and the inter-layer dropout masks are nn.LSTM's too.

    Args:
        input_size, hidden_size: D and H. num_layers: stacked layers (default 1).
        bias: use bias_ih and bias_hh (default True). batch_first: input and output (B, T, F)
            instead of (T, B, F). dropout: probability of dropping each output of every layer but
            the last, in training mode. bidirectional: a reverse direction too (outputs 2*H wide).
        proj_size: must be 0. device: the CPU or None. dtype: torch.float32 (default) or float64.

    Forward(input, hx=None):
        input: (T, B, D), (B, T, D) with batch_first, (T, D) unbatched, or a PackedSequence.
        hx: (h_0, c_0), each (num_layers * num_directions, B, H); None for zeros.
        Returns output (same kind and layout as input, H * num_directions features) and (h_n, c_n).

    Example:
        >>> lstm = fastrnn.torch.LSTM(16, 32, num_layers=2, batch_first=True)
        >>> lstm.load_state_dict(trained_nn_lstm.state_dict())
        >>> output, (h_n, c_n) = lstm(torch.randn(8, 50, 16))
    """

    _cell, _states = "lstm", 2

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        _check_kwargs("fastrnn.torch.LSTM", proj_size, device)
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)


class RNN(_Recurrent):
    """torch.nn.RNN (Elman, tanh or relu) run by fastrnn's kernels: same arguments and results.

    Args:
        input_size, hidden_size, num_layers: as LSTM. nonlinearity: "tanh" (default) or "relu".
        bias, batch_first, dropout, bidirectional, device, dtype: as LSTM.

    Forward(input, hx=None): input as LSTM's; hx: h_0 (num_layers * num_directions, B, H) or
    None. Returns output and h_n.

    Example:
        >>> rnn = fastrnn.torch.RNN(16, 32, nonlinearity="relu")
        >>> output, h_n = rnn(torch.randn(50, 8, 16))
    """

    _cell, _states = "simple_rnn", 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(f"fastrnn.torch.RNN: argument 'nonlinearity' must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        _check_kwargs("fastrnn.torch.RNN", 0, device)
        super().__init__(modes[nonlinearity], input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity


class GRU(_Recurrent):
    """torch.nn.GRU run by fastrnn's kernels: the same arguments, parameters and results.

    PyTorch's GRU is Keras' GRU with reset_after=True (the reset gate applied after the recurrent
    product, two biases); a trained nn.GRU's state_dict loads unchanged.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
            dtype: as LSTM.

    Forward(input, hx=None): input as LSTM's; hx: h_0 (num_layers * num_directions, B, H) or
    None. Returns output and h_n.

    Example:
        >>> gru = fastrnn.torch.GRU(16, 32, batch_first=True, bidirectional=True)
        >>> gru.load_state_dict(trained_nn_gru.state_dict())
        >>> output, h_n = gru(torch.randn(8, 50, 16))
    """

    _cell, _states = "gru", 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        _check_kwargs("fastrnn.torch.GRU", 0, device)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)
