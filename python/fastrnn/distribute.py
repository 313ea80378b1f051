"""Data-parallel training over MPI (mpi4py): every rank holds the whole model and the same data,
computes the gradients of its contiguous shard of each global batch, and the shards' gradients are
summed (weighted by shard size) so that every rank applies the update one process would make.

Sequential.fit / evaluate / predict call it (`distribute="mpi"` or an MPIStrategy); nothing here
knows about layers beyond IndexedRows. Not a transport of its own (MPI's collectives do the work),
not model parallelism. mpi4py is imported only when a strategy is made: pip install "fastrnn[mpi]".
"""
from __future__ import annotations

import atexit
import os
import sys
import time
from collections import defaultdict

import numpy as np

from .ops import sum_rows_by_id
from .layers.base import IndexedRows

__all__ = ["MPIStrategy", "CollectiveTimeoutError", "get"]

_SPIN_SECONDS = 0.005  # poll without sleeping this long: a step's collective usually completes by then


class CollectiveTimeoutError(TimeoutError):
    """A collective did not complete within the strategy's timeout: another rank has stopped or
    stalled. The communicator is unusable afterwards; the process exits with status 1 without
    MPI_Finalize (which would wait for the lost rank forever)."""


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError('fastrnn.distribute needs mpi4py and an MPI library: pip install "fastrnn[mpi]" '
                          "(mpi4py and the mpich wheel), then launch with: mpiexec -n 2 python train.py") from err
    return MPI


_exit_armed = []


def _exit_without_finalize():
    """Once a collective has failed, end the process at exit before mpi4py's MPI_Finalize runs
    (Python's atexit handlers run first): the finalize would wait for the lost rank forever."""
    if _exit_armed:
        return

    def leave():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    atexit.register(leave)
    _exit_armed.append(True)


_abort_armed = []


def _abort_on_uncaught_exception(comm):
    """An exception that ends one rank's script ends every rank's (MPI_Abort after the traceback
    is printed, as `python -m mpi4py` does), instead of leaving the others waiting out the timeout
    in their next collective."""
    if _abort_armed:
        return
    previous = sys.excepthook

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stdout.flush()
        sys.stderr.flush()
        comm.Abort(1)
    sys.excepthook = hook
    _abort_armed.append(True)


def get(distribute):
    """The strategy for fit / evaluate / predict: None (one process), "mpi" (an MPIStrategy over
    MPI.COMM_WORLD) or an MPIStrategy, returned as given.

    Example:
        >>> get("mpi").size   # under mpiexec -n 2
        2
    """
    if distribute is None or isinstance(distribute, MPIStrategy):
        return distribute
    if distribute == "mpi":
        return MPIStrategy()
    raise ValueError(f"argument 'distribute' must be None, 'mpi' or a fastrnn.distribute.MPIStrategy, "
                     f"got {distribute!r}")


