"""Safe reloads: good edits serve new calls, broken edits keep the last good version."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.flowstore import FlowStore

GOOD = """
start: hello
human: person
nodes:
  hello:
    type: menu
    prompt: "{greeting}"
    options:
      - {{key: 0, label: Person, goto: person}}
  person: {{type: transfer, queue: support}}
"""


def write(path: Path, greeting: str) -> None:
    path.write_text(GOOD.format(greeting=greeting))
    stamp = path.stat().st_mtime + 1  # a distinct stamp even within one second
    os.utime(path, (stamp, stamp))


def greeting(store: FlowStore) -> str:
    flow = store.snapshot.get("hello")
    assert flow is not None
    part = flow.node("hello").prompt.parts("en")[0]  # type: ignore[union-attr]
    return str(part.text)


def test_reload_good_then_broken_then_good(tmp_path: Path) -> None:
    path = tmp_path / "hello.yaml"
    write(path, "Version one")
    store = FlowStore(str(tmp_path))
    assert store.load().changed == ["hello"]
    first = store.snapshot
    assert greeting(store) == "Version one"

    path.write_text("start: hello\nnodes:\n  hello: {type: menu, prompt: x, options: [}\n")
    assert store.changed_on_disk()
    result = store.load()
    assert result.errors and str(result.errors[0]).startswith(f"{path}:")
    assert greeting(store) == "Version one"  # the last good version keeps serving
    assert result.refused == ["hello"] and result.unserved == []

    write(path, "Version two")
    assert store.load().changed == ["hello"]
    assert greeting(store) == "Version two"
    # A call that started on the first snapshot still has its flow, unchanged.
    old = first.get("hello")
    assert old is not None
    assert old.node("hello").prompt.parts("en")[0].text == "Version one"  # type: ignore[union-attr]
    assert store.reloads == 3 and store.failed_reloads == 1


def test_a_removed_file_stops_serving(tmp_path: Path) -> None:
    path = tmp_path / "hello.yaml"
    write(path, "Hi")
    store = FlowStore(str(tmp_path))
    store.load()
    path.unlink()
    assert store.load().removed == ["hello"]
    assert store.snapshot.get("hello") is None


CALLER = """
start: ask
human: person
nodes:
  ask: {type: subflow, flow: sign_in, next: person}
  person: {type: transfer, queue: support, survey: survey}
"""
SUB = """
start: done
nodes:
  done: {type: return}
"""


def test_a_removed_subflow_serves_while_a_flow_calls_it(tmp_path: Path) -> None:
    """Deleting a subflow's file (or a survey's) leaves the flow that calls it broken:
    that flow keeps its last good version, so what it calls keeps serving too, until
    an edit stops calling it."""
    (tmp_path / "caller.yaml").write_text(CALLER)
    (tmp_path / "sign_in.yaml").write_text(SUB)
    (tmp_path / "survey.yaml").write_text(SUB)
    store = FlowStore(str(tmp_path))
    assert not store.load().errors
    (tmp_path / "sign_in.yaml").unlink()
    (tmp_path / "survey.yaml").unlink()
    result = store.load()
    assert len(result.errors) == 2
    assert {"unknown flow 'sign_in'", "unknown flow 'survey'"} == {
        p.message[p.message.index("unknown"):] for p in result.errors
    }
    assert result.kept == ["sign_in", "survey"] and result.removed == []
    assert store.snapshot.get("sign_in") is not None
    assert store.snapshot.get("survey") is not None

    write(tmp_path / "caller.yaml", "No subflow now")  # calls neither
    result = store.load()
    assert result.kept == [] and result.removed == ["sign_in", "survey"]
    assert store.snapshot.get("sign_in") is None


async def edit_while_watching(store: FlowStore, edit: Callable[[], object]) -> None:
    """Make ``edit`` while the store watches its directory; return once it reloaded."""
    reloaded = asyncio.Event()
    store.listeners.append(lambda result: reloaded.set())
    watcher = asyncio.create_task(store.watch(interval=0.05))
    try:
        edit()
        await asyncio.wait_for(reloaded.wait(), 2)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def test_the_log_says_a_broken_edit_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "hello.yaml"
    write(path, "Before")
    (tmp_path / "other.yaml").write_text("start: [\n")
    store = FlowStore(str(tmp_path))
    store.load()
    broken = GOOD.format(greeting="After").replace("goto: person", "goto: persn")
    with caplog.at_level(logging.INFO, "engine.flowstore"):
        await edit_while_watching(store, lambda: path.write_text(broken))
    assert greeting(store) == "Before"
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("unknown" in e and "persn" in e for e in errors)
    assert "flow reload: hello.yaml has errors, so this edit is refused: the last good " \
        "version keeps serving new calls" in errors
    # other.yaml was broken before this edit (said when the engine started): each
    # reload says what is new, not every problem of the directory again.
    assert not any("other.yaml" in e for e in errors)
    infos = [r.getMessage() for r in caplog.records if r.getMessage().startswith("flows reloaded")]
    assert infos[-1].endswith("refused=['hello', 'other'] errors=2 (1 new), warnings=0")


async def test_watch_picks_up_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "hello.yaml"
    write(path, "Before")
    store = FlowStore(str(tmp_path))
    store.load()
    await edit_while_watching(store, lambda: write(path, "After"))
    assert greeting(store) == "After"


async def test_a_reload_compiles_beside_the_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading and checking the flows happens in a thread: the event loop that serves
    the calls in progress runs on meanwhile (the demo's flows take 120-140 ms)."""
    import engine.flowstore as flowstore

    write(tmp_path / "hello.yaml", "Hi")
    real = flowstore.load_flow_dir

    def slow(directory: str) -> Any:
        time.sleep(0.5)  # as a big directory would take
        return real(directory)

    monkeypatch.setattr(flowstore, "load_flow_dir", slow)
    store = FlowStore(str(tmp_path))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        result = await store.reload()
    finally:
        ticker.cancel()
    assert result.changed == ["hello"] and greeting(store) == "Hi"
    assert ticks >= 10  # the loop ran on through the half second (none if it waited)
