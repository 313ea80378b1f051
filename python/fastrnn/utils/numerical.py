"""keras.utils.to_categorical: integer class labels to one-hot rows."""
from __future__ import annotations

import numpy as np


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer labels, as Keras: shape y.shape + (num_classes,), a trailing axis
    of 1 in y dropped first.

    Args:
        y: integer class labels (any shape; integral floats such as 1.0 are accepted).
        num_classes: the number of classes (default max(y) + 1).
        dtype: of the result (default "float32").

    Returns:
        A NumPy array of 0s and 1s.

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.dtype == object or not (np.issubdtype(labels.dtype, np.integer) or
                                      np.issubdtype(labels.dtype, np.floating) or labels.dtype == bool):
        raise ValueError(f"to_categorical: argument 'y' must hold integer class labels, got dtype {labels.dtype}")
    if np.issubdtype(labels.dtype, np.floating) and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
        raise ValueError("to_categorical: argument 'y' must hold integer class labels, got non-integral values")
    labels = labels.astype(np.int64)
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"to_categorical: argument 'num_classes' must be an int >= 1, got {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes}), got values from {labels.min()} "
                         f"to {labels.max()}")
    flat = labels.reshape(-1)
    out = np.zeros((flat.size, int(num_classes)), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(shape + (int(num_classes),))
