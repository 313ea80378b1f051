"""The graph both model kinds run: steps (one layer call each) in topological order over numbered
tensors. Forward calls the layers in order, passing masks along as Keras does; backward calls
them in reverse, summing the gradients of a tensor that feeds several layers, and collects the
weight gradients (summed over the calls of a shared layer).

Not a tracer: a Sequential model lists its layers as a line, a functional Model lists the Nodes
recorded by calling layers on KerasTensors. No arithmetic here beyond adding gradients.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..layers.base import IndexedRows
from ..ops import sum_rows_by_id

_MISSING = object()


class Step(NamedTuple):
    """One layer call: input tensor ids (several for a merge layer: `listed`), initial_state ids,
    output ids (several when the layer returns a list: `multi_output`)."""

    layer: object
    inputs: tuple
    listed: bool
    states: tuple
    outputs: tuple
    multi_output: bool


def _add(a, b, table_rows=None):
    """a + b for gradients; IndexedRows (an embedding's sparse rows, of a table of table_rows
    rows) are joined and the rows of one id summed."""
    if a is None:
        return b
    if isinstance(a, IndexedRows):
        ids, rows = np.concatenate([a.indices, b.indices]), np.concatenate([a.values, b.values])
        return IndexedRows(*sum_rows_by_id(ids, rows, table_rows))
    return a + b


class Graph:
    """Steps over tensors 0..n-1, tensors `inputs` fed by the caller and `outputs` returned.

    Args:
        inputs: ids of the model's input tensors, in order. steps: Steps in topological order.
        outputs: ids of the model's output tensors, in order (an id may repeat).
    """

    def __init__(self, inputs, steps, outputs):
        self.inputs, self.steps, self.outputs = list(inputs), list(steps), list(outputs)
        calls: dict = {}
        for step in self.steps:
            calls[id(step.layer)] = calls.get(id(step.layer), 0) + 1
        self._shared = {key for key, n in calls.items() if n > 1}
        self.layers = list({id(s.layer): s.layer for s in self.steps}.values())
        self._consumers = {}
        for step in self.steps:
            for t in step.inputs + step.states:
                self._consumers[t] = self._consumers.get(t, 0) + 1
        self._producer = {t: i for i, step in enumerate(self.steps) for t in step.outputs}
        self._values = self._saved = None

    def fusible_step(self, k):
        """The step whose logits a loss on output k may use (a Dense whose output feeds nothing
        else), or None."""
        tensor = self.outputs[k]
        i = self._producer.get(tensor)
        if i is None or self._consumers.get(tensor) or self.outputs.count(tensor) > 1:
            return None
        step = self.steps[i]
        return i if not step.multi_output and hasattr(step.layer, "backward_logits") else None

    def forward(self, xs, training, logits_of=()):
        """Run every step on the input arrays `xs`.

        Returns:
            (outputs, their masks, {step: the Dense's logits} for the steps in logits_of).
        """
        values = dict(zip(self.inputs, xs))
        masks = dict.fromkeys(self.inputs)
        logits, saved = {}, {}
        for i, step in enumerate(self.steps):
            layer = step.layer
            x = [values[t] for t in step.inputs] if step.listed else values[step.inputs[0]]
            mask = [masks[t] for t in step.inputs] if step.listed else masks[step.inputs[0]]
            kwargs = {"initial_state": [values[t] for t in step.states]} if step.states else {}
            shared = training and id(layer) in self._shared
            before = dict(vars(layer)) if shared else None
            y = layer.forward(x, training=training, mask=mask, **kwargs)
            if shared:  # what this call left on the layer, put back before its backward
                saved[i] = {k: v for k, v in vars(layer).items() if before.get(k, _MISSING) is not v}
            if i in logits_of:
                logits[i] = layer.logits
            out_mask = layer.compute_mask(x, mask)
            ys = list(y) if step.multi_output else [y]
            out_masks = out_mask if isinstance(out_mask, list) else [out_mask] + [None] * (len(ys) - 1)
            for t, value, m in zip(step.outputs, ys, out_masks):
                values[t], masks[t] = value, m
        self._values, self._saved = (values, saved) if training else (None, None)
        return [values[t] for t in self.outputs], [masks[t] for t in self.outputs], logits

    def _needs_gradient(self):
        """Which tensors depend on a trained weight (only those need an input gradient)."""
        needs = dict.fromkeys(self.inputs, False)
        for step in self.steps:
            layer = step.layer
            own = bool(layer.trainable and layer.weights)
            flag = own or any(needs[t] for t in step.inputs + step.states)
            for t in step.outputs:
                needs[t] = flag
        return needs

    def backward(self, d_outputs, fused=None):
        """Backward through the last forward(training=True).

        Args:
            d_outputs: per model output, the loss gradient on it (None: none).
            fused: {step: gradient on that Dense's logits} for outputs whose loss took the logits.

        Returns:
            (weights, gradients): the trained weights that got a gradient, in layer order.
        """
        fused = fused or {}
        grads = {}
        for k, (t, d) in enumerate(zip(self.outputs, d_outputs)):
            if d is not None and self._producer.get(t) not in fused:
                grads[t] = _add(grads.get(t), d)
        needs = self._needs_gradient()
        collected = {}
        for i in reversed(range(len(self.steps))):
            step = self.steps[i]
            layer = step.layer
            dys = [grads.pop(t, None) for t in step.outputs]
            if i not in fused and all(d is None for d in dys):
                continue
            trains = bool(layer.trainable and layer.weights)
            need_x = any(needs[t] for t in step.inputs)
            need_states = any(needs[t] for t in step.states)
            if not (trains or need_x or need_states):
                continue
            if id(layer) in self._shared:
                vars(layer).update(self._saved[i])
            if i in fused:
                dx = layer.backward_logits(fused[i], input_gradient=need_x)
            else:
                dys = [np.zeros_like(self._values[t]) if d is None else d for t, d in zip(step.outputs, dys)]
                dx = layer.backward(dys if step.multi_output else dys[0], input_gradient=need_x)
            if trains:
                mine = collected.setdefault(id(layer), {})
                for key, g in layer.grads.items():
                    mine[key] = _add(mine.get(key), g, layer._params[key].shape[0])
            if need_x:
                for t, d in zip(step.inputs, dx if step.listed else [dx]):
                    if needs[t] and d is not None:
                        grads[t] = _add(grads.get(t), d)
            if need_states:
                for t, d in zip(step.states, layer.state_grads):
                    if needs[t]:
                        grads[t] = _add(grads.get(t), d)
        self._restore_shared()
        self._values = self._saved = None  # the activations are not needed any more
        weights, out = [], []
        for layer in self.layers:
            mine = collected.get(id(layer), {})
            for key, w in layer._params.items():
                if key in mine:
                    weights.append(w)
                    out.append(mine[key])
        return weights, out

    def _restore_shared(self):
        """Leave each shared layer as its last call left it (its state, its caches)."""
        last = {}
        for i, step in enumerate(self.steps):
            if i in self._saved:
                last[id(step.layer)] = i
        for i in last.values():
            vars(self.steps[i].layer).update(self._saved[i])
