"""What the engine keeps of a call once it has ended, driven by a scripted FastAGI peer
(the real calls are in tests/e2e): the journey stays reachable, the call's connection,
streams and parsers do not, and the journey's outcome is stored with its last entry."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import pytest

from benchmarks.bench_engine_cpu import FLOW, one_call
from engine.agi.call import AgiCall
from engine.flowstore import FlowStore
from engine.prompts import PromptCache
from engine.runtime import GC_THRESHOLD, EndedCall, Engine
from engine.session import events as ev
from engine.trail.store import SqliteTrailStore
from tests.conftest import ROOT


async def test_an_ended_call_keeps_its_journey_not_its_connection(tmp_path: Path) -> None:
    store = SqliteTrailStore(str(tmp_path / "trail.sqlite3"))
    engine = Engine(
        FlowStore(f"{ROOT}/benchmarks/flows"), PromptCache(str(tmp_path / "prompts")), trail=store
    )
    _, port = await engine.start("127.0.0.1", 0, watch=False)
    try:
        assert gc.get_threshold()[0] == GC_THRESHOLD
        commands = await one_call(port, 1)
        assert commands.split() == ["STREAM", "EXEC"]  # the menu, the end
        async with asyncio.timeout(5):
            while engine.calls:
                await asyncio.sleep(0.01)
        (journey, handle), = engine.sessions.items()
        assert isinstance(handle, EndedCall) and handle.voice
        assert handle.session.flow.name == FLOW and handle.session.outcome == "hangup"
        assert not any(isinstance(o, AgiCall) for o in gc.get_objects())
        handle.submit(ev.Digit("1"))  # the call is over: ignored, no error
        info = await store.journey(journey)
        assert info is not None and info.outcome == "hangup" and info.ended is not None
        assert await store.journey_of_channel("1700000000.1") == journey  # one_call's channel
    finally:
        await engine.stop()
        await store.close()


async def test_the_call_s_log_line_masks_the_caller_s_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A log is read by many: the caller ID shows its last digits, as a text's number."""
    caplog.set_level(logging.DEBUG, "engine.runtime")
    engine = Engine(FlowStore(f"{ROOT}/benchmarks/flows"), PromptCache(str(tmp_path / "p")))
    _, port = await engine.start("127.0.0.1", 0, watch=False)
    try:
        await one_call(port, 1)  # caller ID 77000000001
        async with asyncio.timeout(5):
            while engine.calls:
                await asyncio.sleep(0.01)
    finally:
        await engine.stop()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("call ")]
    assert len(lines) == 2 and all("********001" in line for line in lines)
    assert "77000000001" not in caplog.text
