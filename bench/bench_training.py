"""End-to-end training bench: one epoch in fastrnn, a plain PyTorch loop and Keras 3 (torch
backend), from the same initial weights and data, of
  rows: the `rows` model (LSTM 128 over 28 rows of 28 pixels, softmax head, Adam, batch 128),
  imdb: the `imdb` example's layers (Embedding 10000 x 32, LSTM 32 over 500 ids, sigmoid head;
        Adam, whose update PyTorch writes as Keras does, unlike RMSprop's; batch 128), whose
        gradient reaches back 500 steps from the last state alone,
  imdb-gru: the same with GRU(32) (reset_after=True: Keras 3's GRU and PyTorch's nn.GRU), or
  forecast: the `forecast` example's GRU(32) -> Dense(1) over windows of 120 rows x 14 columns
        of its synthetic Jena series, mean absolute error (Adam again, for the reason above;
        batch 128).
Several models may be given; each is timed in turn. Checks the three losses agree after one step
before timing, then reports median epoch times, ratios, and fastrnn's time outside the recurrent
kernels during fit. For the imdb models PyTorch is also timed with torch.set_flush_denormal(True)
(fastrnn flushes subnormals in its kernels; PyTorch does not by default).

    python bench/bench_training.py [--model rows|imdb|imdb-gru|forecast ...] [--samples N] [--repeats 3]
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
from fastrnn.examples import forecast, imdb, rows  # noqa: E402
from fastrnn.layers import GRU, Dense, Embedding  # noqa: E402
from fastrnn.models import Sequential  # noqa: E402
from fastrnn.optimizers import Adam  # noqa: E402

MODELS = ("rows", "imdb", "imdb-gru", "forecast")
UNITS, ROWS, COLS, CLASSES, BATCH = 128, 28, 28, 10, 128  # rows
WORDS, MAXLEN, DIM, IMDB_UNITS = 10000, 500, 32, 32  # imdb, imdb-gru
LOOKBACK, STEP, DELAY, FORECAST_UNITS = 720, 6, 144, 32  # forecast: the example's defaults
FORECAST_FEATURES = len(forecast.COLUMNS)
DEFAULT_SAMPLES = {"rows": 60000, "imdb": 6400, "imdb-gru": 6400, "forecast": 12800}
CELL = {"rows": "lstm", "imdb": "lstm", "imdb-gru": "gru", "forecast": "gru"}
HEADS = {"rows": "LSTM(128) over 28 rows of 28 -> Dense(10, softmax), Adam",
         "imdb": "Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid), Adam",
         "imdb-gru": "Embedding(10000, 32) -> GRU(32) -> Dense(1, sigmoid), Adam",
         "forecast": f"GRU(32) over {LOOKBACK // STEP} steps of {FORECAST_FEATURES} -> Dense(1), MAE, Adam"}


def data(model, samples, mnist=None):
    """(x, y): MNIST training images when a file is given, else seeded random images (rows), ids
    (imdb) and labels, or the forecast example's first training windows and targets."""
    rng = np.random.default_rng(0)
    if model in ("imdb", "imdb-gru"):
        return rng.integers(1, WORDS, (samples, MAXLEN)), rng.integers(0, 2, samples).astype(np.float32)
    if model == "forecast":
        reach = (LOOKBACK // STEP - 1) * STEP + DELAY  # from a window's first row to its target's
        _, values = forecast.synthetic_series(2 * (samples + reach), seed=0)  # training = first half
        splits = forecast.split_rows(len(values))
        series, _, _ = forecast.normalize(values, splits.train[1])
        column = forecast.COLUMNS.index(forecast.TARGET)
        x, y = next(iter(forecast.windows(series, series[:, column], splits.train, LOOKBACK, STEP, DELAY, samples)))
        return np.ascontiguousarray(x), np.ascontiguousarray(y)
    if mnist:
        from fastrnn.datasets import mnist as mnist_data
        (x, y), _ = mnist_data.load_data(mnist)
        return (x[:samples].astype(np.float32) / 255), y[:samples].astype(np.int64)
    return rng.random((samples, ROWS, COLS), dtype=np.float32), rng.integers(0, CLASSES, samples)


def build_model(model):
    """The fastrnn model, compiled."""
    if model == "rows":
        return rows.build_model(ROWS, COLS, UNITS)
    if model == "imdb":
        net = imdb.build_model("lstm", WORDS, DIM, IMDB_UNITS)
    elif model == "imdb-gru":  # the imdb example's layers with a GRU (the example offers simple_rnn and lstm)
        net = Sequential([Embedding(WORDS, DIM), GRU(IMDB_UNITS), Dense(1, activation="sigmoid")])
    else:
        net = forecast.build_model(FORECAST_FEATURES, FORECAST_UNITS)
    net.compile(optimizer=Adam(1e-3), loss="mae" if model == "forecast" else "binary_crossentropy")
    return net


def _gates(array, order, axis):
    """Gate blocks of H rearranged: block k of the result is block order[k] of `array`."""
    blocks = np.split(array, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def torch_model(model, weights):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if model in ("imdb", "imdb-gru"):
                self.embedding = torch.nn.Embedding(WORDS, DIM)
            d, h, out = {"rows": (COLS, UNITS, CLASSES), "imdb": (DIM, IMDB_UNITS, 1), "imdb-gru": (DIM, IMDB_UNITS, 1),
                         "forecast": (FORECAST_FEATURES, FORECAST_UNITS, 1)}[model]
            self.rnn = (torch.nn.GRU if CELL[model] == "gru" else torch.nn.LSTM)(d, h, batch_first=True)
            self.head = torch.nn.Linear(h, out)

        def forward(self, x):
            if model in ("imdb", "imdb-gru"):
                x = self.embedding(x)
            state = self.rnn(x)[1]
            last = state[0] if CELL[model] == "gru" else state[0][0]  # GRU: h_n; LSTM: (h_n, c_n)
            return self.head(last)  # logits (imdb: before the sigmoid, which the loss applies)

    net = Net()
    tensors = [torch.from_numpy(np.ascontiguousarray(w)) for w in weights]
    with torch.no_grad():
        if model in ("imdb", "imdb-gru"):
            net.embedding.weight.copy_(tensors.pop(0))
        kernel, recurrent, bias, dense_kernel, dense_bias = tensors
        if CELL[model] == "gru":  # Keras (D, 3H) gates z, r, h -> torch (3H, D) r, z, n; bias rows: input, recurrent
            order = (1, 0, 2)
            net.rnn.weight_ih_l0.copy_(torch.from_numpy(_gates(kernel.numpy(), order, 1).T.copy()))
            net.rnn.weight_hh_l0.copy_(torch.from_numpy(_gates(recurrent.numpy(), order, 1).T.copy()))
            net.rnn.bias_ih_l0.copy_(torch.from_numpy(_gates(bias[0].numpy(), order, 0)))
            net.rnn.bias_hh_l0.copy_(torch.from_numpy(_gates(bias[1].numpy(), order, 0)))
        else:  # Keras (D, 4H) gates i, f, c, o -> torch (4H, D) gates i, f, g, o: same order
            net.rnn.weight_ih_l0.copy_(kernel.T)
            net.rnn.weight_hh_l0.copy_(recurrent.T)
            net.rnn.bias_ih_l0.copy_(bias)
            net.rnn.bias_hh_l0.zero_()
        net.head.weight.copy_(dense_kernel.T)
        net.head.bias.copy_(dense_bias)
    return net, torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)


def torch_loss(model):
    """The loss on (outputs, targets) as each fastrnn model computes it."""
    import torch
    if model == "rows":
        return torch.nn.CrossEntropyLoss()
    if model == "forecast":
        l1 = torch.nn.L1Loss()
        return lambda out, y: l1(out[:, 0], y)
    bce = torch.nn.BCEWithLogitsLoss()  # imdb: binary labels, one logit
    return lambda logits, labels: bce(logits[:, 0], labels)


def torch_epoch(model, net, optimizer, x, y, steps=None):
    import torch
    loss_fn = torch_loss(model)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss = None
    for i, start in enumerate(range(0, len(x), BATCH)):
        if steps is not None and i == steps:
            break
        optimizer.zero_grad()
        loss = loss_fn(net(xt[start:start + BATCH]), yt[start:start + BATCH])
        loss.backward()
        optimizer.step()
    return loss


def keras_model(model, weights):
    import keras
    if model in ("imdb", "imdb-gru"):
        cell = keras.layers.GRU if model == "imdb-gru" else keras.layers.LSTM
        net = keras.Sequential([keras.Input((MAXLEN,), dtype="int64"), keras.layers.Embedding(WORDS, DIM),
                                cell(IMDB_UNITS), keras.layers.Dense(1, activation="sigmoid")])
        loss = "binary_crossentropy"
    elif model == "forecast":
        net = keras.Sequential([keras.Input((LOOKBACK // STEP, FORECAST_FEATURES)), keras.layers.GRU(FORECAST_UNITS),
                                keras.layers.Dense(1)])
        loss = "mae"
    else:
        net = keras.Sequential([keras.Input((ROWS, COLS)), keras.layers.LSTM(UNITS),
                                keras.layers.Dense(CLASSES, activation="softmax")])
        loss = "sparse_categorical_crossentropy"
    net.set_weights(weights)
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    return net


def losses_after_one_step(model, weights, x, y):
    """Loss on the second batch after one step on the first batch, in each framework."""
    import torch
    xb, yb, x2, y2 = x[:BATCH], y[:BATCH], x[BATCH:2 * BATCH], y[BATCH:2 * BATCH]
    fr = build_model(model)
    fr.set_weights(weights)
    fr.train_on_batch(xb, yb)
    tm, topt = torch_model(model, weights)
    torch_epoch(model, tm, topt, xb, yb)
    km = keras_model(model, weights)
    km.train_on_batch(xb, yb)
    with torch.no_grad():
        torch_value = float(torch_loss(model)(tm(torch.from_numpy(x2)), torch.from_numpy(y2)))
    return float(np.atleast_1d(fr.evaluate(x2, y2, verbose=0))[0]), torch_value, float(km.evaluate(x2, y2, verbose=0))


class KernelTimer:
    """Wraps fastrnn.ops' recurrent kernels to add up the time spent inside them."""

    def __init__(self):
        self.seconds = 0.0
        self.saved = {name: getattr(ops, name) for name in ("lstm_forward", "lstm_backward", "gru_forward",
                                                            "gru_backward")}

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


def bench(model, samples, repeats, mnist, skip_keras):
    """Time one epoch of `model` in each framework: ({framework: median seconds}, one-step losses,
    fastrnn's median fraction of fit outside the recurrent kernels, the data's description)."""
    import torch
    x, y = data(model, samples, mnist)
    utils.set_random_seed(0)
    weights = build_model(model).get_weights()

    losses = losses_after_one_step(model, weights, x, y)
    if not np.allclose(losses, losses[0], rtol=1e-3):
        sys.exit(f"{model}: losses after one step disagree (fastrnn, torch, keras): {losses}")

    warm_x, warm_y = x[:4 * BATCH], y[:4 * BATCH]  # warm-up: first-call costs stay out of the timings
    build_model(model).fit(warm_x, warm_y, batch_size=BATCH, verbose=0)
    torch_epoch(model, *torch_model(model, weights), warm_x, warm_y)
    if not skip_keras:
        keras_model(model, weights).fit(warm_x, warm_y, batch_size=BATCH, verbose=0)

    # PyTorch as it comes, and (imdb models) with subnormals flushed as fastrnn does
    torch_runs = {"pytorch": False}
    if model in ("imdb", "imdb-gru"):
        torch_runs["pytorch, flush_denormal"] = True
    times = {"fastrnn": [], **{name: [] for name in torch_runs}, "keras": []}
    outside = []
    for _ in range(repeats):
        net = build_model(model)
        net.set_weights(weights)
        with KernelTimer() as timer:
            start = time.perf_counter()
            net.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            elapsed = time.perf_counter() - start
        times["fastrnn"].append(elapsed)
        outside.append(1 - timer.seconds / elapsed)
        for name, flush in torch_runs.items():
            torch.set_flush_denormal(flush)
            tm, topt = torch_model(model, weights)
            start = time.perf_counter()
            torch_epoch(model, tm, topt, x, y)
            times[name].append(time.perf_counter() - start)
            torch.set_flush_denormal(False)
        if not skip_keras:
            km = keras_model(model, weights)
            start = time.perf_counter()
            km.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            times["keras"].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    what = {"imdb": "random ids, maxlen 500", "imdb-gru": "random ids, maxlen 500",
            "forecast": "the forecast example's synthetic series (seed 0), its first training windows",
            "rows": "MNIST" if mnist else "random images"}[model]
    return med, losses, statistics.median(outside), f"{what}, {len(x)} samples = {-(-len(x) // BATCH)} steps"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, nargs="+", default=["rows"],
                        help="one or more models, timed in turn")
    parser.add_argument("--samples", type=int, default=None,
                        help="samples per epoch (default: 60000 for rows, one MNIST epoch; 6400 for imdb and "
                             "imdb-gru; 12800 windows for forecast)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mnist", help="Keras mnist.npz (rows; default: random images)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for fastrnn and torch alike (default: fastrnn's default)")
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--out", help="also append the results (markdown) to this file")
    args = parser.parse_args(argv)
    import keras
    import torch
    if args.threads:
        fastrnn.set_num_threads(args.threads)
    threads = fastrnn.get_num_threads()
    torch.set_num_threads(threads)
    lines = [
        f"command: python bench/bench_training.py {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {threads} threads; "
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"keras {keras.__version__} ({os.environ['KERAS_BACKEND']} backend), fastrnn {fastrnn.__version__}",
    ]
    summary = []
    for model in args.model:
        med, losses, outside, what = bench(model, args.samples or DEFAULT_SAMPLES[model], args.repeats, args.mnist,
                                           args.skip_keras)
        lines += [
            "",
            f"model: {HEADS[model]}; data: {what} of batch {BATCH}; median of {args.repeats}",
            f"loss after one step: fastrnn {losses[0]:.6f}, pytorch {losses[1]:.6f}, keras {losses[2]:.6f}",
            "",
            "| framework | epoch (s) | fastrnn speed-up |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {v:.2f} | {v / med['fastrnn']:.2f}x |" for k, v in med.items()]
        lines += ["", f"fastrnn time outside the {CELL[model].upper()} kernels during fit: {100 * outside:.1f}% "
                      "(the other layers, the loss, the optimizer's updates, batching)"]
        summary.append((model, med))
    if len(summary) > 1:  # every model on one table
        names = [k for k in ("fastrnn", "pytorch", "pytorch, flush_denormal", "keras")
                 if any(k in med for _, med in summary)]
        lines += ["", "| model | " + " | ".join(f"{k} (s)" for k in names) + " | vs pytorch | vs keras |",
                  "|---" * (len(names) + 3) + "|"]
        for model, med in summary:
            cells = [f"{med[k]:.2f}" if k in med else "-" for k in names]
            ratios = [f"{med[k] / med['fastrnn']:.2f}x" if k in med else "-" for k in ("pytorch", "keras")]
            lines.append(f"| {model} | " + " | ".join(cells + ratios) + " |")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
