"""Embedding: integer ids (batch, time) -> rows of a (input_dim, output_dim) table, with an
optional mask for id 0 (mask_zero) that the recurrent layers turn into sequence lengths.

Its gradient is sparse (IndexedRows over the ids in the batch): a step never touches the rows a
batch did not use, and no gradient is computed at all when the layer is frozen.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from . import initializers
from .base import IndexedRows, Layer


class Embedding(Layer):
    """Turns positive integer ids into dense vectors.

    Args:
        input_dim: vocabulary size (ids lie in [0, input_dim)).
        output_dim: vector size.
        input_length: fixed sequence length, or None (any length).
        mask_zero: treat id 0 as padding and pass a mask to the next layers.
        weights: optional [matrix] of shape (input_dim, output_dim) to start from (e.g. GloVe).
        embeddings_initializer: default "uniform" (Keras' RandomUniform(-0.05, 0.05)).
        **kwargs: name, trainable, dtype (see Layer).

    Example:
        >>> emb = Embedding(10000, 32, mask_zero=True)
        >>> emb(np.array([[4, 2, 0]])).shape
        (1, 3, 32)
    """

    def __init__(self, input_dim, output_dim, input_length=None, mask_zero=False, weights=None,
                 embeddings_initializer="uniform", **kwargs):
        kwargs.setdefault("batch_input_shape", (None, input_length))
        super().__init__(**kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Embedding: {arg} must be a positive int, got {value!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.input_length, self.mask_zero = input_length, bool(mask_zero)
        self.embeddings_initializer = embeddings_initializer
        self.add_weight("embeddings", (self.input_dim, self.output_dim), initializers.get(embeddings_initializer))
        self.built = True
        if weights is not None:
            self.set_weights(weights)
        self._ids = None

    def forward(self, x, training=False, mask=None):
        ids = np.asarray(x)
        if ids.dtype.kind == "f":
            if not np.all(ids == np.round(ids)):
                raise ValueError(f"layer {self.name!r} expects integer ids, got non-integer values")
            ids = ids.astype(np.int64)
        elif ids.dtype.kind not in "iu":
            raise ValueError(f"layer {self.name!r} expects integer ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise ValueError(f"layer {self.name!r}: ids must lie in [0, {self.input_dim}), "
                             f"got values in [{ids.min()}, {ids.max()}]")
        self._ids = ids if training else None
        return ops.gather_rows(self._params["embeddings"], ids)

    def backward(self, dy, input_gradient=True):
        self.grads = {}
        if self.trainable:
            self.grads["embeddings"] = IndexedRows(*ops.sum_rows_by_id(self._ids, dy, self.input_dim))
        return None

    def compute_mask(self, x, mask):
        return np.asarray(x) != 0 if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                  "input_length": self.input_length, "mask_zero": self.mask_zero,
                  "embeddings_initializer": self.embeddings_initializer}
        return config
