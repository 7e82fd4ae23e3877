"""Prometheus metrics of one engine, in a registry of its own (so that several
engines in one process, as in tests and benchmarks, don't collide)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STEP_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls_in_progress = Gauge(
            "ivr_calls_in_progress", "Calls the engine is running", registry=r
        )
        self.calls = Counter("ivr_calls_total", "Calls ended, by outcome", ["outcome"], registry=r)
        self.step_latency = Histogram(
            "ivr_step_latency_seconds",
            "Engine time from an AGI response (a key, a prompt's end) to the next command",
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.errors = Counter("ivr_errors_total", "Errors, by kind", ["kind"], registry=r)
        self.agi_refused = Counter(
            "ivr_agi_refused_total",
            "FastAGI connections that brought no request: closed (a port scan, a health "
            "check), stalled (past the header timeout) or garbage",
            ["reason"],
            registry=r,
        )
        self.reloads = Counter(
            "ivr_flow_reloads_total", "Flow reloads, by result", ["result"], registry=r
        )
        self.http_requests = Counter(
            "ivr_http_requests_total",
            "Requests of flows' http nodes, by flow and result (ok, timeout, 4xx, 5xx, "
            "failed: unreachable or an answer that is not JSON)",
            ["flow", "result"],
            registry=r,
        )
        self.queues_missing = Gauge(
            "ivr_queues_missing",
            "Queues that transfers (or the agent desktop) name and the Asterisk does not "
            "have: their callers wait in the fallback queue",
            registry=r,
        )
        self.flows_broken = Gauge(
            "ivr_flows_broken",
            "Flow files with errors: not served, or served at their last good version",
            registry=r,
        )
        self.gc_pause = Histogram(
            "ivr_gc_pause_seconds",
            "How long each pass of Python's cyclic garbage collector held the event loop",
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self._gc_started = 0.0
        self.loop_lag = Gauge("ivr_event_loop_lag_seconds", "Latest event-loop lag", registry=r)
        self.loop_lag_max = Gauge("ivr_event_loop_lag_max_seconds", "Worst lag", registry=r)
        # Raw samples for benchmarks (bounded).
        self.step_samples: deque[float] = deque(maxlen=200_000)
        self.lag_samples: deque[float] = deque(maxlen=100_000)

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        """A ``gc.callbacks`` hook: times each collection."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pause.observe(time.perf_counter() - self._gc_started)

    def observe_step(self, seconds: float) -> None:
        self.step_latency.observe(seconds)
        self.step_samples.append(seconds)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))

    async def watch_loop_lag(self, interval: float = 0.1) -> None:
        """Measure how late the event loop wakes us; runs until cancelled."""
        worst = 0.0
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                before = time.perf_counter()  # not loop.time(): uvloop's counts whole ms
                await asyncio.sleep(interval)
                lag = max(0.0, time.perf_counter() - before - interval)
                worst = max(worst, lag)
                self.loop_lag.set(lag)
                self.loop_lag_max.set(worst)
                self.lag_samples.append(lag)
