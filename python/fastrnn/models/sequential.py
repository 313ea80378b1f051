"""Sequential: a stack of layers with Keras' compile / fit / evaluate / predict workflow.

Training is forward through the layers, the loss (fused with a final sigmoid/softmax when
possible), backward in reverse, then one optimizer step. Not a functional-API Model: one input,
one output, layers in a line.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from .. import losses, metrics as metrics_mod, optimizers, utils
from ..callbacks import Callback, History
from ..distribute import get as get_strategy
from ..layers import Dense, Layer, deserialize, serialize
from ..layers.base import unique_name
from . import saving, summary as summary_mod


class Sequential:
    """A linear stack of layers.

    Args:
        layers: optional list of layers (same as calling add() on each).
        name: default 'sequential', 'sequential_1', ...

    Example:
        >>> model = Sequential([Embedding(10000, 32), LSTM(32), Dense(1, activation="sigmoid")])
        >>> model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
        >>> history = model.fit(x, y, epochs=10, batch_size=128, validation_split=0.2)
    """

    def __init__(self, layers=None, name=None):
        self.name = name or unique_name("sequential")
        self.layers: list = []
        self.built, self.input_shape, self.output_shape = False, None, None
        self.optimizer = self.loss = None
        self.metric_names: list = []
        self._metric_fns: list = []
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)

    # building
    def add(self, layer) -> None:
        """Append a layer; the model is built as soon as the input shape is known."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a fastrnn layer, got {layer!r}")
        if getattr(layer, "return_state", False):
            raise ValueError(f"layer {layer.name!r} has return_state=True, which a Sequential model cannot pass on")
        self.layers.append(layer)
        if self.built:
            self.build(self.input_shape)
        elif len(self.layers) == 1 and layer.batch_input_shape is not None:
            self.build(layer.batch_input_shape)

    def build(self, input_shape) -> None:
        """Create every layer's weights for inputs of `input_shape` (batch axis first, may be None)."""
        shape = tuple(input_shape)
        self.input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.output_shape, self.built = shape, True

    def _prepare_input(self, x):
        x = np.asarray(x)
        if not self.layers:
            raise RuntimeError(f"model {self.name!r} has no layers")
        if not self.built:
            self.build((None,) + x.shape[1:])
        expected = self.input_shape
        if x.ndim != len(expected) or any(e is not None and e != d for e, d in zip(expected[1:], x.shape[1:])):
            raise ValueError(f"model {self.name!r} expects input of shape {expected}, got data of shape {x.shape}")
        return x

    # weights
    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self.layers for w in layer.trainable_weights]

    def get_weights(self) -> list:
        """Copies of every layer's weights, in layer order."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Overwrite all weights from a get_weights()-shaped list."""
        weights, counts = list(weights), [len(layer.weights) for layer in self.layers]
        if len(weights) != sum(counts):
            raise ValueError(f"model {self.name!r} has {sum(counts)} weight arrays, got {len(weights)}")
        for layer, n in zip(self.layers, counts):
            if n:
                layer.set_weights(weights[:n])
            weights = weights[n:]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def reset_states(self) -> None:
        """Reset the state of every stateful layer."""
        for layer in self.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    def summary(self, line_length=None, positions=None, print_fn=None) -> None:
        """Print the Keras table of layers, output shapes and parameter counts."""
        summary_mod.print_summary(self, line_length, positions, print_fn)

    # training
    def compile(self, optimizer="rmsprop", loss=None, metrics=None) -> None:
        """Choose the optimizer, loss and metrics (names or objects) for fit and evaluate.

        Args:
            optimizer: "sgd", "rmsprop", "adam" or an Optimizer (default "rmsprop", as Keras).
            loss: a loss name (e.g. "binary_crossentropy") or a Loss.
            metrics: list of names ("acc", "accuracy", "mae", ...) or functions (y_true, y_pred).
        """
        self.optimizer = optimizers.get(optimizer)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='binary_crossentropy'")
        self.loss = losses.get(loss)
        self._metric_specs = list(metrics or [])
        self._metric_fns = []
        for spec in self._metric_specs:  # validate names now; 'acc' is resolved once the output is known
            metrics_mod.get(spec, self.loss.name, 1)

    def _require_compiled(self, what):
        if self.loss is None:
            raise RuntimeError(f"model {self.name!r} must be compiled before {what}(): call model.compile(...)")

    def _resolve_metrics(self):
        width = self.output_shape[-1] if self.output_shape else None
        resolved = [metrics_mod.get(spec, self.loss.name, width) for spec in self._metric_specs]
        self.metric_names = [name for name, _ in resolved]
        self._metric_fns = [fn for _, fn in resolved]

    @property
    def _fused(self) -> bool:
        last = self.layers[-1]
        return isinstance(last, Dense) and self.loss.logits_activation == last.activation

    def _forward(self, x, training):
        mask = None
        for layer in self.layers:
            y = layer(x, training=training, mask=mask)
            mask = layer.compute_mask(x, mask)
            x = y
        return x

    def _loss(self, y, out):
        if self._fused:
            return self.loss.value_and_gradient_from_logits(y, self.layers[-1].logits)
        return self.loss.value_and_gradient(y, out)

    def _gradients(self, x, y):
        """Forward, loss and backward on one batch: (loss, outputs, trained weights, their gradients)."""
        out = self._forward(x, training=True)
        loss, grad = self._loss(y, out)
        trainable = [i for i, layer in enumerate(self.layers) if layer.trainable and layer.weights]
        if not trainable:
            return loss, out, [], []
        layers = self.layers[trainable[0]:]  # the first of them gets data: its dx is not needed
        if self._fused:
            grad = self.layers[-1].backward_logits(grad, input_gradient=len(layers) > 1)
            layers = layers[:-1]
        for i in reversed(range(len(layers))):
            grad = layers[i].backward(grad, input_gradient=i > 0)
        weights = [w for i in trainable for w in self.layers[i].weights]
        grads = [self.layers[i].grads[k] for i in trainable for k in self.layers[i]._params]
        return loss, out, weights, grads

    def train_on_batch(self, x, y):
        """One gradient step on one batch; returns (loss, outputs)."""
        self._require_compiled("train_on_batch")
        loss, out, weights, grads = self._gradients(self._prepare_input(x), y)
        if weights:
            self.optimizer.apply(weights, grads)
        return loss, out

    def _train_step(self, x, y, index, strategy):
        """One step on the batch x[index], y[index]; returns its [loss, *metrics]. With a strategy,
        this rank computes its shard and the gradients and values are summed over the ranks."""
        weight = 1.0
        if strategy is not None:
            index, weight = strategy.shard(index)
        xb, yb = x[index], y[index]
        loss, out, weights, grads = self._gradients(xb, yb)
        values = [loss] + [np.mean(fn(yb, out)) for fn in self._metric_fns]
        if strategy is not None:
            grads, values = strategy.reduce(weights, grads, values, weight)
        if weights:
            self.optimizer.apply(weights, grads)
        return np.array(values)

    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, distribute=None) -> History:
        """Train for `epochs` epochs; returns a History with loss, metrics and val_ versions.

        Args:
            x, y: inputs and targets (NumPy arrays, same first dimension).
            batch_size: samples per step (default 32). epochs: index of the last epoch.
            verbose: "auto"/1 progress bar per epoch, 2 one line per epoch, 0 silent.
            callbacks: list of Callback. validation_split: fraction of the data, taken from the end
                before shuffling, held out for validation. validation_data: (x_val, y_val) instead.
            shuffle: reshuffle the training data each epoch. initial_epoch: epoch to start from.
            distribute: None, "mpi" or a fastrnn.distribute.MPIStrategy: data-parallel training
                over the ranks of `mpiexec -n N python train.py`, each computing its shard of every
                batch (same data and seed on every rank). Only rank 0 prints and runs chief_only
                callbacks (ModelCheckpoint); History is the same on every rank.

        Returns:
            History; `history.history['val_acc']` etc.
        """
        self._require_compiled("fit")
        strategy = get_strategy(distribute)
        x, y = self._prepare_input(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same number of samples, got {len(x)} and {len(y)}")
        if validation_data is None and validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must lie in (0, 1), got {validation_split!r}")
            split = int(len(x) * (1 - validation_split))
            x, y, validation_data = x[:split], y[:split], (x[split:], y[split:])
        self._resolve_metrics()
        history = History()
        callbacks = [history] + list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastrnn.callbacks.Callback instances, got {cb!r}")
            cb.set_model(self)
        verbose = 1 if verbose == "auto" else verbose
        if strategy is not None:
            strategy.check_same("samples, batch_size, epochs and initial_epoch", [len(x), batch_size, epochs,
                                                                                 initial_epoch])
            strategy.sync_weights(self.weights)
            if not strategy.is_chief:
                callbacks, verbose = [cb for cb in callbacks if not cb.chief_only], 0
        self.stop_training = False
        for cb in callbacks:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            logs = self._run_epoch(x, y, batch_size, shuffle, callbacks, verbose, f"Epoch {epoch + 1}/{epochs}",
                                   strategy)
            if validation_data is not None:
                values = self.evaluate(*validation_data, batch_size=batch_size, verbose=0, distribute=strategy)
                values = values if isinstance(values, list) else [values]
                logs.update({"val_" + k: v for k, v in zip(["loss"] + self.metric_names, values)})
            if verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
            elif verbose:
                tqdm.write(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if strategy is not None:  # a callback on one rank stops them all
                self.stop_training = strategy.any(self.stop_training)
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end()
        return history

    def _run_epoch(self, x, y, batch_size, shuffle, callbacks, verbose, desc, strategy=None):
        order = utils.rng().permutation(len(x)) if shuffle else np.arange(len(x))
        if strategy is not None and shuffle:  # rank 0's order: dropout draws may desynchronize the generators
            order = strategy.broadcast(order, "shuffle broadcast")
        totals, seen = np.zeros(1 + len(self._metric_fns)), 0
        starts = range(0, len(x), batch_size)
        with tqdm(total=len(starts), desc=desc, unit="batch", disable=verbose != 1, leave=True) as bar:
            for step, start in enumerate(starts):
                for cb in callbacks:
                    cb.on_train_batch_begin(step)
                index = order[start:start + batch_size]
                totals += len(index) * self._train_step(x, y, index, strategy)
                seen += len(index)
                logs = dict(zip(["loss"] + self.metric_names, (totals / seen).tolist()))
                for cb in callbacks:
                    cb.on_train_batch_end(step, logs)
                bar.set_postfix(logs, refresh=False)
                bar.update(1)
        return logs

    def evaluate(self, x, y, batch_size=32, verbose="auto", distribute=None):
        """Loss (and metrics) over (x, y): a float, or [loss, *metrics] when metrics were compiled.
        With `distribute` (as in fit) each rank evaluates its share and every rank gets the total."""
        self._require_compiled("evaluate")
        strategy = get_strategy(distribute)
        x, y = self._prepare_input(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same number of samples, got {len(x)} and {len(y)}")
        self._resolve_metrics()
        samples = len(x)
        if strategy is not None:
            (start, stop), verbose = strategy.split(samples), verbose if strategy.is_chief else 0
            x, y = x[start:stop], y[start:stop]
        totals = np.zeros(1 + len(self._metric_fns))
        for start in tqdm(range(0, len(x), batch_size), desc="evaluate", unit="batch",
                          disable=(1 if verbose == "auto" else verbose) != 1):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            out = self._forward(xb, training=False)
            loss = self._loss(yb, out)[0]
            totals += len(xb) * np.array([loss] + [np.mean(fn(yb, out)) for fn in self._metric_fns])
        if strategy is not None:
            totals = strategy.sum(totals)
        values = (totals / max(samples, 1)).tolist()
        return values if self._metric_fns else values[0]

    def predict(self, x, batch_size=32, verbose=0, distribute=None):
        """The model's outputs for x, computed batch by batch (inference mode: no dropout). With
        `distribute` (as in fit) each rank predicts its share and every rank gets all the outputs."""
        strategy = get_strategy(distribute)
        x = self._prepare_input(x)
        samples = len(x)
        if strategy is not None:
            (start, stop), verbose = strategy.split(samples), verbose if strategy.is_chief else 0
            x = x[start:stop]
        outs = [self._forward(x[start:start + batch_size], training=False)
                for start in tqdm(range(0, len(x), batch_size), desc="predict", unit="batch", disable=verbose != 1)]
        out = np.concatenate(outs) if outs else np.zeros((0,) + tuple(self.output_shape[1:]), self.layers[-1].dtype)
        return out if strategy is None else strategy.gather_rows(out, samples)

    # config and saving
    def get_config(self) -> dict:
        """{"name", "layers": [{"class_name", "config"}, ...]}; from_config rebuilds the model."""
        return {"name": self.name, "layers": [serialize(layer) for layer in self.layers],
                "input_shape": None if self.input_shape is None else list(self.input_shape)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model (fresh weights) from get_config()'s dict."""
        model = cls([deserialize(spec, custom_objects) for spec in config["layers"]], name=config.get("name"))
        if config.get("input_shape") is not None and not model.built:
            model.build(config["input_shape"])
        return model

    def save(self, path) -> None:
        """Write architecture, weights and optimizer state to one file, atomically (see load_model)."""
        saving.save_model(self, path)
