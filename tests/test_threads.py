"""The C++ core's threads as a user's program meets them: one thread count for the whole process,
kernels from many Python threads at once, a fork while another thread is inside a kernel, and
Ctrl-C during a long call."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import fastrnn
from fastrnn import ops

pytestmark = pytest.mark.skipif(fastrnn._core is None, reason="the C++ core is not built")


@pytest.fixture
def threads():
    """Restores the thread count a test changes."""
    before = fastrnn.get_num_threads()
    yield
    fastrnn.set_num_threads(before)


def lstm_problem(T, B, D, H, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    kernel = (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(dtype)
    recurrent = (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(dtype)
    bias = np.zeros(4 * H, dtype)
    return x, kernel, recurrent, bias


def run_in_thread(fn):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", fn()))
    thread.start()
    thread.join()
    return result["value"]


def test_set_num_threads_is_process_wide(threads):
    fastrnn.set_num_threads(3)
    assert run_in_thread(fastrnn.get_num_threads) == 3
    assert fastrnn.show_config(file=open(os.devnull, "w"))["threads"] == 3
    fastrnn.set_num_threads(1)
    assert run_in_thread(fastrnn.get_num_threads) == 1


def test_set_num_threads_rejects_bad_values():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="'n'"):
            fastrnn.set_num_threads(bad)


def test_concurrent_threads_get_the_results_of_one(threads):
    fastrnn.set_num_threads(2)
    x, kernel, recurrent, bias = lstm_problem(30, 16, 8, 32)
    expected = ops.lstm_forward(x, kernel, recurrent, bias, training=False)[0]
    results = [None] * 6

    def work(i):
        for _ in range(5):
            results[i] = ops.lstm_forward(x, kernel, recurrent, bias, training=False)[0]

    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for out in results:
        np.testing.assert_array_equal(out, expected)


def test_fork_while_another_thread_is_inside_a_kernel(threads):
    """The child of a fork made while another thread holds the pool (a data-loader worker,
    multiprocessing's 'fork') runs kernels on threads of its own instead of waiting forever."""
    fastrnn.set_num_threads(2)
    long_call = lstm_problem(400, 64, 64, 256, seed=1)
    small = lstm_problem(20, 64, 32, 128, seed=2)
    expected = ops.lstm_forward(*small, training=False)[0]
    stop, inside = threading.Event(), threading.Event()

    def busy():
        while not stop.is_set():
            inside.set()
            ops.lstm_forward(*long_call, training=False)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        inside.wait()
        for _ in range(3):
            time.sleep(0.05)  # well inside a ~0.3 s call
            pid = os.fork()
            if pid == 0:  # the child: compute on two threads, compare, exit without cleanup
                try:
                    out = ops.lstm_forward(*small, training=False)[0]
                    os._exit(0 if np.array_equal(out, expected) else 1)
                except BaseException:
                    os._exit(2)
            deadline = time.monotonic() + 60
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    pytest.fail("the forked child hung in its first kernel call")
                time.sleep(0.01)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    finally:
        stop.set()
        worker.join()


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test: a process started in the background by a shell
    without job control (CI scripts, `cmd &`) inherits SIGINT ignored, and Python keeps it so."""
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, saved)


@pytest.mark.parametrize("cell, split", [("lstm", "units"), ("lstm", "rows"), ("simple_rnn", "units")])
def test_ctrl_c_stops_a_long_call_promptly(threads, tune, python_sigint, cell, split):
    """SIGINT 0.3 s into a call that would run for tens of seconds raises KeyboardInterrupt soon
    after (the bound is loose: this is about seconds against tens of seconds, not speed), forward
    and backward, and the next calls work."""
    tune(split=split)
    fastrnn.set_num_threads(2)
    forward = getattr(ops, f"{cell}_forward")
    backward = getattr(ops, f"{cell}_backward")
    G, H = (4, 2048) if cell == "lstm" else (1, 4096)
    B, D = 1, 8  # 64 MB of weights streamed at every step: a few ms per step, little else in memory
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in ((D, G * H), (H, G * H), (G * H,))]
    small_x = rng.standard_normal((B, 3, D)).astype(np.float32)
    expected = forward(small_x, *weights, training=False)[0]
    long_x = rng.standard_normal((B, 20000, D)).astype(np.float32)
    _, _, cache = forward(long_x[:, :50], *weights)  # then made 5000 steps long without computing them
    repeat = 100
    cache.x, cache.outputs = (np.tile(a, (1, repeat, 1)) for a in (cache.x, cache.outputs))
    if cell == "lstm":
        cache.gates, cache.cells = (np.tile(a, (repeat, 1, 1)) for a in (cache.gates, cache.cells))
    d_outputs = np.ones_like(cache.outputs)
    for call in (lambda: forward(long_x, *weights, training=False), lambda: backward(cache, d_outputs)):
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        start = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            call()
        late = time.perf_counter() - start - 0.3
        timer.join()
        assert late < 3.0, f"KeyboardInterrupt came {late:.2f} s after the signal"
        np.testing.assert_array_equal(forward(small_x, *weights, training=False)[0], expected)


def test_small_calls_stay_on_the_calling_thread(threads, tune):
    """Character-by-character generation (batch 1, one step at a time) never hands work to a
    worker, which on a busy machine may wait a scheduler slice for a core; large calls do."""
    tune(split="auto")
    fastrnn.set_num_threads(2)
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((60, 512), (128, 512), (512,))]
    before = fastrnn._core.config()["parallel_jobs"]
    for _ in range(3):
        x = rng.standard_normal((1, 1, 60)).astype(np.float32)
        _, _, cache = ops.lstm_forward(x, *weights)
        ops.lstm_backward(cache, np.ones((1, 1, 128), np.float32))
        ops.simple_rnn_forward(x, weights[0][:, :128], weights[1][:, :128], weights[2][:128], training=False)
    assert fastrnn._core.config()["parallel_jobs"] == before
    ops.lstm_forward(*lstm_problem(50, 64, 64, 256), training=False)
    assert fastrnn._core.config()["parallel_jobs"] > before
