"""Facts the trail does not hold, taken from the running session as they happen.

The trail says a verification request went out and came back (``http`` entry,
``ok``); only the session's variables say whether the backend answered *yes*,
and what it told us about the caller (a name, a balance). :class:`FactCollector`
is an engine listener: after each step it looks at the new trail entries, and for
an ``http`` entry it records the saved result, masked, and, when the request was a
verification (see :mod:`engine.handoff.summary`), its answer. The facts are kept
in memory and written to a small table next to the trail, so an engine started
after a crash still knows what its predecessor verified.

Masking: keys that name secrets (pin, password, cvv...) and any value equal to
something the caller entered as sensitive become ``***``. An http node's
``agent_fields`` keeps only those fields of its answer: the rest is neither shown
nor stored for the agent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from engine.flow import model as m
from engine.flow.templates import referenced_names
from engine.handoff.summary import Facts, FlowLookup, Verification, caller_name_of, verifying_vars
from engine.session.events import TrailEntry
from engine.session.machine import Session

log = logging.getLogger(__name__)

SECRET_KEY = re.compile(r"pin|pass|secret|token|cvv|cvc|ssn|otp", re.IGNORECASE)
MASK = "***"
KEEP_JOURNEYS = 5000  # facts kept in memory (the table keeps them all)


class FactStore(Protocol):
    def save(self, journey: str, facts: Facts) -> asyncio.Future[None]: ...

    async def load(self, journey: str) -> Facts | None: ...

    async def close(self) -> None: ...


class SqliteFactStore:
    """One row per journey in the trail's database file; writes in order, off the loop."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="handoff-facts")
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS handoff_facts"
            " (journey TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID"
        )
        self._db.commit()

    def save(self, journey: str, facts: Facts) -> asyncio.Future[None]:
        data = json.dumps(facts.as_json(), ensure_ascii=False, default=str)
        return asyncio.wrap_future(self._pool.submit(self._write, journey, data))

    def _write(self, journey: str, data: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO handoff_facts (journey, data) VALUES (?, ?)",
                (journey, data),
            )

    async def load(self, journey: str) -> Facts | None:
        return await asyncio.wrap_future(self._pool.submit(self._read, journey))

    def _read(self, journey: str) -> Facts | None:
        row = self._db.execute(
            "SELECT data FROM handoff_facts WHERE journey = ?", (journey,)
        ).fetchone()
        return None if row is None else Facts.from_json(json.loads(row[0]))

    async def close(self) -> None:
        await asyncio.wrap_future(self._pool.submit(self._db.close))
        self._pool.shutdown(wait=True)


@dataclass(slots=True)
class _Reading:
    """Where one journey's trail is, as the collector follows it."""

    flow: str
    root: str  # the journey's own flow, whose caller_name names the caller
    entered: list[str] = field(default_factory=list)
    secret: set[str] = field(default_factory=set)


