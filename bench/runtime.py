"""What a user's program sees of the core's runtime, for any fastrnn build on PYTHONPATH (only
ops.lstm_forward, set_num_threads and release_memory are used, so a build before a change runs
it the same way):

- busy: a batch-1 LSTM forward (one generated character: T=1; a 100-step window) while another
  process keeps one of the two cores busy: median and 95th percentile per call;
- interrupt: SIGINT 0.5 s into a call of several seconds: how late KeyboardInterrupt arrives;
- memory: resident memory above the start after one large training call, after 8 threads made
  such calls and exited, and after release_memory().

    python bench/runtime.py [--calls 400]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import threading
import time

import numpy as np

import fastrnn
from fastrnn import ops


def spin(stop):
    while not stop.is_set():
        sum(range(10000))


def lstm_weights(rng, D, H):
    return [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in ((D, 4 * H), (H, 4 * H), (4 * H,))]


def busy(calls, rng):
    stop = multiprocessing.Event()
    other = multiprocessing.Process(target=spin, args=(stop,), daemon=True)
    other.start()
    w = lstm_weights(rng, 64, 128)
    rows = []
    try:
        for T in (1, 100):
            x = rng.standard_normal((1, T, 64)).astype(np.float32)
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                ops.lstm_forward(x, *w, training=False)
                times.append(time.perf_counter() - start)
            times.sort()
            rows.append(f"| busy: LSTM B=1, T={T}, D=64, H=128 forward | median {1e6 * statistics.median(times):.0f} us, "
                        f"p95 {1e6 * times[int(0.95 * len(times))]:.0f} us |")
    finally:
        stop.set()
        other.join()
    return rows


def interrupt(rng):
    x = rng.standard_normal((64, 4000, 256)).astype(np.float32)
    w = lstm_weights(rng, 256, 256)
    start = time.perf_counter()
    ops.lstm_forward(x[:, :400], *w, training=False)
    call_s = 10 * (time.perf_counter() - start)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored (`cmd &`)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    start = time.perf_counter()
    try:
        ops.lstm_forward(x, *w, training=False)
        late = "never (the call ended)"
    except KeyboardInterrupt:
        late = f"{time.perf_counter() - start - 0.5:.3f} s"
    return [f"| interrupt: SIGINT 0.5 s into a {call_s:.1f} s LSTM call | KeyboardInterrupt {late} after the signal |"]


def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory(rng):
    T, B, D, H = 100, 64, 512, 512
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    w, d = lstm_weights(rng, D, H), np.ones((B, T, H), np.float32)

    def train_call():
        out, _, cache = ops.lstm_forward(x, *w)
        ops.lstm_backward(cache, d)

    base = resident()
    train_call()
    one = resident() - base
    threads = [threading.Thread(target=train_call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after_threads = resident() - base
    fastrnn.release_memory()
    released = resident() - base
    mb = 1 << 20
    return [f"| memory: resident above the start, LSTM {T}, {B}, {D}, {H} fwd+bwd | one call {one / mb:.0f} MB; "
            f"8 threads done {after_threads / mb:.0f} MB; after release_memory() {released / mb:.0f} MB |"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    fastrnn.set_num_threads(2)
    rng = np.random.default_rng(0)
    print("| what | result |\n|---|---|")
    for rows in (memory(rng), busy(args.calls, rng), interrupt(rng)):
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
