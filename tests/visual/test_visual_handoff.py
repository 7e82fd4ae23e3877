"""The handoff on the caller's page, without a browser: the queue place (and its live
updates), "call me back" for a web-only journey, and what an agent pushed. The
handoff hub runs with AMI played by the test, mounted beside the pages as
``ivr serve`` mounts it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from engine.demo_backend import demo_backend_app
from engine.handoff.hub import HandoffHub
from engine.handoff.settings import HandoffSettings
from engine.session.events import WebHuman
from tests.handoff.test_handoff_desktop import FakeAmi, receive
from tests.visual.conftest import ClientMaker, fake_call
from tests.visual.helpers import PageClient, Reply
from tests.visual.test_visual_pages import CRITICAL_PATH_LIMIT, choose, h1, session_of, start
from visual_ivr.agent import install_handoff
from visual_ivr.app import VisualIvr


class PhoneAmi(FakeAmi):
    """A call-back's channel answers, and carries its journey like the real one."""

    async def action(self, fields: dict[str, str], timeout: float = 10.0) -> dict[str, str]:
        if fields["Action"] == "Originate":
            journey = re.search(r"IVR_JOURNEY=([0-9a-f]+)", fields["Variable"])
            assert journey
            self.variables[fields["ChannelId"]] = journey.group(1)
        return await super().action(fields, timeout)


class Rig:
    def __init__(self, page: PageClient, visual: VisualIvr, ami: PhoneAmi, hub: HandoffHub):
        self.page, self.visual, self.ami, self.hub = page, visual, ami, hub

    def queue(self, journey: str | None, channel: str, position: int, uniqueid: str = "") -> None:
        if journey is not None:
            self.ami.variables[channel] = journey
        self.ami.emit(
            Event="QueueCallerJoin",
            Channel=channel,
            Uniqueid=uniqueid or f"u-{channel}",
            Queue="support",
            Position=str(position),
            CallerIDNum="+15550100199",
        )

    async def until_state(self, journey: str, state: str) -> None:
        async with asyncio.timeout(5):
            while (status := self.hub.status(journey))["state"] != state:
                await self.hub.wait_status(journey, status["version"], 5)


@pytest.fixture
async def rig(visual: VisualIvr, aiohttp_client: ClientMaker) -> AsyncIterator[Rig]:
    ami = PhoneAmi()
    root = web.Application()
    root.add_subapp("/demo/api", demo_backend_app())
    root.add_subapp("/v", visual.app())
    hub = install_handoff(
        root,
        visual.engine,
        ami,  # type: ignore[arg-type]
        HandoffSettings(agent_queues=("support",), agent_grace_s=0.0),
    )
    client = await aiohttp_client(root)
    visual.engine.constants["engine_url"] = str(client.make_url("")).rstrip("/")
    yield Rig(PageClient(client), visual, ami, hub)


def status_lines(reply: Reply) -> list[str]:
    return re.findall(r'<p class="wait" data-status>(.*?)</p>', reply.text)


