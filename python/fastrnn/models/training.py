"""The training engine both model kinds share (Keras' Trainer): compile, the data checks, the
training step and fit. A step is the graph's forward, the losses (fused with a final
sigmoid/softmax when possible), the graph's backward and one optimizer step. evaluate, predict
and the one-batch methods are in evaluation.py (inherited).

Not the graph (graph.py) and not the per-output losses and metrics (compiled.py). A subclass sets
name, input_names, output_names, _input_shapes, _output_shapes and _graph (after _ensure_built).
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from .. import metrics as metrics_mod, optimizers
from ..callbacks import Callback, History
from ..distribute import get as get_strategy
from . import compiled
from .data import ArrayFeed, BatchFeed, as_list, check_class_weight, class_sample_weight, is_batch_source, sample_count
from .evaluation import Evaluation, count_arg


class Trainer(Evaluation):
    """compile / fit / evaluate / predict for a model that runs a Graph (see module docstring)."""

    optimizer = loss = loss_weights = None
    stop_training = False
    _metric_specs: list = []
    _weighted_metric_specs = None
    _last_run = None

    # compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, jit_compile=None, distribute=None, **kwargs):
        """Choose the optimizer, losses and metrics for fit and evaluate.

        Args:
            optimizer: "sgd", "rmsprop", "adam" or an Optimizer (default "rmsprop", as Keras).
            loss: a loss name (e.g. "binary_crossentropy") or Loss; with several outputs, a list
                (one per output, None for none) or a dict by output name, else one for every output.
            metrics: names ("acc", "mae", "auc", "precision", "recall", ...), functions (y_true,
                y_pred) or fastrnn.metrics.Metric objects (AUC(curve="PR"), ...); with several
                outputs, a list of lists or a dict by output name (a flat list applies to every
                output). Metrics start over each epoch and each evaluate. Masks of per-step outputs
                weigh their steps (AUC, precision and recall too, which Keras does not mask);
                sample weights do not apply (Keras 3).
            loss_weights: a number per output (list or dict): the loss is the weighted sum.
            weighted_metrics: as metrics, with sample weights applied.
            run_eagerly, jit_compile: accepted for Keras code; fastrnn always runs eagerly.
            distribute: None, "mpi" or a fastrnn.distribute.MPIStrategy: the default of fit,
                evaluate and predict when they are not given one (see fit).

        Example:
            >>> model.compile("adam", loss=["binary_crossentropy", "mse"], loss_weights=[1.0, 0.2],
            ...               metrics={"label": ["acc"]})
        """
        if kwargs:
            raise TypeError(f"compile: unexpected argument(s) {', '.join(map(repr, kwargs))}")
        opt = optimizers.get(optimizer)
        strategy = get_strategy(distribute)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='binary_crossentropy'")
        names = self.output_names
        losses = compiled.per_output(loss, names, "loss", compiled.loss_leaf)
        if all(item is None for item in losses):
            raise ValueError("argument 'loss': at least one output needs a loss")
        weights = [None] * len(names) if loss_weights is None else \
            compiled.per_output(loss_weights, names, "loss_weights", compiled.weight_leaf)
        for spec, argument in ((metrics, "metrics"), (weighted_metrics, "weighted_metrics")):
            for k, entries in enumerate(compiled.metric_lists(spec, names, argument)):
                for entry in entries:  # names checked now; 'acc' is resolved once the output is known
                    metrics_mod.get_metric(entry, "" if losses[k] is None else losses[k].name, 1)
        self.optimizer = opt
        self.loss = losses[0] if not isinstance(loss, (list, tuple, dict)) else \
            (dict(zip(names, losses)) if isinstance(loss, dict) else losses)
        self.loss_weights = loss_weights
        self._compiled_losses, self._compiled_loss_weights = losses, weights
        self._metric_specs = list(metrics) if isinstance(metrics, (list, tuple)) else (metrics or [])
        self._weighted_metric_specs = weighted_metrics
        self._strategy = strategy

    @property
    def compiled(self) -> bool:
        return self.optimizer is not None and getattr(self, "_compiled_losses", None) is not None

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"model {self.name!r} must be compiled before {what}(): call model.compile(...)")

    def _plan(self):
        plan = compiled.resolve(self)
        self.metric_names = plan.metric_names
        return plan

    @property
    def metrics_names(self) -> list:
        """The names fit logs and evaluate returns (once the model is built), in the logs' order."""
        return self._plan().names if self.compiled and self.built else ["loss"] if self.compiled else []

    # data
    def _inputs(self, x):
        if x is None:
            raise ValueError(f"model {self.name!r} needs input data: argument 'x' is None")
        xs = [np.asarray(a) for a in as_list(self, x, self.input_names, "x", "input")]
        self._ensure_built(xs)
        single = len(xs) == 1
        for name, shape, a in zip(self.input_names, self._input_shapes, xs):
            if a.ndim != len(shape) or any(e is not None and e != d for e, d in zip(shape[1:], a.shape[1:])):
                label = "input" if single else f"input {name!r}"
                raise ValueError(f"model {self.name!r} expects {label} of shape {tuple(shape)}, got data of shape "
                                 f"{a.shape}")
        return xs

    def _arrays(self, x, y, sample_weight, class_weight):
        """(xs, ys, sws) checked: one array per input and output, one number of samples."""
        xs = self._inputs(x)
        names = self.output_names
        needed = [loss is not None for loss in self._compiled_losses]
        if y is None:
            raise ValueError(f"model {self.name!r} needs targets: argument 'y' is None")
        ys = [None if a is None else np.asarray(a) for a in as_list(self, y, names, "y", "output")]
        for name, a, need in zip(names, ys, needed):
            if need and a is None:
                raise ValueError(f"argument 'y' has no targets for output {name!r}, which has a loss")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("pass either 'sample_weight' or 'class_weight', not both")
            if len(names) > 1:
                raise ValueError("argument 'class_weight' is only supported for models with one output; pass "
                                 "sample_weight per output instead")
            sample_weight = class_sample_weight(check_class_weight(class_weight, self._output_shapes[0]), ys[0])
        if sample_weight is None or not isinstance(sample_weight, (list, tuple, dict)) or len(names) == 1:
            one = None if sample_weight is None else np.asarray(
                as_list(self, sample_weight, names[:1], "sample_weight", "output")[0], np.float64)
            sws = [one] * len(names)
        else:
            sws = [None if s is None else np.asarray(s, np.float64)
                   for s in as_list(self, sample_weight, names, "sample_weight", "output")]
        for s in sws:
            if s is not None and s.ndim == 0:
                raise ValueError(f"argument 'sample_weight' must have one weight per sample, got shape {s.shape}")
        sample_count(xs + ys + sws, ["x"] * len(xs) + ["y"] * len(ys) + ["sample_weight"] * len(sws))
        return xs, ys, sws

    def _feed(self, x, y, sample_weight, class_weight, batch_size, steps, what, shuffle=False):
        """An ArrayFeed for arrays (checked now), a BatchFeed for generators (checked per batch)."""
        batch_size = count_arg("batch_size", batch_size, 1, none=True)
        steps = count_arg("steps", steps, 1, none=True)
        if not is_batch_source(x):
            return ArrayFeed(*self._arrays(x, y, sample_weight, class_weight), batch_size or 32, steps)
        if y is not None or sample_weight is not None:
            raise ValueError(f"{what}: x is a generator or Sequence, which yields the targets (and sample weights) "
                             "itself: arguments 'y' and 'sample_weight' must be None")

        def check(item, step):
            if not isinstance(item, tuple) or len(item) not in (2, 3):
                raise ValueError(f"{what}: batch {step} of the generator must be a tuple (x, y) or (x, y, "
                                 f"sample_weight), got {type(item).__name__}")
            try:
                return self._arrays(item[0], item[1], item[2] if len(item) == 3 else None, class_weight)
            except ValueError as err:
                raise ValueError(f"{what}: batch {step} of the generator: {err}") from None
        return BatchFeed(x, check, steps, shuffle, what)

    def _pack(self, outs):
        """Outputs as the model gives them: one array, a list, or a dict by output name."""
        if self._output_dict:
            return dict(zip(self.output_names, outs))
        return outs[0] if len(outs) == 1 and not self._output_list else list(outs)

    # steps
    def _train_step(self, plan, xs, ys, sws, share=1.0, strategy=None):
        """Forward, loss, backward and an optimizer step on one batch (this rank's shard of it);
        updates the metrics with the whole batch and returns its stats (see compiled.Plan.size),
        summed over the ranks."""
        outs, masks, logits = self._graph.forward(xs, training=True, logits_of=plan.fused_steps)
        total, values, d_outputs, fused = compiled.batch_loss(plan, ys, outs, masks, logits, sws, share, strategy)
        weights, grads = self._graph.backward(d_outputs, fused)
        stats = [total] + values
        if strategy is None:
            plan.update_metrics(ys, outs, masks, sws)
        else:
            # this shard's metric counts alone, summed over the ranks in the gradients' allreduce, then
            # added to the epoch's: every rank holds the whole batch's, as one process would
            before = plan.metric_states()
            plan.reset_metrics()
            plan.update_metrics(ys, outs, masks, sws, counted=share > 0)
            batch = plan.metric_states()
            grads, stats = strategy.reduce(weights, grads, stats, share, states=batch)
            if before.size == batch.size:  # else a metric took its shapes from this batch, right after a reset
                batch += before
            plan.set_metric_states(batch)
        if weights:
            self.optimizer.apply(weights, grads)
        return np.asarray(stats, np.float64)

    def _test_step(self, plan, xs, ys, sws, share=1.0, strategy=None):
        """One batch's stats without training (this rank's, scaled as in _train_step, not summed);
        the metrics take this rank's shard (evaluate sums their states over the ranks at the end)."""
        outs, masks, logits = self._graph.forward(xs, training=False, logits_of=plan.fused_steps)
        total, values, _, _ = compiled.batch_loss(plan, ys, outs, masks, logits, sws, share, strategy)
        plan.update_metrics(ys, outs, masks, sws, counted=share > 0)
        return np.asarray([total] + values, np.float64)

    @staticmethod
    def _accumulate(totals, stats, rows, share=1.0):
        """Add a batch's stats: losses weighted by the batch's rows (Keras' loss tracker; a rank
        with no rows of the batch adds none)."""
        totals += rows * share * stats

    def _returned(self, plan, logs, return_dict):
        if return_dict:
            return logs
        values = [logs[name] for name in plan.list_order]
        return values[0] if len(values) == 1 else values

    # fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            distribute=None, max_queue_size=10, workers=1, use_multiprocessing=False) -> History:
        """Train for `epochs` epochs; returns a History with the losses, metrics and val_ versions.

        Args:
            x, y: arrays (one per input / output: a list, or a dict by name), or x a generator,
                iterator, re-iterable object or keras-style Sequence yielding (x, y) or
                (x, y, sample_weight) batches (y then None).
            batch_size: samples per step for arrays (default 32). epochs: index of the last epoch.
            verbose: "auto"/1 progress bar per epoch, 2 one line per epoch, 0 silent.
            callbacks: list of Callback. validation_split: fraction of the arrays, taken from the
                end before shuffling, held out. validation_data: (x, y), (x, y, sample_weight) or
                a generator/Sequence (validation_steps batches each time; needed for an iterator).
            shuffle: reshuffle arrays (or a Sequence's batch order) each epoch.
            class_weight: {class: weight} (one output). sample_weight: per sample (samples,) or
                per step (samples, steps); one array for every output, or a list / dict.
            initial_epoch: epoch to start from. steps_per_epoch: batches per epoch (a generator
                is drawn from continuously; running out stops training with a warning).
            validation_batch_size: default batch_size. validation_freq: validate every n epochs
                (or at the epochs listed, counted from 1).
            distribute: None, "mpi" or a fastrnn.distribute.MPIStrategy (array data only): each
                rank of `mpiexec -n N` computes its shard of every batch. Only rank 0 prints and
                runs chief_only callbacks (ModelCheckpoint); History is the same on every rank.
            max_queue_size, workers, use_multiprocessing: Keras 2's; batches are drawn here.

        Returns:
            History; `history.history['val_acc']` etc.

        Example:
            >>> model.fit(x, y, epochs=10, batch_size=128, validation_split=0.2)
            >>> model.fit(batches(), steps_per_epoch=50, epochs=3, validation_data=(x_val, y_val))
        """
        self._require_compiled("fit")
        strategy = get_strategy(distribute) if distribute is not None else getattr(self, "_strategy", None)
        epochs, initial_epoch = count_arg("epochs", epochs), count_arg("initial_epoch", initial_epoch)
        steps_per_epoch = count_arg("steps_per_epoch", steps_per_epoch, 1, none=True)
        if isinstance(validation_freq, (list, tuple, set)):
            freq = {count_arg("validation_freq", f, 1) for f in validation_freq}
            due = lambda epoch: epoch + 1 in freq  # noqa: E731
        else:
            freq = count_arg("validation_freq", validation_freq, 1)
            due = lambda epoch: (epoch + 1) % freq == 0  # noqa: E731
        train = self._feed(x, y, sample_weight, class_weight, batch_size, steps_per_epoch, "fit", shuffle)
        val_batch = count_arg("validation_batch_size", validation_batch_size or batch_size, 1, none=True)
        if validation_data is None and validation_split:
            if not isinstance(train, ArrayFeed):
                raise ValueError("argument 'validation_split' needs array data; pass validation_data with a generator")
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must lie in (0, 1), got {validation_split!r}")
            start = int(train.n * (1 - validation_split))  # the last samples, before shuffling (Keras)
            train, val = train.rows(0, start, steps_per_epoch), train.rows(start, train.n, None, val_batch)
        else:
            val = self._validation_feed(validation_data, validation_steps, val_batch)
        verbose = 1 if verbose == "auto" else verbose
        history = History()
        callbacks = [history] + list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastrnn.callbacks.Callback instances, got {cb!r}")
        if strategy is not None:
            if not isinstance(train, ArrayFeed):
                raise ValueError("argument 'distribute' needs array data: a generator cannot be split over the ranks")
            strategy.check_same("samples, batch_size, epochs and initial_epoch",
                                [train.n, train.batch_size, epochs, initial_epoch])
            strategy.sync_weights(self.weights)
            if not strategy.is_chief:
                callbacks, verbose = [cb for cb in callbacks if not cb.chief_only], 0
        for cb in callbacks:
            cb.set_model(self)
        self.stop_training = False
        plan = None
        for cb in callbacks:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            logs, plan = self._run_epoch(plan, train, shuffle, callbacks, verbose, f"Epoch {epoch + 1}/{epochs}",
                                         strategy)
            train.end_epoch()
            if logs is None:  # the generator had nothing left
                break
            if val is not None and due(epoch):
                val_logs = self._evaluate_feed(plan, val, 0, strategy, callbacks)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            if verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - " + _shown(logs))
            elif verbose:
                tqdm.write(_shown(logs))
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if strategy is not None:  # a callback on one rank stops them all
                self.stop_training = strategy.any(self.stop_training)
            if self.stop_training or train.ran_out:
                break
        for cb in callbacks:
            cb.on_train_end()
        return history

    def _validation_feed(self, data, steps, batch_size):
        """The feed of validation_data (None: no validation)."""
        if data is None:
            return None
        if is_batch_source(data):
            feed = self._feed(data, None, None, None, None, steps, "validation_data")
            if feed.iterator and steps is None:
                raise ValueError("argument 'validation_steps' is needed when validation_data is a generator or "
                                 "iterator (how many batches to draw each time)")
            return feed
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError("argument 'validation_data' must be (x_val, y_val), (x_val, y_val, sample_weight) or a "
                             f"generator / Sequence, got {type(data).__name__}")
        return self._feed(data[0], data[1], data[2] if len(data) == 3 else None, None, batch_size, steps,
                          "validation_data")

    def _run_epoch(self, plan, feed, shuffle, callbacks, verbose, desc, strategy):
        """One epoch; returns (logs, plan), logs None when the feed gave no batch."""
        totals, seen, logs = None, 0, None
        with tqdm(total=feed.steps, desc=desc, unit="batch", disable=verbose != 1, leave=True) as bar:
            for step, (xs, ys, sws, rows, share) in enumerate(feed.epoch(shuffle, strategy)):
                if plan is None:  # built by now (Sequential builds from the first data)
                    plan = self._plan()
                if totals is None:
                    totals = np.zeros(plan.size)
                    plan.reset_metrics()
                for cb in callbacks:
                    cb.on_train_batch_begin(step)
                self._accumulate(totals, self._train_step(plan, xs, ys, sws, share, strategy), rows)
                seen += rows
                logs = plan.logs(totals, seen)
                for cb in callbacks:
                    cb.on_train_batch_end(step, logs)
                bar.set_postfix(logs, refresh=False)
                bar.update(1)
        return (None if logs is None else dict(logs)), plan


def _shown(logs) -> str:
    """'loss: 0.1234 - auc: 0.9000': logs as the progress lines print them (arrays per threshold too)."""
    def value(v):
        return f"{v:.4f}" if np.ndim(v) == 0 else np.array2string(np.asarray(v), precision=4, separator=", ")
    return " - ".join(f"{k}: {value(v)}" for k, v in logs.items())
