"""A move made on the page drives the live call: the prompt playing stops and the
call goes on from the node chosen on the page (AMI wakes the AGI command)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from engine.ami import Ami
from engine.caller import parse_steps, place_call
from engine.serve import Stack
from engine.session import events as ev
from engine.session.machine import Session
from tests.conftest import caller_number
from tests.live_call import LiveCall
from visual_ivr.app import VISUAL_KEY

pytestmark = pytest.mark.asterisk


async def test_a_tap_on_the_page_moves_the_call(fixture_stack: Stack, tools: Ami) -> None:
    engine = fixture_stack.engine
    number = caller_number()
    seen: list[Session] = []

    def follow(session: Session, entries: list[ev.TrailEntry]) -> None:
        if session.call.caller_id == number and not seen:
            seen.append(session)

    engine.listeners.append(follow)
    # The caller presses nothing by phone until the page has moved the call to the
    # four-digit input; then they type the code by phone.
    call = asyncio.create_task(
        place_call(tools, engine, "quick", parse_steps("4321"), number, timeout=60)
    )
    async with asyncio.timeout(15):
        while not seen or not seen[0].trail or seen[0].node.id != "menu":
            await asyncio.sleep(0.02)
    session = seen[0]
    await asyncio.sleep(0.6)  # the menu prompt is playing
    assert session.listening and session.turns == 0
    handle = engine.sessions[session.call.call_id]
    tapped = time.monotonic()
    handle.submit(ev.WebChoose("menu", "1"))
    async with asyncio.timeout(5):
        while session.node.id != "digits":
            await asyncio.sleep(0.005)
    moved_after = time.monotonic() - tapped
    report = (await call).as_dict()
    assert report["nodes"] == ["menu", "digits", "readback", "bye"]
    assert report["inputs"][0] == {
        "node": "menu",
        "source": "web",
        "value": "1",
        "option": "1",
        "goto": "digits",
    }
    assert report["inputs"][1]["value"] == "4321"
    assert report["outcome"] == "hangup"
    # The menu prompt (about 3 s) was cut short by the tap, not played out.
    assert moved_after < 1.0, moved_after
    print(f"tap to call moved: {moved_after * 1000:.0f} ms")


async def test_a_page_in_view_holds_a_call_on_fastagi(fixture_stack: Stack) -> None:
    """The page's event stream open: the call (FastAGI, no wake for this) holds at the
    menu instead of counting silence; closed, the menu's own 1.5 s timeout runs again."""
    visual = fixture_stack.runner.app[VISUAL_KEY]
    async with LiveCall(fixture_stack, "quick", caller_number()) as call:
        await call.at("menu", 15)
        token = visual.tokens.issue(call.s.call.call_id)
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{fixture_stack.web_url}/v/l/{token}", allow_redirects=False
            ) as opened:
                assert opened.status == 303
                cookie = {"Cookie": f"ivr_page={opened.cookies['ivr_page'].value}"}
            async with http.get(f"{fixture_stack.web_url}/v/s/events", headers=cookie) as stream:
                assert stream.headers["Content-Type"].startswith("text/event-stream")
                await call.until(lambda: call.s.page.open == 1, 5)
                await call.until(lambda: call.s.page.holding, 15)
                assert call.s.node.id == "menu"
                assert not [e for e in call.s.trail if e.kind == "retry"]
                await stream.content.readline()  # the stream is live
            closed = time.monotonic()
        await call.until(lambda: any(e.kind == "retry" for e in call.s.trail), 15)
        counted_after = time.monotonic() - closed
        assert call.s.page.open == 0
        assert counted_after < 10, counted_after  # not the hold's 30 s
        print(f"closed page: silence counted again after {counted_after:.1f} s")


async def test_digits_half_typed_on_the_phone_are_kept_while_the_page_is_in_view(
    fixture_stack: Stack,
) -> None:
    """Two of four digits on the keypad, then the page in view: "please go on" once,
    then the call holds with the digits kept, and the last two keys complete them."""
    visual = fixture_stack.runner.app[VISUAL_KEY]
    async with LiveCall(fixture_stack, "quick", caller_number()) as call:
        await call.at("menu", 15)
        await call.press("1")
        await call.at("digits", 15)
        await call.until(lambda: call.s.listening, 15)
        await call.press("12")
        token = visual.tokens.issue(call.s.call.call_id)
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{fixture_stack.web_url}/v/l/{token}", allow_redirects=False
            ) as opened:
                cookie = {"Cookie": f"ivr_page={opened.cookies['ivr_page'].value}"}
            async with http.get(f"{fixture_stack.web_url}/v/s/events", headers=cookie):
                await call.until(lambda: call.s.page.holding, 20)
                prompts = [e.data.get("text") for e in call.s.trail if e.kind == "prompt"]
                assert any(str(t).startswith("Please go on") for t in prompts), prompts
                assert not [e for e in call.s.trail if e.kind == "retry"]
                await call.press("34")
                await call.until(lambda: call.s.node.id != "digits", 15)
        assert call.s.vars["code"] == "1234"
        assert call.s.node.id in ("readback", "bye")
