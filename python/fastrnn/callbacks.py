"""Training callbacks with Keras' hooks: the Callback base class, History (returned by fit),
EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, CSVLogger,
LambdaCallback and TerminateOnNaN.

Not the progress bar: fit draws that itself with tqdm.
"""
from __future__ import annotations

import csv
import inspect
import io
import math
import os
import re
import warnings

import numpy as np

from ._atomic_write import atomic_write


class Callback:
    """Base class: override any of the hooks; `self.model` is set by fit.

    Under a distributed fit (fit(..., distribute="mpi")) a callback runs on every rank, where it
    sees the same logs, unless its class sets `chief_only = True` (ModelCheckpoint does): then it
    runs on rank 0 alone, as one that writes files or prints should.

    Example:
        >>> class Print(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
    """

    model = None
    chief_only = False  # True: rank 0 alone runs it in a distributed fit

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)  # Keras 2's name, still called as Keras 3 does

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch, logs=None):
        """Keras 2's name of on_train_batch_begin (which calls it)."""

    def on_batch_end(self, batch, logs=None):
        """Keras 2's name of on_train_batch_end (which calls it)."""

    # evaluate (and validation inside fit) and predict, as Keras names them
    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


class History(Callback):
    """Records each epoch's logs: `history.history['loss']`, `['val_acc']`, ...; `epoch` lists the
    epoch indices."""

    def __init__(self):
        self.history: dict = {}
        self.epoch: list = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _better(mode, monitor):
    """A comparison 'a improves on b' for mode min/max/auto (auto: max for accuracy, AUC,
    precision and recall, whose Keras metrics go up, also as 'val_kind_auc_1')."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    name = re.sub(r"_\d+$", "", monitor)  # a second metric of a name is logged as <name>_1
    if mode == "max" or (mode == "auto" and ("acc" in monitor or name.endswith(("auc", "precision", "recall")))):
        return np.greater, -np.inf
    return np.less, np.inf


class EarlyStopping(Callback):
    """Stop training when `monitor` has not improved by more than min_delta for `patience` epochs.

    Args:
        monitor: a log key, default "val_loss". min_delta: smallest change that counts.
        patience: epochs without improvement before stopping. mode: "auto", "min" or "max".
        baseline: a value the monitor must beat. restore_best_weights: at the end, put back the
            weights of the best epoch.

    Example:
        >>> model.fit(x, y, validation_split=0.2, callbacks=[EarlyStopping(patience=2)])
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", baseline=None,
                 restore_best_weights=False):
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self._improves, self._initial = _better(mode, monitor)
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None
        self.best = self._initial if self.baseline is None else self.baseline

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in (logs or {}):
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which is not in the logs "
                             f"({', '.join(logs or {})})")
        current = logs[self.monitor]
        shift = self.min_delta if self._improves is np.greater else -self.min_delta
        if self._improves(current - shift, self.best):
            self.best, self.wait = current, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (model.save), or its weights (model.save_weights), after each epoch or every
    `save_freq` batches, always or only when `monitor` improves.

    Args:
        filepath: may contain format fields from the epoch and logs, e.g. "ckpt-{epoch:02d}.npz" or
            "w-{epoch:02d}-{val_loss:.2f}.npz" (epoch counted from 1, as Keras; {batch} too when
            saving every save_freq batches). Missing folders are created.
        monitor: log key for save_best_only (default "val_loss"). verbose: 1 prints each save.
        save_best_only: save only when the monitored value improves.
        save_weights_only: call model.save_weights(path) instead of model.save(path).
        mode: "auto", "min" or "max". save_freq: "epoch" (default) or a number of batches.
        initial_value_threshold: the value the monitor must beat first (save_best_only).

    Example:
        >>> model.fit(x, y, validation_split=0.2, callbacks=[ModelCheckpoint("best.npz", save_best_only=True)])
    """

    chief_only = True  # one writer under a distributed fit: rank 0

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        self.filepath, self.monitor, self.save_best_only = os.fspath(filepath), monitor, save_best_only
        self._improves, self.best = _better(mode, monitor)
        if initial_value_threshold is not None:
            self.best = initial_value_threshold
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: argument 'save_freq' must be 'epoch' or an int >= 1, got {save_freq!r}")
        self.verbose, self.save_weights_only, self.save_freq = verbose, bool(save_weights_only), save_freq
        self._epoch, self._batches_since_save = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1  # counted across epochs, as Keras counts them
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        fields = {"epoch": epoch + 1, **logs} if batch is None or "batch" in logs else \
            {"epoch": epoch + 1, "batch": batch + 1, **logs}
        try:
            path = self.filepath.format(**fields)
        except (KeyError, IndexError) as err:
            raise KeyError(f"ModelCheckpoint: cannot format the filepath {self.filepath!r} from the epoch and the "
                           f"logs ({', '.join(fields)}): {err!r}") from None
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(f"ModelCheckpoint monitors {self.monitor!r}, which is not in the logs "
                                 f"({', '.join(logs)})")
            if not self._improves(logs[self.monitor], self.best):
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{logs[self.monitor]:.5f}, saving model to {path}")
            self.best = logs[self.monitor]
        elif self.verbose:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


def _monitored(owner, monitor, logs):
    """logs[monitor], or a ValueError naming the keys there are."""
    if monitor not in logs:
        raise ValueError(f"{owner} monitors {monitor!r}, which is not in the logs ({', '.join(logs)})")
    return logs[monitor]


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` has not improved by more than
    min_delta for `patience` epochs, then wait `cooldown` epochs; never below min_lr. Adds the
    current rate to the logs as "learning_rate".

    Args:
        monitor: a log key (default "val_loss"). factor: < 1 (default 0.1). patience: default 10.
        verbose: 1 prints each reduction. mode: "auto", "min" or "max". min_delta: default 1e-4
            (Keras 2's `epsilon=` is accepted). cooldown: default 0. min_lr: default 0.

    Example:
        >>> model.fit(x, y, validation_split=0.2, callbacks=[ReduceLROnPlateau(factor=0.5, patience=2)])
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        if "epsilon" in kwargs:  # Keras 2's name of min_delta
            warnings.warn("ReduceLROnPlateau: 'epsilon' is deprecated, use 'min_delta'", DeprecationWarning,
                          stacklevel=2)
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected argument(s) {', '.join(map(repr, kwargs))}")
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau: argument 'factor' must be a number in [0, 1), got {factor!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), patience, verbose
        self.min_delta, self.cooldown, self.min_lr = abs(min_delta), cooldown, float(min_lr)
        self._improves, self._initial = _better(mode, monitor)

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = self._initial, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = optimizer.learning_rate
        current = _monitored("ReduceLROnPlateau", self.monitor, logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        shift = self.min_delta if self._improves is np.greater else -self.min_delta
        if self._improves(current - shift, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = optimizer.learning_rate
                if old > np.float32(self.min_lr):  # Keras compares with the float32 bound
                    optimizer.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                              f"{optimizer.learning_rate}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


def _positional_arity(fn):
    """How many positional arguments fn takes (2 or more: it wants the rate too); None if unknown."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to schedule(epoch, lr) (Keras 3) or
    schedule(epoch) (Keras 2), epochs counted from 0. Adds the rate to the logs as
    "learning_rate".

    Args:
        schedule: a function (epoch, current rate) -> rate, or epoch -> rate.
        verbose: 1 prints each new rate.

    Example:
        >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.5)
    """

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise ValueError(f"LearningRateScheduler: argument 'schedule' must be a function, got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose
        self._arity = _positional_arity(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if self._arity is None:  # no signature to read: Keras' way, the new form first
            try:
                rate = self.schedule(epoch, optimizer.learning_rate)
            except TypeError:
                rate = self.schedule(epoch)
        else:
            rate = self.schedule(epoch, optimizer.learning_rate) if self._arity >= 2 else self.schedule(epoch)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a number, got {rate!r} at epoch {epoch}")
        optimizer.learning_rate = float(rate)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(rate)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (columns: epoch, then the log keys sorted,
    as Keras writes them). The file is replaced atomically after each epoch, so it is always whole.

    Args:
        filename: the CSV file. separator: one character (default ","). append: keep the rows of
            an existing file (its header is kept, no second header is written).

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[CSVLogger("training.csv")])
    """

    chief_only = True  # one writer under a distributed fit: rank 0

    def __init__(self, filename, separator=",", append=False):
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: argument 'separator' must be one character, got {separator!r}")
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.keys, self._text, self._header = None, "", True

    def on_train_begin(self, logs=None):
        self._text, self.keys = "", None
        if self.append and os.path.isfile(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as f:  # newline="": keep the file's line ends
                self._text = f.read()
            if self._text and not self._text.endswith("\n"):
                self._text += "\r\n"
        self._header = not self._text.split("\n", 1)[0]  # Keras: a header unless the file has a first line

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]  # Keras' columns for a later validation
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.sep)  # the excel dialect, with \r\n line ends, as Keras
        if self._header:
            writer.writerow(["epoch"] + self.keys)
            self._header = False
        writer.writerow([epoch] + [_csv_value(logs.get(k, "NA")) for k in self.keys])
        self._text += out.getvalue()
        with atomic_write(self.filename) as f:
            f.write(self._text.encode("utf-8"))


