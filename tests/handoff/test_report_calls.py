"""``ivr report`` over the store of an engine that took real calls: a caller who hung
up in the menu, one who hung up once told their balance (a goal), one who waited for
a person and gave up, one an agent answered and wrapped up. The report is run as a
user runs it, a process of its own beside the serving engine."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

import pytest
from playwright.async_api import expect

from engine.config import Settings
from engine.serve import Stack
from engine.session.machine import Session
from tests.conftest import caller_number
from tests.handoff.conftest import AgentConnects, Caller, desktop, hub_of, unique_ext
from tests.visual.live import artifact, chromium, phone

pytestmark = pytest.mark.asterisk


async def report(store: str, *extra: str) -> dict[str, Any]:
    """``ivr report --json`` for the last hour, run as a user runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.cli", "report", "--json", "--since", "1h",
        "--store", store, *extra, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    result: dict[str, Any] = json.loads(out)
    return result


async def to_main(call: Caller) -> None:
    await call.at("welcome")
    await call.press("1")  # English
    await call.at("main")


async def test_the_report_counts_real_calls(stack: Stack, handoff_settings: Settings) -> None:
    hub = hub_of(stack)
    async with Caller(stack, "service_line", caller_number()) as hung_up:
        await to_main(hung_up)
        await hung_up.hangup()
        await hung_up.until(lambda: hung_up.s.done, 10)

    async with Caller(stack, "service_line", caller_number()) as served:
        await to_main(served)
        await served.press("1")  # balance
        await served.at("account")
        await served.press("123456#")
        await served.at("pin")
        await served.press("1234")
        await served.until(lambda: served.s.node.id == "say_balance", 20)
        await served.hangup()  # once told: served, though the caller hung up
        await served.until(lambda: served.s.done, 10)

    async with Caller(stack, "service_line", caller_number()) as gave_up:
        await to_main(gave_up)
        await gave_up.press("0")  # a person, but no agent is signed in
        waiting = gave_up.s.call.call_id
        async with asyncio.timeout(20):
            while waiting not in hub._queued:
                await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)
        await gave_up.hangup()

    ext = unique_ext()
    async with desktop(stack, ext) as desk, Caller(stack, "service_line", caller_number()) as call:
        await to_main(call)
        await call.press("0")
        answered = call.s.call.call_id
        await desk.wait_for("connected", 30, journey=answered)
        await asyncio.sleep(1.0)
        await call.hangup()
        await desk.wait_for("ended", 10, journey=answered)
        await desk.send(
            {"type": "wrapup", "journey": answered, "disposition": "resolved", "resolved": False}
        )
        await desk.wait_for("wrapup_saved", 10, journey=answered)

    async with asyncio.timeout(10):  # the waits are stored once the callers' channels are gone
        while True:
            out = await report(handoff_settings.trail_db, "--flow", "service_line")
            if out["flows"][0]["queue"]["waits"] == 2:
                break
            await asyncio.sleep(0.2)

    [flow] = out["flows"]
    assert flow["journeys"] == 4 and flow["calls"] == 4
    assert flow["endings"]["caller_hung_up"] == 1
    assert flow["endings"]["self_served"] == 1
    assert flow["endings"]["to_person"] == 2
    assert flow["containment"] == 0.5
    assert flow["goals"] == {"balance told": {"reached": 1, "then_to_person": 0}}
    queue = flow["queue"]
    assert (queue["waits"], queue["answered"], queue["unanswered"]) == (2, 1, 1)
    assert queue["wait_unanswered_s_p50"] >= 2  # the 2 s it waited before hanging up
    assert queue["talk_s_p50"] >= 1
    assert flow["wrapups"] == {
        "answered_without": 0,
        "count": 1,
        "first_contact_resolution": 0.0,
        "dispositions": {"resolved": 1},
    }
    nodes = {n["node"]: n for n in flow["nodes"] if n["flow"] == "service_line"}
    assert nodes["main"]["visits"] == 4
    assert nodes["main"]["caller_hung_up"] == 1
    assert nodes["main"]["to_person"] == 2
    assert nodes["main"]["inputs"] == {"key": 3}
    assert nodes["welcome"]["inputs"] == {"key": 4}
    assert nodes["say_balance"]["caller_hung_up"] == 1
    assert nodes["agent"]["visits"] == 2


