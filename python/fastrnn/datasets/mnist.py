"""MNIST digits from Keras' mnist.npz file (28x28 uint8 images, uint8 labels), already on disk.

Same result as `keras.datasets.mnist.load_data()`; nothing is downloaded or rescaled here.
"""
from __future__ import annotations

import numpy as np

from ._files import locate

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_data(path=None):
    """Read the MNIST train and test splits.

    Args:
        path: the mnist.npz file; default: `mnist.npz` in Keras' cache folder
            ($KERAS_HOME/datasets or ~/.keras/datasets).

    Returns:
        (x_train, y_train), (x_test, y_test): images (N, 28, 28) uint8 and labels (N,) uint8,
        as stored in the file.

    Raises:
        FileNotFoundError: no file there (the message gives the download URL).
        ValueError: the file lacks one of x_train, y_train, x_test, y_test.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()
        >>> x_train.shape, y_test.shape
        ((60000, 28, 28), (10000,))
    """
    path = locate(path, "mnist.npz", URL)
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in _KEYS if k not in f.files]
        if missing:
            raise ValueError(f"{path} is not a Keras mnist.npz: it lacks {missing}")
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
