"""IMDB sentiment: Tokenizer + pad_sequences + Embedding (optionally GloVe vectors, frozen) +
SimpleRNN or LSTM + a sigmoid unit, trained with RMSprop on the user's local IMDB data: Keras'
imdb.npz or the raw aclImdb/ folder (nothing is downloaded).

    python -m fastrnn.examples.imdb --data ~/aclImdb                       # small defaults
    python -m fastrnn.examples.imdb --data imdb.npz --cell lstm --maxlen 500 --limit 0 --epochs 10
    python -m fastrnn.examples.imdb --data ~/aclImdb --glove glove.6B.100d.txt --embedding-dim 100
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .. import utils
from ..datasets import imdb
from ..layers import LSTM, Dense, Embedding, SimpleRNN
from ..models import Sequential
from ..preprocessing.sequence import pad_sequences
from ..preprocessing.text import Tokenizer


def load(path, num_words, maxlen, limit, seed=0):
    """(x_train, y_train), (x_test, y_test) as padded id matrices ('pre' padding, Keras' default).

    Args:
        path: imdb.npz or an aclImdb/ folder (texts are tokenized with a Tokenizer(num_words)).
        num_words: vocabulary size. maxlen: steps kept per review (the last ones).
        limit: reviews kept per split after shuffling (None or 0: all).
    """
    if path and os.path.isdir(path):
        (texts, y_train), (test_texts, y_test) = imdb.load_data(path)
        rng = np.random.default_rng(seed)
        train_order, test_order = rng.permutation(len(texts)), rng.permutation(len(test_texts))
        texts, y_train = [texts[i] for i in train_order], y_train[train_order]
        test_texts, y_test = [test_texts[i] for i in test_order], y_test[test_order]
        if limit:
            texts, y_train, test_texts, y_test = texts[:limit], y_train[:limit], test_texts[:limit], y_test[:limit]
        tokenizer = Tokenizer(num_words=num_words)
        tokenizer.fit_on_texts(texts)
        train, test = tokenizer.texts_to_sequences(texts), tokenizer.texts_to_sequences(test_texts)
        word_index = tokenizer.word_index
    else:
        (train, y_train), (test, y_test) = imdb.load_data(path, num_words=num_words)
        if limit:
            train, y_train, test, y_test = train[:limit], y_train[:limit], test[:limit], y_test[:limit]
        word_index = None  # the .npz holds ids only
    return (pad_sequences(train, maxlen=maxlen), np.asarray(y_train)), \
        (pad_sequences(test, maxlen=maxlen), np.asarray(y_test)), word_index


def build_model(cell="simple_rnn", num_words=10000, embedding_dim=32, units=32, mask_zero=False,
                embedding_matrix=None):
    """Embedding -> SimpleRNN/LSTM -> Dense(1, sigmoid), compiled with rmsprop and binary crossentropy.

    With `embedding_matrix` the Embedding starts from it and is frozen (trainable=False).
    """
    recurrent = {"simple_rnn": SimpleRNN, "lstm": LSTM}[cell]
    model = Sequential([Embedding(num_words, embedding_dim, mask_zero=mask_zero), recurrent(units),
                        Dense(1, activation="sigmoid")])
    if embedding_matrix is not None:
        model.layers[0].set_weights([embedding_matrix])
        model.layers[0].trainable = False
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    return model


def run(data, cell="simple_rnn", num_words=10000, maxlen=200, limit=5000, embedding_dim=32, units=32, epochs=3,
        batch_size=128, glove=None, mask_zero=False, seed=0, verbose=1, out=print):
    """Load, train with validation_split=0.2, evaluate; returns (history, test accuracy)."""
    utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test), word_index = load(data, num_words, maxlen, limit, seed)
    out(f"{len(x_train)} training and {len(x_test)} test reviews, {maxlen} steps, {num_words} words, {cell}")
    matrix = None
    if glove:
        if word_index is None:
            raise SystemExit("imdb: --glove needs the aclImdb/ folder (texts), not imdb.npz")
        from ..preprocessing.embeddings import load_word_vectors
        matrix, found = load_word_vectors(glove, word_index, num_words=num_words)
        embedding_dim = matrix.shape[1]
        out(f"GloVe: {found} of {num_words - 1} words have a vector; the embedding is frozen")
    model = build_model(cell, num_words, embedding_dim, units, mask_zero, matrix)
    model.summary(print_fn=out)
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, validation_split=0.2, verbose=verbose)
    loss, acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    out(f"test accuracy {acc:.4f} (loss {loss:.4f}); training took {time.perf_counter() - start:.1f} s")
    return history, acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="imdb.npz or aclImdb/ folder (default: Keras' cache)")
    parser.add_argument("--cell", choices=["simple_rnn", "lstm"], default="simple_rnn")
    parser.add_argument("--num-words", type=int, default=10000)
    parser.add_argument("--maxlen", type=int, default=200)
    parser.add_argument("--limit", type=int, default=5000, help="reviews per split (0: all 25000)")
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--glove", help="GloVe text file: start the embedding from it and freeze it")
    parser.add_argument("--mask-zero", action="store_true", help="mask the padding (id 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        run(args.data, args.cell, args.num_words, args.maxlen, args.limit, args.embedding_dim, args.units,
            args.epochs, args.batch_size, args.glove, args.mask_zero, args.seed, args.verbose)
    except FileNotFoundError as err:
        raise SystemExit(f"imdb: {err}") from None


if __name__ == "__main__":
    main()
