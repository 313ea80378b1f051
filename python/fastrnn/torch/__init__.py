"""fastrnn for PyTorch: `fastrnn.torch.LSTM`, `.GRU` and `.RNN`, drop-in torch.nn modules with
nn.LSTM's / nn.GRU's / nn.RNN's arguments, parameters (state_dicts load unchanged) and results,
whose forward and backward run fastrnn's kernels through a torch.autograd.Function (no compiled
code against PyTorch). CPU tensors, float32 and float64.

Example:
    >>> import fastrnn.torch
    >>> lstm = fastrnn.torch.LSTM(16, 32, batch_first=True)
    >>> output, (h_n, c_n) = lstm(torch.randn(8, 50, 16))
"""
try:
    import torch  # noqa: F401  (absolute: PyTorch itself, not this package)
except ImportError as _err:
    raise ImportError("fastrnn.torch needs PyTorch, which is not installed: pip install torch") from _err

from .modules import GRU, LSTM, RNN

__all__ = ["LSTM", "GRU", "RNN"]
