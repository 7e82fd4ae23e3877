"""The desktop and the page's JSON on the aiohttp test server, with AMI played by the
test: sign-in joins the queues, a ringing phone brings the offer, the page follows."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from engine.ami import AmiError
from engine.demo_backend import demo_backend_app
from engine.flowstore import FlowStore
from engine.handoff.callback import CallbackPolicy
from engine.handoff.hub import HandoffHub
from engine.handoff.settings import HandoffSettings
from engine.prompts import PromptCache
from engine.runtime import Engine
from engine.session import events as ev
from engine.trail.reference import reference
from engine.trail.store import SqliteTrailStore
from tests.conftest import FLOWS, local_settings
from visual_ivr.agent import install_handoff

ClientMaker = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


class FakeAmi:
    """What the hub asks of AMI, recorded; events are emitted by the test."""

    connected = True

    def __init__(self) -> None:
        self.handlers: list[tuple[str, Callable[[dict[str, str]], None]]] = []
        self.actions: list[dict[str, str]] = []
        self.variables: dict[str, str] = {}

    def on(self, event: str, handler: Callable[[dict[str, str]], None]) -> None:
        self.handlers.append((event, handler))

    async def action(self, fields: dict[str, str], timeout: float = 10.0) -> dict[str, str]:
        self.actions.append(fields)
        if fields["Action"] == "Getvar":
            if fields["Channel"] not in self.variables:
                raise AmiError("Getvar: No such channel")
            return {"Response": "Success", "Value": self.variables[fields["Channel"]]}
        return {"Response": "Success"}

    def emit(self, **fields: str) -> None:
        for event, handler in self.handlers:
            if event in ("*", fields["Event"]):
                handler(fields)

    def done(self, action: str) -> list[dict[str, str]]:
        return [a for a in self.actions if a["Action"] == action]


class Rig:
    def __init__(self, engine: Engine, ami: FakeAmi, hub: HandoffHub, client: TestClient[Any, Any]):
        self.engine, self.ami, self.hub, self.client = engine, ami, hub, client

    async def journey_at_transfer(self) -> str:
        handle = self.engine.start_web_session("service_line")
        assert handle is not None
        for node, event in (
            ("welcome", ev.WebChoose("welcome", "1")),
            ("main", ev.WebChoose("main", "1")),
            ("account", ev.WebSubmit("account", "123456")),
            ("pin", ev.WebSubmit("pin", "1234")),
            ("anything_else", ev.WebChoose("anything_else", "0")),
        ):
            async with asyncio.timeout(10):
                while handle.session.node.id != node:
                    await asyncio.sleep(0.01)
            handle.submit(event)
        await handle.saved()
        assert handle.session.outcome == "transfer:support"
        return handle.session.call.call_id

    async def queue(self, journey: str, channel: str = "Local/cb-1;1", position: int = 1) -> str:
        """The journey's caller joins the queue; returns once the hub has found the journey
        (the channel's IVR_JOURNEY, after a look in the store)."""
        self.ami.variables[channel] = journey
        status = self.hub.status(journey)
        self.ami.emit(
            Event="QueueCallerJoin",
            Channel=channel,
            Uniqueid=f"u{channel}",
            Queue="support",
            Position=str(position),
            CallerIDNum="+15550100199",
        )
        async with asyncio.timeout(10):
            while status["state"] != "queued":
                status = await self.hub.wait_status(journey, status["version"], 10)
        return channel

    async def answered(
        self, ws: aiohttp.ClientWebSocketResponse, member: str, channel: str = "Local/cb-1;1"
    ) -> tuple[str, str]:
        """A journey escalated on the page, queued, rung to ``member`` and answered:
        (journey, channel), once the desktop on ``ws`` has the call connected."""
        journey = await self.journey_at_transfer()
        channel = await self.queue(journey, channel)
        self.ring(channel, member)
        self.connect(channel, member)
        await receive(ws, "connected")
        return journey, channel

    def ring(self, channel: str, member: str) -> None:
        self.ami.emit(Event="AgentCalled", Channel=channel, MemberName=member, Queue="support")

    def connect(self, channel: str, member: str) -> None:
        self.ami.emit(Event="QueueCallerLeave", Channel=channel, Queue="support", Position="1")
        self.ami.emit(
            Event="AgentConnect",
            Channel=channel,
            MemberName=member,
            Queue="support",
            HoldTime="12",
        )


@pytest.fixture
async def rig(tmp_path: Path, aiohttp_client: ClientMaker) -> AsyncIterator[Rig]:
    settings = local_settings(FLOWS)
    store = SqliteTrailStore(str(tmp_path / "trail.sqlite3"))
    engine = Engine(FlowStore(settings.flows), PromptCache(settings.prompt_dir), trail=store)
    await engine.start("127.0.0.1", 0, watch=False)
    ami = FakeAmi()
    root = web.Application()
    root.add_subapp("/demo/api", demo_backend_app())
    hub = install_handoff(
        root,
        engine,
        ami,  # type: ignore[arg-type]
        HandoffSettings(agent_queues=("support", "billing"), agent_grace_s=0.0),
    )
    client = await aiohttp_client(root)
    engine.constants["engine_url"] = str(client.make_url("")).rstrip("/")
    yield Rig(engine, ami, hub, client)
    await client.close()
    await engine.stop()
    await store.close()


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message: dict[str, Any] = await ws.receive_json()
            if message["type"] == kind:
                return message


async def test_sign_in_offer_connect_push_and_wrap_up(rig: Rig) -> None:
    ws = await rig.client.ws_connect("/agent/ws?ext=agent7&queues=support")
    signed = await receive(ws, "signed_in")
    assert signed["member"] == "PJSIP/agent7" and signed["queues"] == ["support"]
    assert [(a["Queue"], a["Interface"], a["MemberName"]) for a in rig.ami.done("QueueAdd")] == [
        ("support", "PJSIP/agent7", "agent7")
    ]

    journey = await rig.journey_at_transfer()
    channel = await rig.queue(journey)
    page = await (await rig.client.get(f"/handoff/{journey}")).json()
    assert (page["state"], page["position"], page["queue"]) == ("queued", 1, "support")

    rig.ring(channel, "agent7")
    offer = await receive(ws, "offer")
    assert offer["journey"] == journey
    handoff = offer["handoff"]
    assert handoff["verification"]["status"] == "verified"
    assert handoff["why"]["source"] == "web"
    assert len(handoff["trail"]) == len(rig.engine.sessions[journey].session.trail)
    rig.connect(channel, "agent7")
    connected = await receive(ws, "connected")
    assert connected["hold_s"] == 12 and "handoff" not in connected  # offered already
    page = await (await rig.client.get(f"/handoff/{journey}")).json()
    assert (page["state"], page["agent"], page["position"]) == ("connected", "agent7", None)

    await ws.send_json(
        {
            "type": "push",
            "journey": journey,
            "push": {"kind": "card", "title": "Card blocked", "text": "A new one is on its way."},
        }
    )
    trail = await receive(ws, "trail")  # the trail has it before the agent's reply
    pushed = await receive(ws, "pushed")
    assert trail["entries"][0]["text"] == "Card blocked: A new one is on its way."
    seen = await rig.client.post(f"/handoff/{journey}/pushes/{pushed['push']['id']}", json={})
    assert seen.status == 200
    trail = await receive(ws, "trail")
    assert trail["entries"][0]["source"] == "web" and trail["entries"][0]["value"] == "seen"
    again = await rig.client.post(f"/handoff/{journey}/pushes/{pushed['push']['id']}", json={})
    assert again.status == 409

    await ws.send_json({"type": "wrapup", "journey": journey, "disposition": "resolved"})
    assert "resolved on first contact" in (await receive(ws, "error"))["message"]
    await ws.send_json(
        {
            "type": "wrapup",
            "journey": journey,
            "disposition": "resolved",
            "resolved": True,
            "note": "Balance explained",
        }
    )
    await receive(ws, "wrapup_saved")
    assert rig.engine.trail is not None
    stored = await rig.engine.trail.journey(journey)
    assert stored is not None and stored.wrapup is not None
    assert stored.wrapup["note"] == "Balance explained" and stored.wrapup["hold_s"] == 12

    await ws.close()
    async with asyncio.timeout(5):
        while not rig.ami.done("QueueRemove"):
            await asyncio.sleep(0.01)
    assert rig.ami.done("QueueRemove")[0]["Interface"] == "PJSIP/agent7"


async def test_a_journey_is_found_by_the_reference_its_page_gave(rig: Rig) -> None:
    """A web-only caller was told "call us and give this reference"; the agent who
    takes that call types what they heard and sees the journey, live or stored."""
    ws = await rig.client.ws_connect("/agent/ws?ext=agent6")
    await receive(ws, "signed_in")
    journey = await rig.journey_at_transfer()
    tail = journey[-8:]
    heard = f" {tail[:4].upper()} {tail[4:]} ".replace("0", "o")  # spaces, an "oh"
    for typed in (reference(journey), heard):
        await ws.send_json({"type": "find", "reference": typed})
        found = await receive(ws, "found")
        assert [j["journey"] for j in found["journeys"]] == [journey], typed
    shown = found["journeys"][0]
    assert shown["reference"] == reference(journey)
    assert shown["channels"] == ["web"] and shown["why"]["source"] == "web"
    # Verified on the page; whoever reads out the reference may not be that caller.
    assert shown["verification"]["status"] == "elsewhere"
    assert shown["verification"]["label"].endswith("not on this call: verify the caller")
    asked = {d["ask"] for d in shown["dont_ask"]}
    assert "Identity / security questions" not in asked and "PIN" not in asked
    assert "Account number" not in asked and "Language" in asked
    assert [e["seq"] for e in shown["trail"]] == [
        e.seq for e in rig.engine.sessions[journey].session.trail
    ]

    rig.engine.sessions.pop(journey)  # the engine forgot it: the store still has it
    await ws.send_json({"type": "find", "reference": reference(journey).lower()})
    assert [j["journey"] for j in (await receive(ws, "found"))["journeys"]] == [journey]

    other = "ffffffff" if tail != "ffffffff" else "eeeeeeee"
    await ws.send_json({"type": "find", "reference": other})
    assert (await receive(ws, "found"))["journeys"] == []
    await ws.send_json({"type": "find", "reference": "3F2A-91B"})
    error = await receive(ws, "error")
    assert error["about"] == "find" and "like 3F2A-91BC" in error["message"]
    await ws.close()


async def test_a_journey_found_during_a_call_is_linked_to_the_call(rig: Rig) -> None:
    ws = await rig.client.ws_connect("/agent/ws?ext=agent9&queues=support")
    await receive(ws, "signed_in")
    earlier = await rig.journey_at_transfer()  # on the page: "call us, give this reference"
    call, _ = await rig.answered(ws, "agent9")  # the call that followed

    await ws.send_json({"type": "find", "reference": reference(earlier)})
    trail = await receive(ws, "trail")  # the call's trail has it before the reply
    assert trail["journey"] == call
    assert [(e["kind"], e["linked"], e["reference"], e["by"]) for e in trail["entries"]] == [
        ("link", earlier, reference(earlier), "agent9")
    ]
    assert [j["journey"] for j in (await receive(ws, "found"))["journeys"]] == [earlier]
    await ws.send_json({"type": "find", "reference": reference(earlier)})  # again
    await receive(ws, "found")
    assert rig.engine.trail is not None
    stored = [e for e in await rig.engine.trail.trail(call) if e["kind"] == "link"]
    assert [e["linked"] for e in stored] == [earlier]  # linked once
    await ws.close()


async def test_after_a_call_no_new_call_rings_until_its_wrap_up(rig: Rig) -> None:
    """After-call work: the agent is paused in the queues from the call's end until
    the wrap-up is saved; the end is said once; a wrap-up is saved once."""
    ws = await rig.client.ws_connect("/agent/ws?ext=agent4&queues=support")
    await receive(ws, "signed_in")
    journey, channel = await rig.answered(ws, "agent4")
    rig.ami.emit(Event="AgentComplete", Channel=channel, MemberName="agent4", Queue="support")
    rig.ami.emit(Event="Hangup", Channel=channel, Uniqueid=f"u{channel}")
    await receive(ws, "ended")
    assert (await receive(ws, "after_call"))["paused"] is True
    async with asyncio.timeout(5):
        while not rig.ami.done("QueuePause"):
            await asyncio.sleep(0.01)
    assert rig.ami.done("QueuePause")[0]["Paused"] == "true"

    form = {"type": "wrapup", "journey": journey, "disposition": "resolved", "resolved": True}
    await ws.send_json(form)
    assert (await receive(ws, "after_call"))["paused"] is False  # before the reply
    await receive(ws, "wrapup_saved")
    await ws.send_json(form)
    assert "wrapped up already" in (await receive(ws, "error"))["message"]
    async with asyncio.timeout(5):
        while len(rig.ami.done("QueuePause")) < 2:
            await asyncio.sleep(0.01)
    assert [a["Paused"] for a in rig.ami.done("QueuePause")] == ["true", "false"]
    kinds = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.3):
            while True:
                kinds.append((await ws.receive_json())["type"])
    assert "ended" not in kinds  # the queue's two reports of the end: said once
    await ws.close()


