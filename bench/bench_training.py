"""End-to-end training bench: one epoch of the `rows` model (LSTM 128 over 28 rows of 28 pixels,
softmax head, Adam, batch 128) in fastrnn, a plain PyTorch loop and Keras 3 (torch backend), from
the same initial weights and data. Checks the three losses agree after one step before timing,
then reports median epoch times, ratios, and fastrnn's time outside the kernels during fit.

    python bench/bench_training.py [--samples 60000] [--repeats 3] [--mnist mnist.npz] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn import ops, utils  # noqa: E402
from fastrnn.examples.rows import build_model  # noqa: E402

UNITS, ROWS, COLS, CLASSES, BATCH = 128, 28, 28, 10, 128


def data(samples, mnist=None):
    """(x, y): MNIST training images when a file is given, else seeded random images and labels."""
    if mnist:
        from fastrnn.datasets import mnist as mnist_data
        (x, y), _ = mnist_data.load_data(mnist)
        return (x[:samples].astype(np.float32) / 255), y[:samples].astype(np.int64)
    rng = np.random.default_rng(0)
    return rng.random((samples, ROWS, COLS), dtype=np.float32), rng.integers(0, CLASSES, samples)


def torch_model(weights):
    import torch

    class RowsLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(COLS, UNITS, batch_first=True)
            self.head = torch.nn.Linear(UNITS, CLASSES)

        def forward(self, x):
            return self.head(self.lstm(x)[1][0][0])  # logits from the last h

    model = RowsLSTM()
    kernel, recurrent, bias, dense_kernel, dense_bias = (torch.from_numpy(np.ascontiguousarray(w)) for w in weights)
    with torch.no_grad():  # Keras (D, 4H) gates i, f, c, o -> torch (4H, D) gates i, f, g, o: same order
        model.lstm.weight_ih_l0.copy_(kernel.T)
        model.lstm.weight_hh_l0.copy_(recurrent.T)
        model.lstm.bias_ih_l0.copy_(bias)
        model.lstm.bias_hh_l0.zero_()
        model.head.weight.copy_(dense_kernel.T)
        model.head.bias.copy_(dense_bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    return model, optimizer


def torch_epoch(model, optimizer, x, y, steps=None):
    import torch
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss = None
    for i, start in enumerate(range(0, len(x), BATCH)):
        if steps is not None and i == steps:
            break
        optimizer.zero_grad()
        loss = loss_fn(model(xt[start:start + BATCH]), yt[start:start + BATCH])
        loss.backward()
        optimizer.step()
    return loss


def keras_model(weights):
    import keras
    model = keras.Sequential([keras.Input((ROWS, COLS)), keras.layers.LSTM(UNITS),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def losses_after_one_step(weights, x, y):
    """Loss on the second batch after one step on the first batch, in each framework."""
    import torch
    xb, yb, x2, y2 = x[:BATCH], y[:BATCH], x[BATCH:2 * BATCH], y[BATCH:2 * BATCH]
    fr = build_model(ROWS, COLS, UNITS)
    fr.set_weights(weights)
    fr.train_on_batch(xb, yb)
    tm, topt = torch_model(weights)
    torch_epoch(tm, topt, xb, yb)
    km = keras_model(weights)
    km.train_on_batch(xb, yb)
    with torch.no_grad():
        torch_loss = float(torch.nn.functional.cross_entropy(tm(torch.from_numpy(x2)), torch.from_numpy(y2)))
    return fr.evaluate(x2, y2, verbose=0)[0], torch_loss, float(km.evaluate(x2, y2, verbose=0))


class KernelTimer:
    """Wraps fastrnn.ops' LSTM kernels to add up the time spent inside them."""

    def __init__(self):
        self.seconds = 0.0
        self.saved = {name: getattr(ops, name) for name in ("lstm_forward", "lstm_backward")}

    def __enter__(self):
        for name, fn in self.saved.items():
            setattr(ops, name, self._timed(fn))
        return self

    def _timed(self, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
        return wrapper

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(ops, name, fn)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60000, help="images per epoch (60000 = one MNIST epoch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mnist", help="Keras mnist.npz (default: random images)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for fastrnn and torch alike (default: fastrnn's default)")
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--out", help="also append the results (markdown) to this file")
    args = parser.parse_args(argv)
    import torch
    if args.threads:
        fastrnn.set_num_threads(args.threads)
    threads = fastrnn.get_num_threads()
    torch.set_num_threads(threads)
    x, y = data(args.samples, args.mnist)
    utils.set_random_seed(0)
    weights = build_model(ROWS, COLS, UNITS).get_weights()

    losses = losses_after_one_step(weights, x, y)
    if not np.allclose(losses, losses[0], rtol=1e-3):
        sys.exit(f"losses after one step disagree (fastrnn, torch, keras): {losses}")

    warm_x, warm_y = x[:4 * BATCH], y[:4 * BATCH]  # warm-up: first-call costs stay out of the timings
    build_model(ROWS, COLS, UNITS).fit(warm_x, warm_y, batch_size=BATCH, verbose=0)
    torch_epoch(*torch_model(weights), warm_x, warm_y)
    if not args.skip_keras:
        keras_model(weights).fit(warm_x, warm_y, batch_size=BATCH, verbose=0)

    times = {"fastrnn": [], "pytorch": [], "keras": []}
    outside = []
    for _ in range(args.repeats):
        model = build_model(ROWS, COLS, UNITS)
        model.set_weights(weights)
        with KernelTimer() as timer:
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            elapsed = time.perf_counter() - start
        times["fastrnn"].append(elapsed)
        outside.append(1 - timer.seconds / elapsed)
        tm, topt = torch_model(weights)
        start = time.perf_counter()
        torch_epoch(tm, topt, x, y)
        times["pytorch"].append(time.perf_counter() - start)
        if not args.skip_keras:
            km = keras_model(weights)
            start = time.perf_counter()
            km.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            times["keras"].append(time.perf_counter() - start)

    med = {k: statistics.median(v) for k, v in times.items() if v}
    import keras
    lines = [
        f"command: python bench/bench_training.py {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {threads} threads; "
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"keras {keras.__version__} ({os.environ['KERAS_BACKEND']} backend), fastrnn {fastrnn.__version__}",
        f"data: {'MNIST' if args.mnist else 'random images'}, {len(x)} samples = {-(-len(x) // BATCH)} steps "
        f"of batch {BATCH}; median of {args.repeats}",
        f"loss after one step: fastrnn {losses[0]:.6f}, pytorch {losses[1]:.6f}, keras {losses[2]:.6f}",
        "",
        "| framework | epoch (s) | fastrnn speed-up |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:.2f} | {v / med['fastrnn']:.2f}x |" for k, v in med.items()]
    lines += ["", f"fastrnn time outside the LSTM kernels during fit: {100 * statistics.median(outside):.1f}% "
                  "(Dense, softmax-crossentropy, Adam updates, batching)"]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