async def test_the_supervisor_reads_the_report_in_a_browser(stack: Stack) -> None:
    """A real call hangs up at the main menu; the report page, in Chromium, counts it."""
    async with Caller(stack, "service_line", caller_number()) as call:
        await to_main(call)
        await call.hangup()
        await call.until(lambda: call.s.done, 10)
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await page.goto(f"{stack.web_url}/agent/report?since=1d&flow=service_line")
        await expect(page.locator("h2")).to_have_text("service_line")
        hung_up = page.locator('tr[data-ending="caller_hung_up"]')
        await expect(hung_up).to_contain_text("caller hung up before any goal")
        await expect(hung_up.locator("td").nth(1)).to_have_text("1")
        main_menu = page.locator('table.nodes tr[data-node="main"]')
        await expect(main_menu.locator("td").nth(2)).to_have_text("1")  # visits
        await expect(main_menu.locator("td").nth(6)).to_have_text("1")  # hung up there
        await expect(page.locator('[data-kpi="containment"]')).to_have_text("100.0 %")
        await page.screenshot(path=artifact("supervisor-report.png"), full_page=True)
        await page.select_option("#since", "all")  # the period form
        await page.get_by_role("button", name="Show").click()
        await expect(page).to_have_url(re.compile(r"since=all"))
        await expect(page.locator("h2")).to_have_text("service_line")
        await context.close()
        # On a supervisor's phone the page fits its width; only the nodes' table scrolls.
        small = await phone(browser)
        page = await small.new_page()
        await page.goto(f"{stack.web_url}/agent/report?since=1d&flow=service_line")
        await expect(page.locator("h2")).to_have_text("service_line")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, width  # (a mobile browser zooms out to show a wider page)
        await small.close()


async def test_the_caller_rates_the_call_when_the_agent_hangs_up(
    stack: Stack, handoff_settings: Settings
) -> None:
    """The demo's transfer names a survey: the agent hangs up, the caller stays on the
    line, Asterisk runs the survey flow, the rating is kept with a link to the call it
    rates, and the report counts it under the flow the caller came from."""
    ext = unique_ext()
    connects = AgentConnects(stack)
    async with desktop(stack, ext) as desk, Caller(stack, "service_line", caller_number()) as call:
        await to_main(call)
        await call.press("0")
        journey = call.s.call.call_id
        await desk.wait_for("connected", 30, journey=journey)
        await call.until(lambda: ext in connects.events, 5)
        await stack.ami.action({"Action": "Hangup", "Channel": connects.events[ext]["DestChannel"]})

        def survey() -> Session | None:
            for handle in list(stack.engine.sessions.values()):
                s = handle.session
                if s.flow.name == "csat_survey" and s.call.caller_id == call.caller_id:
                    return s
            return None

        await call.until(lambda: (s := survey()) is not None and s.listening, 30)
        rating = survey()
        assert rating is not None and rating.call.survey_of == journey
        await call.press("4")
        await call.until(lambda: rating.done, 20)
        assert rating.outcome == "hangup"
        await desk.wait_for("ended", 10, journey=journey)  # the agent's side of it

    assert stack.engine.trail is not None
    stored = await stack.engine.trail.trail(rating.call.call_id)
    assert stored[0]["kind"] == "start" and stored[0]["survey_of"] == journey
    given = [e for e in stored if e["kind"] == "input"]
    assert [(e["var"], e["value"], e["valid"]) for e in given] == [("rating", "4", True)]

    out = await report(handoff_settings.trail_db)
    flows = {f["flow"]: f for f in out["flows"]}
    four = {"rating": {"answers": 1, "mean": 4.0, "values": {"4": 1}}}
    assert flows["service_line"]["after_call_survey"] == four
    assert flows["csat_survey"]["survey_answers"] == four
