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
    threads = fastrnn.get_num_threads()
    fastrnn.set_num_threads(1)  # only the five threads below make scratch memory
    try:
        fastrnn.release_memory()
        assert fastrnn._core.memory()["arena_bytes"] == 0
        barrier, measured = threading.Barrier(6), threading.Event()

        def work(seed):
            training_call(seed=seed)
            barrier.wait()  # every thread's arena exists at once
            measured.wait()

        workers = [threading.Thread(target=work, args=(i,)) for i in range(5)]
        for w in workers:
            w.start()
        barrier.wait()
        during = fastrnn._core.memory()
        measured.set()
        for w in workers:
            w.join()
        # join() returns once Python is done with a thread; its C++ thread-locals go a moment later
        deadline = time.monotonic() + 10
        while fastrnn._core.memory()["arena_threads"] and time.monotonic() < deadline:
            time.sleep(0.01)
        after = fastrnn._core.memory()
    finally:
        fastrnn.set_num_threads(threads)
    assert during["arena_threads"] == 5 and during["arena_bytes"] > 20 * MB
    assert after["arena_threads"] == 0 and after["arena_bytes"] == 0  # unmapped: gone from the process
