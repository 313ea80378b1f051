"""Each example at tiny size, in process (fixture data written here: an aclImdb/ folder, GloVe
vectors, an mnist.npz, a text file), plus the command line of one of them."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastrnn

from fastrnn.examples import chars, imdb, memory, rows

QUIET = dict(verbose=0, out=lambda *a: None)


def test_memory_cli_prints_the_table(tmp_path):
    # the same fastrnn this process imported (the source tree or the installed package)
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(fastrnn.__file__))}
    plot = tmp_path / "curves.png"
    result = subprocess.run([sys.executable, "-m", "fastrnn.examples.memory", "--lengths", "4", "6", "--samples",
                             "64", "--epochs", "1", "--plot", str(plot)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["length", "SimpleRNN", "acc", "LSTM", "acc", "chance", "seconds"]
    assert [line.split()[0] for line in lines[2:4]] == ["4", "6"]
    try:
        import matplotlib  # noqa: F401
        assert plot.exists() and "saved the learning curves" in lines[-1]
    except ImportError:
        assert not plot.exists() and "skipped the plot" in lines[-1]


def test_memory_task_targets_are_the_first_symbol():
    x, y = memory.make_task(50, 9, 3, np.random.default_rng(0))
    assert x.shape == (50, 9, 4) and np.array_equal(x[:, 0, :3].argmax(-1), y)
    assert np.all(x[:, 0, 3] == 1) and np.all(x[:, 1:, 3] == 0)


def test_rows_on_a_fixture_mnist(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 64),
             x_test=rng.integers(0, 256, (32, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 32))
    acc = rows.run(mnist=str(path), epochs=1, units=8, **QUIET)
    assert 0 <= acc <= 1


def test_rows_on_sklearn_digits_learns():
    pytest.importorskip("sklearn")
    assert rows.run(epochs=3, units=32, batch_size=32, learning_rate=0.01, limit=600, **QUIET) > 0.5  # chance 0.1


@pytest.fixture
def acl_imdb(tmp_path):
    rng = np.random.default_rng(0)
    good, bad = ["great", "wonderful", "moving", "superb"], ["awful", "boring", "dull", "terrible"]
    filler = ["the", "film", "was", "and", "plot", "actors", "a", "story"]
    for split in ("train", "test"):
        for label, words in (("pos", good), ("neg", bad)):
            folder = tmp_path / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(24):
                text = " ".join(rng.choice(filler + words, size=rng.integers(5, 15)))
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(text.capitalize() + ".")
    glove = tmp_path / "glove.txt"
    glove.write_text("".join(f"{w} " + " ".join(f"{v:.3f}" for v in rng.normal(size=6)) + "\n"
                             for w in good + bad + filler[:4]))
    return tmp_path / "aclImdb", glove


@pytest.mark.parametrize("cell,mask", [("simple_rnn", False), ("lstm", True)])
def test_imdb_on_a_fixture_folder(acl_imdb, cell, mask):
    folder, _ = acl_imdb
    history, acc = imdb.run(str(folder), cell=cell, num_words=30, maxlen=12, limit=0, epochs=2, batch_size=8,
                            mask_zero=mask, **QUIET)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"} and 0 <= acc <= 1


def test_imdb_with_frozen_glove(acl_imdb):
    folder, glove = acl_imdb
    lines = []
    history, acc = imdb.run(str(folder), num_words=30, maxlen=12, limit=0, epochs=1, batch_size=8, glove=str(glove),
                            verbose=0, out=lines.append)
    assert "GloVe: 12 of 29 words have a vector; the embedding is frozen" in lines
    assert any("Non-trainable params: 180" in line for line in lines)  # 30 words x 6 dims frozen


def test_imdb_without_data_says_what_to_do(tmp_path):
    with pytest.raises(SystemExit, match="imdb"):
        imdb.main(["--data", str(tmp_path / "missing.npz")])


def test_chars_on_a_text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 20)
    lines = []
    history = chars.run(str(path), size=0, maxlen=8, step=4, units=8, epochs=1, generate_chars=5, verbose=0,
                        out=lines.append)
    assert len(history.history["loss"]) == 1
    samples = [line for line in lines if "temperature" in line]
    assert len(samples) == 4 and all(len(eval(line.split(": ", 1)[1])) == 5 for line in samples)


def test_chars_on_the_stdlib_corpus():
    history = chars.run(size=2000, maxlen=10, step=10, units=8, epochs=1, generate_chars=3, temperatures=(0.5,),
                        **QUIET)
    assert np.isfinite(history.history["loss"][0])
