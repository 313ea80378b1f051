"""Character-level language model (Keras' classic lstm_text_generation): an LSTM reads windows of
`maxlen` characters and predicts the next one; after each epoch it writes text from a seed at
several temperatures, with a stateful copy of the model that reads the seed once and then one
character per step. The corpus is a text file you give, or the docstrings of Python's standard
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


def stateful_twin(model):
    """The trained window model as a step-by-step reader: the same layers and weights, with the
    recurrent layer stateful and the batch fixed at one sequence, so each predict() continues
    from the state the previous call left (reset_states() starts over).

    Example:
        >>> step_model = stateful_twin(model)   # after model.fit(...)
        >>> generate(step_model, vocabulary, seed_text, 100, 0.5, rng)
    """
    layers = []
    for layer in model.layers:
        config = {key: value for key, value in layer.get_config().items() if key != "name"}
        if "stateful" in config:
            config["stateful"] = True
        if not layers:  # any length: the seed once, then one character per call
            config["batch_input_shape"] = (1, None) + tuple(model.input_shape[2:])
        layers.append(type(layer).from_config(config))
    twin = Sequential(layers)
    twin.set_weights(model.get_weights())
    return twin


def continue_text(step_model, vocabulary, seed_text, length, temperature, rng):
    """Yield (next-character probabilities, drawn character) `length` times, continuing `seed_text`.

    The stateful model (stateful_twin) reads the seed once, then only each drawn character, so a
    character costs one step instead of a whole window; its probabilities are those of the window
    model reading the seed and every character drawn so far at once. (Keras' example slid a
    window of the last `maxlen` characters instead: the first character is drawn from the same
    probabilities, and past it the state also remembers what slid out of that window.)
    """
    eye = np.eye(len(vocabulary), dtype=np.float32)
    step_model.reset_states()
    inputs = eye[vocabulary.encode(seed_text)]
    for _ in range(length):
        preds = step_model.predict(inputs[None], verbose=0)[0]
        char = vocabulary.indices_char[char_data.sample(preds, temperature, rng)]
        yield preds, char
        inputs = eye[vocabulary.encode(char)]


def generate(step_model, vocabulary, seed_text, length, temperature, rng):
    """`length` characters continuing `seed_text`, drawn at `temperature` (step_model: stateful_twin's)."""
    return "".join(char for _, char in continue_text(step_model, vocabulary, seed_text, length, temperature, rng))


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
        step_model = stateful_twin(model)
        for temperature in temperatures:
            sample = generate(step_model, vocabulary, seed_text, generate_chars, temperature, rng)
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
