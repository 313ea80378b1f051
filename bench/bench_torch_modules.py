"""A PyTorch training loop with torch.nn.LSTM (and nn.GRU) against the same loop with
fastrnn.torch.LSTM (and .GRU): the same model (recurrent layer -> Linear on the last output), data,
initial weights and Adam, timed side by side in one process, alternating the order. The nn module
is also timed with torch.set_flush_denormal(True): the gradient reaching back from the last output
alone decays into subnormal numbers, which cost ~100 cycles per operation unless flushed
(fastrnn's kernels flush them; PyTorch does not by default). Checks before timing that one
training step gives the same loss and gradients in both; reports median epoch times and ratios.

    python bench/bench_torch_modules.py [--cells lstm,gru] [--batch 64] [--steps 200] [--features 32]
                                        [--hidden 128] [--layers 1] [--bidirectional] [--epoch-steps 10]
                                        [--repeats 5] [--threads N] [--dtype float32|float64]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

import fastrnn
import fastrnn.torch


CELLS = {"lstm": "LSTM", "gru": "GRU"}


class Net(torch.nn.Module):
    """A recurrent layer and a linear head on its last output: a sequence classifier."""

    def __init__(self, rnn_cls, args):
        super().__init__()
        self.rnn = rnn_cls(args.features, args.hidden, num_layers=args.layers, batch_first=True,
                           bidirectional=args.bidirectional)
        self.head = torch.nn.Linear(args.hidden * (2 if args.bidirectional else 1), 10)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def make(rnn_cls, args, state=None):
    """(model, Adam) in the chosen dtype, from `state` when given."""
    model = Net(rnn_cls, args).to(getattr(torch, args.dtype))
    if state is not None:
        model.load_state_dict(state)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def epoch(model, optimizer, batches):
    """One pass of forward, cross-entropy, backward and Adam step over the batches; the last loss."""
    for x, y in batches:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def check(kind, state, args, batch):
    """One step from the same weights: the losses and every gradient agree (else exit)."""
    grads, losses = [], []
    for cls in (getattr(torch.nn, kind), getattr(fastrnn.torch, kind)):
        model, _ = make(cls, args, state)
        loss = torch.nn.functional.cross_entropy(model(batch[0]), batch[1])
        loss.backward()
        losses.append(loss.item())
        grads.append([p.grad for p in model.parameters()])
    tol = 1e-4 if args.dtype == "float32" else 1e-10
    worst = max(float((a - b).abs().max() / (a.abs().max() + 1e-30)) for a, b in zip(*grads))
    if abs(losses[0] - losses[1]) > tol * abs(losses[0]) or worst > tol:
        sys.exit(f"nn.{kind} and fastrnn.torch.{kind} disagree: losses {losses}, "
                 f"worst relative gradient error {worst:.2e}")
    return losses, worst


def _cpu_name():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_rnn import cpu_name  # imported here: the MPI ranks this script starts need none of it
    return cpu_name()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="lstm,gru", help="comma-separated: lstm, gru")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200, help="time steps per sequence")
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--epoch-steps", type=int, default=10, help="training steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="threads for both (default: fastrnn's default)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    if args.threads:
        fastrnn.set_num_threads(args.threads)
    threads = fastrnn.get_num_threads()
    torch.set_num_threads(threads)

    kinds = [CELLS.get(c.strip().lower()) for c in args.cells.split(",")]
    if None in kinds:
        parser.error(f"--cells must name some of {', '.join(CELLS)}, got {args.cells!r}")
    g = torch.Generator().manual_seed(0)
    dtype = getattr(torch, args.dtype)
    batches = [(torch.randn(args.batch, args.steps, args.features, generator=g, dtype=dtype),
                torch.randint(0, 10, (args.batch,), generator=g)) for _ in range(args.epoch_steps)]
    checks, runs, states = [], {}, {}
    for kind in kinds:
        torch.manual_seed(0)
        states[kind] = Net(getattr(torch.nn, kind), args).to(dtype).state_dict()
        losses, worst = check(kind, states[kind], args, batches[0])
        checks.append(f"{kind} losses {losses[0]:.6f} / {losses[1]:.6f}, worst relative gradient difference "
                      f"{worst:.1e}")
        # name: (cell, module class, flush subnormals)
        runs.update({f"nn.{kind}": (kind, getattr(torch.nn, kind), False),
                     f"nn.{kind}, flush_denormal": (kind, getattr(torch.nn, kind), True),
                     f"fastrnn.torch.{kind}": (kind, getattr(fastrnn.torch, kind), False)})
    for kind, cls, _ in runs.values():  # warm-up: first-call costs stay out of the timings
        epoch(*make(cls, args, states[kind]), batches[:2])
    times = {name: [] for name in runs}
    for r in range(args.repeats):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            kind, cls, flush = runs[name]
            model, optimizer = make(cls, args, states[kind])
            torch.set_flush_denormal(flush)
            start = time.perf_counter()
            epoch(model, optimizer, batches)
            times[name].append(time.perf_counter() - start)
            torch.set_flush_denormal(False)

    med = {name: statistics.median(t) for name, t in times.items()}
    shape = (f"RNN({args.features} -> {args.hidden}, layers={args.layers}, bidirectional={args.bidirectional}) -> "
             f"Linear(10) on the last output, cross-entropy, Adam; batch {args.batch} x {args.steps} steps, "
             f"{args.dtype}")
    print("\n".join([
        f"command: python bench/bench_torch_modules.py {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"machine: {_cpu_name()}, {os.cpu_count()} CPUs, {threads} threads; "
        f"python {platform.python_version()}, torch {torch.__version__}, fastrnn {fastrnn.__version__}",
        f"model: {shape}; epoch = {args.epoch_steps} steps; median of {args.repeats}, alternating",
        f"check, one step from the same weights: {'; '.join(checks)}",
        "",
        "| module | epoch (s) | per step (ms) | nn / this | nn flushed / this |",
        "|---|---|---|---|---|",
        *[f"| {name} | {t:.3f} | {1e3 * t / args.epoch_steps:.1f} | {med['nn.' + runs[name][0]] / t:.2f}x | "
          f"{med['nn.' + runs[name][0] + ', flush_denormal'] / t:.2f}x |" for name, t in med.items()],
    ]))


if __name__ == "__main__":
    main()
