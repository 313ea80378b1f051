"""Character-level language model (Keras' classic lstm_text_generation): an LSTM reads windows of
`maxlen` characters and predicts the next one; after each epoch it writes text from a seed at
several temperatures. The corpus is a text file you give, or the docstrings of Python's standard
library (real English present on every machine).

    python -m fastrnn.examples.chars                                   # small defaults
    python -m fastrnn.examples.chars --text book.txt --size 0 --epochs 30 --generate 400
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .. import utils
from ..datasets import chars as char_data, corpus
from ..layers import LSTM, Dense
from ..models import Sequential
from ..optimizers import RMSprop


def load_corpus(path=None, size=40_000):
    """The training text: a file's contents (first `size` characters; 0: all) or stdlib docstrings."""
    if path:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return text[:size] if size else text
    return corpus.load_text(size or None)


def generate(model, vocabulary, seed_text, length, temperature, rng):
    """`length` characters continuing `seed_text`, drawn at `temperature`."""
    window, out = seed_text, []
    eye = np.eye(len(vocabulary), dtype=np.float32)
    for _ in range(length):
        preds = model.predict(eye[vocabulary.encode(window)][None], verbose=0)[0]
        char = vocabulary.indices_char[char_data.sample(preds, temperature, rng)]
        out.append(char)
        window = window[1:] + char
    return "".join(out)


def run(text_path=None, size=40_000, maxlen=40, step=3, units=128, epochs=2, batch_size=128, learning_rate=0.01,
        generate_chars=100, temperatures=(0.2, 0.5, 1.0, 1.2), seed=0, verbose=1, out=print):
    """Train the model, printing generated text after each epoch; returns the History."""
    utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    text = load_corpus(text_path, size)
    x, y, vocabulary = char_data.make_windows(text, maxlen, step)
    out(f"corpus: {len(text)} characters, {len(vocabulary)} distinct; {len(x)} windows of {maxlen}")
    model = Sequential([LSTM(units, input_shape=(maxlen, len(vocabulary))),
                        Dense(len(vocabulary), activation="softmax")])
    model.compile(optimizer=RMSprop(learning_rate), loss="categorical_crossentropy")
    x, y = x.astype(np.float32), y.astype(np.float32)
    history = None
    for epoch in range(epochs):
        start = time.perf_counter()
        history = model.fit(x, y, batch_size=batch_size, epochs=epoch + 1, initial_epoch=epoch, verbose=verbose)
        out(f"epoch {epoch + 1}: loss {history.history['loss'][-1]:.4f} ({time.perf_counter() - start:.1f} s)")
        begin = int(rng.integers(0, len(text) - maxlen))
        seed_text = text[begin:begin + maxlen]
        out(f'  seed: "{seed_text}"')
        for temperature in temperatures:
            sample = generate(model, vocabulary, seed_text, generate_chars, temperature, rng)
            out(f"  temperature {temperature}: {sample!r}")
    return history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", help="a UTF-8 text file (default: Python standard-library docstrings)")
    parser.add_argument("--size", type=int, default=40_000, help="characters of the corpus to use (0: all)")
    parser.add_argument("--maxlen", type=int, default=40)
    parser.add_argument("--step", type=int, default=3)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--generate", type=int, default=100, help="characters generated per temperature")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    run(args.text, args.size, args.maxlen, args.step, args.units, args.epochs, args.batch_size, args.learning_rate,
        args.generate, seed=args.seed, verbose=args.verbose)


if __name__ == "__main__":
    main()
