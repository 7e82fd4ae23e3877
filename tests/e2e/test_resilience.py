"""The caller never hears dead air: an engine killed or stopped during a call hands
the call to the dialplan fallback, and a port scan changes nothing for calls. Asterisk
restarting under the engine loses no journey, and the engine serves the next call."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from engine.ami import Ami
from engine.caller import parse_steps, place_call
from engine.serve import Stack
from tests.conftest import FIXTURE_FLOWS, ROOT, caller_ami, caller_number

pytestmark = pytest.mark.asterisk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EngineProcess:
    process: asyncio.subprocess.Process
    agi_port: int
    web_port: int
    trail_db: str
    output: list[str] = field(default_factory=list)

    async def exit_code(self, timeout: float) -> int:
        """The engine's exit status; if it has not exited within ``timeout``, a
        failure showing what it printed and where its threads were (SIGUSR1)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.process.wait()), timeout)
        except TimeoutError:
            self.process.send_signal(signal.SIGUSR1)
            await asyncio.sleep(1.0)
            output = "".join(self.output)
            pytest.fail(f"the engine had not exited after {timeout} s; it printed:\n{output}")

    async def _drain(self) -> None:
        """Keep what the engine prints (it must never block on a full pipe)."""
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.output.append(line.decode(errors="replace"))

    def stored_trail(self, caller_id: str) -> list[tuple[int, str, str]]:
        with contextlib.closing(sqlite3.connect(self.trail_db)) as db:
            return db.execute(
                "SELECT seq, kind, node FROM trail JOIN journeys ON journeys.id = trail.journey"
                " WHERE journeys.caller_id = ? ORDER BY seq",
                (caller_id,),
            ).fetchall()

    async def calls_in_progress(self) -> float:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{self.web_port}/metrics"
            async with http.get(url) as response:
                text = await response.text()
        line = next(x for x in text.splitlines() if x.startswith("ivr_calls_in_progress "))
        return float(line.split()[1])


@pytest.fixture
async def engine_process(tmp_path: Path) -> AsyncIterator[EngineProcess]:
    agi_port, web_port = free_port(), free_port()
    trail_db = str(tmp_path / "trail.sqlite3")
    env = dict(
        os.environ,
        IVR_AGI_PORT=str(agi_port),
        IVR_WEB_PORT=str(web_port),
        IVR_FLOWS=FIXTURE_FLOWS,
        IVR_TRAIL_DB=trail_db,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "engine.cli",
        "serve",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = EngineProcess(process, agi_port, web_port, trail_db)
    assert process.stdout is not None
    async with asyncio.timeout(20):
        while True:
            line = (await process.stdout.readline()).decode()
            assert line, f"engine exited early: {running.output}"
            running.output.append(line)
            if "web front end on" in line:
                break
    drain = asyncio.create_task(running._drain())
    yield running
    if process.returncode is None:
        process.kill()
        await process.wait()
    await drain


@pytest.fixture
async def ami() -> AsyncIterator[Ami]:
    async with caller_ami() as client:
        yield client


class CallWatch:
    """Originates one call into a flow of an engine process and follows its IVR leg."""

    def __init__(self, ami: Ami) -> None:
        self.ami = ami
        self.number = caller_number()
        self.caller_id = uuid.uuid4().hex
        self.ivr_channel = ""
        self.events: list[dict[str, str]] = []
        self.changed = asyncio.Event()
        ami.on("*", self._on_event)

    def _on_event(self, fields: dict[str, str]) -> None:
        ours = fields.get("Uniqueid") == self.caller_id or (
            fields.get("Channel", "").startswith("PJSIP/loopback-ivr")
            and fields.get("CallerIDNum") == self.number
        )
        if (
            fields.get("Event") == "Newchannel"
            and ours
            and fields.get("Uniqueid") != self.caller_id
        ):
            self.ivr_channel = fields["Channel"]
        if ours or (self.ivr_channel and fields.get("Channel") == self.ivr_channel):
            self.events.append(fields)
            self.changed.set()

    async def originate(self, flow: str, port: int) -> None:
        await self.ami.action(
            {
                "Action": "Originate",
                "Channel": f"PJSIP/caller/sip:{flow}+{port}@127.0.0.1:5060",
                "Context": "ivr-caller-leg",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
                "CallerID": f"<{self.number}>",
                "ChannelId": self.caller_id,
                "Timeout": "10000",
            }
        )

    async def wait_for(self, event: str, timeout: float, **match: str) -> dict[str, str]:
        async with asyncio.timeout(timeout):
            while True:
                for fields in self.events:
                    if fields.get("Event") == event and all(
                        fields.get(k) == v for k, v in match.items()
                    ):
                        return fields
                self.changed.clear()
                await self.changed.wait()

    async def hang_up(self) -> None:
        for channel in {self.ivr_channel, *(e.get("Channel", "") for e in self.events)}:
            if channel:
                with contextlib.suppress(Exception):
                    await self.ami.action({"Action": "Hangup", "Channel": channel})


async def _call_in_progress(watch: CallWatch, engine: EngineProcess) -> None:
    await watch.originate("quick", engine.agi_port)
    await watch.wait_for("Newchannel", 10)
    async with asyncio.timeout(10):
        while await engine.calls_in_progress() < 1:
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # into the menu prompt


async def test_engine_killed_mid_call_leaves_the_caller_in_the_fallback(
    ami: Ami, engine_process: EngineProcess
) -> None:
    watch = CallWatch(ami)
    try:
        await _call_in_progress(watch, engine_process)
        engine_process.process.send_signal(signal.SIGKILL)
        await engine_process.process.wait()
        fallback = await watch.wait_for("UserEvent", 10, UserEvent="IvrFallback")
        assert fallback["Channel"] == watch.ivr_channel
        joined = await watch.wait_for("QueueCallerJoin", 20, Channel=watch.ivr_channel)
        assert joined["Queue"] == "support"
        # The journey up to the prompt the caller was hearing is on disk.
        stored = engine_process.stored_trail(watch.number)
        assert stored[:3] == [(1, "start", "menu"), (2, "node", "menu"), (3, "prompt", "menu")]
    finally:
        await watch.hang_up()


async def test_sigterm_hands_calls_to_the_fallback_and_exits_cleanly(
    ami: Ami, engine_process: EngineProcess
) -> None:
    watch = CallWatch(ami)
    try:
        await _call_in_progress(watch, engine_process)
        engine_process.process.send_signal(signal.SIGTERM)
        assert await engine_process.exit_code(10) == 0
        await watch.wait_for("UserEvent", 10, UserEvent="IvrFallback")
        joined = await watch.wait_for("QueueCallerJoin", 20, Channel=watch.ivr_channel)
        assert joined["Queue"] == "support"
    finally:
        await watch.hang_up()


async def test_sighup_reloads_and_livez_answers(engine_process: EngineProcess) -> None:
    """SIGHUP reads the flows again (it used to end the engine without a word), and
    /livez answers while the engine runs."""
    process = engine_process.process
    process.send_signal(signal.SIGHUP)
    async with asyncio.timeout(20):
        while not any("flows reloaded:" in line for line in engine_process.output):
            assert process.returncode is None, f"engine exited: {engine_process.output}"
            await asyncio.sleep(0.1)
    assert any("SIGHUP: reloading the flows" in line for line in engine_process.output)
    assert process.returncode is None
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{engine_process.web_port}/livez"
        async with http.get(url) as response:
            assert response.status == 200 and await response.json() == {"live": True}


async def _hammer(port: int, stop: asyncio.Event) -> int:
    """Port-scan and garbage the FastAGI port until told to stop; returns attempts."""
    attempts = 0
    payloads = [b"", b"GET / HTTP/1.0\r\n\r\n", os.urandom(512), b"agi_network: yes\n"]
    while not stop.is_set():
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payloads[attempts % len(payloads)])
            writer.close()
        except OSError:
            pass
        attempts += 1
        await asyncio.sleep(0.005)
    return attempts


