"""One journey over both channels, then a person: a real call walks the demo by DTMF,
the caller follows the texted link in a real headless Chromium and goes on there,
taps "Talk to a person"; the agent's desktop gets the one trail — keys and taps, in
order — when the call rings."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from engine.serve import Stack
from engine.session.events import trail_as_dicts
from tests.conftest import caller_ami, caller_number
from tests.handoff.conftest import QUEUE, Caller, desktop, hub_of, unique_ext
from tests.visual.live import artifact, chromium, phone
from visual_ivr.app import VISUAL_KEY

pytestmark = pytest.mark.asterisk


async def texted_link(stack: Stack, call: Caller) -> str:
    """On the call: English, "get this menu on your phone", yes; the text's link."""
    outbox = stack.runner.app[VISUAL_KEY].sender.outbox  # type: ignore[attr-defined]
    already = len(outbox)
    await call.at("welcome")
    await call.press("1")
    await call.at("main")
    await call.press("9")
    await call.at("link_offer")
    await call.press("1")
    await call.until(lambda: len(outbox) > already, 15)
    found = re.search(r"https?://\S+/v/l/\S+", outbox[-1].text)
    assert found, outbox[-1].text
    return found.group(0)


async def signed_in(browser: Browser, stack: Stack, ext: str) -> tuple[BrowserContext, Page]:
    """An agent's desktop in a browser of its own, signed in as ``ext``."""
    agent = await browser.new_context(viewport={"width": 1280, "height": 900})
    desk = await agent.new_page()
    await desk.goto(f"{stack.web_url}/agent/")
    await desk.fill("#ext", ext)
    await desk.get_by_role("button", name="Sign in").click()
    await expect(desk.locator("#presence")).to_contain_text("Signed in", timeout=10_000)
    return agent, desk


async def test_keys_then_taps_then_a_person_who_sees_both(stack: Stack) -> None:
    ext = unique_ext()
    async with (
        Caller(stack, "service_line", caller_number()) as call,
        chromium() as browser,
    ):
        link = await texted_link(stack, call)
        context = await phone(browser)
        page = await context.new_page()
        await page.goto(link)
        await expect(page.locator("h1")).to_have_text("Main menu", timeout=15_000)
        await page.get_by_role("button", name="Check my balance").click()  # a tap
        await call.at("account")
        await call.press("123456#")  # keys on the call
        await expect(page.locator("h1")).to_have_text("PIN", timeout=10_000)
        await page.fill("#value", "1234")  # typed on the page
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator("h1")).to_have_text("Anything else?", timeout=15_000)
        await page.get_by_role("button", name="Talk to a person").click()
        await call.until(lambda: call.s.done, 15)
        assert call.s.outcome == f"transfer:{QUEUE}"
        journey = call.s.call.call_id
        # No agent is signed in yet: the page shows the call's place in the queue.
        place = page.get_by_role("status")
        await expect(place).to_have_text(re.compile(r"You are number \d+ in line"), timeout=15_000)
        await page.screenshot(path=artifact("handoff-queue-360.png"))

        async with desktop(stack, ext) as desk:
            _, offer = await desk.wait_for("offer", 30, journey=journey)
            await desk.wait_for("connected", 30, journey=journey)
            await expect(place).to_have_text("You are through to a person now.", timeout=10_000)
        handoff = offer["handoff"]
        assert [e["seq"] for e in handoff["trail"]] == [
            e["seq"] for e in trail_as_dicts(call.s.trail)
        ]
        inputs = [
            (e["node"], e["source"], e["value"]) for e in handoff["trail"] if e["kind"] == "input"
        ]
        assert inputs[:3] == [
            ("welcome", "key", "1"),
            ("main", "key", "9"),
            ("link_offer", "key", "1"),
        ]
        assert inputs[-4:] == [
            ("main", "web", "1"),
            ("account", "key", "123456"),
            ("pin", "web", "****"),
            ("anything_else", "web", "0"),
        ]
        assert handoff["channels"] == ["voice", "web"]
        assert handoff["verification"]["status"] == "verified"
        assert (handoff["why"]["reason"], handoff["why"]["source"]) == ("chosen", "web")
        assert handoff["summary"].endswith("on the phone and the page.")
        await context.close()


