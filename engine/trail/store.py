"""The durable trail: one ordered, append-only record per caller journey.

Callers of the store see :class:`TrailStore` only (append, read, finish, wrap-up),
so a server database can replace SQLite without touching them.

A call's journey also records the Asterisk channel's unique id, so that an engine
which never saw the call (the one that ran it was stopped or crashed, and the
dialplan queued the caller) finds its journey from the queue's events alone.

:class:`SqliteTrailStore` keeps the database in WAL mode and commits with *group
commit*: every append made while the event loop runs one round of callbacks goes
into one transaction at the end of that round. ``append`` returns a future that
resolves once the rows are committed; the call driver awaits it before it sends
Asterisk the next command, so a step the caller was told about (a prompt that
followed it) is on disk first.

With ``durability="normal"`` (the default, ``synchronous=NORMAL``) a commit only
writes to the WAL file, about 20 us, so it runs on the event loop itself (no
thread hop, which under load costs a GIL switch interval); it survives a
``kill -9`` of the engine. Checkpoints, which do sync the disk, run in a thread of
their own. ``durability="full"`` also survives a power cut: each commit syncs the
disk, so commits run in a writer thread and the loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.session.events import TrailEntry

SAME_WAIT_S = 5.0  # records of one wait by engines that heard it join this far apart

SCHEMA = """
CREATE TABLE IF NOT EXISTS journeys (
    id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    caller_id TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    uniqueid TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    ended REAL,
    outcome TEXT,
    wrapup TEXT
);
CREATE TABLE IF NOT EXISTS trail (
    journey TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    node TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (journey, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queued (
    journey TEXT NOT NULL,
    joined REAL NOT NULL,
    queue TEXT NOT NULL,
    answered INTEGER NOT NULL,
    agent TEXT NOT NULL DEFAULT '',
    waited_s INTEGER,
    talk_s INTEGER,
    PRIMARY KEY (journey, joined)
) WITHOUT ROWID;
"""
# After SCHEMA, and after a store from before the column existed has been given it.
INDEXES = """
CREATE INDEX IF NOT EXISTS journeys_by_uniqueid ON journeys (uniqueid) WHERE uniqueid != '';
CREATE INDEX IF NOT EXISTS journeys_by_reference ON journeys (substr(id, -8), started);
"""


@dataclass(frozen=True, slots=True)
class JourneyInfo:
    id: str
    flow: str
    caller_id: str
    channel: str
    started: float
    ended: float | None
    outcome: str | None
    wrapup: dict[str, Any] | None


class TrailStore(Protocol):
    def begin(
        self,
        journey: str,
        flow: str,
        caller_id: str,
        channel: str,
        started: float,
        uniqueid: str = "",
    ) -> asyncio.Future[None]: ...

    def append(self, journey: str, entries: Sequence[TrailEntry]) -> asyncio.Future[None]: ...

    def finish(self, journey: str, outcome: str, ended: float) -> asyncio.Future[None]: ...

    def save_wrapup(self, journey: str, wrapup: dict[str, Any]) -> asyncio.Future[None]: ...

    def save_queued(self, journey: str, queued: dict[str, Any]) -> asyncio.Future[None]:
        """How a wait in a queue went (``QueuedCall.record``): a journey can wait
        more than once (a call back)."""
        ...

    async def trail(self, journey: str) -> list[dict[str, Any]]: ...

    async def journey(self, journey: str) -> JourneyInfo | None: ...

    async def journey_of_channel(self, uniqueid: str) -> str | None:
        """The journey of the call on the channel with this Asterisk unique id."""
        ...

    async def journeys_with_tail(self, tail: str, limit: int = 5) -> list[str]:
        """The journeys whose id ends in ``tail`` (engine/trail/reference.py), newest
        first."""
        ...

    async def close(self) -> None: ...


_Write = tuple[str, tuple[Any, ...]]


def new_journey_id(now: float | None = None) -> str:
    """A journey's id: 32 hex digits, the second the journey began (8 digits, good
    until 2106), then 96 random bits.

    Both tables are keyed by the journey, so ids that grow with time put the rows of
    the calls in progress side by side at the end of each B-tree: a commit rewrites
    a page or two rather than one page per call scattered over the whole file, and
    the checkpoint copies back as few (100 journeys in progress on a trail of a
    million rows: 0.25 ms of the store's CPU per call with random ids, 0.17-0.23 ms
    with these; one journey at a time, no difference).

    The id is also the key to the caller page's handoff API (engine/handoff/api.py):
    its 96 random bits keep it unguessable; the time in it tells when the call began."""
    seconds = int(time.time() if now is None else now)
    return f"{seconds:08x}{secrets.token_hex(12)}"


def _finish_write(journey: str, outcome: str, ended: float) -> _Write:
    return "UPDATE journeys SET outcome = ?, ended = ? WHERE id = ?", (outcome, ended, journey)


# The store's durabilities (the trail_durability setting): SQLite's synchronous=NORMAL
# in WAL mode survives the engine being killed; FULL also survives a power cut.
DURABILITIES = ("normal", "full")


class SqliteTrailStore:
    def __init__(self, path: str, durability: str = "normal") -> None:
        self.path = path
        if durability.lower() not in DURABILITIES:
            raise ValueError(
                f"durability {durability!r}: expected one of {', '.join(DURABILITIES)}"
            )
        self._durability = durability.upper()
        self._queue: queue.SimpleQueue[
            tuple[list[_Write], asyncio.Future[None], asyncio.AbstractEventLoop] | None
        ] = queue.SimpleQueue()
        _create(self._connect())
        self._pending: list[tuple[list[_Write], asyncio.Future[None]]] = []
        self._flush_scheduled = False
        self._stop = threading.Event()
        self.commits = 0
        if self._durability == "FULL":
            self._loop_db: sqlite3.Connection | None = None
            self._thread = threading.Thread(target=self._writer, name="trail-writer", daemon=True)
        else:
            self._loop_db = self._connect()
            self._loop_db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
            self._thread = threading.Thread(
                target=self._checkpointer, name="trail-checkpoint", daemon=True
            )
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._durability}")
        return db

    # ------------------------------------------------------------ writes

    def _submit(self, writes: list[_Write]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if self._loop_db is None:
            self._queue.put((writes, future, loop))
        else:
            self._pending.append((writes, future))
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        """Commit everything appended in this round of the loop, in one transaction."""
        self._flush_scheduled = False
        work, self._pending = self._pending, []
        assert self._loop_db is not None
        error = self._commit(self._loop_db, [writes for writes, _ in work])
        for _, future in work:
            _settle(future, error)

    def _commit(self, db: sqlite3.Connection, batches: list[list[_Write]]) -> Exception | None:
        """Run ``batches`` in one transaction; the error, if it failed (every waiter
        is told: none is left waiting for a commit that never comes)."""
        try:
            try:
                _execute(db, batches)
            except UnicodeEncodeError:
                # A half character (a lone surrogate) in one value cannot be stored as
                # UTF-8; it is stored as U+FFFD rather than costing the batch.
                _execute(db, [[(sql, _encodable(args)) for sql, args in w] for w in batches])
        except Exception as exc:  # handed to every waiter
            return exc
        self.commits += 1
        return None

    def _checkpointer(self) -> None:
        db = self._connect()
        while not self._stop.wait(1.0):
            with contextlib.suppress(sqlite3.Error):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()

    def begin(
        self,
        journey: str,
        flow: str,
        caller_id: str,
        channel: str,
        started: float,
        uniqueid: str = "",
    ) -> asyncio.Future[None]:
        return self._submit(
            [
                (
                    "INSERT OR IGNORE INTO journeys"
                    " (id, flow, caller_id, channel, uniqueid, started) VALUES (?, ?, ?, ?, ?, ?)",
                    (journey, flow, caller_id, channel, uniqueid, started),
                )
            ]
        )

    def append(self, journey: str, entries: Sequence[TrailEntry]) -> asyncio.Future[None]:
        """Store ``entries``; an ``end`` entry also records the journey's outcome, in
        the same commit (``finish`` is then only needed for a journey that never ended)."""
        writes: list[_Write] = [
            (
                "INSERT OR IGNORE INTO trail (journey, seq, at, kind, node, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    journey,
                    e.seq,
                    e.at,
                    e.kind,
                    e.node,
                    json.dumps(dict(e.data), ensure_ascii=False, default=str),
                ),
            )
            for e in entries
        ]
        for e in entries:
            if e.kind == "end":
                writes.append(_finish_write(journey, str(e.data.get("outcome")), e.at))
        return self._submit(writes)

    def finish(self, journey: str, outcome: str, ended: float) -> asyncio.Future[None]:
        return self._submit([_finish_write(journey, outcome, ended)])

    def save_wrapup(self, journey: str, wrapup: dict[str, Any]) -> asyncio.Future[None]:
        return self._submit(
            [
                (
                    "UPDATE journeys SET wrapup = ? WHERE id = ?",
                    (json.dumps(wrapup, ensure_ascii=False), journey),
                )
            ]
        )

    def save_queued(self, journey: str, queued: dict[str, Any]) -> asyncio.Future[None]:
        # Every engine on the Asterisk hears every queue's events and keeps the wait
        # (two run whenever `ivr call` runs beside `ivr serve`), each with the moment
        # it heard the caller join: records of one wait are milliseconds apart, where
        # two waits of one journey are a whole call apart. The last one stands.
        return self._submit(
            [
                (
                    "DELETE FROM queued WHERE journey = ? AND queue = ?"
                    " AND joined BETWEEN ? AND ?",
                    (
                        journey,
                        queued["queue"],
                        queued["joined"] - SAME_WAIT_S,
                        queued["joined"] + SAME_WAIT_S,
                    ),
                ),
                (
                    "INSERT OR REPLACE INTO queued"
                    " (journey, joined, queue, answered, agent, waited_s, talk_s)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        journey,
                        queued["joined"],
                        queued["queue"],
                        int(bool(queued["answered"])),
                        queued.get("agent", ""),
                        queued.get("waited_s"),
                        queued.get("talk_s"),
                    ),
                )
            ]
        )

    def _writer(self) -> None:
        db = self._connect()
        while True:
            item = self._queue.get()
            batch = [item]
            while not self._queue.empty():  # group commit: take whatever has queued
                batch.append(self._queue.get_nowait())
            work = [b for b in batch if b is not None]
            error = self._commit(db, [writes for writes, _, _ in work])
            for _, future, loop in work:
                loop.call_soon_threadsafe(_settle, future, error)
            if None in batch:
                db.close()
                return

    # ------------------------------------------------------------ reads

    async def trail(self, journey: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._read_trail, journey)

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        """The rows of one query, on a connection of the calling (worker) thread's own."""
        db = self._connect()
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def _read_trail(self, journey: str) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT seq, at, kind, node, data FROM trail WHERE journey = ? ORDER BY seq",
            (journey,),
        )
        return [
            {"seq": s, "at": a, "kind": k, "node": n, **json.loads(d)} for s, a, k, n, d in rows
        ]

    async def journey(self, journey: str) -> JourneyInfo | None:
        return await asyncio.to_thread(self._read_journey, journey)

    def _read_journey(self, journey: str) -> JourneyInfo | None:
        rows = self._read(
            "SELECT id, flow, caller_id, channel, started, ended, outcome, wrapup"
            " FROM journeys WHERE id = ?",
            (journey,),
        )
        if not rows:
            return None
        row = rows[0]
        wrapup = json.loads(row[7]) if row[7] else None
        return JourneyInfo(
            id=row[0],
            flow=row[1],
            caller_id=row[2],
            channel=row[3],
            started=row[4],
            ended=row[5],
            outcome=row[6],
            wrapup=wrapup,
        )

    async def journey_of_channel(self, uniqueid: str) -> str | None:
        if not uniqueid:
            return None
        return await asyncio.to_thread(self._read_journey_of_channel, uniqueid)

    def _read_journey_of_channel(self, uniqueid: str) -> str | None:
        rows = self._read(
            "SELECT id FROM journeys WHERE uniqueid = ? AND uniqueid != ''"
            " ORDER BY started DESC LIMIT 1",
            (uniqueid,),
        )
        return str(rows[0][0]) if rows else None

    async def journeys_with_tail(self, tail: str, limit: int = 5) -> list[str]:
        rows = await asyncio.to_thread(
            self._read,
            "SELECT id FROM journeys WHERE substr(id, -8) = ? ORDER BY started DESC LIMIT ?",
            (tail, limit),
        )
        return [str(row[0]) for row in rows]

    async def close(self) -> None:
        if self._loop_db is not None:
            if self._pending:
                self._flush()
            self._loop_db.close()
            self._stop.set()
        else:
            self._queue.put(None)
        await asyncio.to_thread(self._thread.join, 10)


def _create(db: sqlite3.Connection) -> None:
    """Create the tables, or bring a store written by an older engine up to date."""
    try:
        db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(journeys)")}
        if "uniqueid" not in columns:
            db.execute("ALTER TABLE journeys ADD COLUMN uniqueid TEXT NOT NULL DEFAULT ''")
        db.executescript(INDEXES)
    finally:
        db.close()


def _execute(db: sqlite3.Connection, batches: list[list[_Write]]) -> None:
    with db:
        for writes in batches:
            for sql, args in writes:
                db.execute(sql, args)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` with each half character replaced by U+FFFD."""
    return tuple(_SURROGATE.sub("\ufffd", a) if isinstance(a, str) else a for a in args)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
