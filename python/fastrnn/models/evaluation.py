"""The half of the training engine that does not train a whole epoch: evaluate, predict, the
one-batch methods (train_on_batch, test_on_batch, predict_on_batch), calling a model on arrays,
and Keras 2's *_generator aliases. Trainer (training.py) inherits it and supplies the steps.

No arithmetic here: the steps are Trainer's, the losses and metrics compiled.py's (the metrics are
fastrnn.metrics objects, started over by each evaluate and *_on_batch call).
"""
from __future__ import annotations

import warnings

import numpy as np
from tqdm.auto import tqdm

from ..distribute import get as get_strategy
from ..layers.input_layer import is_symbolic
from . import compiled
from .data import ArrayFeed, BatchFeed, as_list, is_batch_source


def count_arg(name, value, low=0, none=False):
    """int(value), or a ValueError naming the argument."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"argument {name!r} must be an int >= {low}{' or None' if none else ''}, got {value!r}")
    return int(value)


class Evaluation:
    """evaluate / predict / *_on_batch / __call__ for a Trainer."""

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, distribute=None, class_weight=None, max_queue_size=10,
                 workers=1, use_multiprocessing=False):
        """Loss and metrics over the data: a float (loss alone), a list in Keras' order, or a dict.

        Args:
            x, y, batch_size, sample_weight: as fit; x may be a generator / Sequence (steps:
                batches to draw; default all). class_weight: as fit (a fastrnn extension).
            callbacks: their on_test_* hooks are called. return_dict: {name: value}.
            distribute: as fit: each rank evaluates its share; every rank gets the total.

        Example:
            >>> loss, acc = model.evaluate(x_test, y_test, verbose=0)
        """
        self._require_compiled("evaluate")
        strategy = get_strategy(distribute) if distribute is not None else getattr(self, "_strategy", None)
        feed = self._feed(x, y, sample_weight, class_weight, batch_size, steps, "evaluate")
        if strategy is not None and not isinstance(feed, ArrayFeed):
            raise ValueError("argument 'distribute' needs array data: a generator cannot be split over the ranks")
        logs = self._evaluate_feed(None, feed, verbose, strategy, list(callbacks or []))
        return self._returned(self._plan(), logs, return_dict)

    def _evaluate_feed(self, plan, feed, verbose, strategy, callbacks):
        """Logs over a feed, the metrics started over. With a strategy each rank takes its shard
        of every batch, as in training (a batch's masked mean depends on the whole batch); the
        batch logs callbacks see are then this rank's part, the returned logs the total (the
        losses and the metrics' states summed over the ranks in one allreduce)."""
        verbose = 1 if verbose == "auto" else verbose
        if strategy is not None:
            verbose = verbose if strategy.is_chief else 0
        for cb in callbacks:
            cb.on_test_begin()
        totals, seen = None, 0
        for step, (xs, ys, sws, rows, share) in enumerate(tqdm(feed.epoch(False, strategy), total=feed.steps,
                                                               desc="evaluate", unit="batch", disable=verbose != 1)):
            if totals is None:  # the plan once the model is built (Sequential builds from the first data)
                plan = plan or self._plan()
                totals = np.zeros(plan.size)
                plan.reset_metrics()
            for cb in callbacks:
                cb.on_test_batch_begin(step)
            self._accumulate(totals, self._test_step(plan, xs, ys, sws, share, strategy), rows, share)
            seen += rows
            for cb in callbacks:
                cb.on_test_batch_end(step, plan.logs(totals, seen))
        if totals is None:  # no batch
            plan = plan or self._plan()
            totals = np.zeros(plan.size)
            plan.reset_metrics()
        if strategy is not None:
            summed = strategy.sum(np.concatenate([totals, plan.metric_states()]))
            totals = summed[:plan.size]
            plan.set_metric_states(summed[plan.size:])
        logs = plan.logs(totals, seen)
        for cb in callbacks:
            cb.on_test_end(logs)
        return logs

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None, distribute=None, max_queue_size=10,
                workers=1, use_multiprocessing=False):
        """The model's outputs for x, batch by batch, in inference mode (no dropout): an array, or
        a list / dict of arrays for several outputs. x may be a generator / Sequence yielding x
        (or (x, ...) tuples; steps: batches to draw). With `distribute` (as fit) each rank
        predicts its share and every rank gets all the outputs.

        Example:
            >>> probabilities = model.predict(x_test, batch_size=256)
        """
        strategy = get_strategy(distribute) if distribute is not None else getattr(self, "_strategy", None)
        callbacks = list(callbacks or [])
        if is_batch_source(x):
            def check(item, step):
                try:
                    return self._inputs(item[0] if isinstance(item, tuple) else item), [], []
                except ValueError as err:
                    raise ValueError(f"predict: batch {step} of the generator: {err}") from None
            feed = BatchFeed(x, check, count_arg("steps", steps, 1, none=True), what="predict")
        else:
            xs = self._inputs(x)
            feed = ArrayFeed(xs, [], [], count_arg("batch_size", batch_size, 1, none=True) or 32,
                             count_arg("steps", steps, 1, none=True))
        samples = getattr(feed, "n", None)
        if strategy is not None:
            if samples is None:
                raise ValueError("argument 'distribute' needs array data: a generator cannot be split over the ranks")
            (start, stop), verbose = strategy.split(samples), verbose if strategy.is_chief else 0
            feed = feed.rows(start, stop)
        for cb in callbacks:
            cb.on_predict_begin()
        parts = [[] for _ in self.output_names]
        for step, (xs, _, _, _, _) in enumerate(tqdm(feed.epoch(), total=feed.steps, desc="predict", unit="batch",
                                                     disable=verbose != 1)):
            for cb in callbacks:
                cb.on_predict_batch_begin(step)
            outs = self._graph.forward(xs, training=False)[0]
            for part, out in zip(parts, outs):
                part.append(out)
            for cb in callbacks:
                cb.on_predict_batch_end(step, {"outputs": self._pack(outs)})
        outs = [np.concatenate(p) if p else np.zeros((0,) + tuple(d or 0 for d in shape[1:]), dtype)
                for p, shape, dtype in zip(parts, self._output_shapes, self._output_dtypes)]
        if strategy is not None:
            outs = [strategy.gather_rows(out, samples) for out in outs]
        for cb in callbacks:
            cb.on_predict_end()
        return self._pack(outs)

    # one batch
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One gradient step on one batch; returns its loss (and metrics) before the step, as
        evaluate returns them.

        Example:
            >>> loss, acc = model.train_on_batch(x[:32], y[:32])
        """
        self._require_compiled("train_on_batch")
        xs, ys, sws = self._arrays(x, y, sample_weight, class_weight)
        plan = self._plan()
        totals = np.zeros(plan.size)
        plan.reset_metrics()  # Keras resets the metrics: the results are this batch's
        self._accumulate(totals, self._train_step(plan, xs, ys, sws), len(xs[0]))
        return self._returned(plan, plan.logs(totals, len(xs[0])), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, without training."""
        self._require_compiled("test_on_batch")
        xs, ys, sws = self._arrays(x, y, sample_weight, None)
        plan = self._plan()
        totals = np.zeros(plan.size)
        plan.reset_metrics()
        self._accumulate(totals, self._test_step(plan, xs, ys, sws), len(xs[0]))
        return self._returned(plan, plan.logs(totals, len(xs[0])), return_dict)

    def predict_on_batch(self, x):
        """The outputs for one batch (inference mode)."""
        return self._pack(self._graph.forward(self._inputs(x), training=False)[0])

    def __call__(self, x, training=False, mask=None, **kwargs):
        """The model as a function on arrays: model(x) is predict_on_batch(x); training=True
        runs dropout as in training."""
        if is_symbolic(x, kwargs):
            raise TypeError(f"model {self.name!r} cannot be called on KerasTensors (nesting models is not supported):"
                            " call its layers on them, or build one Model from the whole graph")
        if kwargs or mask is not None:
            raise TypeError(f"model {self.name!r}: unexpected argument(s) {', '.join(map(repr, kwargs)) or 'mask'}")
        xs = self._inputs(x)
        return self._pack(self._graph.forward(xs, training=bool(training))[0])

    # what tests of the gradient use: the forward pass and the loss of its outputs
    def _forward(self, x, training=False):
        plan = self._plan() if self.compiled else None
        outs, masks, logits = self._graph.forward(self._inputs(x), training, logits_of=plan.fused_steps if plan else ())
        self._last_run = (masks, logits)
        return self._pack(outs)

    def _loss(self, y, out):
        """(loss, gradients on the outputs) of the outputs of the last _forward."""
        plan, (masks, logits) = self._plan(), self._last_run
        outs = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, list) else [out]
        ys = [None if a is None else np.asarray(a) for a in as_list(self, y, self.output_names, "y", "output")]
        total, _, d_outputs, _ = compiled.batch_loss(plan, ys, outs, masks, logits, [None] * len(outs))
        return total, d_outputs

    # Keras 2's generator methods
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0):
        """Keras 2's fit_generator: fit(generator, ...) (deprecated, as in Keras)."""
        warnings.warn("Model.fit_generator is deprecated: Model.fit accepts generators", DeprecationWarning,
                      stacklevel=2)
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        validation_freq=validation_freq, class_weight=class_weight, shuffle=shuffle,
                        initial_epoch=initial_epoch)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0):
        """Keras 2's evaluate_generator: evaluate(generator, steps=...) (deprecated)."""
        warnings.warn("Model.evaluate_generator is deprecated: Model.evaluate accepts generators",
                      DeprecationWarning, stacklevel=2)
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        """Keras 2's predict_generator: predict(generator, steps=...) (deprecated)."""
        warnings.warn("Model.predict_generator is deprecated: Model.predict accepts generators",
                      DeprecationWarning, stacklevel=2)
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose)
