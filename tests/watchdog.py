"""No test may hang the suite: past its time a test fails and says where it was waiting.

A time-skipping server that has stopped skipping turns a test's two-day sleep into two real
days; CI would only see the suite never finish. After `PROMPTLY_TEST_TIMEOUT` seconds (default
300; the longest test takes about 120 on a loaded machine) the watchdog stops the test, and
it fails with a traceback through the line that hung while the suite goes on:

- an async test: every asyncio task's stack goes to the test's captured stderr, and the task
  the test process is waiting on is cancelled, so the traceback runs through the `await`;
- a synchronous test: SIGALRM interrupts the main thread's wait and raises `TestHung` there.

A test still running a minute later (a teardown that hangs too) ends its process after
printing every thread's stack; xdist then reports it as crashed and goes on in a new worker.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

TEST_TIMEOUT = float(os.environ.get("PROMPTLY_TEST_TIMEOUT", "300"))
GRACE = 60.0
STOPPED = f"the watchdog stopped this test after {TEST_TIMEOUT:.0f}s (tests/watchdog.py)"


class TestHung(Exception):
    """Raised in a synchronous test's main thread when it runs past TEST_TIMEOUT."""


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGALRM, _raise_hung)


def _raise_hung(signum: int, frame: FrameType | None) -> None:
    raise TestHung(STOPPED)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    timers = [
        threading.Timer(TEST_TIMEOUT, _stop_test, args=(item,)),
        threading.Timer(TEST_TIMEOUT + GRACE, _end_process, args=(item,)),
    ]
    for timer in timers:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()


def _stop_test(item: pytest.Item) -> None:
    awaited = _awaited_task()
    if awaited is None:
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)
        return
    task, loop = awaited
    print(f"\n{item.nodeid} still running after {TEST_TIMEOUT:.0f}s; its tasks:", file=sys.stderr)
    for pending in asyncio.all_tasks(loop):
        pending.print_stack(file=sys.stderr)
    loop.call_soon_threadsafe(task.cancel, STOPPED)


def _awaited_task() -> tuple[asyncio.Future[object], asyncio.AbstractEventLoop] | None:
    """What the main thread's `run_until_complete` is waiting for, read off its stack."""
    frame: FrameType | None = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        if frame.f_code is asyncio.BaseEventLoop.run_until_complete.__code__:
            return frame.f_locals["future"], frame.f_locals["self"]
        frame = frame.f_back
    return None


def _end_process(item: pytest.Item) -> None:
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
        _, captured = capture.read_global_capture()
        sys.stderr.write(captured)
    print(f"\n{item.nodeid} did not end within {TEST_TIMEOUT + GRACE:.0f}s:", file=sys.stderr)
    sys.stderr.flush()
    faulthandler.dump_traceback(all_threads=True)
    os._exit(1)
