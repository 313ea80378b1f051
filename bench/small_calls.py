"""Small calls on one thread or two: batch 1 and 8, one step or a hundred, timed call by call
alternating 1 and 2 threads (the units split forced, so that both run the same loop), to place
the cost model that keeps small calls on the calling thread (csrc/pool.h, csrc/recurrence.h).
The last column says how many threads fastrnn now chooses by itself.

    python bench/small_calls.py [--calls 60]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastrnn
from fastrnn import ops


def chosen_threads(fn):
    """2 if the call handed work to the pool's workers, else 1 (with the split not forced)."""
    fastrnn.set_num_threads(2)
    with fastrnn.tuning.override(split="auto"):
        before = fastrnn._core.config()["parallel_jobs"]
        fn()
        return 2 if fastrnn._core.config()["parallel_jobs"] > before else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    fastrnn.tuning.set(split="units")
    rng = np.random.default_rng(0)
    print("| cell | B | T | H | pass | 1 thread us | 2 threads us | 1 / 2 | fastrnn picks |\n|---|---|---|---|---|---|---|---|---|")
    for cell in ("simple_rnn", "lstm"):
        G = 4 if cell == "lstm" else 1
        forward, backward = getattr(ops, f"{cell}_forward"), getattr(ops, f"{cell}_backward")
        for B in (1, 8):
            for H in (32, 64, 128, 256):
                for T in (1, 100):
                    x = rng.standard_normal((B, T, H)).astype(np.float32)
                    w = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in ((H, G * H), (H, G * H), (G * H,))]
                    cache, d = forward(x, *w)[-1], np.ones((B, T, H), np.float32)
                    for name, fn in (("fwd", lambda: forward(x, *w, training=False)), ("bwd", lambda: backward(cache, d))):
                        times = {1: [], 2: []}
                        for i in range(args.calls):
                            for threads in ((1, 2) if i % 2 else (2, 1)):
                                fastrnn.set_num_threads(threads)
                                start = time.perf_counter()
                                fn()
                                times[threads].append(time.perf_counter() - start)
                        one, two = (1e6 * statistics.median(times[t][args.calls // 6:]) for t in (1, 2))
                        print(f"| {cell} | {B} | {T} | {H} | {name} | {one:.1f} | {two:.1f} | {one / two:.2f} | "
                              f"{chosen_threads(fn)} |", flush=True)


if __name__ == "__main__":
    main()
