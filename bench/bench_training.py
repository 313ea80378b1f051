"""End-to-end training bench: one epoch in fastrnn, a plain PyTorch loop and Keras 3 (torch
backend), from the same initial weights and data, of
  rows: the `rows` model (LSTM 128 over 28 rows of 28 pixels, softmax head, Adam, batch 128), or
  imdb: the `imdb` example's layers (Embedding 10000 x 32, LSTM 32 over 500 ids, sigmoid head;
        Adam, whose update PyTorch writes as Keras does, unlike RMSprop's; batch 128), whose
        gradient reaches back 500 steps from the last state alone.
Checks the three losses agree after one step before timing, then reports median epoch times,
ratios, and fastrnn's time outside the LSTM kernels during fit. For imdb PyTorch is also timed with
torch.set_flush_denormal(True) (fastrnn flushes subnormals in its kernels; PyTorch does not by
default).

    python bench/bench_training.py [--model rows|imdb] [--samples N] [--repeats 3] [--mnist mnist.npz]
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
from fastrnn.examples import imdb, rows  # noqa: E402
from fastrnn.optimizers import Adam  # noqa: E402

UNITS, ROWS, COLS, CLASSES, BATCH = 128, 28, 28, 10, 128  # rows
WORDS, MAXLEN, DIM, IMDB_UNITS = 10000, 500, 32, 32  # imdb


def data(model, samples, mnist=None):
    """(x, y): MNIST training images when a file is given, else seeded random images (rows) or
    ids (imdb) and labels."""
    rng = np.random.default_rng(0)
    if model == "imdb":
        return rng.integers(1, WORDS, (samples, MAXLEN)), rng.integers(0, 2, samples).astype(np.float32)
    if mnist:
        from fastrnn.datasets import mnist as mnist_data
        (x, y), _ = mnist_data.load_data(mnist)
        return (x[:samples].astype(np.float32) / 255), y[:samples].astype(np.int64)
    return rng.random((samples, ROWS, COLS), dtype=np.float32), rng.integers(0, CLASSES, samples)


def build_model(model):
    """The fastrnn model, compiled."""
    if model == "rows":
        return rows.build_model(ROWS, COLS, UNITS)
    net = imdb.build_model("lstm", WORDS, DIM, IMDB_UNITS)
    net.compile(optimizer=Adam(1e-3), loss="binary_crossentropy")
    return net


def torch_model(model, weights):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if model == "imdb":
                self.embedding = torch.nn.Embedding(WORDS, DIM)
            d, h, out = (DIM, IMDB_UNITS, 1) if model == "imdb" else (COLS, UNITS, CLASSES)
            self.lstm = torch.nn.LSTM(d, h, batch_first=True)
            self.head = torch.nn.Linear(h, out)

        def forward(self, x):
            if model == "imdb":
                x = self.embedding(x)
            return self.head(self.lstm(x)[1][0][0])  # logits from the last h

    net = Net()
    tensors = [torch.from_numpy(np.ascontiguousarray(w)) for w in weights]
    with torch.no_grad():  # Keras (D, 4H) gates i, f, c, o -> torch (4H, D) gates i, f, g, o: same order
        if model == "imdb":
            net.embedding.weight.copy_(tensors.pop(0))
        kernel, recurrent, bias, dense_kernel, dense_bias = tensors
        net.lstm.weight_ih_l0.copy_(kernel.T)
        net.lstm.weight_hh_l0.copy_(recurrent.T)
        net.lstm.bias_ih_l0.copy_(bias)
        net.lstm.bias_hh_l0.zero_()
        net.head.weight.copy_(dense_kernel.T)
        net.head.bias.copy_(dense_bias)
    return net, torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)


def torch_epoch(model, optimizer, x, y, steps=None):
    import torch
    loss_fn = torch.nn.CrossEntropyLoss()
    if y.dtype == np.float32:  # imdb: binary labels, one logit
        bce = torch.nn.BCEWithLogitsLoss()
        loss_fn = lambda logits, labels: bce(logits[:, 0], labels)  # noqa: E731
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


def keras_model(model, weights):
    import keras
    if model == "imdb":
        net = keras.Sequential([keras.Input((MAXLEN,), dtype="int64"), keras.layers.Embedding(WORDS, DIM),
                                keras.layers.LSTM(IMDB_UNITS), keras.layers.Dense(1, activation="sigmoid")])
        optimizer, loss = keras.optimizers.Adam(1e-3), "binary_crossentropy"
    else:
        net = keras.Sequential([keras.Input((ROWS, COLS)), keras.layers.LSTM(UNITS),
                                keras.layers.Dense(CLASSES, activation="softmax")])
        optimizer, loss = keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy"
    net.set_weights(weights)
    net.compile(optimizer=optimizer, loss=loss)
    return net


def losses_after_one_step(model, weights, x, y):
    """Loss on the second batch after one step on the first batch, in each framework."""
    import torch
    xb, yb, x2, y2 = x[:BATCH], y[:BATCH], x[BATCH:2 * BATCH], y[BATCH:2 * BATCH]
    fr = build_model(model)
    fr.set_weights(weights)
    fr.train_on_batch(xb, yb)
    tm, topt = torch_model(model, weights)
    torch_epoch(tm, topt, xb, yb)
    km = keras_model(model, weights)
    km.train_on_batch(xb, yb)
    with torch.no_grad():
        logits = tm(torch.from_numpy(x2))
        if model == "imdb":
            torch_loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], torch.from_numpy(y2)))
        else:
            torch_loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y2)))
    return float(np.atleast_1d(fr.evaluate(x2, y2, verbose=0))[0]), torch_loss, float(km.evaluate(x2, y2, verbose=0))


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
    parser.add_argument("--model", choices=["rows", "imdb"], default="rows")
    parser.add_argument("--samples", type=int, default=None,
                        help="samples per epoch (default: 60000 for rows, one MNIST epoch; 6400 for imdb)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mnist", help="Keras mnist.npz (rows; default: random images)")
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
    samples = args.samples or (6400 if args.model == "imdb" else 60000)
    x, y = data(args.model, samples, args.mnist)
    utils.set_random_seed(0)
    weights = build_model(args.model).get_weights()

    losses = losses_after_one_step(args.model, weights, x, y)
    if not np.allclose(losses, losses[0], rtol=1e-3):
        sys.exit(f"losses after one step disagree (fastrnn, torch, keras): {losses}")

    warm_x, warm_y = x[:4 * BATCH], y[:4 * BATCH]  # warm-up: first-call costs stay out of the timings
    build_model(args.model).fit(warm_x, warm_y, batch_size=BATCH, verbose=0)
    torch_epoch(*torch_model(args.model, weights), warm_x, warm_y)
    if not args.skip_keras:
        keras_model(args.model, weights).fit(warm_x, warm_y, batch_size=BATCH, verbose=0)

    # PyTorch as it comes, and (imdb) with subnormals flushed as fastrnn does
    torch_runs = {"pytorch": False} if args.model == "rows" else {"pytorch": False, "pytorch, flush_denormal": True}
    times = {"fastrnn": [], **{name: [] for name in torch_runs}, "keras": []}
    outside = []
    for _ in range(args.repeats):
        model = build_model(args.model)
        model.set_weights(weights)
        with KernelTimer() as timer:
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            elapsed = time.perf_counter() - start
        times["fastrnn"].append(elapsed)
        outside.append(1 - timer.seconds / elapsed)
        for name, flush in torch_runs.items():
            torch.set_flush_denormal(flush)
            tm, topt = torch_model(args.model, weights)
            start = time.perf_counter()
            torch_epoch(tm, topt, x, y)
            times[name].append(time.perf_counter() - start)
            torch.set_flush_denormal(False)
        if not args.skip_keras:
            km = keras_model(args.model, weights)
            start = time.perf_counter()
            km.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            times["keras"].append(time.perf_counter() - start)

    med = {k: statistics.median(v) for k, v in times.items() if v}
    import keras
    what = ("random ids, maxlen 500" if args.model == "imdb" else "MNIST" if args.mnist else "random images")
    head = ("Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid), Adam" if args.model == "imdb"
            else "LSTM(128) over 28 rows of 28 -> Dense(10, softmax), Adam")
    lines = [
        f"command: python bench/bench_training.py {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {threads} threads; "
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"keras {keras.__version__} ({os.environ['KERAS_BACKEND']} backend), fastrnn {fastrnn.__version__}",
        f"model: {head}; data: {what}, {len(x)} samples = {-(-len(x) // BATCH)} steps of batch {BATCH}; "
        f"median of {args.repeats}",
        f"loss after one step: fastrnn {losses[0]:.6f}, pytorch {losses[1]:.6f}, keras {losses[2]:.6f}",
        "",
        "| framework | epoch (s) | fastrnn speed-up |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:.2f} | {v / med['fastrnn']:.2f}x |" for k, v in med.items()]
    lines += ["", f"fastrnn time outside the LSTM kernels during fit: {100 * statistics.median(outside):.1f}% "
                  "(the other layers, the loss, the optimizer's updates, batching)"]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
