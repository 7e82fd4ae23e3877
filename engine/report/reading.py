"""The journeys of a period, read from the trail store for a report.

The store is opened read-only (SQLite's ``mode=ro``), so a report run beside a
serving engine never takes its write lock: WAL lets both go on. Journeys are read
one at a time, in the order they began, with their steps, their waits in a queue
and their wrap-up, so a report over millions of steps holds one journey at a time.

Every step is read but the prompts played: no figure uses them, and they are a
third of the steps and most of their bytes.

Journey ids begin with the second the journey began (``new_journey_id``), so the
period is a range of the primary key and of the trail's: no scan of older rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from engine.flow.problems import did_you_mean


class ReportError(Exception):
    """The store cannot be read: said in a line the user can act on."""


@dataclass(frozen=True, slots=True)
class Step:
    at: float
    kind: str
    node: str
    data: dict[str, Any]


@dataclass(slots=True)
class Journey:
    id: str
    flow: str
    web_only: bool  # began on the visual IVR's page, with no call
    started: float
    ended: float | None
    outcome: str | None  # None: not ended (in progress, or a page left open)
    wrapup: dict[str, Any] | None
    steps: list[Step] = field(default_factory=list)
    waits: list[dict[str, Any]] = field(default_factory=list)  # QueuedCall.record()

    @property
    def test(self) -> bool:
        """Placed by `ivr call` (a designer trying a flow), not by a caller."""
        first = self.steps[0] if self.steps else None
        return first is not None and first.kind == "start" and bool(first.data.get("test"))


def _key(at: float) -> str:
    """The smallest journey id of a journey begun at ``at`` or later."""
    return f"{max(0, int(at)):08x}"


def open_store(path: str) -> sqlite3.Connection:
    if not os.path.exists(path):
        raise ReportError(f"{path}: no trail store there (the engine's trail_db setting)")
    try:
        db = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        db.execute("SELECT 1 FROM journeys LIMIT 1")
    except sqlite3.Error as exc:
        raise ReportError(f"{path}: not a trail store the report can read: {exc}") from exc
    return db


def check_flow_name(db: sqlite3.Connection, flow: str) -> None:
    """ReportError when no journey of any time is of ``flow`` (a typo, most likely:
    the report would otherwise say only that the period has none)."""
    if db.execute("SELECT 1 FROM journeys WHERE flow = ? LIMIT 1", (flow,)).fetchone():
        return
    names = [row[0] for row in db.execute("SELECT DISTINCT flow FROM journeys ORDER BY flow")]
    there = f" (flows there: {', '.join(names)})" if names else ""
    raise ReportError(
        f"no journey of flow '{flow}' in the store{there}{did_you_mean(flow, names)}"
    )


def journeys(
    db: sqlite3.Connection, since: float, until: float, flow: str | None = None
) -> Iterator[Journey]:
    """The journeys begun in [since, until), oldest first, of ``flow`` if given."""
    low, high = _key(since), _key(until + 1)  # ids of until's own second sort after its key
    flow_clause = " AND flow = ?" if flow else ""
    args: tuple[Any, ...] = (low, high, since, until, *((flow,) if flow else ()))
    rows = db.execute(
        "SELECT id, flow, channel, started, ended, outcome, wrapup FROM journeys"
        " WHERE id >= ? AND id < ? AND started >= ? AND started < ?" + flow_clause + " ORDER BY id",
        args,
    )
    steps = _grouped(
        db.execute(
            "SELECT journey, at, kind, node, data FROM trail"
            " WHERE journey >= ? AND journey < ? AND kind != 'prompt' ORDER BY journey, seq",
            (low, high),
        )
    )
    waits = _grouped(
        db.execute(
            "SELECT journey, queue, joined, answered, agent, waited_s, talk_s FROM queued"
            " WHERE journey >= ? AND journey < ? ORDER BY journey, joined",
            (low, high),
        )
        if _has_table(db, "queued")
        else iter(())
    )
    for jid, name, channel, started, ended, outcome, wrapup in rows:
        journey = Journey(
            id=jid,
            flow=name,
            web_only=not channel,
            started=started,
            ended=ended,
            outcome=outcome,
            wrapup=_json(wrapup),
        )
        journey.steps = [
            Step(at, kind, node, _json(data) or {}) for at, kind, node, data in steps.take(jid)
        ]
        journey.waits = [
            {"queue": q, "joined": j, "answered": bool(a), "agent": ag, "waited_s": w, "talk_s": t}
            for q, j, a, ag, w, t in waits.take(jid)
        ]
        yield journey


class _grouped:
    """Rows ordered by their first column, handed out a key at a time, in step with
    a walk over keys in the same order (keys with no rows get none)."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = iter(rows)
        self._next: tuple[Any, ...] | None = next(self._rows, None)

    def take(self, key: str) -> list[tuple[Any, ...]]:
        while self._next is not None and self._next[0] < key:
            self._next = next(self._rows, None)
        out = []
        while self._next is not None and self._next[0] == key:
            out.append(self._next[1:])
            self._next = next(self._rows, None)
        return out


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