async def test_a_port_scan_during_calls_changes_nothing(fixture_stack: Stack, tools: Ami) -> None:
    stop = asyncio.Event()
    scanner = asyncio.create_task(_hammer(fixture_stack.agi_address[1], stop))
    try:
        reports = await asyncio.gather(
            *(
                place_call(
                    tools,
                    fixture_stack.engine,
                    "quick",
                    parse_steps(f"1 {code}"),
                    caller_number(),
                    timeout=60,
                )
                for code in ("1234", "9876", "5555")
            )
        )
    finally:
        stop.set()
        attempts = await scanner
    assert attempts > 200
    for report, code in zip(reports, ("1234", "9876", "5555"), strict=True):
        result = report.as_dict()
        assert result["nodes"] == ["menu", "digits", "readback", "bye"]
        assert result["inputs"][-1]["value"] == code
        assert result["outcome"] == "hangup"


async def _sandbox(action: str) -> None:
    """``ivr sandbox ACTION``, its output read to the end as a script would: the
    Asterisk that ``up`` starts outlives it and must not hold the pipe."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.cli", "sandbox", action,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, f"ivr sandbox {action}: {output.decode()}"


async def test_asterisk_restarting_under_the_engine(fixture_stack: Stack, tools: Ami) -> None:
    engine, ami = fixture_stack.engine, fixture_stack.ami
    # A caller in the menu (no key: it retries for ~10 s) when Asterisk goes.
    during = asyncio.create_task(
        place_call(tools, engine, "quick", parse_steps(""), caller_number(), timeout=60)
    )
    try:
        async with asyncio.timeout(20):
            while not engine.calls:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # in the menu's prompt
        await _sandbox("down")
        await _sandbox("up")
    finally:
        report = await asyncio.wait_for(during, 60)
    # The call went with Asterisk; its journey is closed and on disk, to its end.
    assert report.outcome == "caller_hangup"
    info = await engine.trail.journey(report.journey_id)
    assert info is not None and info.outcome == "caller_hangup"
    stored = await engine.trail.trail(report.journey_id)
    assert [e["kind"] for e in stored][:3] == ["start", "node", "prompt"]
    assert stored[-1]["kind"] == "end" and stored[-1]["outcome"] == "caller_hangup"
    # The engine is still serving: AMI reconnects, and the next call runs the whole flow.
    await ami.wait_ready(45)
    await tools.wait_ready(45)
    after = await place_call(tools, engine, "quick", parse_steps("1 4321"), caller_number(), 60)
    result = after.as_dict()
    assert result["nodes"] == ["menu", "digits", "readback", "bye"]
    assert result["inputs"][-1]["value"] == "4321" and result["outcome"] == "hangup"
    assert ami.connects >= 2