async def test_a_web_only_caller_s_reference_finds_their_journey(stack: Stack) -> None:
    """No call: the caller walks the demo on the page, asks for a person, and is told
    to call and give a reference. The agent who takes that call types it into the
    desktop (both real Chromium pages) and sees what the caller did, without asking."""
    async with chromium() as browser:
        context = await phone(browser, locale="en-US")
        page = await context.new_page()
        await page.goto(f"{stack.web_url}/v/service_line")
        await page.get_by_role("button", name="English").click()
        await expect(page.locator("h1")).to_have_text("Main menu", timeout=15_000)
        await page.get_by_role("button", name="Check my balance").click()
        await expect(page.locator("h1")).to_have_text("Account number", timeout=10_000)
        await page.fill("#value", "123456")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator("h1")).to_have_text("PIN", timeout=10_000)
        await page.fill("#value", "1234")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator("h1")).to_have_text("Anything else?", timeout=15_000)
        await page.get_by_role("button", name="Talk to a person").click()
        told = page.get_by_text(re.compile("give this reference"))
        await expect(told).to_be_visible(timeout=10_000)
        said = re.search(r"reference: ([0-9A-F]{4}-[0-9A-F]{4})", await told.inner_text())
        assert said is not None

        agent, desk = await signed_in(browser, stack, unique_ext())
        await desk.fill("#reference", said[1].lower().replace("-", " "))  # as heard
        await desk.get_by_role("button", name="Find").click()
        found = desk.locator("#found")
        await expect(found.locator("h2")).to_have_text(f"Reference {said[1]}", timeout=10_000)
        card = found.locator("article")
        await expect(card).to_have_count(1)
        await expect(card.locator("h3")).to_contain_text(f"Alex · {said[1]} · web ·")
        badge = card.locator(".badge")  # verified on the page, not on this call
        await expect(badge).to_have_attribute("data-status", "elsewhere")
        await expect(badge).to_contain_text("verify the caller")
        await expect(card.locator(".data")).to_contain_text("123456")
        await card.locator("summary").click()
        await expect(card.locator(".trail")).to_contain_text("account = 123456")
        # In words, not ids: the step's title, how it ended.
        trail = card.locator(".trail")
        await expect(trail).to_contain_text(re.compile(r"to a person \(queue [\w-]+\)"))
        await expect(trail).to_contain_text("0 → Talk to a person")
        assert "transfer:" not in await trail.inner_text()
        await desk.screenshot(path=artifact("desktop-found-by-reference.png"), full_page=True)

        await desk.fill("#reference", "0000-000")
        await desk.get_by_role("button", name="Find").click()
        await expect(found.locator("h2")).to_contain_text("is not a reference")
        await context.close()
        await agent.close()


