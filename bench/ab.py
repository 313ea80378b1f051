"""A/B of two fastrnn builds in one process: how kernel changes are judged on this shared VM.

    python bench/ab.py OLD_DIR NEW_DIR [--cell lstm] [--shape 100 64 512 512] [--pass fwd+bwd] [--calls 40]
                       [--dtype float32]

OLD_DIR and NEW_DIR each hold a `fastrnn` package with its built `_core` (e.g. a source tree's
`python/` after copying the build's `_core*.so` into it, or an install's site-packages). Both are
loaded side by side (as copies named fastrnn_a and fastrnn_b, so each keeps its own core and thread
pool) and called alternately, one call each, swapping which goes first on every pair. It prints
both medians and the median of the pair ratios (old time / new time: > 1 means the new build is
faster), and checks that the two agree first. Alternating single calls matters: load from other
sessions moves a call's time by 10-50% from one minute to the next, and alternating blocks of
calls let a slow spell fall on one build only (an A/A run of identical builds read 0.87-1.16 on
the largest shape that way). Run it with OLD_DIR == NEW_DIR first to see the noise of the moment.
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

from shapes import GATES


def load(directory, name, scratch):
    """The fastrnn package in `directory`, imported under `name` from a copy in `scratch`."""
    source = os.path.join(directory, "fastrnn")
    if not os.path.isdir(source):
        raise SystemExit(f"{directory!r} holds no fastrnn package")
    shutil.copytree(source, os.path.join(scratch, name), ignore=shutil.ignore_patterns("__pycache__"))
    return importlib.import_module(name)


def calls(module, cell, which, x, kernel, recurrent, bias, d_out):
    ops = module.ops
    forward = ops.lstm_forward if cell == "lstm" else ops.simple_rnn_forward
    backward = ops.lstm_backward if cell == "lstm" else ops.simple_rnn_backward
    cache = forward(x, kernel, recurrent, bias)[-1]
    return {
        "fwd": lambda: forward(x, kernel, recurrent, bias, training=False),
        "train-fwd": lambda: forward(x, kernel, recurrent, bias),
        "bwd": lambda: backward(cache, d_out),
        "fwd+bwd": lambda: backward(forward(x, kernel, recurrent, bias)[-1], d_out),
    }[which]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--cell", choices=sorted(GATES), default="lstm")
    parser.add_argument("--shape", type=int, nargs=4, metavar=("T", "B", "D", "H"), default=[100, 64, 512, 512])
    parser.add_argument("--pass", dest="which", choices=["fwd", "train-fwd", "bwd", "fwd+bwd"], default="fwd+bwd")
    parser.add_argument("--calls", type=int, default=40, help="timed calls of each build")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    T, B, D, H = args.shape
    G = GATES[args.cell]
    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    kernel = (rng.standard_normal((D, G * H)) / np.sqrt(D)).astype(dtype)
    recurrent = (rng.standard_normal((H, G * H)) / np.sqrt(H)).astype(dtype)
    bias = (rng.standard_normal(G * H) * 0.1).astype(dtype)
    d_out = rng.standard_normal((B, T, H)).astype(dtype)

    scratch = tempfile.mkdtemp(prefix="fastrnn-ab-")
    sys.path.insert(0, scratch)
    try:
        builds = [load(d, name, scratch) for d, name in ((args.old, "fastrnn_a"), (args.new, "fastrnn_b"))]
        for build in builds:
            build.set_num_threads(args.threads)
        forward = "lstm_forward" if args.cell == "lstm" else "simple_rnn_forward"
        outs = [getattr(b.ops, forward)(x, kernel, recurrent, bias, training=False)[0] for b in builds]
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, atol=1e-5)
        fns = [calls(b, args.cell, args.which, x, kernel, recurrent, bias, d_out) for b in builds]
        for fn in fns:  # warm up: arenas, pools, packed weights
            fn()
            fn()
        times, ratios = ([], []), []
        for i in range(args.calls):
            pair = [0.0, 0.0]
            for j in ((0, 1) if i % 2 == 0 else (1, 0)):
                start = time.perf_counter()
                fns[j]()
                pair[j] = time.perf_counter() - start
                times[j].append(pair[j])
            ratios.append(pair[0] / pair[1])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    old_ms, new_ms = (1e3 * statistics.median(t) for t in times)
    print(f"{args.cell} (T, B, D, H) = {tuple(args.shape)} {args.which} {args.dtype}, {args.threads} threads, "
          f"{args.calls} calls each: old {old_ms:.2f} ms, new {new_ms:.2f} ms, "
          f"old/new median of pair ratios {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