async def test_the_queue_place_shows_and_moves_live(rig: Rig) -> None:
    call = fake_call(rig.visual.engine)
    journey = call.session.call.call_id
    rig.page.cookie = rig.visual.cookies.open(journey, "service_line")
    call.press("2")  # 中文
    call.submit(WebHuman())
    assert call.session.outcome == "transfer:support"
    rig.hub.book.holdtime["support"] = 250.0  # app_queue's average: about 4 minutes
    rig.queue(None, "PJSIP/someone-1", 1)  # a caller ahead, not one of ours
    rig.queue(journey, "PJSIP/caller-1", 2)
    await rig.until_state(journey, "queued")

    shown = await rig.page.get("/v/s")
    assert status_lines(shown) == ["您排在第2位，大约需等待4分钟。"]
    assert "data-done" not in shown.text  # the page goes on listening
    assert len(shown.text.encode()) < CRITICAL_PATH_LIMIT
    digest = re.search(r'data-h="([0-9a-f]+)"', shown.text)
    assert digest

    async with rig.page.client.get(
        f"/v/s/events?h={digest.group(1)}", headers={"Cookie": f"ivr_page={rig.page.cookie}"}
    ) as stream:
        assert await stream.content.readline() == b"retry: 1000\n"
        assert await stream.content.readline() == b"\n"
        rig.ami.emit(Event="QueueCallerLeave", Channel="PJSIP/someone-1", Queue="support")
        async with asyncio.timeout(5):
            line = await stream.content.readline()
        assert line.startswith(b"data: ") and "您排在第1位".encode() in line
        assert b'"done":false' in line

        # The English page (another language, the same place).
        rig.hub.book.holdtime.pop("support")
        call.session.lang = "en"
        english = await rig.page.get("/v/s")
        assert status_lines(english) == ["You are number 1 in line."]
        rig.visual.hub.close()


async def test_call_me_back_from_a_web_only_journey(rig: Rig) -> None:
    page = rig.page
    await start(page)
    await choose(page, "welcome", "1")
    person = await page.follow(await page.post("/v/s/human"))
    journey = session_of(rig.visual, page).call.call_id
    assert h1(person) == "Talk to a person"
    assert "give this reference" in person.text  # the phone is still there
    assert '<label for="number">Your phone number</label>' in person.text
    assert 'action="/v/s/callback"' in person.text and 'type="tel"' in person.text
    assert len(person.text.encode()) < CRITICAL_PATH_LIMIT

    refused = await page.post("/v/s/callback", {"number": "12"})
    assert refused.status == 303
    shown = await page.follow(refused)
    assert 'aria-invalid="true" aria-describedby="number-e"' in shown.text
    assert (
        '<p id="number-e" class="problem" role="alert">'
        "That does not look like a phone number we can call.</p>"
    ) in shown.text
    assert 'value="12"' in shown.text  # what was typed stays
    assert rig.ami.done("Originate") == []

    asked = await page.follow(await page.post("/v/s/callback", {"number": "+1 555 010 0199"}))
    assert status_lines(asked) == ["We will call you at +15550100199 shortly."]
    assert 'action="/v/s/callback"' not in asked.text
    assert "give this reference" not in asked.text  # a person is calling: not "call us"
    [originate] = rig.ami.done("Originate")
    assert f"IVR_JOURNEY={journey}" in originate["Variable"]

    again = await page.post("/v/s/callback", {"number": "+15550100199"}, json_reply=True)
    assert again.status == 200 and again.json()["done"] is False  # no form: nothing to do

    # The call-back is answered and queued: the page shows its place.
    rig.queue(None, "Local/callee-1;1", 3, uniqueid=originate["ChannelId"])
    await rig.until_state(journey, "queued")
    queued = await page.get("/v/s")
    assert status_lines(queued) == ["You are number 3 in line."]
    assert "give this reference" not in queued.text


async def test_no_call_back_before_the_journey_asks_for_a_person(rig: Rig) -> None:
    """A page just opened, still at its first menu: "call me back" is not on it, and a
    post of the form anyway places no call (anyone can open pages by the hundred)."""
    page = rig.page
    first = await start(page)
    assert 'action="/v/s/callback"' not in first.text
    refused = await page.post("/v/s/callback", {"number": "+19005550001"}, json_reply=True)
    assert refused.status == 200 and refused.json()["done"] is False
    await asyncio.sleep(0.05)
    assert rig.ami.done("Originate") == []
    journey = session_of(rig.visual, page).call.call_id
    assert rig.hub.status(journey)["callback"] is None

    # Once it has asked, the form is offered, and works.
    person = await page.follow(await page.post("/v/s/human"))
    assert 'action="/v/s/callback"' in person.text
    assert "person first" not in person.text and "+19005550001" not in person.text
    asked = await page.follow(await page.post("/v/s/callback", {"number": "+15550100199"}))
    assert status_lines(asked) == ["We will call you at +15550100199 shortly."]


