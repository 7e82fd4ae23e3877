"""The handoff's two numbers: how soon the agent's desktop holds the caller's whole
trail once Asterisk connects the call, and how many trail steps per second the
durable store takes.

1. **Desktop latency.** An engine (this process) with the agent desktop; agents sign
   in over the real WebSocket (aiohttp's client) and their phones are Local channels
   that answer at once (``ivr-handoff-agent``). Each journey walks the demo on the web
   (sign in with account and PIN, hear the balance, ask for a person), then asks to
   be called back: a real call (``Local/<number>@ivr-handoff-callee``) enters the
   tests' queue ``test-handoff`` with the journey's id, an agent's phone rings and
   answers. Measured per journey, on one clock: the AMI ``AgentConnect`` event as the
   engine received it, and the moment the desktop had received a handoff holding
   every step of the trail. Negative means the trail was on screen before the agent
   picked up (it is sent when the phone rings). Three modes:

     ring   the default: the handoff is sent when the phone rings (AgentCalled)
     ring1s the same, with agents who pick up after a second of ringing
     cold   sent only at AgentConnect, built then from the live session
     store  sent at AgentConnect, read from SQLite (an engine that never saw the
            journey: restarted, or another node)

2. **Durable appends.** ``SqliteTrailStore`` in a temporary directory; J journeys
   append one step at a time and wait for its commit before the next (what a call
   does before each AGI command), for normal (survives kill -9) and full (survives a
   power cut) durability.

Run from the project root, with the sandbox up::

    .venv/bin/python -m benchmarks.bench_handoff            # ~2 minutes
    .venv/bin/python -m benchmarks.bench_handoff --quick    # ~30 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from engine.ami import AmiError
from engine.config import load_settings
from engine.handoff.settings import HandoffSettings
from engine.serve import Stack, start_stack
from engine.session import events as ev
from engine.trail.store import SqliteTrailStore
from visual_ivr.agent import HANDOFF_HUB

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "test-handoff"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ desktop latency


@dataclass
class Journey:
    id: str
    steps: int  # trail entries when the call-back was asked for
    ring_at: float | None = None
    connect_at: float | None = None
    full_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Desktop:
    """One agent's desktop socket; notes when each journey's full trail arrived."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, journeys: dict[str, Journey]):
        self.ws = ws
        self.journeys = journeys
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data: dict[str, Any] = message.json()
            journey = self.journeys.get(str(data.get("journey")))
            if journey is None:
                continue
            trail = (data.get("handoff") or {}).get("trail", [])
            if journey.full_at is None and len(trail) >= journey.steps:
                journey.full_at = time.monotonic()
            if data.get("type") == "connected":
                journey.done.set()


def demo_flows(directory: str) -> str:
    for source in (ROOT / "flows").glob("*.yaml"):
        text = source.read_text(encoding="utf-8").replace("queue: support", f"queue: {QUEUE}")
        Path(directory, source.name).write_text(text, encoding="utf-8")
    return directory


async def walk(stack: Stack) -> str:
    handle = stack.engine.start_web_session("service_line")
    assert handle is not None
    session = handle.session
    moved = asyncio.Event()

    def listen(changed: Any, entries: list[ev.TrailEntry]) -> None:
        if changed is session:
            moved.set()

    stack.engine.listeners.append(listen)
    try:
        for node, event in (
            ("welcome", ev.WebChoose("welcome", "1")),
            ("main", ev.WebChoose("main", "1")),
            ("account", ev.WebSubmit("account", "123456")),
            ("pin", ev.WebSubmit("pin", "1234")),
            ("anything_else", ev.WebChoose("anything_else", "0")),
        ):
            async with asyncio.timeout(10):
                while session.node.id != node:  # the backend checking the PIN
                    moved.clear()
                    await moved.wait()
            handle.submit(event)
    finally:
        stack.engine.listeners.remove(listen)
    await handle.saved()
    return session.call.call_id


async def one_journey(
    stack: Stack,
    http: aiohttp.ClientSession,
    journeys: dict[str, Journey],
    number: str,
    mode: str,
) -> Journey:
    hub = stack.runner.app[HANDOFF_HUB]
    journey_id = await walk(stack)
    session = stack.engine.sessions[journey_id].session
    journey = Journey(journey_id, len(session.trail) + 1)  # + the call-back number
    journeys[journey_id] = journey
    async with http.post(
        f"{stack.web_url}/handoff/{journey_id}/callback", json={"number": number}
    ) as response:
        if response.status != 202:
            raise RuntimeError(f"call-back refused: {await response.text()}")
    if mode == "store":  # forget the journey: the desktop gets it from SQLite
        status = hub.status(journey_id)
        while status["state"] not in ("queued", "connected"):
            status = await hub.wait_status(journey_id, status["version"], 10)
        await hub.collector.flush()
        stack.engine.sessions.pop(journey_id, None)
        hub.collector.forget(journey_id)
    await asyncio.wait_for(journey.done.wait(), 30)
    call = next((c for c in hub.book.calls.values() if c.journey == journey_id), None)
    if call is not None:
        with contextlib.suppress(AmiError):
            await stack.ami.action({"Action": "Hangup", "Channel": call.channel})
    return journey


