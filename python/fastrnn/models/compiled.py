"""What compile() sets up, per model output: its loss (fused with a final sigmoid/softmax Dense
when it can be), its loss weight and its metrics (fastrnn.metrics.Metric objects: means of
per-sample functions, AUC, precision, ...); the names fit and evaluate log them under (Keras 3's:
"loss", "<output>_<metric>", "<output>_loss", "auc_1" for a second "auc"); and, for one batch,
the loss values, the gradients on the outputs and the metric updates, the masks of per-step
outputs and the sample weights honoured as Keras honours them.

Not the loop (training.py). Losses are kept as batch means; metric states are sums, so that MPI
ranks combine them by adding (metric_states / set_metric_states).
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np

from .. import losses as losses_mod, metrics as metrics_mod
from ..losses.base import weights_for


class LossSpec(NamedTuple):
    loss: object    # a Loss, or None: the output has no loss
    weight: object  # loss_weights' entry (None: 1)
    step: object    # the graph step whose logits the loss takes (fused), or None


class MetricSpec(NamedTuple):
    output: int
    name: str       # the metric's own name (Keras orders evaluate's list by these)
    metric: object  # a fastrnn.metrics.Metric, updated every batch
    weighted: bool  # from weighted_metrics: sample weights apply


def per_output(spec, names, argument, leaf):
    """`spec` (one value for every output, a list with one per output, or a dict by output name)
    as a list aligned with `names`; `leaf(value)` checks and converts each entry."""
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"argument {argument!r}: {unknown} are not outputs of the model ({', '.join(names)})")
        return [leaf(spec.get(name)) for name in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(f"argument {argument!r} holds {len(spec)} entries, but the model has {len(names)} "
                             f"output(s) ({', '.join(names)})")
        return [leaf(s) for s in spec]
    return [leaf(spec) for _ in names]


def loss_leaf(value):
    return None if value is None else losses_mod.get(value)


def weight_leaf(value):
    if value is None:
        return None
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not number or not np.isfinite(value):
        raise ValueError(f"argument 'loss_weights' must hold finite numbers, got {value!r}")
    return float(value)


def metric_lists(spec, names, argument):
    """compile's metrics as one list of specs per output: a flat list goes to every output
    (Keras 2) unless it has exactly one entry per output of several (Keras 3), a list of
    lists or a dict by output name gives each output its own."""
    if spec is None:
        return [[] for _ in names]
    as_list = lambda s: [] if s is None else list(s) if isinstance(s, (list, tuple)) else [s]  # noqa: E731
    if isinstance(spec, dict):
        return per_output(spec, names, argument, as_list)
    if not isinstance(spec, (list, tuple)):
        raise ValueError(f"argument {argument!r} must be a list (or a dict by output name), got {spec!r}")
    nested = any(isinstance(s, (list, tuple)) for s in spec)
    if len(names) > 1 and (nested or len(spec) == len(names)):
        return per_output(list(spec), names, argument, as_list)
    return [list(spec) for _ in names]


class Plan:
    """The resolved compile settings of a built model (see resolve)."""

    def __init__(self, losses, metrics, output_names):
        self.losses, self.metrics = losses, metrics
        self.loss_outputs = [k for k, s in enumerate(losses) if s.loss is not None]
        self.fused_steps = {s.step for s in losses if s.step is not None}
        several = len(output_names) > 1
        taken, self.metric_names = set(), []
        for m in metrics:
            name = f"{output_names[m.output]}_{m.name}" if several else m.name
            if name in taken:  # Keras: a weighted twin of a plain metric is "weighted_<name>", others get _1, _2
                base = f"weighted_{m.name}" if m.weighted else m.name
                stem = f"{output_names[m.output]}_{base}" if several else base
                name, i = stem, 1
                while name in taken:
                    name, i = f"{stem}_{i}", i + 1
            taken.add(name)
            self.metric_names.append(name)
        self.output_loss_names = [f"{output_names[k]}_loss" for k in self.loss_outputs] \
            if len(self.loss_outputs) > 1 else []
        self.names = ["loss"] + self.metric_names + self.output_loss_names
        # the order of evaluate's list (Keras 3): loss, plain metric names, output losses, then the rest sorted
        primary = ["loss"] + [m.name for m in metrics] + self.output_loss_names
        self.list_order = [n for n in dict.fromkeys(primary) if n in self.names]
        self.list_order += sorted(n for n in self.names if n not in self.list_order)

    @property
    def size(self) -> int:
        """Length of a batch's stats: the total loss, then the per-output losses."""
        return 1 + len(self.loss_outputs)

    def logs(self, totals, rows) -> dict:
        """{name: value}: losses from summed stats averaged over rows, metrics' results (a float,
        or an array for a metric with several thresholds)."""
        losses = totals / max(rows, 1)
        out = {"loss": float(losses[0])}
        for name, m in zip(self.metric_names, self.metrics):
            value = m.metric.result()
            out[name] = float(value) if np.ndim(value) == 0 else np.asarray(value, np.float64)
        if self.output_loss_names:
            out.update(zip(self.output_loss_names, losses[1:].tolist()))
        return out

    def reset_metrics(self) -> None:
        """Start every metric over (each epoch, each evaluate, each *_on_batch call, as Keras)."""
        for m in self.metrics:
            m.metric.reset_state()

    def update_metrics(self, ys, outs, masks, sws, counted=True) -> None:
        """Add one batch to every metric: the output's mask (where it covers the per-step values)
        weighs its steps, and, for weighted_metrics, the sample weights too. counted=False: the
        batch weighs 0 (an MPI rank's placeholder row), so the metrics only take its shapes."""
        for m in self.metrics:
            out = outs[m.output]
            if not counted:
                weight = np.zeros(len(out))
            else:
                weight = _metric_weight(m.name, sws[m.output] if m.weighted else None,
                                        _fitting(masks[m.output], np.shape(out)[:-1]))
            m.metric.update_state(ys[m.output], out, sample_weight=weight)

    def metric_states(self) -> np.ndarray:
        """Every metric's state (Metric.state_arrays) in one float64 vector, for an allreduce."""
        parts = [a.ravel() for m in self.metrics for a in m.metric.state_arrays()]
        return np.concatenate(parts) if parts else np.zeros(0)

    def set_metric_states(self, vector) -> None:
        """Put a vector shaped as metric_states gives it back into the metrics."""
        shapes = [[v.shape for v in m.metric.variables] for m in self.metrics]
        size = sum(int(np.prod(shape)) for group in shapes for shape in group)
        if len(vector) != size:
            raise ValueError(f"argument 'vector' holds {len(vector)} numbers, the metrics' states {size}")
        offset = 0
        for m, group in zip(self.metrics, shapes):
            arrays = []
            for shape in group:
                n = int(np.prod(shape))
                arrays.append(np.asarray(vector[offset:offset + n]).reshape(shape))
                offset += n
            m.metric.set_state_arrays(arrays)