async def test_pushed_cards_and_forms(rig: Rig) -> None:
    call = fake_call(rig.visual.engine)
    journey = call.session.call.call_id
    page = rig.page
    page.cookie = rig.visual.cookies.open(journey, "service_line")
    call.press("1")
    call.submit(WebHuman())
    ws = await page.client.ws_connect("/agent/ws?ext=agent7&queues=support")
    await receive(ws, "signed_in")
    rig.queue(journey, "PJSIP/caller-2", 1)
    await rig.until_state(journey, "queued")
    rig.ami.emit(
        Event="AgentCalled", Channel="PJSIP/caller-2", MemberName="agent7", Queue="support"
    )
    await receive(ws, "offer")
    rig.ami.emit(
        Event="AgentConnect", Channel="PJSIP/caller-2", MemberName="agent7", Queue="support"
    )
    await receive(ws, "connected")
    assert status_lines(await page.get("/v/s")) == ["You are through to a person now."]

    for push in (
        {"kind": "card", "title": "Card blocked", "text": "A new one is on its way."},
        {
            "kind": "form",
            "title": "Where to send it",
            "fields": [
                {"name": "postcode", "label": "Postcode", "pattern": "[0-9]{6}"},
                {"name": "note", "label": "Note", "required": False},
                {"name": "email", "label": "E-mail", "required": False},
            ],
        },
    ):
        await ws.send_json({"type": "push", "journey": journey, "push": push})
        await receive(ws, "pushed")
    ids = [p["id"] for p in rig.hub.status(journey)["pushes"]]
    shown = await page.get("/v/s")
    assert f'<h2 id="{ids[0]}-t">Card blocked</h2>' in shown.text
    assert "A new one is on its way." in shown.text
    assert f'<label for="{ids[1]}-postcode">Postcode</label>' in shown.text
    assert f'<label for="{ids[1]}-note">Note (optional)</label>' in shown.text
    email = f'<input id="{ids[1]}-email" name="f_email" type="email" autocomplete="email"'
    assert email in shown.text  # a phone's keyboard offers the @

    wrong = await page.post("/v/s/push", {"push": ids[1], "f_postcode": "12ab", "f_note": "x"})
    assert wrong.status == 303
    shown = await page.follow(wrong)
    assert (
        f'aria-invalid="true" aria-describedby="{ids[1]}-postcode-e"' in shown.text
        and f'<p id="{ids[1]}-postcode-e" class="problem">'
        "This doesn&#39;t look right. Please check it.</p>"
        in shown.text
    )
    assert 'value="12ab"' in shown.text and f'aria-describedby="{ids[1]}-note-e"' not in shown.text
    wrong = await page.post(
        "/v/s/push", {"push": ids[1], "f_postcode": "100001", "f_email": "li.wei@"}
    )
    shown = await page.follow(wrong)
    assert "Please enter an email address, such as name@example.com." in shown.text

    sent = await page.follow(await page.post("/v/s/push", {"push": ids[1], "f_postcode": "100001"}))
    assert "Sent. Thank you." in sent.text and 'aria-invalid="true"' not in sent.text
    seen = await page.follow(await page.post("/v/s/push", {"push": ids[0]}))
    assert "Got it" not in seen.text
    answers = [
        (e.data.get("var"), e.data["value"])
        for e in call.session.trail
        if e.kind == "input" and e.data.get("push")
    ]
    assert answers == [("postcode", "100001"), (None, "seen")]
    message = await receive(ws, "trail")  # the agent sees the answer as it comes
    assert message["entries"][0]["value"] == "100001"
    await ws.close()


async def test_no_handoff_no_extra_routes(page: PageClient) -> None:
    await start(page)
    assert (await page.post("/v/s/callback", {"number": "+15550100199"})).status == 404