class MPIStrategy:
    """Data parallelism over an MPI communicator, every collective bounded by `timeout`.

    Each global batch (the same on every rank: same data, seed and batch size) is split into
    `size` contiguous shards; rank r computes shard r's gradients of the shard's mean loss, and
    one fused allreduce per step sums them weighted by shard size, which gives the global batch
    mean's gradient (the same weights as one process up to summation order). An embedding
    table's sparse gradient is summed inside that allreduce as a dense table with a row-touched
    column, or, when its rows moved fewer bytes than that table in the previous step (and on a
    fit's first step), exchanged as rows by one allgather of ids and values after it. Losses and
    metrics are averaged the same way, so History is identical on every rank.

    Args:
        comm: an mpi4py communicator (default MPI.COMM_WORLD).
        timeout: seconds any one collective may wait for the other ranks before raising
            CollectiveTimeoutError (default 300).

    Attributes:
        rank, size: this process's rank and the number of ranks. stats: per collective's name
            ("gradient allreduce", "embedding row allgather", ...), [calls, bytes this rank sent,
            seconds waited]; wait_seconds and collectives: those seconds and calls in all.

    Example:
        >>> # train.py, launched with: mpiexec -n 2 python train.py
        >>> model.fit(x, y, epochs=3, batch_size=128, distribute=MPIStrategy(timeout=60))
    """

    def __init__(self, comm=None, timeout=300.0):
        self._MPI = _import_mpi()
        self.comm = self._MPI.COMM_WORLD if comm is None else comm
        if not isinstance(self.comm, self._MPI.Comm):
            raise TypeError(f"argument 'comm' must be an mpi4py communicator, got {type(comm).__name__}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"argument 'timeout' must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        if self.size > 1:
            _abort_on_uncaught_exception(self.comm)
        self.wait_seconds, self.collectives = 0.0, 0  # time spent in (and number of) collectives
        # per collective's name: [calls, bytes this rank sent, seconds waited] (tests, bench)
        self.stats = defaultdict(lambda: [0, 0, 0.0])
        self._summed_tables = {}  # gradient position -> whether its table is summed densely next step

    @property
    def is_chief(self) -> bool:
        """Rank 0: the one that prints progress and runs chief_only callbacks (checkpoints)."""
        return self.rank == 0

    # sharding
    def split(self, n) -> tuple:
        """(start, stop) of this rank's contiguous share of n rows (sizes differ by at most one)."""
        return n * self.rank // self.size, n * (self.rank + 1) // self.size

    def shard(self, index) -> tuple:
        """(rows, weight): this rank's rows of a global batch's row indices, and the weight of its
        mean-loss gradient in the batch mean (its share of the rows). A rank left without rows
        (a batch smaller than the ranks) computes on the batch's first row with weight 0."""
        start, stop = self.split(len(index))
        if start == stop:
            return index[:1], 0.0
        return index[start:stop], (stop - start) / len(index)

    # collectives, each bounded by the timeout
    def _wait(self, request, what, nbytes):
        start = time.perf_counter()
        try:
            while not request.Test():
                waited = time.perf_counter() - start
                if waited > self.timeout:
                    _exit_without_finalize()
                    raise CollectiveTimeoutError(
                        f"fastrnn.distribute: the {what} on rank {self.rank} of {self.size} did not complete within "
                        f"{self.timeout:g} s: another rank has stopped or stalled (see its output). Restart from "
                        "the last checkpoint: load_model(path) and fit(..., initial_epoch=<epochs done>)")
                if waited > _SPIN_SECONDS:  # a slow peer: stop taking a core it may need
                    time.sleep(1e-4)
        except self._MPI.Exception as err:
            _exit_without_finalize()
            raise RuntimeError(f"fastrnn.distribute: the {what} failed on rank {self.rank} of {self.size}: "
                               f"{err}") from err
        waited = time.perf_counter() - start
        self.wait_seconds += waited
        self.collectives += 1
        stat = self.stats[what]
        stat[0], stat[1], stat[2] = stat[0] + 1, stat[1] + int(nbytes), stat[2] + waited

    def allreduce(self, buffer, what="allreduce", op=None) -> np.ndarray:
        """Sum (or `op`) a contiguous array over the ranks, in place; returns it."""
        self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, buffer, op=op or self._MPI.SUM), what, buffer.nbytes)
        return buffer

    def broadcast(self, buffer, what="broadcast") -> np.ndarray:
        """Rank 0's contents of a contiguous array on every rank, in place; returns it."""
        self._wait(self.comm.Ibcast(buffer, root=0), what, buffer.nbytes)
        return buffer

    def allgather_bytes(self, payload, sizes, what="allgather") -> list:
        """Every rank's uint8 payload (rank r's is sizes[r] bytes, known to all), as a list."""
        sizes = np.asarray(sizes, np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        out = np.empty(int(offsets[-1]), np.uint8)
        payload = np.ascontiguousarray(payload, np.uint8)
        request = self.comm.Iallgatherv(payload, [out, sizes.tolist(), offsets[:-1].tolist(), self._MPI.BYTE])
        self._wait(request, what, payload.nbytes)
        return [out[offsets[r]:offsets[r + 1]] for r in range(self.size)]

    def check_same(self, what, values):
        """Raise ValueError on every rank unless all ranks passed the same integers."""
        mine = np.asarray(values, np.int64)
        every = np.empty((self.size, mine.size), np.int64)
        self._wait(self.comm.Iallgather(mine, every), "check of " + what, mine.nbytes)
        if not (every == mine).all():
            raise ValueError(f"fastrnn.distribute: every rank must call with the same {what}; ranks passed "
                             + "; ".join(f"rank {r}: {row.tolist()}" for r, row in enumerate(every)))

    def any(self, flag) -> bool:
        """Whether `flag` is true on any rank (so all ranks stop together)."""
        return bool(self.allreduce(np.array([int(bool(flag))], np.int64), "stop flag")[0])

    # what fit, evaluate and predict need
    def sync_weights(self, weights) -> None:
        """Rank 0's weights on every rank (in place): one broadcast, at the start of fit."""
        if self.size == 1 or not weights:
            return
        buffer = np.concatenate([w.ravel() for w in weights]).astype(np.result_type(*weights), copy=False)
        self.broadcast(buffer, "weight broadcast")
        offset = 0
        for w in weights:
            w[...] = buffer[offset:offset + w.size].reshape(w.shape)
            offset += w.size

    def sum(self, local) -> np.ndarray:
        """A float64 vector summed over the ranks (evaluate's totals)."""
        local = np.array(local, np.float64)
        return self.allreduce(local, "evaluation sum") if self.size > 1 else local

    def gather_rows(self, local, n) -> np.ndarray:
        """The ranks' row blocks of an n-row array (from split(n)) joined in rank order, on every rank."""
        if self.size == 1:
            return local
        local = np.ascontiguousarray(local)
        row_bytes = local.dtype.itemsize * int(np.prod(local.shape[1:], dtype=np.int64))
        sizes = [(n * (r + 1) // self.size - n * r // self.size) * row_bytes for r in range(self.size)]
        parts = self.allgather_bytes(local.view(np.uint8).ravel(), sizes, "prediction gather")
        return np.concatenate([p.view(local.dtype).reshape((-1,) + local.shape[1:]) for p in parts])

    def reduce(self, weights, grads, values, weight, states=None) -> tuple:
        """The global batch's gradients and [loss, *metrics] from this rank's shard's.

        Args:
            weights: the trained weights (arrays). grads: their gradients on this rank's shard
                (arrays, or IndexedRows for tables). values: the shard's mean loss and metrics.
            weight: the shard's share of the global batch (from shard()).
            states: None, or a float64 vector summed over the ranks as it is, in place, in the
                same allreduce: the metrics' states (confusion counts) on this rank's shard.

        Returns:
            (grads, values) summed over ranks with the weights, identical on every rank (values
            and states are summed in the gradients' widest dtype, in the same allreduce).
        """
        states = np.zeros(0) if states is None else states
        if self.size == 1:
            return grads, [float(v) for v in values]
        grads = list(grads)
        sparse = [i for i, g in enumerate(grads) if isinstance(g, IndexedRows)]
        dense = [i for i in range(len(grads)) if i not in sparse]
        dtypes = [grads[i].dtype for i in dense] + [grads[i].values.dtype for i in sparse]
        wide = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
        if weight == 0:  # a rank without rows of this batch sends no table rows
            for i in sparse:
                grads[i] = IndexedRows(grads[i].indices[:0], grads[i].values[:0])
        # the ranks all hold the same _summed_tables (decided from the last step's summed counts)
        summed = [i for i in sparse if self._summed_tables.get(i, False)]
        gathered = [i for i in sparse if i not in summed]
        # the one allreduce: dense gradients, summed tables, metric states, values, how many rows each rank
        # has per table
        shapes = ([np.shape(grads[i]) for i in dense] + [self._table_shape(weights[i]) for i in summed]
                  + [(states.size,), (len(values),), (len(sparse), self.size)])
        sizes = [int(np.prod(shape, dtype=np.int64)) for shape in shapes]
        buffer = np.zeros(sum(sizes), wide)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        parts = [buffer[offsets[k]:offsets[k + 1]].reshape(shape) for k, shape in enumerate(shapes)]
        for part, i in zip(parts, dense):
            np.multiply(grads[i], weight, out=part, casting="unsafe")
        for part, i in zip(parts[len(dense):], summed):
            rows = grads[i].indices
            part[rows, :-1] = grads[i].values.reshape(len(rows), part.shape[1] - 1) * weight
            part[rows, -1] = 1
        parts[-3][:] = states  # counts, not means: unweighted
        parts[-2][:] = np.asarray(values, np.float64) * weight
        parts[-1][:, self.rank] = [len(grads[i].indices) for i in sparse]
        self.allreduce(buffer, "gradient allreduce")
        states[:] = parts[-3]
        out = list(grads)
        for part, i in zip(parts, dense):
            out[i] = part.astype(grads[i].dtype, copy=False)
        for part, i in zip(parts[len(dense):], summed):
            touched = np.flatnonzero(part[:, -1])  # exactly the global batch's rows, as the lazy optimizers expect
            out[i] = IndexedRows(touched, part[touched, :-1].astype(grads[i].values.dtype)
                                 .reshape((-1,) + weights[i].shape[1:]))
        values = parts[-2].astype(np.float64).tolist()
        counts = parts[-1].astype(np.int64)
        if gathered:
            self._gather_tables(weights, grads, out, gathered, counts[[sparse.index(i) for i in gathered]], weight)
        # next step, each table goes the way that moved fewer bytes in this one (the counts are
        # summed, so every rank decides alike)
        for k, i in enumerate(sparse):
            as_rows = int(counts[k].sum()) * (8 + self._width(weights[i]) * grads[i].values.dtype.itemsize)
            as_table = int(np.prod(self._table_shape(weights[i]))) * wide.itemsize
            self._summed_tables[i] = as_rows >= as_table
        return out, values

    def _gather_tables(self, weights, grads, out, which, counts, weight):
        """Every rank's (ids, rows) of the tables `which`, in one allgather; rows of the same id summed."""
        row_bytes = [self._width(weights[i]) * grads[i].values.dtype.itemsize for i in which]
        payload = [b for i in which for b in (np.ascontiguousarray(grads[i].indices, np.int64).view(np.uint8).ravel(),
                                              np.ascontiguousarray(grads[i].values * weight).view(np.uint8).ravel())]
        sizes = [sum(int(counts[k, r]) * (8 + row_bytes[k]) for k in range(len(which))) for r in range(self.size)]
        blocks = self.allgather_bytes(np.concatenate(payload), sizes, "embedding row allgather")
        ids, rows = [[] for _ in which], [[] for _ in which]
        for r, block in enumerate(blocks):
            offset = 0
            for k, i in enumerate(which):
                m = int(counts[k, r])
                ids[k].append(block[offset:offset + 8 * m].view(np.int64))
                offset += 8 * m
                part = block[offset:offset + m * row_bytes[k]].view(grads[i].values.dtype)
                rows[k].append(part.reshape((m,) + weights[i].shape[1:]))
                offset += m * row_bytes[k]
        for k, i in enumerate(which):
            out[i] = IndexedRows(*sum_rows_by_id(np.concatenate(ids[k]), np.concatenate(rows[k]), weights[i].shape[0]))

    @classmethod
    def _table_shape(cls, weight) -> tuple:
        """A table summed densely: its rows, each with a last column counting the ranks that touched it."""
        return weight.shape[0], cls._width(weight) + 1

    @staticmethod
    def _width(weight) -> int:
        """Numbers per row of a table."""
        return int(np.prod(weight.shape[1:], dtype=np.int64))
