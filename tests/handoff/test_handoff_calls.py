"""Zero replay with real calls: a caller walks the demo by DTMF and asks for a person;
a real agent leg answers from the queue; the agent's desktop (a real WebSocket) has
every step of the trail, in order, with its source, by the time the call connects."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from engine.config import Settings
from engine.serve import Stack
from engine.session import events as ev
from engine.session.events import trail_as_dicts
from engine.session.machine import Session
from tests.conftest import caller_number
from tests.handoff.conftest import (
    QUEUE,
    AgentConnects,
    Caller,
    desktop,
    hub_of,
    started,
    stopped,
    unique_ext,
)

pytestmark = pytest.mark.asterisk

CONNECT_BUDGET_S = 0.3  # the desktop holds the trail at most this long after AgentConnect


def public(entries: list[dict[str, Any]]) -> list[tuple[int, str, str, Any]]:
    return [(e["seq"], e["kind"], e["node"], e.get("source")) for e in entries]


async def test_a_caller_escalates_and_the_agent_already_knows(stack: Stack) -> None:
    ext = unique_ext()
    connects = AgentConnects(stack)
    async with desktop(stack, ext) as desk, Caller(stack, "service_line", caller_number()) as call:
        await call.at("welcome")
        await call.press("1")  # English, during the welcome (barge-in)
        await call.at("main")
        await call.press("1")  # balance
        await call.at("account")
        await call.press("123456#")
        await call.at("pin")
        await call.press("1234")
        await call.at("anything_else", timeout=40)  # after hearing the balance
        await call.press("0")  # a person
        await call.until(lambda: call.s.done)
        assert call.s.outcome == f"transfer:{QUEUE}"
        journey = call.s.call.call_id

        offered_at, offer = await desk.wait_for("offer", 30, journey=journey)
        connected_at, _ = await desk.wait_for("connected", 30, journey=journey)
        await call.until(lambda: ext in connects.at, 5)
        agent_connect = connects.at[ext]
        # The whole trail was on the desktop before (or at) the moment the call connected.
        assert offered_at - agent_connect <= CONNECT_BUDGET_S
        assert offered_at <= connected_at
        assert connects.events[ext]["Queue"] == QUEUE

        handoff = offer["handoff"]
        expected = [dict(e) for e in trail_as_dicts(call.s.trail)]
        assert handoff["trail"] == json.loads(json.dumps(expected))  # every step, in order
        assert [e["seq"] for e in handoff["trail"]] == list(range(1, len(expected) + 1))
        inputs = [e for e in handoff["trail"] if e["kind"] == "input"]
        assert [(e["node"], e["source"], e["value"]) for e in inputs] == [
            ("welcome", "key", "1"),
            ("main", "key", "1"),
            ("account", "key", "123456"),
            ("pin", "key", "****"),
            ("anything_else", "key", "0"),
        ]
        for item in [*handoff["trail"], *handoff["captured"]]:  # the PIN is nowhere
            assert item.get("value") != "1234" and "1234" not in str(item.get("text", ""))

        assert handoff["caller"] == call.caller_id
        assert handoff["caller_name"] == "Alex"  # the flow's caller_name, once verified
        assert handoff["verification"]["status"] == "verified"
        assert handoff["verification"]["by"] == ["account", "pin"]
        why = handoff["why"]
        assert (why["node"], why["reason"], why["source"], why["queue"]) == (
            "agent",
            "chosen",
            "key",
            QUEUE,
        )
        path = [step["node"] for step in why["path"]]
        assert path[:2] == ["welcome", "main"] and path[-2:] == ["anything_else", "agent"]
        assert "account number 123456" in handoff["summary"]
        assert "Check my balance" in handoff["summary"]
        assert "done: balance told" in handoff["summary"]  # the flow's goal, reached
        assert handoff["agent_note"].startswith("Check the badge")
        asked = {item["ask"]: item["answer"] for item in handoff["dont_ask"]}
        assert asked["Account number"] == "123456"
        assert asked["PIN"] == "given (****)"
        assert "customer name" in asked  # the backend's answer, from the session's facts

        # The wrap-up is kept with the journey.
        await desk.send(
            {"type": "wrapup", "journey": journey, "disposition": "resolved", "resolved": True}
        )
        await desk.wait_for("wrapup_saved", 10, journey=journey)
        assert stack.engine.trail is not None
        stored = await stack.engine.trail.journey(journey)
        assert stored is not None and stored.wrapup is not None
        assert stored.wrapup["disposition"] == "resolved"
        assert stored.wrapup["resolved_first_contact"] is True
        assert stored.wrapup["agent"] == ext
        assert public(await stack.engine.trail.trail(journey)) == public(handoff["trail"])


async def walk_on_the_web(stack: Stack) -> str:
    """A journey on the page only: sign in, hear the balance, ask for a person."""
    handle = stack.engine.start_web_session("service_line")
    assert handle is not None
    session = handle.session
    steps: list[tuple[str, ev.Event]] = [
        ("welcome", ev.WebChoose("welcome", "1")),
        ("main", ev.WebChoose("main", "1")),
        ("account", ev.WebSubmit("account", "654321")),
        ("pin", ev.WebSubmit("pin", "4321")),
        ("anything_else", ev.WebChoose("anything_else", "0")),
    ]
    for node, event in steps:
        async with asyncio.timeout(10):
            while session.node.id != node:  # the backend answers the PIN check
                await asyncio.sleep(0.02)
        handle.submit(event)
    await handle.saved()
    assert session.outcome == f"transfer:{QUEUE}"
    return session.call.call_id


async def test_a_web_only_journey_is_called_back_into_the_queue(stack: Stack) -> None:
    ext = unique_ext()
    number = caller_number()
    journey = await walk_on_the_web(stack)
    async with desktop(stack, ext) as desk, aiohttp.ClientSession() as http:
        url = f"{stack.web_url}/handoff/{journey}"
        async with http.post(f"{url}/callback", json={"number": "12"}) as r:
            assert r.status == 400 and (await r.json())["reason"] == "invalid_number"
        async with http.post(f"{url}/callback", json={"number": number}) as r:
            assert r.status == 202
            assert (await r.json())["state"] == "calling_back"
        async with http.post(f"{url}/callback", json={"number": number}) as r:
            assert r.status == 429  # one call-back at a time

        _, offer = await desk.wait_for("offer", 30, journey=journey)
        await desk.wait_for("connected", 30, journey=journey)
        handoff = offer["handoff"]
        assert handoff["caller"] == number
        assert handoff["channels"] == ["web"]
        inputs = [e for e in handoff["trail"] if e["kind"] == "input"]
        assert {e["source"] for e in inputs} == {"web"}
        assert inputs[-1]["var"] == "callback_number" and inputs[-1]["value"] == number
        assert handoff["verification"]["status"] == "verified"
        assert handoff["why"]["reason"] == "chosen" and handoff["why"]["source"] == "web"

        async with http.get(url) as r:
            status = await r.json()
        assert status["state"] == "connected" and status["agent"] == ext

        # The agent pushes a form; the caller's page answers it; the agent sees it.
        await desk.send(
            {
                "type": "push",
                "journey": journey,
                "push": {
                    "kind": "form",
                    "title": "Where should we post the new card?",
                    "fields": [{"name": "postcode", "label": "Postcode", "pattern": "[0-9]{5}"}],
                },
            }
        )
        _, pushed = await desk.wait_for("pushed", 10, journey=journey)
        push_id = pushed["push"]["id"]
        async with http.get(url) as r:
            assert [p["id"] for p in (await r.json())["pushes"]] == [push_id]
        async with http.post(f"{url}/pushes/{push_id}", json={"values": {"postcode": "x"}}) as r:
            assert r.status == 400 and "postcode" in (await r.json())["problems"]
        async with http.post(
            f"{url}/pushes/{push_id}", json={"values": {"postcode": "10115"}}
        ) as r:
            assert r.status == 200
        started = time.monotonic()
        while True:
            entries = [e for _, m in desk.messages if m["type"] == "trail" for e in m["entries"]]
            answer = [e for e in entries if e.get("push") == push_id and e["kind"] == "input"]
            if answer or time.monotonic() - started > 5:
                break
            await asyncio.sleep(0.05)
        assert answer and answer[0]["source"] == "web" and answer[0]["value"] == "10115"

        await desk.send(
            {"type": "wrapup", "journey": journey, "disposition": "follow_up", "resolved": False}
        )
        await desk.wait_for("wrapup_saved", 10, journey=journey)
        assert stack.engine.trail is not None
        stored = await stack.engine.trail.journey(journey)
        assert stored is not None and stored.wrapup is not None
        assert stored.wrapup["resolved_first_contact"] is False
        kinds = [(e["kind"], e.get("source")) for e in await stack.engine.trail.trail(journey)]
        assert kinds[-1] == ("input", "web")  # the form's answer is in the durable trail


async def test_a_called_back_caller_rates_the_call_when_the_agent_hangs_up(
    stack: Stack,
) -> None:
    """The web journey's transfer names a survey (the demo's): the call-back carries it,
    and when the agent hangs up, the caller hears it, linked to the web journey."""
    ext = unique_ext()
    connects = AgentConnects(stack)
    journey = await walk_on_the_web(stack)
    async with desktop(stack, ext) as desk, aiohttp.ClientSession() as http:
        async with http.post(
            f"{stack.web_url}/handoff/{journey}/callback", json={"number": caller_number()}
        ) as r:
            assert r.status == 202
        await desk.wait_for("connected", 30, journey=journey)
        async with asyncio.timeout(5):
            while ext not in connects.events:
                await asyncio.sleep(0.05)
        await stack.ami.action({"Action": "Hangup", "Channel": connects.events[ext]["DestChannel"]})

        def survey() -> Session | None:
            for handle in list(stack.engine.sessions.values()):
                if handle.session.flow.name == "csat_survey":
                    return handle.session
            return None

        async with asyncio.timeout(30):
            while (rating := survey()) is None or not rating.listening:
                await asyncio.sleep(0.05)
        assert rating.call.survey_of == journey and rating.lang == "en"
        await stack.ami.action({"Action": "Hangup", "Channel": rating.call.channel})
        async with asyncio.timeout(10):
            while not rating.done:
                await asyncio.sleep(0.05)
    assert stack.engine.trail is not None
    stored = await stack.engine.trail.trail(rating.call.call_id)
    assert stored[0]["kind"] == "start" and stored[0]["survey_of"] == journey


async def test_the_page_sees_its_place_in_the_queue(stack: Stack) -> None:
    hub = hub_of(stack)
    first, second = await walk_on_the_web(stack), await walk_on_the_web(stack)
    async with aiohttp.ClientSession() as http:
        for journey in (first, second):
            async with http.post(
                f"{stack.web_url}/handoff/{journey}/callback", json={"number": caller_number()}
            ) as r:
                assert r.status == 202
            status = await hub.wait_status(journey, hub.status(journey)["version"], 15)
            while status["state"] != "queued":
                status = await hub.wait_status(journey, status["version"], 15)
        assert hub.status(first)["position"] == 1
        assert hub.status(second)["position"] == 2
        assert hub.status(second)["callers_waiting"] == 2

        # The first caller gives up: the second moves up, and the page hears of it.
        version = hub.status(second)["version"]
        waiting = asyncio.ensure_future(
            http.get(f"{stack.web_url}/handoff/{second}?version={version}&wait=15")
        )
        channel = next(c.channel for c in hub.book.calls.values() if c.journey == first)
        await stack.ami.action({"Action": "Hangup", "Channel": channel})
        async with await waiting as r:
            moved = await r.json()
        assert moved["position"] == 1 and moved["version"] > version

        # An agent signs in and answers: the page learns how long callers wait here.
        async with desktop(stack, unique_ext()) as desk:
            await desk.wait_for("connected", 30, journey=second)
        assert hub.book.holdtime[QUEUE] >= 0


async def test_an_engine_started_while_the_caller_waits_hands_over_everything(
    handoff_settings: Settings,
) -> None:
    """The engine that ran the call is gone; the next one finds the journey in the
    store by the queued channel's unique id, and reads trail and facts from there."""
    first = await started(handoff_settings)
    call = Caller(first, "service_line", caller_number())
    try:
        await call.__aenter__()
        await call.at("welcome")
        await call.press("1")
        await call.at("main")
        await call.press("1")
        await call.at("account")
        await call.press("123456#")
        await call.at("pin")
        await call.press("1234")
        await call.at("anything_else", timeout=40)
        await call.press("0")
        await call.until(lambda: call.s.done)
        journey = call.s.call.call_id
        expected = public([dict(e) for e in trail_as_dicts(call.s.trail)])
        hub = hub_of(first)
        status = hub.status(journey)
        while status["state"] != "queued":
            status = await hub.wait_status(journey, status["version"], 15)
    finally:
        await first.stop()  # the caller stays in the queue

    second = await started(handoff_settings)
    try:
        assert journey not in second.engine.sessions
        async with desktop(second, unique_ext()) as desk:
            _, offer = await desk.wait_for("offer", 30, journey=journey)
            handoff = offer["handoff"]
            assert public(handoff["trail"]) == expected
            assert handoff["caller"] == call.caller_id
            assert handoff["verification"]["status"] == "verified"  # the stored facts
            assert handoff["why"]["reason"] == "chosen"
            await desk.wait_for("connected", 30, journey=journey)
    finally:
        await call.__aexit__(None, None, None)  # hangs up
        await stopped(second)


async def test_a_caller_gone_before_the_queue_is_not_told_a_person_is_coming(
    stack: Stack,
) -> None:
    """"Talk to a person", then the caller hangs up during "connecting you": the call
    never reaches a queue, and the page must say that the call ended (it went on
    saying "you're being connected" with its event stream open)."""
    hub = hub_of(stack)
    async with Caller(stack, "service_line", caller_number()) as call:
        await call.at("welcome")
        await call.press("1")
        await call.at("main")
        journey = call.s.call.call_id
        stack.engine.sessions[journey].submit(ev.WebHuman())
        await call.until(lambda: call.s.done, 10)
        assert hub.status(journey)["state"] == "self_service"  # still connecting
        await call.hangup()
        async with asyncio.timeout(10):
            while hub.status(journey)["state"] != "ended":
                await asyncio.sleep(0.05)
        assert journey not in hub._queued