async def test_a_wrap_up_not_saved_in_time_frees_the_agent_and_the_next_call_pauses_again(
    rig: Rig,
) -> None:
    """The wrap-up time runs out: the agent takes calls again, the call left unsaved
    no longer holds them, and their next call's end pauses them as the first did."""
    after_call = rig.hub.after_call
    after_call._settings = replace(after_call._settings, wrapup_max_s=0.3)
    ws = await rig.client.ws_connect("/agent/ws?ext=agent7&queues=support")
    await receive(ws, "signed_in")
    _, channel = await rig.answered(ws, "agent7")
    rig.ami.emit(Event="Hangup", Channel=channel, Uniqueid=f"u{channel}")
    assert (await receive(ws, "after_call"))["paused"] is True
    assert (await receive(ws, "after_call"))["paused"] is False  # time is up
    assert after_call.waiting("agent7") == [] and not after_call.paused("agent7")

    second, channel = await rig.answered(ws, "agent7", channel="Local/cb-2;1")
    rig.ami.emit(Event="Hangup", Channel=channel, Uniqueid=f"u{channel}")
    assert (await receive(ws, "after_call"))["paused"] is True
    assert after_call.waiting("agent7") == [second] and after_call.paused("agent7")
    await ws.send_json(
        {"type": "wrapup", "journey": second, "disposition": "resolved", "resolved": True}
    )
    assert (await receive(ws, "after_call"))["paused"] is False
    async with asyncio.timeout(5):
        while len(rig.ami.done("QueuePause")) < 4:
            await asyncio.sleep(0.01)
    assert [a["Paused"] for a in rig.ami.done("QueuePause")] == ["true", "false"] * 2
    await ws.close()