def _csv_value(value):
    """A log value as Keras writes it: sequences as "[a, b]"."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f"[{', '.join(map(str, np.ravel(value)))}]"


class LambdaCallback(Callback):
    """A callback made of functions: on_epoch_begin/on_epoch_end(epoch, logs),
    on_train_begin/on_train_end(logs), on_train_batch_begin/on_train_batch_end(batch, logs) (also
    Keras 2's on_batch_begin/on_batch_end, and any other hook by its name).

    Example:
        >>> print_loss = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end, "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end, **kwargs}
        for name, fn in hooks.items():
            if not (name.startswith("on_") and callable(getattr(Callback, name, None))):
                raise TypeError(f"LambdaCallback: {name!r} is not a callback hook")
            if fn is not None and not callable(fn):
                raise ValueError(f"LambdaCallback: {name} must be a function, got {fn!r}")
            if fn is not None:
                setattr(self, name, _passing_logs(fn, "epoch" in name or "batch" in name))


def _passing_logs(fn, indexed):
    """fn called as Keras calls hooks, with logs always passed (None when the caller gives none)."""
    def hook(*args, logs=None):
        return fn(*args) if len(args) == 1 + indexed else fn(*args, logs)
    return hook


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite (or raise, with raise_error=True).

    Example:
        >>> model.fit(x, y, callbacks=[TerminateOnNaN()])
    """

    def __init__(self, raise_error=False):
        self.raise_error = bool(raise_error)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}: {loss}; training terminated")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
