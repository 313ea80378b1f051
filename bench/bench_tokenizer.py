"""Tokenizer speed: fastrnn.preprocessing.text against keras-preprocessing on a >= 50 MB corpus.

The corpus is the standard library's docstrings (fastrnn.datasets.corpus), shuffled and repeated
with a seeded RNG. Results are checked equal first (word_index, word_counts with order, word_docs,
index_docs, every sequence, matrices bit for bit); then both libraries are timed, interleaved, and
the medians printed as a Markdown section with the command and the machine.

    PYTHONPATH=python python bench/bench_tokenizer.py [--mb 50] [--repeats 3] [--out FILE]
"""
import argparse
import gc
import os
import platform
import random
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from fastrnn.datasets import corpus
from fastrnn.preprocessing import text

try:
    import keras_preprocessing
    from keras_preprocessing import text as keras_text
except ImportError:
    sys.exit("bench_tokenizer needs keras-preprocessing: pip install keras-preprocessing")


def build_corpus(megabytes, seed):
    """Docstrings, reshuffled and appended until their UTF-8 size reaches `megabytes` MB."""
    docs = list(corpus.iter_docstrings())
    sizes = [len(d.encode("utf-8")) for d in docs]
    rng, out, total = random.Random(seed), [], 0
    while total < megabytes * 1e6:
        order = list(range(len(docs)))
        rng.shuffle(order)
        for i in order:
            out.append(docs[i])
            total += sizes[i]
            if total >= megabytes * 1e6:
                break
    return out, total


def verify(docs, num_words, matrix_docs):
    """Fit and convert with both libraries; stop with a message at the first difference."""
    ours, ref = text.Tokenizer(num_words=num_words), keras_text.Tokenizer(num_words=num_words)
    ours.fit_on_texts(docs)
    ref.fit_on_texts(docs)
    checks = {
        "word_index": list(ours.word_index.items()) == list(ref.word_index.items()),
        "word_counts": list(ours.word_counts.items()) == list(ref.word_counts.items()),
        "word_docs": dict(ours.word_docs) == dict(ref.word_docs),
        "index_docs": dict(ours.index_docs) == dict(ref.index_docs),
        "texts_to_sequences": ours.texts_to_sequences(docs) == ref.texts_to_sequences(docs),
    }
    for mode in text.MODES:
        checks[f"texts_to_matrix {mode}"] = np.array_equal(
            ours.texts_to_matrix(docs[:matrix_docs], mode),
            ref.texts_to_matrix(docs[:matrix_docs], mode))
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        sys.exit(f"results differ from keras-preprocessing: {failed}")
    return ours, ref, len(ours.word_index)


def timed(fn):
    """(wall seconds, cpu seconds) of one call plus a full garbage collection with its result
    alive, so collection work that either library leaves for later is counted."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    gc.collect()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del result
    return wall, cpu


def machine():
    cpu = "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{cpu}, {cores} cores usable, load average {load} (1/5/15 min) at the end; "
            f"Python {platform.python_version()}, NumPy {np.__version__}, "
            f"keras-preprocessing {keras_preprocessing.__version__}, {platform.platform()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="corpus MB of UTF-8 (default 50)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per step (default 3)")
    parser.add_argument("--num-words", type=int, default=10000, help="Tokenizer num_words")
    parser.add_argument("--matrix-docs", type=int, default=5000, help="texts for texts_to_matrix")
    parser.add_argument("--seed", type=int, default=0, help="corpus shuffle seed")
    parser.add_argument("--out", help="also write the Markdown section to this file")
    args = parser.parse_args()

    start = time.perf_counter()
    docs, size = build_corpus(args.mb, args.seed)
    print(f"corpus: {len(docs)} texts, {size / 1e6:.1f} MB", file=sys.stderr)
    ours, ref, vocabulary = verify(docs, args.num_words, args.matrix_docs)
    print("verified: identical results", file=sys.stderr)
    subset = docs[:args.matrix_docs]
    steps = {
        "fit_on_texts": (lambda: keras_text.Tokenizer(num_words=args.num_words).fit_on_texts(docs),
                         lambda: text.Tokenizer(num_words=args.num_words).fit_on_texts(docs)),
        "texts_to_sequences": (lambda: ref.texts_to_sequences(docs),
                               lambda: ours.texts_to_sequences(docs)),
        f"texts_to_matrix tfidf ({args.matrix_docs} texts)":
            (lambda: ref.texts_to_matrix(subset, "tfidf"),
             lambda: ours.texts_to_matrix(subset, "tfidf")),
    }
    runs = {name: ([], []) for name in steps}
    for _ in range(args.repeats):  # interleaved, so load changes hit both libraries alike
        for name, (keras_fn, fastrnn_fn) in steps.items():
            runs[name][0].append(timed(keras_fn))
            runs[name][1].append(timed(fastrnn_fn))

    rows = []
    for name, (keras_runs, fastrnn_runs) in runs.items():
        kw, kc = (statistics.median(r[i] for r in keras_runs) for i in (0, 1))
        fw, fc = (statistics.median(r[i] for r in fastrnn_runs) for i in (0, 1))
        rows.append(f"| {name} | {kw:.2f} | {fw:.2f} | **{kw / fw:.1f}x** | {kc:.2f} | {fc:.2f} "
                    f"| {kc / fc:.1f}x |")
    command = " ".join(shlex.quote(a) for a in ["python"] + sys.argv)
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    section = "\n".join([
        "## Tokenizer",
        "",
        f"`Tokenizer(num_words={args.num_words})` of fastrnn.preprocessing.text against "
        f"keras-preprocessing on {len(docs)} texts ({size / 1e6:.1f} MB of UTF-8; standard-library "
        f"docstrings shuffled with seed {args.seed}; vocabulary {vocabulary} words). Results were "
        f"checked identical first (word_index, word_counts in order, word_docs, index_docs, every "
        f"sequence, the four matrix modes bit for bit). Medians of {args.repeats} interleaved "
        f"runs; wall-clock and CPU (process) seconds, each including a full garbage "
        f"collection with the result alive.",
        "",
        "| step | keras-preprocessing s | fastrnn s | speed-up | keras cpu s | fastrnn cpu s "
        "| speed-up (cpu) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Command: `{command}` (total {time.perf_counter() - start:.0f} s)",
        "",
        f"Machine: {machine()}",
        "",
    ])
    print(section)
    if args.out:
        Path(args.out).write_text(section)


if __name__ == "__main__":
    main()