async def test_back_within_the_wrap_up_the_agent_stays_paused(rig: Rig) -> None:
    """A desktop closed and opened again (a reload, a crash) while its call waits for
    its wrap-up: the agent rejoins the queues paused, or a new call would ring."""
    ws = await rig.client.ws_connect("/agent/ws?ext=agent6&queues=support")
    await receive(ws, "signed_in")
    journey, channel = await rig.answered(ws, "agent6")
    rig.ami.emit(Event="Hangup", Channel=channel, Uniqueid=f"u{channel}")
    assert (await receive(ws, "after_call"))["paused"] is True
    await ws.close()
    async with asyncio.timeout(5):  # gone past its grace: out of the queues
        while not rig.ami.done("QueueRemove"):
            await asyncio.sleep(0.01)
    again = await rig.client.ws_connect("/agent/ws?ext=agent6&queues=support")
    await receive(again, "signed_in")
    assert [a["Paused"] for a in rig.ami.done("QueueAdd")] == ["false", "true"]
    await again.send_json(
        {"type": "wrapup", "journey": journey, "disposition": "resolved", "resolved": True}
    )
    await receive(again, "wrapup_saved")
    await again.close()


async def test_two_wrap_ups_at_once_one_is_kept_and_the_other_told(rig: Rig) -> None:
    one = await rig.client.ws_connect("/agent/ws?ext=agent8&queues=support")
    await receive(one, "signed_in")
    journey, channel = await rig.answered(one, "agent8")
    two = await rig.client.ws_connect("/agent/ws?ext=agent8&queues=support")  # a 2nd tab
    await receive(two, "signed_in")
    await receive(two, "connected")
    rig.ami.emit(Event="Hangup", Channel=channel, Uniqueid=f"u{channel}")
    await receive(one, "ended")
    form = {"type": "wrapup", "journey": journey, "resolved": True}
    await one.send_json({**form, "disposition": "resolved", "note": "from one"})
    await two.send_json({**form, "disposition": "other", "note": "from two"})
    replies = {}
    for ws, name in ((one, "one"), (two, "two")):
        async with asyncio.timeout(10):
            while True:
                message = await ws.receive_json()
                if message["type"] in ("wrapup_saved", "error"):
                    replies[name] = message
                    break
    saved = [r["wrapup"]["note"] for r in replies.values() if r["type"] == "wrapup_saved"]
    refused = [r for r in replies.values() if r["type"] == "error"]
    assert len(saved) == 1 and len(refused) == 1
    assert "wrapped up already" in refused[0]["message"]
    assert rig.engine.trail is not None
    stored = await rig.engine.trail.journey(journey)
    assert stored is not None and stored.wrapup is not None
    assert stored.wrapup["note"] == saved[0]  # the one acknowledged is the one kept
    await one.close()
    await two.close()