class FactCollector:
    """An engine listener (``engine.listeners``): facts per journey as they happen."""

    def __init__(self, flows: FlowLookup, store: FactStore | None = None) -> None:
        self._flows = flows
        self._store = store
        self._facts: OrderedDict[str, Facts] = OrderedDict()
        # Journeys being read. An ending removes one; a web journey its person left
        # never ends, so the least recently read go past KEEP_JOURNEYS.
        self._reading: OrderedDict[str, _Reading] = OrderedDict()
        self._writes: set[asyncio.Future[None]] = set()

    def __call__(self, session: Session, entries: list[TrailEntry]) -> None:
        journey = session.call.call_id
        reading = self._reading.get(journey)
        if reading is None:
            reading = self._reading[journey] = _Reading(session.flow.name, session.flow.name)
            while len(self._reading) > KEEP_JOURNEYS:
                self._reading.popitem(last=False)
        else:
            self._reading.move_to_end(journey)
        changed = False
        for entry in entries:
            changed |= self._read(session, reading, entry)
            if entry.kind == "end":
                self._reading.pop(journey, None)
        if changed:
            self._save(journey)

    def _read(self, session: Session, reading: _Reading, entry: TrailEntry) -> bool:
        data = entry.data
        if entry.kind == "node" and data.get("flow"):
            reading.flow = str(data["flow"])
        elif entry.kind == "input" and data.get("var") and data.get("valid"):
            var = str(data["var"])
            if var not in reading.entered:
                reading.entered.append(var)
            if data.get("sensitive"):
                reading.secret.add(var)
        elif entry.kind == "http":
            return self._http(session, reading, entry)
        return False

    def _http(self, session: Session, reading: _Reading, entry: TrailEntry) -> bool:
        flow = self._flows(reading.flow)
        node = flow.nodes.get(entry.node) if flow is not None else None
        if not isinstance(node, m.Http):
            return False
        secrets = {str(session.vars.get(v, "")) for v in reading.secret} - {""}
        result = session.vars.get(node.save_as)
        facts = self.get(session.call.call_id) or Facts()
        results = dict(facts.results)
        if isinstance(result, Mapping):
            # A failed request is kept whole: its error says why the caller is here.
            fields = node.agent_fields if entry.data.get("ok") else None
            results[node.save_as] = mask(for_agent(result, fields), secrets)
        verifications = facts.verifications
        by = verifying_vars(node, reading.secret, reading.entered)
        if by:
            ok = bool(entry.data.get("ok"))
            answer = bool(result.get("ok")) if ok and isinstance(result, Mapping) else False
            check = Verification(entry.seq, node.id, reading.flow, by, ok, answer, entry.at)
            verifications = (*verifications, check)
        name = self._caller_name(reading.root, session.vars, secrets) or facts.caller_name
        self._put(
            session.call.call_id,
            replace(facts, results=results, verifications=verifications, caller_name=name),
        )
        return True

    def _caller_name(self, root: str, variables: Mapping[str, Any], secrets: set[str]) -> str:
        """The root flow's ``caller_name`` over all the journey knows, masked: it may
        read a field its backend's ``agent_fields`` keeps from the agent's list."""
        flow = self._flows(root)
        if flow is None or not flow.caller_name:
            return ""
        read = {n: variables[n] for n in referenced_names(flow.caller_name) if n in variables}
        return caller_name_of(flow, mask(read, secrets))

    def set_callback_number(self, journey: str, number: str) -> None:
        facts = self.get(journey) or Facts()
        self._put(journey, replace(facts, callback_number=number))
        self._save(journey)

    def get(self, journey: str) -> Facts | None:
        return self._facts.get(journey)

    def forget(self, journey: str) -> None:
        """Drop the journey from memory (the store keeps it)."""
        self._facts.pop(journey, None)

    async def load(self, journey: str) -> Facts | None:
        """From memory, else from the store (a journey an earlier engine ran)."""
        facts = self._facts.get(journey)
        if facts is None and self._store is not None:
            facts = await self._store.load(journey)
        return facts

    async def flush(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _put(self, journey: str, facts: Facts) -> None:
        self._facts[journey] = facts
        self._facts.move_to_end(journey)
        while len(self._facts) > KEEP_JOURNEYS:
            self._facts.popitem(last=False)

    def _save(self, journey: str) -> None:
        if self._store is None:
            return
        future = self._store.save(journey, self._facts[journey])
        self._writes.add(future)
        future.add_done_callback(self._saved)

    def _saved(self, future: asyncio.Future[None]) -> None:
        self._writes.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("handoff: could not store facts: %s", future.exception())


def for_agent(result: Mapping[str, Any], fields: tuple[str, ...] | None) -> Mapping[str, Any]:
    """What the agent may see of a backend's answer: ``fields`` (and its ``ok``), or
    all of it where the flow does not choose."""
    if fields is None:
        return result
    return {k: v for k, v in result.items() if k == "ok" or k in fields}


def mask(value: Any, secrets: set[str], key: str = "") -> Any:
    """``value`` with secret-looking keys and entered secrets replaced by ``***``."""
    if key and SECRET_KEY.search(key):
        return MASK
    if isinstance(value, Mapping):
        return {str(k): mask(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, secrets) for v in value]
    if isinstance(value, str) and value in secrets:
        return MASK
    return value