async def desktop_latency(journeys_n: int, agents: int, mode: str) -> list[tuple[float, float]]:
    """Per journey: (full trail on the desktop - AgentConnect, ... - AgentCalled), ms."""
    context = "ivr-handoff-agent-1s" if mode == "ring1s" else "ivr-handoff-agent"
    os.environ["IVR_HANDOFF_AGENT_INTERFACE"] = f"Local/{{ext}}@{context}/n"
    os.environ["IVR_HANDOFF_AGENT_QUEUES"] = QUEUE
    os.environ["IVR_HANDOFF_AGENT_GRACE_S"] = "0"
    os.environ["IVR_HANDOFF_OFFER_ON_RING"] = "yes" if mode.startswith("ring") else "no"
    os.environ["IVR_HANDOFF_CALLBACK_NUMBER_GAP_S"] = "0"
    os.environ["IVR_HANDOFF_CALLBACK_PER_MINUTE"] = "100000"  # journeys come faster than 20/min
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(
            load_settings(environ={}),
            handoff=HandoffSettings.from_env(),  # the IVR_HANDOFF_* set above
            flows=demo_flows(tmp),
            agi_host="127.0.0.1",
            agi_port=0,
            web_host="127.0.0.1",
            web_port=0,
            trail_db=os.path.join(tmp, "trail.sqlite3"),
        )
        stack = await start_stack(settings, watch=False)
        journeys: dict[str, Journey] = {}
        hub = stack.runner.app[HANDOFF_HUB]

        def on_agent(fields: dict[str, str]) -> None:
            # After the hub's own handler (registered first): the call knows its journey.
            call = hub.book.calls.get(fields.get("Channel", ""))
            journey = journeys.get(call.journey or "") if call is not None else None
            if journey is None:
                return
            if fields.get("Event") == "AgentCalled" and journey.ring_at is None:
                journey.ring_at = time.monotonic()
            if fields.get("Event") == "AgentConnect" and journey.connect_at is None:
                journey.connect_at = time.monotonic()

        stack.ami.on("AgentCalled", on_agent)
        stack.ami.on("AgentConnect", on_agent)
        desks: list[Desktop] = []
        try:
            await stack.ami.wait_ready(10)
            async with aiohttp.ClientSession() as http:
                for index in range(agents):
                    ws = await http.ws_connect(
                        f"{stack.web_url}/agent/ws?ext=bench{os.getpid()}x{index}"
                    )
                    desks.append(Desktop(ws, journeys))
                await asyncio.sleep(0.5)  # signed in
                base = 15550200000 + (os.getpid() % 1000) * 1000
                done = 0
                while done < journeys_n:
                    batch = min(agents, journeys_n - done)
                    await asyncio.gather(
                        *(
                            one_journey(stack, http, journeys, f"+{base + done + i}", mode)
                            for i in range(batch)
                        )
                    )
                    done += batch
                results = []
                for j in journeys.values():
                    if j.full_at is not None and j.connect_at is not None and j.ring_at is not None:
                        results.append(
                            ((j.full_at - j.connect_at) * 1000, (j.full_at - j.ring_at) * 1000)
                        )
                missing = len(journeys) - len(results)
                if missing:
                    log(f"{missing} journeys without all three times (left out)")
                for desk in desks:
                    await desk.ws.close()
        finally:
            await stack.stop()
    return results


# ------------------------------------------------------------------ durable appends


async def appends(durability: str, journeys: int, seconds: float) -> tuple[float, list[float], int]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteTrailStore(os.path.join(tmp, "t.sqlite3"), durability)
        latencies: list[float] = []
        count = 0
        stop = time.monotonic() + seconds

        async def journey(index: int) -> None:
            nonlocal count
            jid = f"bench{index:04d}"
            await store.begin(jid, "bench", "+15550000000", "PJSIP/x", time.time())
            seq = 0
            while time.monotonic() < stop:
                seq += 1
                entry = ev.TrailEntry(
                    seq, time.time(), "input", "main", {"source": "key", "value": "1"}
                )
                started = time.monotonic()
                await store.append(jid, [entry])
                latencies.append((time.monotonic() - started) * 1000)
                count += 1

        started = time.monotonic()
        await asyncio.gather(*(journey(i) for i in range(journeys)))
        elapsed = time.monotonic() - started
        commits = store.commits
        await store.close()
    return count / elapsed, latencies, commits


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=40, help="journeys per mode")
    parser.add_argument("--agents", type=int, default=4, help="agents (journeys at once)")
    parser.add_argument("--modes", default="ring,ring1s,cold,store")
    parser.add_argument("--append-journeys", type=int, default=50)
    parser.add_argument("--append-seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="10 journeys, ring only, 2 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.journeys, args.modes, args.append_seconds = 10, "ring", 2.0
    return args


async def run(args: argparse.Namespace) -> None:
    print("Desktop holds the full trail: ms after AgentConnect (negative: before it)")
    print("and ms after AgentCalled (the agent's phone starts ringing)")
    header = ("mode", "n", "p50", "p95", "max", "ring p50", "ring p95")
    print("{:<6} {:>4} {:>8} {:>8} {:>8} {:>9} {:>9}".format(*header))
    for mode in args.modes.split(","):
        log(f"desktop latency, mode {mode}: {args.journeys} journeys, {args.agents} agents")
        pairs = await desktop_latency(args.journeys, args.agents, mode)
        connect = [c for c, _ in pairs]
        ring = [r for _, r in pairs]
        print(
            f"{mode:<6} {len(pairs):>4} {percentile(connect, 50):>8.1f} "
            f"{percentile(connect, 95):>8.1f} {max(connect, default=float('nan')):>8.1f} "
            f"{percentile(ring, 50):>9.1f} {percentile(ring, 95):>9.1f}",
            flush=True,
        )
    print()
    print(f"Durable trail appends ({args.append_journeys} journeys, each waits for its commit)")
    print(f"{'durability':<10} {'appends/s':>10} {'commits':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for durability in ("normal", "full"):
        log(f"appends, durability {durability}")
        rate, latencies, commits = await appends(
            durability, args.append_journeys, args.append_seconds
        )
        print(
            f"{durability:<10} {rate:>10.0f} {commits:>8} {percentile(latencies, 50):>8.2f} "
            f"{percentile(latencies, 95):>8.2f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    asyncio.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
