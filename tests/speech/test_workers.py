"""The speech threads: jobs run on them, and a stopped engine's process exits
without waiting for a model still loading."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from engine.speech.workers import DaemonExecutor


def test_jobs_run_on_the_workers_and_their_errors_reach_the_waiter() -> None:
    pool = DaemonExecutor(2, "test")
    names = {pool.submit(lambda: threading.current_thread().name).result() for _ in range(20)}
    assert names <= {"test_0", "test_1"}
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result()
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(time.sleep, 0)


def test_shutdown_cancels_the_jobs_not_started() -> None:
    pool = DaemonExecutor(1, "test")
    gate = threading.Event()
    running = pool.submit(gate.wait, 5)
    waiting = pool.submit(time.sleep, 0)
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert running.result(5) is True
    assert waiting.cancelled()


def test_the_process_exits_while_a_job_still_runs() -> None:
    """What a ThreadPoolExecutor does not do: Python joins its threads at exit, so an
    engine stopped during a model's load waited for the load."""
    program = (
        "import time\n"
        "from engine.speech.workers import DaemonExecutor\n"
        "pool = DaemonExecutor(1, 'speech')\n"
        "pool.submit(time.sleep, 30)\n"
        "time.sleep(0.2)\n"
        "pool.shutdown(wait=False, cancel_futures=True)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", program], timeout=20, check=True)
    assert done.returncode == 0
    assert time.monotonic() - started < 10
