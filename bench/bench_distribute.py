"""Data-parallel fit over MPI: one epoch of the imdb model (Embedding(10000, 32) -> LSTM(32) over 500
ids -> Dense(1, sigmoid), Adam, global batch 128, as bench_training.py --model imdb) on 1 and 2
ranks of this machine, the measured cost of a step's collectives, and a projection to more machines.

Runs, alternating, each under `mpiexec -n R` (this script with --worker):
  A       1 rank x all cores, batch 128         the single-process baseline
  B       2 ranks x half the cores, batch 128   data parallel: 64 rows per rank per step
  D<b>    1 rank x half the cores, batch b      one of B's ranks alone, at local batch b = 128, 64,
                                                32, 16 (B - D64: communication and contention)
Before timing, the weights after 4 steps on 1 and 2 ranks must agree to 1e-5.

    python bench/bench_distribute.py [--samples 6400] [--repeats 3]

Projection (printed with its inputs): global batch 128 over N = 1, 2, 4, 8 ranks, each like one of
B's ranks (half this machine's cores) but on its own machine, costs per step t(N) = D(128 / N) +
comm(N): D(b) is the measured step at local batch b (N beyond 8 would be outside what was
measured); comm(N) is a ring allreduce of the step's measured bytes S in k calls:
2 (N - 1) / N * S / bandwidth + 2 (N - 1) * k * latency, for 10 GbE (1.25 GB/s, 30 us) and 100 Gb/s
InfiniBand (12 GB/s, 3 us). Assumed: a rank's compute depends only on its local batch (no
contention between machines), the table's gradient stays summed densely inside the step's one
allreduce (it does here: the ranks' rows of a batch cover most of the 10000 rows, and more ranks
only touch more of them, so no allgather is added and S does not grow with N), ranks are balanced,
and communication does not overlap compute.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import fastrnn
from fastrnn import utils
from fastrnn.layers import LSTM, Dense, Embedding
from fastrnn.models import Sequential
from fastrnn.optimizers import Adam

WORDS, MAXLEN, DIM, UNITS = 10000, 500, 32, 32
NETWORKS = {"10 GbE": (1.25e9, 30e-6), "100 Gb/s InfiniBand": (12e9, 3e-6)}


def build():
    model = Sequential([Embedding(WORDS, DIM), LSTM(UNITS), Dense(1, activation="sigmoid")])
    model.compile(optimizer=Adam(1e-3), loss="binary_crossentropy")
    return model


def worker(args):
    """One rank: warm-up steps (weights saved for the check), one timed epoch, then the step's
    collectives replayed alone; rank 0 prints one JSON line."""
    from fastrnn.distribute import MPIStrategy
    strategy = MPIStrategy(timeout=600)
    fastrnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x, y = rng.integers(1, WORDS, (args.samples, MAXLEN)), rng.integers(0, 2, args.samples).astype(np.float32)
    utils.set_random_seed(0)
    initial = build().get_weights()
    warm = build()
    warm.set_weights(initial)
    warm.fit(x[:4 * args.batch], y[:4 * args.batch], batch_size=args.batch, shuffle=False, verbose=0,
             distribute=strategy)
    model = build()
    model.set_weights(initial)
    strategy.wait_seconds, strategy.collectives = 0.0, 0
    strategy.stats.clear()
    strategy.comm.Barrier()
    start = time.perf_counter()
    model.fit(x, y, batch_size=args.batch, epochs=1, shuffle=False, verbose=0, distribute=strategy)
    elapsed = time.perf_counter() - start
    steps = -(-args.samples // args.batch)
    calls, sent, _ = strategy.stats["gradient allreduce"]
    gathers = strategy.stats["embedding row allgather"][0]
    # every step's allreduce is the same size: the warm-up's steps already put the table in it
    step_bytes = sent // calls if calls else 0
    replay = []
    for _ in range(30):  # the step's allreduce alone, all ranks starting together
        buffer = np.zeros(step_bytes // 4, np.float32)
        strategy.comm.Barrier()
        start = time.perf_counter()
        if strategy.size > 1:
            strategy.allreduce(buffer)
        replay.append(time.perf_counter() - start)
    if strategy.is_chief:
        np.savez(args.check, *warm.get_weights())
        print(json.dumps({"epoch": elapsed, "steps": steps, "collective_s": strategy.wait_seconds,
                          "step_bytes": step_bytes, "step_calls": calls / steps, "gathers_per_step": gathers / steps,
                          "allreduce_s": statistics.median(replay)}))


def launch(mpiexec, ranks, threads, batch, samples, check):
    command = [mpiexec, "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--worker", "--threads",
               str(threads), "--batch", str(batch), "--samples", str(samples), "--check", check]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cpu_name():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_rnn import cpu_name  # imported here: the MPI ranks this script starts need none of it
    return cpu_name()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=128, help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    mpiexec = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    if mpiexec is None:
        sys.exit('needs mpiexec and mpi4py: pip install ".[mpi]"')
    cores = os.cpu_count()
    half = max(cores // 2, 1)
    configs = {"A": (1, cores, 128), "B": (2, half, 128), **{f"D{b}": (1, half, b) for b in (128, 64, 32, 16)}}
    with tempfile.TemporaryDirectory() as tmp:
        one, two = os.path.join(tmp, "one.npz"), os.path.join(tmp, "two.npz")
        launch(mpiexec, 1, cores, 128, 4 * 128, one)
        launch(mpiexec, 2, half, 128, 4 * 128, two)
        w1, w2 = np.load(one), np.load(two)
        worst = max(float(np.abs(w1[k] - w2[k]).max()) for k in w1.files)
        if worst > 1e-5:
            sys.exit(f"1 and 2 ranks disagree after 4 steps: max weight difference {worst:.2e}")
        runs = {name: [] for name in configs}
        for r in range(args.repeats):
            for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
                runs[name].append(launch(mpiexec, *configs[name], args.samples, os.path.join(tmp, "c.npz")))
    med = {name: {key: statistics.median(run[key] for run in results) for key in results[0]}
           for name, results in runs.items()}
    step = {name: m["epoch"] / m["steps"] for name, m in med.items()}
    lines = [
        f"command: python bench/bench_distribute.py {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"machine: {_cpu_name()}, {cores} CPUs (shared); python "
        f"{platform.python_version()}, numpy {np.__version__}, fastrnn {fastrnn.__version__}",
        f"model: Embedding({WORDS}, {DIM}) -> LSTM({UNITS}) over {MAXLEN} random ids -> Dense(1, sigmoid), Adam; "
        f"{args.samples} samples; median of {args.repeats}, runs alternating",
        f"check: weights after 4 steps on 1 and 2 ranks agree to {worst:.1e}",
        "",
        "| run | ranks x threads | batch (per rank) | epoch (s) | step (ms) | epoch speed-up over A |",
        "|---|---|---|---|---|---|",
    ]
    for name, (ranks, threads, batch) in configs.items():
        lines.append(f"| {name} | {ranks} x {threads} | {batch} ({batch // ranks}) | {med[name]['epoch']:.2f} | "
                     f"{1e3 * step[name]:.1f} | {med['A']['epoch'] / med[name]['epoch']:.2f}x |")
    b = med["B"]
    lines += ["", f"B's collectives per step: {b['step_calls']:.2f} allreduces of {b['step_bytes'] / 1e6:.2f} "
                  f"MB, {b['gathers_per_step']:.2f} embedding row allgathers; the allreduce "
                  f"alone (after a barrier) {1e3 * b['allreduce_s']:.2f} ms; all collectives inside the epoch "
                  f"{1e3 * b['collective_s'] / b['steps']:.2f} ms (with waiting for the other rank); "
                  f"B - D64 (communication and contention): {1e3 * (step['B'] - step['D64']):.1f} ms"]
    lines += ["", f"projection, global batch 128 over N ranks of {half} thread(s) on N machines "
                  f"(S = {b['step_bytes'] / 1e6:.2f} MB in {b['step_calls']:.0f} allreduce per step; "
                  "speed-up over N = 1):",
              "", "| N | local batch | compute D (ms) | " + " | ".join(f"step (ms), {net} | speed-up" for net in NETWORKS)
              + " |", "|---|---|---|" + "---|---|" * len(NETWORKS)]
    for n in (1, 2, 4, 8):
        cells, compute = [], step[f"D{128 // n}"]
        for bandwidth, latency in NETWORKS.values():
            comm = 0.0 if n == 1 else (2 * (n - 1) / n * b["step_bytes"] / bandwidth
                                       + 2 * (n - 1) * b["step_calls"] * latency)
            cells.append(f"{1e3 * (compute + comm):.1f} | {step['D128'] / (compute + comm):.2f}x")
        lines.append(f"| {n} | {128 // n} | {1e3 * compute:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "Assumptions (see the docstring): compute depends only on the local batch, ring allreduce of "
                  "a fixed S, balanced ranks, no overlap of communication with compute."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