async def test_the_desktop_page_keeps_its_call_through_a_reload_then_wraps_it_up(
    stack: Stack,
) -> None:
    """The agent's desktop in Chromium takes a real escalated call, is reloaded mid-call
    (it signs in again by itself and the call comes back), the caller hangs up, and no
    new call rings until the wrap-up is saved."""
    ext = unique_ext()
    pauses: list[str] = []  # Asterisk's own word on the agent's queue membership

    def paused(fields: dict[str, str]) -> None:
        if fields.get("MemberName") == ext:
            pauses.append(fields.get("Paused", ""))

    async with (
        chromium() as browser,
        Caller(stack, "service_line", caller_number()) as call,
        caller_ami() as tools,
    ):
        tools.on("QueueMemberPause", paused)
        agent, desk = await signed_in(browser, stack, ext)
        await desk.fill("#reference", "0000-000")  # a lookup before the call ...
        await desk.get_by_role("button", name="Find").click()
        await expect(desk.locator("#found h2")).to_contain_text("is not a reference")
        await call.at("welcome")
        await call.press("1")
        await call.at("main")
        await call.press("0")  # a person
        state = desk.locator("#state")
        await expect(state).to_contain_text("Connected", timeout=30_000)
        await expect(desk.locator("#found")).to_be_hidden()  # ... is not this caller's
        await expect(desk.locator("#caller")).to_have_text(call.caller_id)

        await desk.screenshot(path=artifact("desktop-connected.png"))
        await desk.reload()
        await expect(desk.locator("#presence")).to_contain_text("Signed in", timeout=10_000)
        await expect(state).to_contain_text("Connected", timeout=10_000)
        await expect(desk.locator("#caller")).to_have_text(call.caller_id)

        # A form pushed to the caller's page, answered there (as the page posts it).
        await desk.select_option("select[name=kind]", "form")
        await desk.fill("input[name=title]", "Your address")
        await desk.fill("input[name=fields]", "street:Street, visit:Visit day:date")
        await desk.get_by_role("button", name="Send").click()
        await expect(desk.locator("#pushstate")).to_have_text("Sent “Your address”")
        journey = call.s.call.call_id
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{stack.web_url}/handoff/{journey}") as status:
                (push,) = (await status.json())["pushes"]
            assert [(f["name"], f["label"], f["type"]) for f in push["fields"]] == [
                ("street", "Street", "text"),
                ("visit", "Visit day", "date"),
            ]
            url = f"{stack.web_url}/handoff/{journey}/pushes/{push['id']}"
            values = {"street": "1 High St", "visit": "2026-12-24"}
            async with http.post(url, json={"values": values}) as answer:
                assert answer.status == 200
        pushstate = desk.locator("#pushstate")
        await expect(pushstate).to_have_text("The caller answered “Your address”")
        await expect(desk.locator("#captured")).to_contain_text("Street1 High St")

        assert pauses == []
        await call.hangup()
        await expect(state).to_have_text("Call ended · please wrap up", timeout=15_000)
        presence = desk.locator("#presence")
        await expect(presence).to_contain_text("no new calls until the wrap-up is saved")
        await call.until(lambda: pauses == ["1"], 5)  # paused in the queue itself
        await desk.fill("textarea[name=note]", "Explained the balance")
        await desk.reload()  # the wrap-up half written: the call and the note come back
        await expect(state).to_have_text("Call ended · please wrap up", timeout=10_000)
        await expect(desk.locator("textarea[name=note]")).to_have_value("Explained the balance")
        await expect(presence).to_contain_text("no new calls until the wrap-up is saved")
        await desk.select_option("select[name=disposition]", "resolved")
        await desk.get_by_label("Yes").check()
        await desk.get_by_role("button", name="Save wrap-up").click()
        await expect(desk.locator("#wrapstate")).to_have_text("Saved", timeout=10_000)
        await expect(presence).not_to_contain_text("no new calls")
        await call.until(lambda: pauses == ["1", "0"], 5)
        await expect(desk.locator("#idle")).to_be_visible(timeout=5_000)
        await agent.close()


async def test_a_call_back_reaches_the_desktop_marked_as_one(stack: Stack) -> None:
    """A call the centre placed because the caller asked on the page rang the agent
    as "Ringing…" like any other: the desktop now says it is a call-back."""
    from tests.handoff.test_handoff_calls import walk_on_the_web

    journey = await walk_on_the_web(stack)
    async with chromium() as browser, aiohttp.ClientSession() as http:
        agent, desk = await signed_in(browser, stack, unique_ext())
        number = caller_number()
        async with http.post(
            f"{stack.web_url}/handoff/{journey}/callback", json={"number": number}
        ) as asked:
            assert asked.status == 202
        await expect(desk.locator("#caller")).to_have_text(
            re.compile(rf"{re.escape(number)} · call-back$"), timeout=30_000
        )
        # The called-back leg hangs up: no call is left for the tests after this one.
        [call] = [c for c in hub_of(stack).book.calls.values() if c.journey == journey]
        await stack.ami.action({"Action": "Hangup", "Channel": call.channel})
        await expect(desk.locator("#state")).to_contain_text("Call ended", timeout=10_000)
        await agent.close()
