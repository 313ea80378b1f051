"""The README demo: why LSTMs exist. A long-range memory task generated on the fly (recall a
symbol shown at the first step, followed by steps of Gaussian noise on the same input channels)
is given to a SimpleRNN and an LSTM of the same size for several sequence lengths; the SimpleRNN
falls to chance as sequences grow, the LSTM gates the noise out and learns. Prints a table and
saves the learning curves if matplotlib is installed.

    python -m fastrnn.examples.memory [--lengths 10 30 50] [--units 32] [--epochs 10] [--seed 0]
    python -m fastrnn.examples.memory --lengths 10 30 50 80 --epochs 30 --samples 20000   # full size
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .. import utils
from .._atomic_write import atomic_write
from ..layers import LSTM, Dense, SimpleRNN
from ..models import Sequential
from ..optimizers import Adam


def make_task(samples, length, symbols, rng, noise=1.0):
    """Sequences (samples, length, symbols + 1) and targets (samples,): step 0 holds the one-hot
    target symbol and a 1 in the last (marker) channel; later steps hold N(0, noise^2) noise in
    the symbol channels and 0 in the marker.

    Example:
        >>> x, y = make_task(100, 20, 4, np.random.default_rng(0))
        >>> bool((x[:, 0, :4].argmax(-1) == y).all())
        True
    """
    targets = rng.integers(0, symbols, samples)
    x = np.zeros((samples, length, symbols + 1), np.float32)
    x[:, 1:, :symbols] = rng.normal(0, noise, (samples, length - 1, symbols))
    x[np.arange(samples), 0, targets] = 1
    x[:, 0, symbols] = 1
    return x, targets


def train_one(cell, x, y, x_test, y_test, units, epochs, batch_size, learning_rate, forget_bias=3.0):
    """Train `cell` (SimpleRNN or LSTM) + softmax head; returns the test accuracy after each epoch.

    The LSTM's forget-gate bias starts at `forget_bias` (Keras' unit_forget_bias gives 1.0): with
    sigmoid(1) = 0.73 per step, a signal fades by 0.73^50 ~ 1e-7 over 50 steps before the LSTM has
    learned to hold it; sigmoid(3) = 0.95 keeps enough of it to start from (a SimpleRNN has no
    such gate to set).
    """
    model = Sequential([cell(units, input_shape=x.shape[1:]), Dense(x.shape[-1] - 1, activation="softmax")])
    if cell is LSTM:
        kernel, recurrent_kernel, bias = model.layers[0].get_weights()
        bias[units:2 * units] = forget_bias
        model.layers[0].set_weights([kernel, recurrent_kernel, bias])
    model.compile(optimizer=Adam(learning_rate, clipnorm=1.0), loss="sparse_categorical_crossentropy",
                  metrics=["acc"])
    curve = []
    for _ in range(epochs):
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        curve.append(model.evaluate(x_test, y_test, batch_size=512, verbose=0)[1])
    return curve


def run(lengths=(10, 30, 50), units=32, symbols=4, samples=5000, epochs=10, batch_size=32, learning_rate=0.005,
        noise=1.0, forget_bias=3.0, seed=0, plot="memory.png", out=print):
    """Train both cells for every length; print the table and return {length: (rnn_curve, lstm_curve)}."""
    utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    results = {}
    out(f"Recall the symbol shown at step 1 of L (then noise); {symbols} symbols, chance {1 / symbols:.2f}; "
        f"{units} units, {epochs} epochs, {samples} sequences per length, LSTM forget bias {forget_bias}")
    out(f"{'length':>6}  {'SimpleRNN acc':>13}  {'LSTM acc':>8}  {'chance':>6}  {'seconds':>7}")
    for length in lengths:
        start = time.perf_counter()
        x, y = make_task(samples, length, symbols, rng, noise)
        x_test, y_test = make_task(1000, length, symbols, rng, noise)
        curves = [train_one(cell, x, y, x_test, y_test, units, epochs, batch_size, learning_rate, forget_bias)
                  for cell in (SimpleRNN, LSTM)]
        results[length] = curves
        out(f"{length:>6}  {curves[0][-1]:>13.3f}  {curves[1][-1]:>8.3f}  {1 / symbols:>6.2f}  "
            f"{time.perf_counter() - start:>7.1f}")
    if plot:
        save_plot(results, symbols, plot, out)
    return results


def save_plot(results, symbols, path, out=print):
    """Save the test-accuracy curves per length and cell, or say why not."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        out("matplotlib is not installed (pip install 'fastrnn[examples]'): skipped the plot")
        return
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.2), squeeze=False)
    for ax, (length, (rnn, lstm)) in zip(axes[0], results.items()):
        epochs = range(1, len(rnn) + 1)
        ax.plot(epochs, rnn, label="SimpleRNN")
        ax.plot(epochs, lstm, label="LSTM")
        ax.axhline(1 / symbols, color="gray", linestyle=":", label="chance")
        ax.set(title=f"length {length}", xlabel="epoch", ylabel="test accuracy", ylim=(0, 1.05))
        ax.legend()
    fig.tight_layout()
    with atomic_write(path) as f:  # the format from the name's extension, as savefig(path) would
        fig.savefig(f, format=os.path.splitext(path)[1][1:] or None, dpi=100)
    out(f"saved the learning curves to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 30, 50], help="sequence lengths")
    parser.add_argument("--units", type=int, default=32, help="state size of both cells")
    parser.add_argument("--symbols", type=int, default=4, help="alphabet size (chance = 1/symbols)")
    parser.add_argument("--samples", type=int, default=5000, help="training sequences per length")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.005)
    parser.add_argument("--noise", type=float, default=1.0, help="std of the distractor noise")
    parser.add_argument("--forget-bias", type=float, default=3.0,
                        help="initial LSTM forget-gate bias (1.0 = Keras' unit_forget_bias)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="memory.png", help="where to save the plot ('' for none)")
    args = parser.parse_args(argv)
    run(args.lengths, args.units, args.symbols, args.samples, args.epochs, args.batch_size, args.learning_rate,
        args.noise, args.forget_bias, args.seed, args.plot)


if __name__ == "__main__":
    main()
