"""The trainers flush subnormal floats to zero in every torch thread, scoped to themselves, and stay
bit-reproducible (issue 17, item 8)."""
import _thread
import signal
import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepcnt.bindings import presets  # noqa: E402
from deepcnt.bindings.train_loop import without_denormals  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from deepcnt.runs.store import EpochStore  # noqa: E402

TINY = torch.finfo(torch.float32).tiny


def _subnormals(t):
    a = t.abs()
    return int(((a > 0) & (a < TINY)).sum())


def _products():
    """Subnormal results of an elementwise op (split over the OpenMP workers) and of a GEMM (MKL's threads)."""
    x = torch.full((1 << 21,), 1e-20)
    a = torch.full((1, 256, 256), 1e-21)
    return _subnormals(x * x), _subnormals(torch.bmm(a, a))


def test_flush_reaches_every_worker_thread_and_leaves_the_caller_alone():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        before = _products()
        assert before[0] == 1 << 21 and before[1] == 256 * 256  # this machine keeps subnormals by default
        _products()  # the caller's OpenMP workers exist now: set_flush_denormal here would miss them
        assert without_denormals(_products)() == (0, 0)
        assert _products() == before  # the caller's threads were never changed
    finally:
        torch.set_num_threads(threads)


def test_errors_nesting_and_ctrl_c_pass_through():
    @without_denormals
    def outer():
        return inner()

    @without_denormals
    def inner():
        return threading.current_thread().name

    assert outer() == "deepcnt-outer"  # nested: runs inline, in the outer call's thread

    @without_denormals
    def bad():
        raise InputError("one line")

    with pytest.raises(InputError, match="one line"):
        bad()
    done, started = [], threading.Event()

    @without_denormals
    def long_loop():
        started.set()
        try:
            deadline = time.monotonic() + 60  # a Ctrl-C that never arrives fails the test instead of hanging it
            while time.monotonic() < deadline:
                torch.ones(8).sum()
        finally:
            done.append(True)

    def ctrl_c_once_running():
        if started.wait(60):
            _thread.interrupt_main()

    # Python's own Ctrl-C handler, whatever an earlier test or library left (interrupt_main does nothing
    # while SIGINT is ignored: the suite once hung here)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=ctrl_c_once_running, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            long_loop()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert done == [True]  # the worker stopped (its finally ran) before the caller re-raised


@pytest.mark.parametrize("preset,kw", [
    ("testolin-dbn", dict(hidden=(16, 12), epochs=2, batch_size=20)),
    ("zambra-mlp", dict(epochs=2, members=2)),
])
def test_two_runs_give_identical_weights(tmp_path, preset, kw):
    stores = [presets.train(preset, tmp_path / f"r{k}", n_train=200, n_test=50, threads=1, **kw) for k in (0, 1)]
    a, b = stores
    assert list(a.epochs) == list(b.epochs) and len(a) > 1
    for t in range(len(a)):
        wa, ba = a.read_arrays(t)
        wb, bb = b.read_arrays(t)
        assert all(np.array_equal(x, y) for x, y in zip(wa + (ba or []), wb + (bb or [])))
    assert isinstance(EpochStore.open(tmp_path / "r0"), EpochStore)


def test_ctrl_c_while_the_worker_starts_stops_it(monkeypatch):
    """A Ctrl-C that lands inside ``Thread.start`` (the worker already running ``fn``) stops the worker too;
    it once escaped before the wait loop and left the worker computing (seen under load in a test run)."""
    from deepcnt.bindings import train_loop

    class InterruptedStart(threading.Thread):
        def start(self):
            super().start()
            started.wait(10)
            raise KeyboardInterrupt  # as if SIGINT arrived while start() returned

    done, started = [], threading.Event()

    @without_denormals
    def long_loop():
        started.set()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                torch.ones(8).sum()
        finally:
            done.append(True)

    monkeypatch.setattr(train_loop.threading, "Thread", InterruptedStart)
    with pytest.raises(KeyboardInterrupt):
        long_loop()
    assert done == [True]
