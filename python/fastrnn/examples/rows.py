"""Image classification by rows: an LSTM (128 units) reads each image one row per time step and
a softmax head names the digit; trained with Adam, reports test accuracy. Uses MNIST from a local
Keras mnist.npz when given (--mnist), otherwise the 8x8 digits scikit-learn ships.

    python -m fastrnn.examples.rows                       # 8x8 digits (needs scikit-learn)
    python -m fastrnn.examples.rows --mnist ~/.keras/datasets/mnist.npz --epochs 5 --limit 0
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .. import utils
from ..layers import LSTM, Dense
from ..models import Sequential
from ..optimizers import Adam


def load(mnist=None, limit=None, seed=0):
    """((x_train, y_train), (x_test, y_test)) as float32 images in [0, 1] and int labels.

    Args:
        mnist: path of a Keras mnist.npz, or None for scikit-learn's 8x8 digits (80/20 split).
        limit: keep at most this many training images (None or 0: all).
    """
    if mnist:
        from ..datasets import mnist as mnist_data
        (x_train, y_train), (x_test, y_test) = mnist_data.load_data(mnist)
        x_train, x_test = x_train.astype(np.float32) / 255, x_test.astype(np.float32) / 255
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise SystemExit("rows: no --mnist file given and scikit-learn is not installed; "
                             "pip install 'fastrnn[examples]' or pass --mnist path/to/mnist.npz") from None
        digits = load_digits()
        x, y = digits.images.astype(np.float32) / 16, digits.target
        order = np.random.default_rng(seed).permutation(len(x))
        split = int(0.8 * len(x))
        (x_train, y_train), (x_test, y_test) = (x[order[:split]], y[order[:split]]), (x[order[split:]], y[order[split:]])
    if limit:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return (x_train, y_train), (x_test, y_test)


def build_model(rows, cols, units=128, learning_rate=0.001):
    """LSTM(units) over `rows` steps of `cols` pixels, then Dense(10, softmax); compiled with Adam."""
    model = Sequential([LSTM(units, input_shape=(rows, cols)), Dense(10, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["acc"])
    return model


def run(mnist=None, epochs=40, batch_size=128, units=128, learning_rate=0.003, limit=None, seed=0, verbose=1,
        out=print):
    """Train and evaluate; returns the test accuracy."""
    utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load(mnist, limit, seed)
    out(f"{'MNIST' if mnist else '8x8 digits'}: {len(x_train)} training and {len(x_test)} test images of "
        f"{x_train.shape[1]}x{x_train.shape[2]}, read row by row by LSTM({units})")
    model = build_model(x_train.shape[1], x_train.shape[2], units, learning_rate)
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, validation_split=0.1, verbose=verbose)
    loss, acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    out(f"test accuracy {acc:.4f} (loss {loss:.4f}) after {epochs} epochs, {time.perf_counter() - start:.1f} s")
    return acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", help="path of Keras' mnist.npz (default: scikit-learn's 8x8 digits)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--limit", type=int, default=None, help="training images to use (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    run(args.mnist, args.epochs, args.batch_size, args.units, args.learning_rate, args.limit, args.seed, args.verbose)


if __name__ == "__main__":
    main()
