"""The event loop the engine runs on: uvloop by default, asyncio's own on request.

The engine's work is many small socket reads and writes: an AGI command and its answer,
an AMI event, a trail commit. Per call, the loop's own bookkeeping (selecting, waking
tasks, transports) cost about as much as the flow itself; uvloop does it in C on libuv.
In the call benchmark it cut the engine's CPU per call by ~17 %
(benchmarks/README.md). ``event_loop = "asyncio"`` (``[engine]``, or ``IVR_EVENT_LOOP``)
runs on the standard loop instead, e.g. to rule uvloop out when chasing a problem.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

LOOPS = ("uvloop", "asyncio")

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], kind: str = "uvloop") -> T:
    """Run ``main`` to completion on a new loop of the given kind."""
    if kind == "asyncio":
        return asyncio.run(main)
    if kind != "uvloop":
        raise ValueError(f"event loop {kind!r}: expected one of {', '.join(LOOPS)}")
    return uvloop.run(main)
