"""The threads that load speech models and recognise utterances.

An executor like ThreadPoolExecutor, but its threads are daemons. Python joins a
ThreadPoolExecutor's threads before it exits, so an engine stopped while a model was
loading (a few seconds, over ten on a busy machine) did not exit until the load was
done, long after its calls had gone to the dialplan's fallback; an init system may
take that for a hung engine and kill it. Nothing a speech thread holds needs saving:
a model half loaded or an utterance half recognised is simply dropped.

The threads start with the first job and live as long as the executor, so a
recogniser may keep a decoder per thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonExecutor(Executor):
    def __init__(self, workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{n}", daemon=True)
            for n in range(workers)
        ]
        self._started = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self._closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future: Future[T] = Future()
        self._jobs.put((future, fn, args, kwargs))
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # the waiter's to handle, as ThreadPoolExecutor
                future.set_exception(exc)
            # Not kept while waiting for the next job: an utterance's audio, its result.
            del job, future, fn, args, kwargs

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more jobs; with ``cancel_futures``, those not started are cancelled.
        With ``wait``, return when the running ones are done."""
        self._closed = True
        if cancel_futures:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
        if not self._started:
            return
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
