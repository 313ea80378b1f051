"""Training callbacks with Keras' hooks: the Callback base class, History (returned by fit),
EarlyStopping and ModelCheckpoint.

Not the progress bar: fit draws that itself with tqdm.
"""
from __future__ import annotations

import numpy as np


class Callback:
    """Base class: override any of the hooks; `self.model` is set by fit.

    Example:
        >>> class Print(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
    """

    model = None

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
        pass

    def on_train_batch_end(self, batch, logs=None):
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
    """A comparison 'a improves on b' for mode min/max/auto (auto: max for acc-like names)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.endswith("auc"))):
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
    """Save the model (model.save) after each epoch, or only when `monitor` improves.

    Args:
        filepath: may contain format fields from the epoch and logs, e.g. "ckpt-{epoch:02d}.npz"
            (epoch counted from 1, as Keras).
        monitor: log key for save_best_only (default "val_loss"). mode: "auto", "min" or "max".
        save_best_only: save only when the monitored value improves.

    Example:
        >>> model.fit(x, y, validation_split=0.2, callbacks=[ModelCheckpoint("best.npz", save_best_only=True)])
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto"):
        self.filepath, self.monitor, self.save_best_only = str(filepath), monitor, save_best_only
        self._improves, self.best = _better(mode, monitor)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(f"ModelCheckpoint monitors {self.monitor!r}, which is not in the logs "
                                 f"({', '.join(logs)})")
            if not self._improves(logs[self.monitor], self.best):
                return
            self.best = logs[self.monitor]
        self.model.save(self.filepath.format(epoch=epoch + 1, **logs))