async def test_a_desktop_s_garbage_gets_answers_not_tracebacks(rig: Rig) -> None:
    ws = await rig.client.ws_connect("/agent/ws?ext=agent9&queues=support,support,support")
    await receive(ws, "signed_in")
    assert len(rig.ami.done("QueueAdd")) == 1  # a queue named three times joined once
    await ws.send_str('{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}")
    assert (await receive(ws, "error"))["message"] == "not JSON"
    await ws.send_json({"type": "find", "reference": "3F2A-91BC" + " " * 60_000})
    assert len((await receive(ws, "found"))["reference"]) <= 64
    await ws.send_json({"type": "ping"})
    await receive(ws, "pong")  # still answering
    await ws.close()


async def test_a_caller_gone_while_it_rang_is_withdrawn_not_to_wrap_up(rig: Rig) -> None:
    ws = await rig.client.ws_connect("/agent/ws?ext=agent3&queues=support")
    await receive(ws, "signed_in")
    journey = await rig.journey_at_transfer()
    channel = await rig.queue(journey)
    rig.ring(channel, "agent3")
    await receive(ws, "offer")
    await ws.send_json(
        {"type": "wrapup", "journey": journey, "disposition": "resolved", "resolved": True}
    )
    assert "not been answered" in (await receive(ws, "error"))["message"]
    rig.ami.emit(Event="Hangup", Channel=channel, Uniqueid=f"u{channel}")
    assert (await receive(ws, "withdrawn"))["journey"] == journey
    assert not rig.ami.done("QueuePause")
    await ws.close()


async def test_a_reloaded_desktop_gets_its_call_back_and_one_wrap_up_counts(rig: Rig) -> None:
    first = await rig.client.ws_connect("/agent/ws?ext=agent2&queues=support")
    await receive(first, "signed_in")
    journey, channel = await rig.answered(first, "agent2")
    await first.close()  # reloaded
    again = await rig.client.ws_connect("/agent/ws?ext=agent2&queues=support")
    await receive(again, "signed_in")
    back = await receive(again, "connected")
    assert back["journey"] == journey and back["handoff"]["journey"] == journey

    rig.ami.emit(Event="Hangup", Channel=channel, Uniqueid=f"u{channel}")
    await receive(again, "ended")
    other = await rig.client.ws_connect("/agent/ws?ext=agent2&queues=support")  # a 2nd tab
    await receive(other, "signed_in")
    waiting = await receive(other, "connected")
    assert waiting["journey"] == journey and waiting["ended"] is True
    assert (await receive(other, "after_call"))["paused"] is True  # it says so too
    form = {"type": "wrapup", "journey": journey, "disposition": "other", "resolved": False}
    await again.send_json(form)
    await receive(again, "wrapup_saved")
    assert (await receive(other, "wrapup_saved"))["journey"] == journey
    await other.send_json({**form, "disposition": "resolved", "resolved": True})
    assert "wrapped up already" in (await receive(other, "error"))["message"]
    assert rig.engine.trail is not None
    stored = await rig.engine.trail.journey(journey)
    assert stored is not None and stored.wrapup is not None
    assert stored.wrapup["disposition"] == "other"  # the first, not overwritten
    await again.close()
    await other.close()


async def test_a_call_for_someone_else_is_not_yours(rig: Rig) -> None:
    ws = await rig.client.ws_connect("/agent/ws?ext=agent8")
    await receive(ws, "signed_in")
    journey = await rig.journey_at_transfer()
    channel = await rig.queue(journey)
    rig.ring(channel, "agent9")  # another agent's phone rings
    await ws.send_json(
        {"type": "wrapup", "journey": journey, "disposition": "other", "resolved": False}
    )
    assert (await receive(ws, "error"))["message"] == "that call is not yours"
    await ws.send_json({"type": "push", "journey": journey, "push": {"kind": "card"}})
    assert (await receive(ws, "error"))["message"] == "that call is not yours"
    await ws.close()


async def test_a_queued_call_of_unknown_origin_is_offered_bare(rig: Rig) -> None:
    ws = await rig.client.ws_connect("/agent/ws?ext=agent5")
    await receive(ws, "signed_in")
    rig.ami.emit(
        Event="QueueCallerJoin",
        Channel="PJSIP/x-1",
        Uniqueid="ux",
        Queue="support",
        Position="1",
        CallerIDNum="+15550000009",
    )
    rig.ring("PJSIP/x-1", "agent5")
    offer = await receive(ws, "offer")
    assert offer["journey"] is None and offer["handoff"] is None
    assert offer["caller"] == "+15550000009"
    rig.connect("PJSIP/x-1", "agent5")
    connected = await receive(ws, "connected")
    assert connected["journey"] is None and connected["caller"] == "+15550000009"
    rig.ami.emit(Event="AgentComplete", Channel="PJSIP/x-1", MemberName="agent5", Queue="support")
    rig.ami.emit(Event="Hangup", Channel="PJSIP/x-1", Uniqueid="ux")
    assert (await receive(ws, "ended"))["journey"] is None  # the desktop can let it go
    assert not rig.ami.done("QueuePause")  # nothing to wrap up: no after-call pause
    await ws.close()


async def test_the_page_waits_for_a_change(rig: Rig) -> None:
    journey = await rig.journey_at_transfer()
    status = await (await rig.client.get(f"/handoff/{journey}")).json()
    assert status["state"] == "self_service"
    waiting = asyncio.ensure_future(
        rig.client.get(f"/handoff/{journey}?version={status['version']}&wait=10")
    )
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await rig.queue(journey, position=3)
    changed = await (await waiting).json()
    assert changed["state"] == "queued" and changed["position"] == 3
    assert (await rig.client.get(f"/handoff/{'0' * 32}")).status == 404
    assert (await rig.client.get("/handoff/not-a-journey")).status == 404
    for odd in ("%C2%B2", "9" * 5000):  # "²", and more digits than int() takes
        now = await rig.client.get(f"/handoff/{journey}?version={odd}&wait=0")
        assert now.status == 200 and (await now.json())["state"] == "queued"
    deep = "[" * 5000 + "]" * 5000
    for path in (f"/handoff/{journey}/callback", "/demo/api/verify"):
        nested = await rig.client.post(
            path, data=deep, headers={"Content-Type": "application/json"}
        )
        assert nested.status == 400, path


async def test_call_back_requests_are_checked(rig: Rig) -> None:
    journey = await rig.journey_at_transfer()
    url = f"/handoff/{journey}/callback"
    bad = await rig.client.post(url, json={"number": "call me"})
    assert bad.status == 400 and (await bad.json())["reason"] == "invalid_number"
    assert (await rig.client.post(url, data=b"[1]")).status == 400
    ok = await rig.client.post(url, json={"number": "+1 555 010 0199"})
    # Whoever holds the journey's id sees the last digits of the number, nothing cached.
    assert ok.status == 202 and (await ok.json())["callback"]["number"] == "********0199"
    status = await rig.client.get(f"/handoff/{journey}")
    assert (await status.json())["callback"]["number"] == "********0199"
    assert status.headers["Cache-Control"] == "no-store"
    assert rig.hub.status(journey)["callback"]["number"] == "+15550100199"  # the page's own
    again = await rig.client.post(url, json={"number": "+15550100199"})
    assert again.status == 429 and (await again.json())["retry_after_s"] > 0
    async with asyncio.timeout(5):
        while not rig.ami.done("Originate"):
            await asyncio.sleep(0.01)
    originate = rig.ami.done("Originate")[0]
    assert originate["Channel"] == "Local/+15550100199@ivr-handoff-callee/n"
    assert originate["Context"] == "ivr-callback"
    assert f"IVR_JOURNEY={journey}" in originate["Variable"]
    assert "IVR_QUEUE=support" in originate["Variable"]
    trail = rig.engine.sessions[journey].session.trail
    assert trail[-1].data["var"] == "callback_number" and trail[-1].data["source"] == "web"


async def test_no_call_back_for_a_journey_that_has_not_asked_for_a_person(rig: Rig) -> None:
    """A journey just begun (anyone can begin one) cannot make the contact centre call
    a number: only one that reached a person's queue can."""
    handle = rig.engine.start_web_session("service_line")
    assert handle is not None and handle.session.outcome is None
    journey = handle.session.call.call_id
    refused = await rig.client.post(f"/handoff/{journey}/callback", json={"number": "+19005550001"})
    assert refused.status == 409 and (await refused.json())["reason"] == "no_person"
    await asyncio.sleep(0.05)
    assert rig.ami.done("Originate") == []
    assert rig.hub.status(journey)["callback"] is None


async def test_call_backs_per_minute_are_capped_whichever_journeys_ask(rig: Rig) -> None:
    settings = replace(rig.hub.settings, callback_per_minute=2)
    rig.hub.callbacks.policy = CallbackPolicy(settings)
    for n in range(3):
        journey = await rig.journey_at_transfer()
        asked = await rig.client.post(
            f"/handoff/{journey}/callback", json={"number": f"+1555010010{n}"}
        )
        if n < 2:
            assert asked.status == 202, n
    refused = await asked.json()
    assert asked.status == 429 and refused["reason"] == "busy"
    assert 0 < refused["retry_after_s"] <= 60 and "try again shortly" in refused["error"]
    async with asyncio.timeout(5):
        while len(rig.ami.done("Originate")) < 2:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert len(rig.ami.done("Originate")) == 2


async def test_the_desktop_is_for_the_contact_centre_only(rig: Rig) -> None:
    page = await rig.client.get("/agent/")
    assert page.status == 200 and "Agent desktop" in await page.text()
    assert (await rig.client.get("/agent/static/desktop.js")).status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await rig.client.ws_connect("/agent/ws?ext=a1", headers={"Origin": "http://evil.test"})
    ws = await rig.client.ws_connect("/agent/ws?ext=no%20spaces")
    assert (await receive(ws, "error"))["message"].startswith("an extension is")
    # DNS rebinding: a page elsewhere makes its own name resolve here; the agent's
    # browser then sends that name as the Host.
    rebound = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}
    for path in ("/agent/", "/agent/report", "/agent/ws?ext=a1", "/agent/static/desktop.js"):
        refused = await rig.client.get(path, headers=rebound)
        assert refused.status == 403 and "IVR_HANDOFF_AGENT_HOSTS" in await refused.text()
    assert (await rig.client.get("/agent/", headers={"Host": "[::1]:8080"})).status == 200
    assert (await rig.client.get("/agent/", headers={"Host": "[::1]evil.example"})).status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError):  # an extension's, not a page's
        origin = {"Origin": f"chrome-extension://{rig.client.host}:{rig.client.port}"}
        await rig.client.ws_connect("/agent/ws?ext=a1", headers=origin)
    # Not to be framed by another page (clickjacking), nor cached.
    for path in ("/agent/", "/agent/report"):
        headers = (await rig.client.get(path)).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    object.__setattr__(rig.hub.settings, "agent_hosts", ("desk.example.com",))
    named = await rig.client.get("/agent/", headers={"Host": "Desk.Example.com"})
    assert named.status == 200  # a name of the contact centre's own, configured
    object.__setattr__(rig.hub.settings, "agent_networks", ("10.0.0.0/8",))
    assert (await rig.client.get("/agent/")).status == 403
    assert (await rig.client.get("/agent/report")).status == 403
    assert (await rig.client.get("/agent/static/desktop.css")).status == 403
    # X-Forwarded-For is believed only from a trusted proxy ...
    assert (await rig.client.get("/agent/", headers={"X-Forwarded-For": "10.1.1.1"})).status == 403


