"""fastrnn.set_backend / get_backend: a plain call sets the process default for every thread,
`with set_backend(...)` overrides it for its own thread and block only, also under contention.

Not the ops themselves (test_ops_*.py run them on each backend)."""
import sys
import threading

import pytest

import fastrnn


@pytest.fixture(autouse=True)
def default_cpu():
    """Every test starts and ends with the process default "cpu"."""
    fastrnn.set_backend("cpu")
    yield
    fastrnn.set_backend("cpu")


@pytest.fixture
def fast_switching():
    """Let the interpreter switch threads as often as it can, so the blocks overlap finely."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(saved)


def test_with_blocks_in_many_threads_only_affect_their_own_thread(fast_switching):
    workers, rounds = 8, 300
    barrier = threading.Barrier(workers)
    done = threading.Event()
    seen_by_reader, wrong_inside, errors = set(), [], []

    def reader():
        while not done.is_set():
            seen_by_reader.add(fastrnn.get_backend())

    def worker():
        try:
            for _ in range(rounds):
                barrier.wait()
                with fastrnn.set_backend("numpy"):
                    if fastrnn.get_backend() != "numpy":
                        wrong_inside.append(fastrnn.get_backend())
                if fastrnn.get_backend() != "cpu":
                    wrong_inside.append(fastrnn.get_backend())
        except Exception as err:  # reported by the assertion below, not lost in the thread
            errors.append(err)
            barrier.abort()

    watcher = threading.Thread(target=reader)
    watcher.start()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert errors == [] and wrong_inside == []
    assert seen_by_reader == {"cpu"}
    assert fastrnn.get_backend() == "cpu"


def test_plain_call_is_seen_by_running_and_later_threads():
    started, switched = threading.Event(), threading.Event()
    seen = {}

    def running():
        started.set()
        switched.wait(10)
        seen["running"] = fastrnn.get_backend()

    early = threading.Thread(target=running)
    early.start()
    started.wait(10)
    fastrnn.set_backend("numpy")
    switched.set()
    early.join()
    late = threading.Thread(target=lambda: seen.setdefault("later", fastrnn.get_backend()))
    late.start()
    late.join()
    assert seen == {"running": "numpy", "later": "numpy"}
    assert fastrnn.get_backend() == "numpy"


def test_with_block_leaves_other_threads_on_the_default():
    inside, release = threading.Event(), threading.Event()

    def block():
        with fastrnn.set_backend("numpy"):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=block)
    t.start()
    inside.wait(10)
    try:
        assert fastrnn.get_backend() == "cpu"
    finally:
        release.set()
        t.join()


def test_nested_with_blocks_restore_in_order():
    fastrnn.set_backend("numpy")
    with fastrnn.set_backend("cpu"):
        assert fastrnn.get_backend() == "cpu"
        with fastrnn.set_backend("numpy"):
            assert fastrnn.get_backend() == "numpy"
            with fastrnn.set_backend("cpu") as inner:
                assert fastrnn.get_backend() == "cpu" and inner.name == "cpu"
            assert fastrnn.get_backend() == "numpy"
        assert fastrnn.get_backend() == "cpu"
    assert fastrnn.get_backend() == "numpy"


def test_with_block_restores_after_an_exception():
    with pytest.raises(KeyError):
        with fastrnn.set_backend("numpy"):
            raise KeyError("inside")
    assert fastrnn.get_backend() == "cpu"


def test_context_manager_made_before_the_with_statement():
    cm = fastrnn.set_backend("numpy")
    with cm:
        assert fastrnn.get_backend() == "numpy"
    assert fastrnn.get_backend() == "cpu"
    with cm:  # the same object again
        assert fastrnn.get_backend() == "numpy"
    assert fastrnn.get_backend() == "cpu"


def test_context_manager_made_early_keeps_a_later_plain_call():
    cm = fastrnn.set_backend("numpy")
    fastrnn.set_backend("cpu")
    fastrnn.set_backend("numpy")  # the latest plain call wins; entering cm must not undo it
    with cm:
        assert fastrnn.get_backend() == "numpy"
    assert fastrnn.get_backend() == "numpy"


def test_unknown_backend_is_a_clear_error_at_the_call():
    with pytest.raises(ValueError, match="argument 'backend' must be one of"):
        fastrnn.set_backend("tpu")
    with pytest.raises(ValueError, match="'tpu'"):
        with fastrnn.set_backend("tpu"):
            pass  # pragma: no cover
    assert fastrnn.get_backend() == "cpu"
