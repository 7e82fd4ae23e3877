"""How fast ``ivr report`` reads a large trail store, and that a short period reads
only its own journeys.

A store of J journeys spread over D days is written in a temporary directory (the
engine's schema, rows shaped like the demo's journeys: about 17 steps each, a mix
of endings, a queue wait and a wrap-up for those that reached a person, and for
most of those a 1-5 rating after the call). Then, each
timed in this process as ``ivr report --json`` runs it (read, tally, JSON):

    all      every journey (``--since all``)
    last day the last of the D days (``--since 1d``): a key range of the store

Run from the project root::

    .venv/bin/python -m benchmarks.bench_report                  # 100,000 journeys, 30 days
    .venv/bin/python -m benchmarks.bench_report --journeys 20000 # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import tempfile
import time
from typing import Any

from engine.report.figures import tally
from engine.report.reading import journeys, open_store
from engine.trail.store import SqliteTrailStore, new_journey_id

DAY = 86400.0

Steps = list[tuple[str, str, dict[str, Any]]]


def journey_steps(rng: random.Random) -> tuple[Steps, str]:
    """One journey's steps, and its outcome."""
    steps: Steps = [("start", "welcome", {"flow": "service_line", "lang": "en"})]

    def enter(node: str, kind: str, goal: str = "") -> None:
        data: dict[str, Any] = {"type": kind, "flow": "service_line"}
        if goal:
            data["goal"] = goal
        steps.append(("node", node, data))
        if kind in ("menu", "input", "language", "say"):
            steps.append(("prompt", node, {"text": "A prompt of the demo's length.", "lang": "en"}))

    enter("welcome", "language")
    steps.append(("input", "welcome", {"source": "key", "value": "1", "option": "1"}))
    enter("main", "menu")
    if rng.random() < 0.1:
        steps.append(("retry", "main", {"retry": "no_input", "count": 1, "max": 3}))
    roll = rng.random()
    if roll < 0.15:
        steps.append(("input", "main", {"source": "key", "value": "0", "option": "0"}))
        enter("agent", "transfer")
        return steps, "transfer:support"
    if roll < 0.22:
        return steps, "caller_hangup"
    steps.append(("input", "main", {"source": "key", "value": "1", "option": "1"}))
    enter("account", "input")
    steps.append(("input", "account", {"source": "key", "value": "123456", "var": "account"}))
    enter("pin", "input")
    steps.append(("input", "pin", {"source": "key", "value": "****", "var": "pin"}))
    enter("verify", "http")
    steps.append(("http", "verify", {"ok": True, "status": 200, "elapsed_ms": 40}))
    enter("say_balance", "say", goal="balance told")
    enter("goodbye", "hangup")
    return steps, "hangup"


async def write_store(path: str, count: int, days: float, seed: int) -> None:
    rng = random.Random(seed)
    SqliteTrailStore(path)  # the engine's schema
    now = time.time()
    db = sqlite3.connect(path)
    started_all = sorted(now - rng.random() * days * DAY for _ in range(count))
    with db:
        for started in started_all:
            jid = new_journey_id(started)
            steps, outcome = journey_steps(rng)
            at = started
            rows = []
            for seq, (kind, node, data) in enumerate(steps, 1):
                at += rng.uniform(0.2, 6.0)
                rows.append((jid, seq, at, kind, node, json.dumps(data)))
            rows.append(
                (jid, len(rows) + 1, at, "end", steps[-1][1], json.dumps({"outcome": outcome}))
            )
            wrapup = None
            if outcome.startswith("transfer"):
                answered = rng.random() < 0.9
                db.execute(
                    "INSERT INTO queued VALUES (?, ?, 'support', ?, '101', ?, ?)",
                    (
                        jid,
                        at,
                        int(answered),
                        rng.randint(1, 90),
                        rng.randint(30, 600) if answered else None,
                    ),
                )
                if answered:
                    wrapup = json.dumps(
                        {"disposition": "resolved", "resolved_first_contact": rng.random() < 0.8}
                    )
                    if rng.random() < 0.6:  # the agent hung up first: the caller rates it
                        survey(db, jid, at + 200, rng.choices("12345", (1, 1, 2, 5, 9))[0])
            db.execute(
                "INSERT INTO journeys (id, flow, caller_id, channel, uniqueid, started, ended,"
                " outcome, wrapup) VALUES (?, 'service_line', '+1555', 'PJSIP/x', '', ?, ?, ?, ?)",
                (jid, started, at, outcome, wrapup),
            )
            db.executemany("INSERT INTO trail VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.close()


def survey(db: sqlite3.Connection, surveyed: str, started: float, rating: str) -> None:
    """A 1-5 rating after the call ``surveyed`` (flows/csat_survey.yaml's journey)."""
    jid = new_journey_id(started)
    steps = [
        ("start", "rating", {"flow": "csat_survey", "survey_of": surveyed}),
        ("node", "rating", {"type": "input", "flow": "csat_survey"}),
        ("input", "rating", {"source": "key", "value": rating, "var": "rating", "valid": True}),
        ("node", "thanks", {"type": "hangup", "flow": "csat_survey"}),
        ("end", "thanks", {"outcome": "hangup"}),
    ]
    rows = [
        (jid, seq, started + seq, kind, node, json.dumps(data))
        for seq, (kind, node, data) in enumerate(steps, 1)
    ]
    db.execute(
        "INSERT INTO journeys (id, flow, caller_id, channel, uniqueid, started, ended,"
        " outcome) VALUES (?, 'csat_survey', '+1555', 'PJSIP/x', '', ?, ?, 'hangup')",
        (jid, started, started + len(steps)),
    )
    db.executemany("INSERT INTO trail VALUES (?, ?, ?, ?, ?, ?)", rows)


def timed_report(path: str, since: float) -> tuple[float, int, int]:
    """Seconds to read, tally and serialise; journeys and steps read."""
    began = time.perf_counter()
    db = open_store(path)
    counted = {"journeys": 0, "steps": 0}

    def counting(it: Any) -> Any:
        for journey in it:
            counted["journeys"] += 1
            counted["steps"] += len(journey.steps)
            yield journey

    flows = tally(counting(journeys(db, since, time.time() + 1)))
    json.dumps([f.as_dict() for f in flows.values()])
    db.close()
    return time.perf_counter() - began, counted["journeys"], counted["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trail.sqlite3")
        began = time.perf_counter()
        asyncio.run(write_store(path, args.journeys, args.days, args.seed))
        size = os.path.getsize(path) / 1e6
        print(
            f"store: {args.journeys:,} journeys over {args.days:g} days, {size:.0f} MB,"
            f" written in {time.perf_counter() - began:.1f} s"
        )
        for label, since in (("all", 0.0), ("last day", time.time() - DAY)):
            seconds, count, steps = timed_report(path, since)
            print(
                f"{label:>8}: {count:,} journeys, {steps:,} steps in {seconds:.2f} s"
                f" ({count / seconds:,.0f} journeys/s, {steps / seconds:,.0f} steps/s)"
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
