"""Accuracy of the C++ core's tanh and sigmoid (csrc/activations.h) through _core.activate: every
finite float32 (or every --stride-th bit pattern) and a sample of float64, against an extended-
precision reference, at each SIMD level this CPU runs; prints the largest error in ulps (from the
correctly rounded value and from the exact one) and whether the levels gave the same bits.

    python bench/activation_error.py [--stride 1] [--float64-samples 4000000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastrnn

core = fastrnn._core
CODES = {"tanh": 0, "sigmoid": 2}
LEVELS = ("baseline", "avx2", "avx512")


def exact(name, x):
    x = x.astype(np.longdouble)
    if name == "tanh":
        return np.tanh(x)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def errors(y, reference, dtype):
    """(from the correctly rounded value, from the exact one) in ulps; normal results only."""
    rounded = reference.astype(dtype)
    normal = np.abs(reference) >= np.finfo(dtype).tiny
    spacing = np.spacing(np.abs(rounded)).astype(np.longdouble)[normal]
    y, reference, rounded = y.astype(np.longdouble)[normal], reference[normal], rounded.astype(np.longdouble)[normal]
    return np.abs(y - rounded) / spacing, np.abs(y - reference) / spacing


def chunks_float32(stride, size=1 << 22):
    for start in range(0, 1 << 32, size * stride):
        bits = np.arange(start, min(start + size * stride, 1 << 32), stride, dtype=np.uint64).astype(np.uint32)
        x = bits.view(np.float32)
        yield x[np.isfinite(x)]


def chunks_float64(n, size=1 << 21):
    rng = np.random.default_rng(0)
    for start in range(0, n, size):
        m = min(size, n - start)
        bits = rng.integers(0, np.iinfo(np.uint64).max, m // 2, dtype=np.uint64, endpoint=True).view(np.float64)
        dense = rng.uniform(-40, 40, m - m // 2)
        x = np.concatenate([bits, dense])
        yield x[np.isfinite(x)]


def measure(name, chunks, dtype, levels):
    worst_rounded = worst_exact = 0.0
    where, same, count = None, True, 0
    for x in chunks:
        results = []
        for level in levels:
            core.set_simd_level(level)
            results.append(core.activate(x, CODES[name]))
        same &= all(np.array_equal(r.view(np.uint8), results[0].view(np.uint8)) for r in results[1:])
        from_rounded, from_exact = errors(results[0], exact(name, x), dtype)
        if from_rounded.size:
            worst_rounded = max(worst_rounded, float(from_rounded.max()))
            if from_exact.max() > worst_exact:
                worst_exact = float(from_exact.max())
                where = x[np.abs(exact(name, x)) >= np.finfo(dtype).tiny][np.argmax(from_exact)]
        count += x.size
    return worst_rounded, worst_exact, where, same, count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stride", type=int, default=1, help="every stride-th float32 bit pattern")
    parser.add_argument("--float64-samples", type=int, default=4_000_000)
    args = parser.parse_args()
    best = LEVELS.index(core.detected_simd_level())
    levels, before = LEVELS[:best + 1], core.simd_level()
    print("| function | dtype | inputs | max ulp from correctly rounded | max ulp from exact (at x) | "
          f"same bits on {', '.join(levels)} | seconds |\n|---|---|---|---|---|---|---|")
    try:
        for dtype, chunks in ((np.float32, lambda: chunks_float32(args.stride)),
                              (np.float64, lambda: chunks_float64(args.float64_samples))):
            for name in CODES:
                start = time.perf_counter()
                rounded, exact_, where, same, count = measure(name, chunks(), dtype, levels)
                print(f"| {name} | {np.dtype(dtype).name} | {count:,} | {rounded:.0f} | {exact_:.2f} ({where:.9g}) | "
                      f"{'yes' if same else 'NO'} | {time.perf_counter() - start:.0f} |", flush=True)
    finally:
        core.set_simd_level(before)


if __name__ == "__main__":
    main()
