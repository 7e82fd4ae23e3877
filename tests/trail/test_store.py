"""The SQLite trail store: ordered, idempotent, durable across a kill -9."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.session.events import TrailEntry
from engine.trail.store import SqliteTrailStore, new_journey_id


def entry(seq: int, kind: str = "node", node: str = "main", **data: object) -> TrailEntry:
    return TrailEntry(seq, 1000.0 + seq, kind, node, data)  # type: ignore[arg-type]


def test_a_durability_the_store_does_not_have_is_refused(tmp_path: Path) -> None:
    """It used to be NORMAL, silently: a "FULL" asked for was not had."""
    with pytest.raises(ValueError, match="durability 'maybe': expected one of normal, full"):
        SqliteTrailStore(str(tmp_path / "t.db"), "maybe")
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_append_and_read_in_order(tmp_path: Path, durability: str) -> None:
    store = SqliteTrailStore(str(tmp_path / "t.db"), durability)
    await store.begin("j1", "service_line", "+15550001", "PJSIP/x", 999.0)
    await store.append("j1", [entry(1, "start"), entry(2, value="中文")])
    await store.append("j1", [entry(3, "input", source="web", value="1")])
    await store.append("j1", [entry(2, value="again")])  # a retry of a stored step: ignored
    await store.finish("j1", "transfer:support", 1010.0)
    await store.save_wrapup("j1", {"disposition": "resolved", "fcr": True})
    rows = await store.trail("j1")
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[1]["value"] == "中文" and rows[2]["source"] == "web"
    info = await store.journey("j1")
    assert info is not None and info.outcome == "transfer:support"
    assert info.wrapup == {"disposition": "resolved", "fcr": True}
    assert await store.journey("nope") is None
    await store.close()


async def test_the_end_entry_records_the_outcome_in_the_same_commit(tmp_path: Path) -> None:
    store = SqliteTrailStore(str(tmp_path / "t.db"))
    store.begin("j1", "service_line", "+15550001", "PJSIP/x", 999.0)
    await store.append("j1", [entry(1, "start"), entry(2, "end", outcome="hangup")])
    info = await store.journey("j1")
    assert info is not None and (info.outcome, info.ended) == ("hangup", 1002.0)
    assert store.commits == 1  # the journey's row, its entries and its end together
    await store.close()


async def test_concurrent_appends_share_commits(tmp_path: Path) -> None:
    store = SqliteTrailStore(str(tmp_path / "t.db"))
    await asyncio.gather(
        *(store.append(f"j{j}", [entry(s)]) for j in range(50) for s in range(1, 21))
    )
    assert len(await store.trail("j7")) == 20
    assert store.commits < 1000  # group commit: far fewer commits than appends
    await store.close()


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_a_half_character_costs_no_one_s_steps(tmp_path: Path, durability: str) -> None:
    """A lone surrogate (from a backend's "\\ud800", a caller ID) cannot be stored
    as UTF-8. It is stored as U+FFFD, and the journeys that share its commit keep
    theirs: before, the whole batch was rolled back and its waiters never woke."""
    store = SqliteTrailStore(str(tmp_path / "t.db"), durability)
    async with asyncio.timeout(5):
        await asyncio.gather(
            store.append("good1", [entry(1, value="fine")]),
            store.append("bad", [entry(1, value="bad \ud800 x")]),
            store.append("good2", [entry(1, value="fine")]),
        )
    assert [r["value"] for r in await store.trail("good1")] == ["fine"]
    assert [r["value"] for r in await store.trail("bad")] == ["bad \ufffd x"]
    assert [r["value"] for r in await store.trail("good2")] == ["fine"]
    await store.close()


async def test_a_call_s_journey_is_found_by_its_channel_unique_id(tmp_path: Path) -> None:
    store = SqliteTrailStore(str(tmp_path / "t.db"))
    store.begin("j1", "service_line", "+15550001", "PJSIP/a-01", 999.0, uniqueid="1764600000.7")
    store.begin("j2", "service_line", "+15550002", "PJSIP/a-02", 999.5, uniqueid="1764600000.8")
    await store.begin("web", "service_line", "", "", 1000.0)  # a web journey: no channel
    assert await store.journey_of_channel("1764600000.8") == "j2"
    assert await store.journey_of_channel("1764600000.9") is None
    assert await store.journey_of_channel("") is None  # never the web journeys
    await store.close()


async def test_one_wait_heard_by_two_engines_is_kept_once(tmp_path: Path) -> None:
    """Every engine on the Asterisk keeps the waits it hears (`ivr call` beside `ivr
    serve`), each at the moment it heard the join; a later wait is another row."""
    path = str(tmp_path / "t.db")
    store = SqliteTrailStore(path)
    wait = {"queue": "support", "joined": 1000.0, "answered": False, "waited_s": 4}
    await store.save_queued("j1", wait)
    await store.save_queued("j1", {**wait, "joined": 1000.002, "answered": True, "agent": "101"})
    await store.save_queued("j1", {**wait, "queue": "sales", "joined": 1000.001})
    await store.save_queued("j1", {**wait, "joined": 1300.0})  # a call-back's wait
    await store.save_queued("j2", {**wait, "joined": 1000.001})
    await store.close()
    rows = sqlite3.connect(path).execute(
        "SELECT journey, queue, joined, answered FROM queued ORDER BY journey, joined, queue"
    ).fetchall()
    assert rows == [
        ("j1", "sales", 1000.001, 0),
        ("j1", "support", 1000.002, 1),
        ("j1", "support", 1300.0, 0),
        ("j2", "support", 1000.001, 0),
    ]


async def test_journeys_are_found_by_the_end_of_their_id_newest_first(tmp_path: Path) -> None:
    store = SqliteTrailStore(str(tmp_path / "t.db"))
    older, newer, other = (new_journey_id(t) for t in (1000.0, 2000.0, 3000.0))
    older, newer = older[:-8] + "3f2a91bc", newer[:-8] + "3f2a91bc"  # one reference, twice
    await asyncio.gather(
        *(
            store.begin(journey, "service_line", "", "", started)
            for journey, started in ((older, 1000.0), (newer, 2000.0), (other, 3000.0))
        )
    )
    assert await store.journeys_with_tail("3f2a91bc") == [newer, older]
    assert await store.journeys_with_tail("3f2a91bc", limit=1) == [newer]
    assert await store.journeys_with_tail("00000000") in ([], [other])
    plan = sqlite3.connect(store.path).execute(
        "EXPLAIN QUERY PLAN SELECT id FROM journeys WHERE substr(id, -8) = ? ORDER BY started DESC",
        ("3f2a91bc",),
    )
    assert "journeys_by_reference" in str(plan.fetchall())  # no scan of every journey
    await store.close()


async def test_a_store_from_before_unique_ids_is_brought_up_to_date(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE journeys (id TEXT PRIMARY KEY, flow TEXT NOT NULL,
            caller_id TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL DEFAULT '',
            started REAL NOT NULL, ended REAL, outcome TEXT, wrapup TEXT);
        INSERT INTO journeys (id, flow, started) VALUES ('old', 'service_line', 1.0);
    """)
    old.close()
    store = SqliteTrailStore(path)
    await store.begin("new", "service_line", "", "PJSIP/a-03", 2.0, uniqueid="1764600001.1")
    assert await store.journey_of_channel("1764600001.1") == "new"
    info = await store.journey("old")
    assert info is not None and info.flow == "service_line"  # nothing lost
    await store.close()


WRITER = textwrap.dedent("""
    import asyncio, sys
    import pytest

from engine.session.events import TrailEntry
    from engine.trail.store import SqliteTrailStore

    async def main() -> None:
        store = SqliteTrailStore(sys.argv[1])
        seq = 0
        while True:
            seq += 1
            await store.append("j", [TrailEntry(seq, float(seq), "node", "n", {})])
            print(seq, flush=True)  # acknowledged only once stored

    asyncio.run(main())
""")


def test_kill_9_loses_no_acknowledged_step(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, db],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert process.stdout is not None
    acknowledged = 0
    for line in process.stdout:
        acknowledged = int(line)
        if acknowledged >= 300:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()

    async def read() -> list[int]:
        store = SqliteTrailStore(db)
        rows = await store.trail("j")
        await store.close()
        return [r["seq"] for r in rows]

    stored = asyncio.run(read())
    assert stored[:acknowledged] == list(range(1, acknowledged + 1))


def test_journey_ids_are_hex_unique_and_grow_with_time() -> None:
    ids = [new_journey_id(1_764_600_000.0 + i) for i in range(3)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)  # what the handoff accepts
    assert ids == sorted(ids) and len({new_journey_id(1.0) for _ in range(1000)}) == 1000
