"""float64 kernels on the bench's shapes: fastrnn against the NumPy reference (the numpy backend)
and a plain NumPy loop (the textbook h_t = act(x_t W + h_{t-1} U + b), inference only), with
fastrnn's float32 time beside it: float64 runs at about half float32's throughput on this
hardware, so float64 / float32 near 2 is the margin float32 has. Results are checked first.

    python bench/bench_float64.py [--repeats 9]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import fastrnn  # noqa: E402
from fastrnn import ops  # noqa: E402
from bench_rnn import interleaved_ms  # noqa: E402
from shapes import GATES, SHAPES  # noqa: E402


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def plain_loop(cell, x, kernel, recurrent, bias):
    """The NumPy loop people write by hand: one step at a time over the batch."""
    H = recurrent.shape[0]
    h = np.zeros((x.shape[0], H), x.dtype)
    c = np.zeros_like(h)
    xw = x @ kernel
    for t in range(x.shape[1]):
        if cell == "gru":  # reset_after: bias is [input bias, recurrent bias]
            xz, xr, xh = np.split(xw[:, t] + bias[0], 3, axis=1)
            rz, rr, rh = np.split(h @ recurrent + bias[1], 3, axis=1)
            z, r = sigmoid(xz + rz), sigmoid(xr + rr)
            h = z * h + (1 - z) * np.tanh(xh + r * rh)
            continue
        z = xw[:, t] + h @ recurrent + bias
        if cell == "simple_rnn":
            h = np.tanh(z)
            continue
        i, f, o = (sigmoid(z[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
        c = f * c + i * np.tanh(z[:, 2 * H:3 * H])
        h = o * np.tanh(c)
    return h


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "simple_rnn"])
    args = parser.parse_args()
    fastrnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print("| cell | T, B, D, H | pass | fastrnn float64 ms | float32 ms | float64 / float32 | numpy reference ms | "
          "plain loop ms | vs reference | vs plain loop |\n|---|---|---|---|---|---|---|---|---|---|")
    for cell in args.cells:
        for T, B, D, H in SHAPES + [(100, 64, 32, 64)]:
            if cell != "lstm" and (T, B, D, H) == (100, 64, 64, 1024):
                continue
            G = GATES[cell]
            data = [rng.standard_normal((B, T, D)), rng.standard_normal((D, G * H)) / np.sqrt(D),
                    rng.standard_normal((H, G * H)) / np.sqrt(H),
                    rng.standard_normal((2, G * H) if cell == "gru" else G * H) * 0.1]
            d_out = rng.standard_normal((B, T, H))
            forward, backward = getattr(ops, f"{cell}_forward"), getattr(ops, f"{cell}_backward")
            single = [a.astype(np.float32) for a in data]
            out = forward(*data, training=False)[1]
            np.testing.assert_allclose(out[0] if cell == "lstm" else out, plain_loop(cell, *data), rtol=1e-9, atol=1e-12)
            for name in ("fwd", "fwd+bwd"):
                def run(arrays, backend="cpu", name=name):
                    if name == "fwd":
                        return forward(*arrays, training=False, backend=backend)
                    return backward(forward(*arrays, backend=backend)[-1], d_out.astype(arrays[0].dtype))
                fns = [lambda: run(data), lambda: run(single)]
                if name == "fwd":
                    fns.append(lambda: plain_loop(cell, *data))
                # alternating blocks, each opened by untimed calls: NumPy's BLAS threads spin on after
                # the plain loop's products and would slow the next kernel call otherwise
                ms64, ms32, loop = (interleaved_ms(fns, args.repeats) + [float("nan")])[:3]
                ref = interleaved_ms([lambda: run(data, "numpy")], 1, blocks=1)[0]
                print(f"| {cell} | {T}, {B}, {D}, {H} | {name} | {ms64:.2f} | {ms32:.2f} | {ms64 / ms32:.2f} | "
                      f"{ref:.1f} | {loop:.2f} | {ref / ms64:.1f}x | {loop / ms64:.1f}x |".replace("nan", "-").replace("-x", "-"), flush=True)


if __name__ == "__main__":
    main()
