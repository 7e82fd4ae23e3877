"""A transfer to a queue the Asterisk does not have is said, by ``ivr serve`` and by
``ivr call``: the dialplan puts such callers in the fallback queue, where nobody
meant to take them, and nothing else would tell the designer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from engine import queuecheck
from engine.ami import Ami
from engine.cli import main
from engine.config import load_settings
from engine.flow.model import Flow
from engine.flowstore import FlowStore

pytestmark = pytest.mark.asterisk

MISSING = f"nurses{os.getpid()}"  # no queues.conf has it

FLOW = """\
title: Nurse line
start: nurse
nodes:
  nurse:
    type: transfer
    queue: {queue}
    prompt: Connecting you to a nurse.
"""


@pytest.fixture
async def engine_ami() -> AsyncIterator[Ami]:
    """The engine's own AMI user, with its rights (not the tools')."""
    settings = load_settings(environ={})
    ami = Ami(settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
              events="call,agent,system")
    ami.start()
    await ami.wait_ready(10.0)
    yield ami
    await ami.stop()


def _flows(directory: Path, queue: str) -> FlowStore:
    (directory / "nurse.yaml").write_text(FLOW.format(queue=queue), encoding="utf-8")
    store = FlowStore(str(directory))
    store.load()
    return store


async def test_serve_names_the_transfer_and_its_line(
    engine_ami: Ami, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _flows(tmp_path, MISSING)
    with caplog.at_level(logging.WARNING, "engine.queuecheck"):
        missing = await queuecheck.check(engine_ami, store.snapshot.flows, ("support", "x9"))
    assert missing == 2
    assert caplog.messages == [
        f"queues: {tmp_path / 'nurse.yaml'}:6:12: flow 'nurse' node 'nurse': Asterisk has "
        f"no queue '{MISSING}', so its callers wait in the fallback queue 'support'; define "
        "the queue in queues.conf, or correct the name",
        "queues: the agent desktop offers queue 'x9', which Asterisk does not have "
        "(IVR_HANDOFF_AGENT_QUEUES)",
    ]
    caplog.clear()
    good = _flows(tmp_path, "support")
    assert await queuecheck.check(engine_ami, good.snapshot.flows) == 0
    assert caplog.messages == []


async def test_the_watch_checks_again_after_a_reload(engine_ami: Ami, tmp_path: Path) -> None:
    store = _flows(tmp_path, "support")
    found: list[int] = []

    def current() -> tuple[int, Mapping[str, Flow]]:
        return store.snapshot.version, store.snapshot.flows

    watch = asyncio.create_task(queuecheck.watch(engine_ami, current, (), found.append))
    try:
        async with asyncio.timeout(10):
            while not found:
                await asyncio.sleep(0.05)
        assert found == [0]
        (tmp_path / "nurse.yaml").write_text(FLOW.format(queue=MISSING), encoding="utf-8")
        await store.reload()
        async with asyncio.timeout(10):
            while len(found) < 2:
                await asyncio.sleep(0.05)
        assert found == [0, 1]
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch


def test_ivr_call_says_where_the_caller_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVR_TRAIL_DB", str(tmp_path / "trail.db"))
    flows = tmp_path / "flows"
    flows.mkdir()
    _flows(flows, MISSING)
    assert main(["call", str(flows / "nurse.yaml"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == f"transfer:{MISSING}"
    assert report["warnings"] == [  # at the line of the transfer, as ivr serve says it
        f"{flows / 'nurse.yaml'}:6:12: flow 'nurse' node 'nurse': Asterisk has no queue "
        f"'{MISSING}', so its callers wait in the fallback queue 'support'; define the "
        "queue in queues.conf, or correct the name"
    ]
    _flows(flows, "billing")
    assert main(["call", str(flows / "nurse.yaml")]) == 0
    out = capsys.readouterr().out
    assert "outcome: transfer:billing" in out and "warning" not in out