def resolve(model):
    """The Plan of a compiled, built model: losses (fused where the output is a Dense whose
    activation the loss can take logits for), weights and metrics per output."""
    names, graph = model.output_names, model._graph
    losses, weights = model._compiled_losses, model._compiled_loss_weights
    specs = []
    for k, (loss, weight) in enumerate(zip(losses, weights)):
        step = None
        if loss is not None and loss.logits_activation is not None:
            i = graph.fusible_step(k)
            if i is not None and getattr(graph.steps[i].layer, "activation", None) == loss.logits_activation:
                step = i
        specs.append(LossSpec(loss, weight, step))
    metrics, taken = [], set()
    for weighted, spec, argument in ((False, model._metric_specs, "metrics"),
                                     (True, model._weighted_metric_specs, "weighted_metrics")):
        for k, entries in enumerate(metric_lists(spec, names, argument)):
            loss_name = losses[k].name if losses[k] is not None else ""
            width = model._output_shapes[k][-1] if len(model._output_shapes[k]) > 1 else 1
            for entry in entries:
                metric = metrics_mod.get_metric(entry, loss_name, width)
                if id(metric) in taken:  # one Metric object listed for several outputs: each needs its own state
                    metric = copy.deepcopy(metric)
                    metric.reset_state()
                taken.add(id(metric))
                metrics.append(MetricSpec(k, metric.name, metric, weighted))
    return Plan(specs, metrics, names)


