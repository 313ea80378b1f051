"""A small training run for tests/test_distribute.py, in one process or as one rank of mpiexec:

    python tests/distributed_run.py '{"model": "float32", "dir": "/tmp/out", "name": "single"}'
    mpiexec -n 2 python tests/distributed_run.py '{"model": "float32", "dir": "/tmp/out", "name": "mpi", "distribute": true}'

Trains Embedding + LSTM + Dense on generated ids (float32 with a 1000-row table, whose gradient
rows are gathered; or float64 with a 20-row table, mostly summed densely inside the gradient
allreduce), then writes <name>-rank<r>.npz in `dir`: final weights, History, distributed evaluate
and predict, the training steps taken and the strategy's collectives by name (calls). Options in
the JSON: epochs, shuffle, samples, verbose, timeout, checkpoint (ModelCheckpoint ckpt-{epoch}.npz),
resume (a checkpoint to load) with initial_epoch, fault ({rank, epoch, batch, how: exit|stall|raise}),
skew (rank 1 drops a sample), stop_after (rank 0 alone sets stop_training after that epoch), mmap
(x and y read through memory-mapped .npy files, as a corpus larger than memory would be), stateful
(float32 only: AUC, precision and recall too, weighted_metrics=["auc"] and sample weights).
"""
import json
import os
import sys
import time

import numpy as np

import fastrnn
from fastrnn import utils
from fastrnn.callbacks import Callback, ModelCheckpoint
from fastrnn.layers import LSTM, Dense, Embedding
from fastrnn.models import Sequential, load_model

cfg = json.loads(sys.argv[1])
fastrnn.set_num_threads(1)  # ranks share the machine's cores
utils.set_random_seed(0)
strategy, rank = None, 0
if cfg.get("distribute"):
    from fastrnn.distribute import MPIStrategy
    strategy = MPIStrategy(timeout=60)
    rank = strategy.rank
    strategy.check_same("start", [0])  # absorbs the ranks' start-up skew before the short deadline
    strategy.timeout = cfg.get("timeout", 60)

rng = np.random.default_rng(1)
# 102 samples: 81 train after validation_split=0.2, so the last batch of 16 has 1 row and a rank has none
n, steps = cfg.get("samples", 102), 12
if cfg["model"] == "float32":
    vocab, dtype, classes = 1000, "float32", 2
else:
    vocab, dtype, classes = 20, "float64", 3
x = rng.integers(1, vocab, (n, steps))
x[np.arange(steps) < rng.integers(0, 5, n)[:, None]] = 0  # left padding, masked
y = (x.sum(axis=1) % classes).astype(dtype)
if cfg.get("skew") and rank == 1:
    x, y = x[1:], y[1:]
if cfg.get("mmap"):  # each rank's fit then reads only the rows of its shards
    for name, array in (("x", x), ("y", y)):
        np.save(os.path.join(cfg["dir"], f"{name}-rank{rank}.npy"), array)
    x, y = (np.load(os.path.join(cfg["dir"], f"{name}-rank{rank}.npy"), mmap_mode="r") for name in "xy")


def build():
    head = Dense(1, activation="sigmoid", dtype=dtype) if classes == 2 else Dense(3, activation="softmax", dtype=dtype)
    model = Sequential([Embedding(vocab, 8, mask_zero=True, dtype=dtype), LSTM(6, dtype=dtype), head])
    metrics = ["acc"]
    if cfg.get("stateful"):  # confusion counts: the ranks sum them, then each computes the result
        metrics += ["auc", "precision", "recall", fastrnn.metrics.AUC(curve="PR", num_thresholds=50)]
    model.compile(optimizer="adam", loss="binary_crossentropy" if classes == 2 else "sparse_categorical_crossentropy",
                  metrics=metrics, weighted_metrics=["auc"] if cfg.get("stateful") else None,
                  distribute=strategy if cfg.get("strategy_in_compile") else None)
    return model


class Fault(Callback):
    """Rank `rank` exits, stalls or raises before a batch, as a crashed or hung machine or a bug would."""

    def __init__(self, rank, epoch, batch, how):
        self.rank, self.at, self.how, self.epoch = rank, (epoch, batch), how, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if rank == self.rank and (self.epoch, batch) == self.at:
            print(f"rank {rank}: {self.how} at epoch {self.epoch} batch {batch}", flush=True)
            if self.how == "exit":
                os._exit(3)
            if self.how == "raise":
                raise RuntimeError(f"rank {rank} failed")
            time.sleep(3600)


class StopOnChief(Callback):
    """A chief_only callback that stops training after an epoch: every rank must stop with it."""

    chief_only = True

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = epoch == self.epoch


class Steps(Callback):
    """Counts the training steps every rank takes (the test compares the collectives to them)."""

    def __init__(self):
        self.count = 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1


class Marker(Callback):
    """A chief_only callback that leaves a file naming the rank that ran it."""

    chief_only = True

    def on_train_end(self, logs=None):
        open(os.path.join(cfg["dir"], f"marker-rank{rank}"), "w").close()


model = load_model(cfg["resume"]) if cfg.get("resume") else build()
if cfg.get("strategy_in_compile"):  # compile's strategy is fit's, evaluate's and predict's default
    strategy_argument, strategy = strategy, None
steps = Steps()
callbacks = [Marker(), steps] + ([Fault(**cfg["fault"])] if cfg.get("fault") else [])
if cfg.get("stop_after") is not None:
    callbacks.append(StopOnChief(cfg["stop_after"]))
if cfg.get("checkpoint"):
    callbacks.append(ModelCheckpoint(os.path.join(cfg["dir"], "ckpt-{epoch}.npz")))
sample_weight = rng.uniform(0.5, 2.0, len(x)) if cfg.get("stateful") else None
history = model.fit(x, y, sample_weight=sample_weight, batch_size=16, epochs=cfg.get("epochs", 3),
                    initial_epoch=cfg.get("initial_epoch", 0), shuffle=cfg.get("shuffle", True), validation_split=0.2,
                    verbose=cfg.get("verbose", 0), callbacks=callbacks, distribute=strategy)
evaluated = model.evaluate(x, y, sample_weight=sample_weight, batch_size=10, verbose=0, distribute=strategy)
predicted = model.predict(x, batch_size=10, distribute=strategy)
strategy = strategy_argument if cfg.get("strategy_in_compile") else strategy
calls = {} if strategy is None else {what: stat[0] for what, stat in strategy.stats.items()}
np.savez(os.path.join(cfg["dir"], f"{cfg['name']}-rank{rank}.npz"), *model.get_weights(), predicted=predicted,
         evaluated=np.array(evaluated), history=json.dumps(history.history), steps=steps.count,
         collectives=json.dumps(calls))
