"""Times Conv1D forward and forward+backward (gradients on x, kernel and bias) for fastrnn's cpu
backend (the core's GEMM, one per kernel tap at stride 1), its NumPy reference and, when
importable, PyTorch's torch.nn.functional.conv1d, after checking that outputs and gradients
agree. Prints a markdown table: medians of warmed-up runs timed in alternating blocks, GFLOP/s,
ratios, and the command.

    python bench/bench_conv1d.py [--threads 2] [--repeats 15]

Shapes: the textbook's IMDB Conv1D model (Embedding(10000, 128) -> Conv1D(32, 7) on 500 steps),
and its second convolution's size class (100 steps of 32 channels), batch 128, float32. PyTorch
gets its own (B, C, T) layout, so the transposes Keras' torch backend adds are not counted.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import fastrnn  # noqa: E402
from fastrnn import ops  # noqa: E402
from bench_rnn import interleaved_ms, machine  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

# (B, T, C, F, K): batch, steps, input channels, filters, kernel size ('valid' padding, stride 1)
SHAPES = [(128, 500, 128, 32, 7), (128, 100, 32, 32, 7)]


def problem(B, T, C, F, K, rng):
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    kernel = (rng.standard_normal((K, C, F)) / np.sqrt(K * C)).astype(np.float32)
    bias = (rng.standard_normal(F) * 0.1).astype(np.float32)
    dy = rng.standard_normal((B, T - K + 1, F)).astype(np.float32)
    return x, kernel, bias, dy


def fastrnn_fns(x, kernel, bias, dy, backend):
    def forward():
        return ops.conv1d_forward(x, kernel, bias, training=False, backend=backend)[0]

    def forward_backward():
        y, cache = ops.conv1d_forward(x, kernel, bias, backend=backend)
        return (y, *ops.conv1d_backward(cache, dy))
    return forward, forward_backward


def torch_fns(x, kernel, bias, dy):
    xt = torch.from_numpy(x).permute(0, 2, 1).contiguous().requires_grad_()  # (B, C, T)
    wt = torch.from_numpy(kernel).permute(2, 1, 0).contiguous().requires_grad_()  # (F, C, K)
    bt = torch.from_numpy(bias).clone().requires_grad_()
    dyt = torch.from_numpy(dy).permute(0, 2, 1).contiguous()

    def forward():
        with torch.no_grad():
            return torch.nn.functional.conv1d(xt, wt, bt)

    def forward_backward():
        xt.grad = wt.grad = bt.grad = None
        y = torch.nn.functional.conv1d(xt, wt, bt)
        y.backward(dyt)
        return (y.detach().permute(0, 2, 1).numpy(), xt.grad.permute(0, 2, 1).numpy(),
                wt.grad.permute(2, 1, 0).numpy(), bt.grad.numpy())
    return forward, forward_backward


def check(got, want, who):
    """float32 sums of K * C products (and of B * T for the kernel's gradient) in different orders."""
    for name, a, b in zip(("y", "dx", "dkernel", "dbias"), got, want):
        scale = np.abs(b).max()
        if not np.allclose(a, b, rtol=1e-4, atol=1e-4 * scale):
            raise SystemExit(f"{who}: {name} differs from fastrnn's by {np.abs(a - b).max():.3g} (scale {scale:.3g})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    fastrnn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    head = ("| B, T, C, filters, kernel | pass | fastrnn ms | GFLOP/s | numpy ms | torch ms | vs numpy | vs torch |\n"
            "|---|---|---|---|---|---|---|---|")
    print(head, flush=True)
    for B, T, C, F, K in SHAPES:
        data = problem(B, T, C, F, K, rng)
        fr, ref = fastrnn_fns(*data, backend="cpu"), fastrnn_fns(*data, backend="numpy")
        tc = torch_fns(*data) if torch is not None else None
        want = fr[1]()
        check(ref[1](), want, "numpy reference")
        if tc:
            check(tc[1](), want, "torch")
        flops = 2 * B * (T - K + 1) * K * C * F  # forward's products; backward does twice as many
        for which, name in enumerate(("fwd", "fwd+bwd")):
            fns = [fr[which], ref[which]] + ([tc[which]] if tc else [])
            times = interleaved_ms(fns, args.repeats)
            ms, ref_ms, t_ms = times[0], times[1], times[2] if tc else float("nan")
            gflops = (1 if which == 0 else 3) * flops / (ms * 1e6)
            print(f"| {B}, {T}, {C}, {F}, {K} | {name} | {ms:.2f} | {gflops:.0f} | {ref_ms:.2f} | {t_ms:.2f} | "
                  f"{ref_ms / ms:.2f}x | {t_ms / ms:.2f}x |", flush=True)
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    print(f"\nRatios: the other's time / fastrnn's (>1: fastrnn faster). Threads: {args.threads} (fastrnn and "
          f"PyTorch). Machine: {machine()}.\nCommand: `{command}` (from a source tree: `PYTHONPATH=python {command}`)")


if __name__ == "__main__":
    main()