def _fitting(mask, shape):
    """The mask if it covers per-sample values of `shape` (Keras applies an output's mask there)."""
    return mask if mask is not None and np.shape(mask) == tuple(shape) else None


def _metric_weight(name, sw, mask):
    """A metric's sample_weight: the sample weights (or None) times the output's mask (Keras'
    apply_mask), a (batch,) weight spread over the mask's steps."""
    if mask is None:
        return sw
    m = np.asarray(mask, np.float64)
    if sw is None:
        return m
    sw = np.asarray(sw, np.float64)
    if sw.ndim == m.ndim + 1 and sw.shape[-1:] == (1,):
        sw = sw[..., 0]
    if sw.ndim > m.ndim or sw.shape != m.shape[:sw.ndim]:
        raise ValueError(f"metric {name!r}: sample_weight of shape {sw.shape} does not fit the output's steps "
                         f"{m.shape}; expected {m.shape[:1]} or {m.shape}")
    return sw.reshape(sw.shape + (1,) * (m.ndim - sw.ndim)) * m


def batch_loss(plan, ys, outs, masks, logits, sws, share=None, strategy=None):
    """One batch's (total loss, per-output losses, gradients on the outputs, {step: gradient on
    its logits}). With a strategy, this rank's values are scaled so that summing them weighted
    by `share` (the strategy's reduce) gives the global batch's (masks make shards uneven)."""
    items = []
    for k in plan.loss_outputs:
        spec = plan.losses[k]
        source = outs[k] if spec.step is None else logits[spec.step]
        mask = _fitting(masks[k], np.shape(source)[:-1])
        if spec.step is None:
            value, grad = spec.loss.value_and_gradient(ys[k], source, sample_weight=sws[k], mask=mask)
        else:
            value, grad = spec.loss.value_and_gradient_from_logits(ys[k], source, sample_weight=sws[k], mask=mask)
        items.append((k, spec, value, grad, mask, source))
    factors = [1.0] * len(items) if strategy is None else _shard_factors(items, ys, sws, share, strategy)
    total, values, d_outputs, fused = 0.0, [], [None] * len(outs), {}
    for (k, spec, value, grad, _, _), factor in zip(items, factors):
        weight = 1.0 if spec.weight is None else spec.weight
        values.append(value * factor)
        total += value * factor * weight
        scale = factor * weight
        grad = grad if scale == 1 else (grad * scale).astype(grad.dtype, copy=False)
        if spec.step is None:
            d_outputs[k] = grad
        else:
            fused[spec.step] = grad
    return total, values, d_outputs, fused


def _shard_factors(items, ys, sws, share, strategy):
    """Per output, what this shard's mean loss is scaled by: (its divisor / the global batch's) /
    share. It is 1 unless a mask, ignore_class or the reduction makes shards' divisors uneven;
    then the divisors are summed over the ranks (one small allreduce, on every rank alike)."""
    divisors, sync, total_sum = [], False, []
    for k, spec, _, _, mask, source in items:
        loss = spec.loss
        valid = loss._with_valid(ys[k], source, mask)
        _, divisor = weights_for(loss.name, np.shape(source)[:-1], sws[k], valid, loss.reduction)
        sync |= valid is not None or loss.reduction == "mean_with_sample_weight"
        total_sum.append(loss.reduction == "sum")
        divisors.append(float(divisor) if share > 0 else 0.0)
    if not sync and not any(total_sum):
        return [1.0] * len(items)
    overall = strategy.sum(divisors) if sync else np.asarray(divisors)
    factors = []
    for mine, every, summed in zip(divisors, overall, total_sum):
        if share <= 0:
            factors.append(1.0)
        elif summed:  # a sum over the batch: each shard counts whole
            factors.append(1.0 / share)
        else:
            factors.append(mine / every / share if every else 1.0)
    return factors
