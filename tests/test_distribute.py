"""Data-parallel fit over MPI: `mpiexec -n N python tests/distributed_run.py` against one process
(same final weights, History, evaluate, predict; AUC, precision and recall from counts summed over
the ranks), one gradient allreduce per step, rank 0 alone printing and checkpointing, a dead or
stalled rank stopping the others with a clear error, and resuming from the checkpoint. Every
launch is killed, with its ranks, past a deadline."""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn.models import Sequential
from fastrnn.layers import Dense

SCRIPT = Path(__file__).with_name("distributed_run.py")
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=str(Path(sys.executable).parent))
needs_mpi = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
                               reason='needs mpi4py and mpiexec: pip install "fastrnn[mpi]"')
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}  # summation order only: shards' gradients are added last


def launch(tmp_path, ranks, options=(), limit=240, **cfg):
    """Run the script in one process (ranks=0) or under mpiexec; cfg is the script's JSON. Past
    `limit` s the whole process group (mpiexec and every rank) is killed and the test fails.
    Returns the CompletedProcess."""
    cfg = {"dir": str(tmp_path), **cfg}
    command = [sys.executable, str(SCRIPT), json.dumps(cfg)]
    if ranks:
        command = [MPIEXEC, *options, "-n", str(ranks)] + command
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(fastrnn.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          cwd=tmp_path, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # mpiexec alone would leave its ranks running
            stdout, stderr = process.communicate()
            pytest.fail(f"{' '.join(command)} did not finish within {limit} s:\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def result(tmp_path, name, rank=0):
    data = np.load(tmp_path / f"{name}-rank{rank}.npz")
    weights = [data[k] for k in sorted((k for k in data.files if k.startswith("arr_")), key=lambda k: int(k[4:]))]
    return weights, json.loads(str(data["history"])), data["evaluated"], data["predicted"]


def collectives(tmp_path, name, rank=0):
    """(training steps, {collective's name: calls}) of one rank's run."""
    data = np.load(tmp_path / f"{name}-rank{rank}.npz")
    return int(data["steps"]), json.loads(str(data["collectives"]))


def assert_ok(done):
    assert done.returncode == 0, done.stdout + done.stderr


@needs_mpi
@pytest.mark.parametrize("model,ranks", [("float32", 2), ("float64", 2), ("float64", 3)])
def test_ranks_train_the_same_weights_as_one_process(tmp_path, model, ranks):
    assert_ok(launch(tmp_path, 0, model=model, name="single"))
    # the float32 ranks read the data through memory maps, as they would a corpus larger than memory
    # with 3 ranks the strategy goes to compile instead, which makes it fit's, evaluate's and predict's
    done = launch(tmp_path, ranks, model=model, name="mpi", distribute=True, verbose=2, checkpoint=True,
                  mmap=model == "float32", strategy_in_compile=ranks == 3)
    assert_ok(done)
    tol = TOLERANCE[model]
    weights, history, evaluated, predicted = result(tmp_path, "single")
    chief = result(tmp_path, "mpi", 0)
    for w, v in zip(weights, chief[0]):
        assert v.dtype == np.dtype(model)
        np.testing.assert_allclose(v, w, rtol=0, atol=tol)
    assert history.keys() == chief[1].keys()
    for key in history:
        np.testing.assert_allclose(chief[1][key], history[key], rtol=tol, atol=0)
    np.testing.assert_allclose(chief[2], evaluated, rtol=tol)
    np.testing.assert_allclose(chief[3], predicted, rtol=0, atol=tol)
    for rank in range(1, ranks):  # every rank ends with the same weights, History and results
        other = result(tmp_path, "mpi", rank)
        assert all(np.array_equal(a, b) for a, b in zip(chief[0], other[0]))
        assert other[1] == chief[1]
        assert np.array_equal(other[2], chief[2]) and np.array_equal(other[3], chief[3])
    # rank 0 alone prints the epoch lines and runs chief_only callbacks (ModelCheckpoint, Marker)
    assert done.stdout.count("Epoch 1/3") == 1
    assert sorted(p.name for p in tmp_path.glob("marker-*")) == ["marker-rank0"]
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-1.npz", "ckpt-2.npz", "ckpt-3.npz"]
    # one gradient allreduce per step; everything else once per epoch or per call
    steps, calls = collectives(tmp_path, "mpi")
    epochs = 3
    assert steps == 18 and calls["gradient allreduce"] == steps
    assert calls["shuffle broadcast"] == calls["stop flag"] == epochs
    per_call = {"check of start", "check of samples, batch_size, epochs and initial_epoch", "weight broadcast",
                "evaluation sum", "prediction gather"}
    assert set(calls) <= per_call | {"gradient allreduce", "embedding row allgather", "shuffle broadcast", "stop flag"}
    assert all(calls[what] <= 2 * epochs for what in per_call & set(calls))  # validation: one sum per epoch
    if model == "float32":  # a step's rows (<= 16 x 12 ids) move fewer bytes than the 1000-row table
        assert calls["embedding row allgather"] == steps
    else:  # the 20-row table: summed inside the allreduce, except on the first step of the fit and
        # after each epoch's last batch (1 row, whose few ids were cheaper as rows)
        assert calls["embedding row allgather"] == epochs


@needs_mpi
def test_ranks_count_stateful_metrics_as_one_process(tmp_path):
    # AUC, precision and recall are ratios of counts over the epoch: the ranks sum their shards'
    # counts (inside the gradient allreduce in fit, with the losses in evaluate) before any result
    common = dict(model="float32", stateful=True, epochs=2)
    assert_ok(launch(tmp_path, 0, name="single", **common))
    assert_ok(launch(tmp_path, 2, name="mpi", distribute=True, **common))
    _, history, evaluated, _ = result(tmp_path, "single")
    assert {"auc", "precision", "recall", "auc_1", "weighted_auc", "val_auc", "val_recall"} <= history.keys()
    for rank in (0, 1):
        _, got, got_evaluated, _ = result(tmp_path, "mpi", rank)
        assert got.keys() == history.keys()
        for key in history:
            np.testing.assert_allclose(got[key], history[key], rtol=TOLERANCE["float32"], atol=0, err_msg=key)
        np.testing.assert_allclose(got_evaluated, evaluated, rtol=TOLERANCE["float32"])
    steps, calls = collectives(tmp_path, "mpi")
    assert calls["gradient allreduce"] == steps  # no collective of their own


def _hydra():
    """Whether mpiexec is MPICH's Hydra, which can leave the survivors of a dead rank running."""
    done = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True, timeout=60)
    return "HYDRA" in done.stdout


@needs_mpi
@pytest.mark.parametrize("how", ["exit", "stall"])
def test_a_lost_rank_stops_the_others_with_a_clear_error(tmp_path, how):
    # By default mpiexec kills every rank when one exits; -disable-auto-cleanup keeps the survivor
    # running, as when a machine drops off the network, so that its own timeout must stop it.
    if how == "exit" and not _hydra():
        pytest.skip("needs MPICH's mpiexec (Hydra) for -disable-auto-cleanup")
    options = ["-disable-auto-cleanup"] if how == "exit" else []
    done = launch(tmp_path, 2, options, limit=120, model="float32", name="fault", distribute=True, timeout=5,
                  fault={"rank": 1, "epoch": 1, "batch": 2, "how": how})
    assert done.returncode != 0
    assert f"rank 1: {how} at epoch 1 batch 2" in done.stdout
    assert "CollectiveTimeoutError" in done.stderr
    assert "gradient allreduce on rank 0 of 2 did not complete within 5 s" in done.stderr
    assert not list(tmp_path.glob("fault-rank*.npz"))


@needs_mpi
def test_an_exception_on_one_rank_ends_every_rank_at_once(tmp_path):
    # the collectives' deadline is far beyond the launch's limit: the survivor must not wait for it
    done = launch(tmp_path, 2, limit=120, model="float32", name="raise", distribute=True, timeout=3600,
                  fault={"rank": 1, "epoch": 1, "batch": 2, "how": "raise"})
    assert done.returncode != 0
    assert "RuntimeError: rank 1 failed" in done.stderr
    assert "CollectiveTimeoutError" not in done.stderr
    assert not list(tmp_path.glob("raise-rank*.npz"))


@needs_mpi
def test_resume_from_the_last_checkpoint_after_a_lost_rank(tmp_path):
    if not _hydra():
        pytest.skip("needs MPICH's mpiexec (Hydra) for -disable-auto-cleanup")
    common = dict(model="float32", distribute=True, epochs=4, shuffle=False, timeout=5)
    assert_ok(launch(tmp_path, 2, name="full", **common))
    for stale in tmp_path.glob("ckpt-*"):
        stale.unlink()
    done = launch(tmp_path, 2, ["-disable-auto-cleanup"], name="fault", checkpoint=True,
                  fault={"rank": 1, "epoch": 2, "batch": 1, "how": "exit"}, **common)
    assert done.returncode != 0 and "CollectiveTimeoutError" in done.stderr
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-1.npz", "ckpt-2.npz"]
    assert_ok(launch(tmp_path, 2, name="resumed", resume=str(tmp_path / "ckpt-2.npz"), initial_epoch=2, **common))
    full, resumed = result(tmp_path, "full"), result(tmp_path, "resumed")
    # the same steps in the same order from the same weights and optimizer state: the same bits
    assert all(np.array_equal(a, b) for a, b in zip(full[0], resumed[0]))
    assert resumed[1]["loss"] == full[1]["loss"][2:]


@needs_mpi
def test_ranks_with_different_data_fail_before_training(tmp_path):
    done = launch(tmp_path, 2, model="float32", name="skew", distribute=True, skew=True)
    assert done.returncode != 0
    assert "every rank must call with the same samples, batch_size, epochs and initial_epoch" in done.stderr
    assert "rank 0: [81, 16, 3, 0]; rank 1: [80, 16, 3, 0]" in done.stderr


@needs_mpi
def test_a_stop_on_rank_0_stops_every_rank(tmp_path):
    assert_ok(launch(tmp_path, 2, model="float32", name="stop", distribute=True, epochs=5, stop_after=1))
    for rank in (0, 1):
        assert len(result(tmp_path, "stop", rank)[1]["loss"]) == 2


def test_distribute_argument_is_checked():
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(loss="mse")
    with pytest.raises(ValueError, match="'distribute' must be None, 'mpi' or a fastrnn.distribute.MPIStrategy"):
        model.fit(np.zeros((4, 3)), np.zeros(4), distribute="nccl")


def test_without_mpi4py_the_error_says_what_to_install():
    script = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "mpi4py" or name.startswith("mpi4py."):
                    raise ImportError("No module named 'mpi4py' (blocked)")
        sys.meta_path.insert(0, Block())
        import fastrnn.models, fastrnn.distribute
        try:
            fastrnn.distribute.MPIStrategy()
        except ImportError as err:
            print("ERR", err)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(fastrnn.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert 'pip install "fastrnn[mpi]"' in done.stdout and "mpiexec -n 2" in done.stdout
