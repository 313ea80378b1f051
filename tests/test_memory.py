"""Memory the C++ core holds between calls: reported by show_config(), freed by release_memory()
and, for a thread's scratch arenas, when the thread exits; freed memory leaves the process."""
import os
import threading
import time

import numpy as np
import pytest

import fastrnn
from fastrnn import ops

pytestmark = pytest.mark.skipif(fastrnn._core is None, reason="the C++ core is not built")
MB = 1 << 20


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def training_call(T=100, B=64, D=128, H=256, seed=0):
    """One LSTM forward and backward whose scratch is tens of MB."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    kernel = (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(np.float32)
    recurrent = (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32)
    out, _, cache = ops.lstm_forward(x, kernel, recurrent, np.zeros(4 * H, np.float32))
    ops.lstm_backward(cache, np.ones_like(out))


def held():
    memory = fastrnn._core.memory()
    return memory["arena_bytes"] + memory["pooled_bytes"]


def test_show_config_reports_what_release_memory_frees():
    training_call()
    config = fastrnn.show_config(file=open(os.devnull, "w"))
    assert config["arena_bytes"] > 4 * MB and config["arena_threads"] >= 1
    before = resident_bytes()
    freed = fastrnn.release_memory()
    assert freed >= config["arena_bytes"]
    assert held() == 0
    assert before - resident_bytes() > freed // 2  # it left the process, not just the pools


def test_arenas_of_exited_threads_are_freed():
    fastrnn.release_memory()
    baseline_threads = fastrnn._core.memory()["arena_threads"]
    barrier = threading.Barrier(6)

    def work(seed):
        training_call(seed=seed)
        barrier.wait()  # every thread's arena exists at once

    workers = [threading.Thread(target=work, args=(i,)) for i in range(5)]
    for w in workers:
        w.start()
    barrier.wait()
    during = fastrnn._core.memory()
    for w in workers:
        w.join()
    assert during["arena_threads"] >= baseline_threads + 5
    # join() returns once Python is done with a thread; its C++ thread-locals go a moment later
    deadline = time.monotonic() + 10
    while fastrnn._core.memory()["arena_threads"] > during["arena_threads"] - 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    after = fastrnn._core.memory()
    assert after["arena_threads"] <= during["arena_threads"] - 5
    assert after["arena_bytes"] < during["arena_bytes"] / 3  # unmapped: gone from the process