async def test_behind_a_trusted_proxy_the_desktop_checks_the_agent_s_address(
    tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    """Behind a reverse proxy every request comes from the proxy: listed among the
    agents' networks, it let the whole internet in through it. With the proxy in
    ``trusted_proxies``, the desktop checks the client the proxy names."""
    engine = Engine(FlowStore(FLOWS), PromptCache(str(tmp_path)))
    root = web.Application()
    settings = HandoffSettings(agent_networks=("10.20.0.0/16",))
    install_handoff(root, engine, FakeAmi(), settings, ("127.0.0.0/8",))  # type: ignore[arg-type]
    client = await aiohttp_client(root)
    for forwarded, status in (("10.20.3.4", 200), ("203.0.113.9", 403), ("", 403)):
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        assert (await client.get("/agent/", headers=headers)).status == status, forwarded
    await client.close()


async def test_the_supervisor_s_report_page(rig: Rig) -> None:
    """The page runs ``ivr report`` (a process of its own) over the engine's store."""
    await rig.journey_at_transfer()
    page = await rig.client.get("/agent/report", params={"since": "1h", "flow": "service_line"})
    assert page.status == 200
    html = await page.text()
    assert '<h2 id="flow-1">service_line</h2>' in html
    assert re.search(r'data-ending="to_person"><td>to a person</td><td class="n">1</td>', html)
    pin = r'data-node="pin"><td>identify/pin</td><td>input</td>\s*<td class="n">1<'
    assert re.search(pin, html)
    for since in ("yesterday", "-5d"):  # the command's own words, not argparse's
        wrong = await rig.client.get("/agent/report", params={"since": since})
        assert wrong.status == 400
        assert f"&#39;{since}&#39;: give a span back from now (30m, 12h, 7d" in await wrong.text()
    head = await rig.client.head("/agent/report", params={"since": "yesterday"})
    assert head.status == 200  # no report is run for a HEAD
    nothing = await rig.client.get("/agent/report", params={"since": "1h", "flow": "nope"})
    assert nothing.status == 400  # a name no journey has: a mistake, not an empty period
    assert "no journey of flow &#39;nope&#39; in the store (flows there: service_line)" in (
        await nothing.text()
    )
