"""The pages without JavaScript: plain forms, 303 redirects, a page cookie."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest

from engine.session.events import HttpDone, WebChoose, WebSubmit
from engine.session.machine import Session
from tests.visual.conftest import fake_call
from tests.visual.helpers import Clock, PageClient, Reply
from visual_ivr.app import VisualIvr

CRITICAL_PATH_LIMIT = 20 * 1024


def h1(reply: Reply) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", reply.text)
    assert match, reply.text[:500]
    return match.group(1)


def buttons(reply: Reply) -> list[str]:
    labels = r'<button name="key" value="[^"]*"[^>]*>.*?<span class="label">(.*?)</span></button>'
    return re.findall(labels, reply.text)


def session_of(visual: VisualIvr, page: PageClient) -> Session:
    visit = visual.cookies.get(page.cookie)
    assert visit is not None
    return visual.engine.sessions[visit.journey].session


def web_inputs(session: Session) -> list[dict[str, object]]:
    return [
        {"node": e.node, **e.data}
        for e in session.trail
        if e.kind == "input" and e.data.get("source") == "web"
    ]


async def start(page: PageClient, flow: str = "service_line", **headers: str) -> Reply:
    started = await page.open(f"/v/{flow}", headers=headers)
    assert started.status == 303 and started.location == "/v/s"
    return await page.follow(started)


async def choose(page: PageClient, node: str, key: str) -> Reply:
    return await page.follow(await page.post("/v/s/choose", {"node": node, "key": key}))


async def test_web_first_gets_a_secure_cookie_and_the_first_menu(page: PageClient) -> None:
    started = await page.open("/v/service_line", headers={"X-Forwarded-Proto": "https"})
    cookie = started.cookies["ivr_page"]
    assert cookie["secure"] and cookie["httponly"]  # served over https, by a proxy
    assert cookie["samesite"] == "Lax" and cookie["path"] == "/v"
    plain = await PageClient(page.client).open("/v/service_line")  # http: a phone on the LAN
    assert not plain.cookies["ivr_page"]["secure"] and plain.cookies["ivr_page"]["httponly"]
    shown = await page.follow(started)
    assert shown.status == 200
    assert '<html lang="en" dir="ltr">' in shown.text
    assert h1(shown) == "Language"
    assert buttons(shown) == ["English", "中文", "Talk to a person"]
    assert '<button name="key" value="2" lang="zh-CN">' in shown.text
    # The banner's 中文 (the page's language) is told apart from the menu's (the call's).
    assert 'class="langs" role="group" aria-label="Language of this page"' in shown.text
    assert '<input type="hidden" name="at" value="1">' in shown.text  # the visit it is of
    assert ">Talk to a person<" in shown.text  # on every page
    assert "script-src 'sha256-" in shown.headers["Content-Security-Policy"]
    assert shown.headers["Cache-Control"] == "no-store"
    again = await page.open("/v/service_line")  # a reload keeps the journey
    assert again.status == 303 and "ivr_page" not in again.cookies


async def test_the_browser_language_is_the_starting_language(page: PageClient) -> None:
    shown = await start(page, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-CN" dir="ltr">' in shown.text and h1(shown) == "语言"


async def test_a_journey_long_gone_is_ended_in_its_own_language(
    page: PageClient, visual: VisualIvr
) -> None:
    await start(page)
    assert h1(await choose(page, "welcome", "2")) != "语言"  # 中文
    assert session_of(visual, page).lang == "zh"
    visit = visual.cookies.get(page.cookie)
    assert visit is not None
    visual.engine.sessions.pop(visit.journey)  # dropped, as after 10 quiet minutes
    gone = await page.get("/v/s", headers={"Accept-Language": "en"})
    assert gone.status == 410 and h1(gone) == "本次服务已结束"
    asked = await page.get("/v/s?lang=en", headers={"Accept-Language": "en"})
    assert h1(asked) == "This session has ended"


async def test_taps_walk_the_flow_and_are_recorded_as_web(
    page: PageClient, visual: VisualIvr
) -> None:
    await start(page)
    main = await choose(page, "welcome", "1")
    assert h1(main) == "Main menu"
    assert buttons(main) == [
        "Check my balance",
        "Pay my bill",
        "Report a lost card",
        "Talk to a person",
    ]  # not "Get this menu on my phone": the page is on the phone already
    account = await choose(page, "main", "1")
    assert h1(account) == "Account number"
    # The session checks the entry and says what is wrong in the flow's words; the
    # browser's own check would refuse "123 456" or full-width digits, in its words.
    assert 'inputmode="numeric"' in account.text and "pattern=" not in account.text
    assert '<label for="value">Account number</label>' in account.text
    assert buttons(account) == ["Back"]  # the input's own shortcut ("*")...
    assert 'value="back"' not in account.text  # ...which replaces the page's own
    assert '<p class="brand">Demo Bank' in account.text  # not the subflow's "Sign in"
    session = session_of(visual, page)
    assert web_inputs(session) == [
        {"node": "welcome", "source": "web", "value": "1", "option": "1", "goto": "main"},
        {"node": "main", "source": "web", "value": "1", "option": "1", "goto": "balance_identify"},
    ]


async def test_a_form_is_validated_like_the_voice_input(
    page: PageClient, visual: VisualIvr
) -> None:
    await start(page)
    await choose(page, "welcome", "1")
    await choose(page, "main", "1")
    wrong = await page.follow(await page.post("/v/s/submit", {"node": "account", "value": "12"}))
    assert h1(wrong) == "Account number"
    assert 'role="alert"' in wrong.text and "doesn&#39;t look right" in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    session = session_of(visual, page)
    assert session.node.id == "account"
    # Continue on an empty box: told in the page's words (the browser's own message
    # is in the browser's language), and nothing is kept.
    empty = await page.follow(await page.post("/v/s/submit", {"node": "account", "value": " "}))
    assert "Nothing was entered. Type it in the box" in empty.text
    assert 'aria-invalid="true"' in empty.text and " required" not in empty.text
    letters = await page.post("/v/s/submit", {"node": "account", "value": "12345a"})
    assert letters.status == 303 and session.node.id == "account"
    pin = await page.follow(await page.post("/v/s/submit", {"node": "account", "value": "123456"}))
    assert h1(pin) == "PIN" and 'type="password"' in pin.text
    await page.post("/v/s/submit", {"node": "pin", "value": "1234"})
    journey = session.call.call_id
    await visual.hub.until(journey, lambda: session.node.id == "anything_else", 5.0)
    done = await page.get("/v/s")
    assert h1(done) == "Anything else?"
    assert '<p class="card">Alex, your balance is $1,520.75.</p>' in done.text
    inputs = web_inputs(session)
    assert [(i["node"], i["value"], i.get("valid")) for i in inputs[2:]] == [
        ("account", "12", False),
        ("account", "12345a", False),
        ("account", "123456", True),
        ("pin", "****", True),
    ]
    assert "1234" not in str([e.data for e in session.trail if e.node == "pin"])


async def test_a_tap_on_an_outdated_page_says_where_the_journey_is(
    page: PageClient, visual: VisualIvr
) -> None:
    await start(page)
    await choose(page, "welcome", "1")
    stale = await choose(page, "welcome", "2")  # the language page, tapped again
    assert h1(stale) == "Main menu" and "That page was out of date" in stale.text  # no call
    assert web_inputs(session_of(visual, page))[-1] == {
        "node": "main",
        "source": "web",
        "value": "2",
        "refused": "moved",
        "page": "welcome",
    }
    assert session_of(visual, page).lang == "en"


async def test_back_home_and_language(page: PageClient, visual: VisualIvr) -> None:
    first = await start(page)
    assert 'value="back"' not in first.text  # nowhere to go back to yet
    assert 'value="back"' in (await choose(page, "welcome", "1")).text
    await choose(page, "main", "1")
    back = await page.follow(await page.post("/v/s/nav", {"where": "back"}))
    assert h1(back) == "Main menu"
    zh = await page.follow(await page.post("/v/s/lang", {"lang": "zh"}))
    assert '<html lang="zh-CN" dir="ltr">' in zh.text and h1(zh) == "主菜单"
    assert "查询余额" in buttons(zh)
    assert '<button name="lang" value="en" lang="en">English</button>' in zh.text
    await choose(page, "main", "2")
    home = await page.follow(await page.post("/v/s/nav", {"where": "home"}))
    assert h1(home) == "主菜单"
    session = session_of(visual, page)
    assert [(i["value"], i.get("language")) for i in web_inputs(session)[2:]] == [
        ("back", None),
        ("zh", "zh"),
        ("2", None),
        ("home", None),
    ]


async def test_a_person_from_a_web_only_journey(page: PageClient, visual: VisualIvr) -> None:
    await start(page)
    await choose(page, "welcome", "1")
    person = await page.follow(await page.post("/v/s/human"))
    session = session_of(visual, page)
    tail = session.call.call_id[-8:].upper()  # random: not the second it began
    ref = f"{tail[:4]}-{tail[4:]}"
    assert h1(person) == "Talk to a person"
    assert "call +1 555 0100 and give this reference: " + ref in person.text
    # One tap calls the line from the phone the page is on.
    assert '<a class="button human" href="tel:+15550100">Call +1 555 0100</a>' in person.text
    assert 'action="/v/s/human"' not in person.text  # the journey is over here
    assert session.outcome == "transfer:support"
    # Back at the flow's address (a bookmark, the history): the same journey, with the
    # reference they are about to read out; its "start again" starts another.
    back = await page.follow(await page.open("/v/service_line"))
    assert ref in back.text and session_of(visual, page) is session
    assert 'href="/v/service_line?again"' in back.text
    again = await page.follow(await page.open("/v/service_line?again"))
    assert session_of(visual, page) is not session and ref not in again.text
    assert web_inputs(session)[-1] == {
        "node": "main",
        "source": "web",
        "value": "human",
        "goto": "agent",
    }


async def test_a_person_from_a_subflow_is_its_own_team(page: PageClient, visual: VisualIvr) -> None:
    await start(page)
    await choose(page, "welcome", "1")
    await choose(page, "main", "3")  # lost card: sign in first
    await page.post("/v/s/submit", {"node": "account", "value": "123456"})
    await page.post("/v/s/submit", {"node": "pin", "value": "1234"})
    session = session_of(visual, page)
    await visual.hub.until(session.call.call_id, lambda: session.node.id == "confirm", 5.0)
    assert session.flow.name == "lost_card"
    await page.post("/v/s/human")
    assert session.outcome == "transfer:cards"


async def test_no_cookie_no_session(page: PageClient) -> None:
    reply = await page.get("/v/s")
    assert reply.status == 401 and "This page needs a link" in reply.text
    page.cookie = "A" * 32
    assert (await page.get("/v/s")).status == 401
    assert (await page.post("/v/s/choose", {"node": "main", "key": "1"})).status == 401
    assert (await page.open("/v/no_such_flow")).status == 404
    nowhere = await page.get("/v/s/nowhere", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert nowhere.status == 404 and "没有此项服务" in nowhere.text  # a page, in their language
    spanish = await page.get("/v/s", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert '<html lang="es" dir="ltr">' in spanish.text
    assert h1(spanish) == "Esta página necesita un enlace"


async def test_steps_answer_json_for_the_script(page: PageClient) -> None:
    await start(page)
    reply = await page.post("/v/s/choose", {"node": "welcome", "key": "2"}, json_reply=True)
    update = reply.json()
    assert update["node"] == "main" and update["lang"] == "zh-CN" and update["v"] > 0
    assert '<h1 tabindex="-1">主菜单</h1>' in update["html"] and len(update["h"]) == 16


async def test_every_page_fits_the_critical_path(page: PageClient, visual: VisualIvr) -> None:
    pages = [await start(page)]
    pages.append(await choose(page, "welcome", "1"))
    pages.append(await choose(page, "main", "1"))
    pages.append(
        await page.follow(await page.post("/v/s/submit", {"node": "account", "value": "1"}))
    )
    pages.append(await page.follow(await page.post("/v/s/human")))
    for reply in pages:
        size = len(reply.text.encode())
        assert size < CRITICAL_PATH_LIMIT, size
        # Nothing else to fetch (the <noscript> frame loads only without JavaScript).
        fetched = re.sub(r"<noscript>.*?</noscript>", "", reply.text, flags=re.S)
        assert "<link" not in fetched and " src=" not in fetched
    print("page weights:", [len(r.text.encode()) for r in pages])


async def test_server_sent_events_push_each_change(page: PageClient, visual: VisualIvr) -> None:
    shown = await start(page)
    digest = re.search(r'data-h="([0-9a-f]+)"', shown.text)
    assert digest
    async with page.client.get(
        f"/v/s/events?h={digest.group(1)}", headers={"Cookie": f"ivr_page={page.cookie}"}
    ) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert await stream.content.readline() == b"retry: 1000\n"
        assert await stream.content.readline() == b"\n"
        session = session_of(visual, page)
        visual.engine.sessions[session.call.call_id].submit(WebChoose("welcome", "1"))
        line = await stream.content.readline()
        assert line.startswith(b"data: ") and b'"node":"main"' in line
        assert await stream.content.readline() == b"\n"
        visual.hub.close()  # the server shuts down: open streams end
        async with asyncio.timeout(5):
            rest = await stream.content.read()
        assert rest == b"event: end\ndata: {}\n\n"


async def test_the_link_opens_once_then_is_worthless(
    page: PageClient, visual: VisualIvr, clock: object
) -> None:
    call = fake_call(visual.engine)
    call.press("191")  # English, "on my phone", "yes"
    assert call.session.node.id == "link_send"
    request = call.requests[-1]
    assert request.url.endswith("/v/api/send-link") and request.body is not None
    sent = await page.client.post("/v/api/send-link", json=request.body)
    assert await sent.json() == {"ok": True, "reason": "sent"}
    sms = visual.sender.outbox[-1]  # type: ignore[attr-defined]
    assert sms.to == "+15550001234" and "Demo Bank" in sms.text
    link = re.search(r"https?://\S+/v/l/(\S+)", sms.text)
    assert link
    path = f"/v/l/{link.group(1)}"
    opened = await page.get(path)
    assert opened.status == 200 and "ivr_page" not in opened.cookies
    assert f'action="{path}"' in opened.text and "Open the menu" in opened.text
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    call.submit(HttpDone(request.request_id, True, 200, await sent.json()))
    assert call.session.node.id == "main"  # "we sent the link", back to the menu
    used = await page.post(path)
    assert used.status == 303 and used.cookies["ivr_page"]["httponly"]
    joined = await page.follow(used)
    assert h1(joined) == "Main menu"  # where the call is
    assert '<p class="card">Done. Open the link in the text we just sent' in joined.text
    assert '<span class="live">' in joined.text
    thief = PageClient(page.client)
    for again in (await thief.get(path), await thief.post(path)):
        assert again.status == 410 and "already been used" in again.text
        assert not thief.cookie
    # The caller who closed the tab taps the text again: the browser that used the
    # link (its cookie) goes back to the journey.
    for again in (await page.get(path), await page.post(path)):
        assert again.status == 303 and again.location == "/v/s"


async def test_expired_and_tampered_links(page: PageClient, visual: VisualIvr) -> None:
    from tests.visual.helpers import Clock

    call = fake_call(visual.engine)
    token = visual.tokens.issue(call.session.call.call_id)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    bad = await page.post(f"/v/l/{tampered}")
    assert bad.status == 404 and "isn&#39;t valid" in bad.text and not page.cookie
    assert isinstance(visual.tokens.clock, Clock)
    visual.tokens.clock.now += visual.settings.link_ttl_s + 1
    for reply in (await page.get(f"/v/l/{token}"), await page.post(f"/v/l/{token}")):
        assert reply.status == 410 and "This link has expired" in reply.text
    assert not page.cookie


async def test_send_link_only_to_the_caller_of_a_live_call(
    page: PageClient, visual: VisualIvr
) -> None:
    async def ask(journey: object) -> dict[str, object]:
        reply = await page.client.post("/v/api/send-link", json={"journey": journey})
        result: dict[str, object] = await reply.json()
        return result

    assert await ask("nope") == {"ok": False, "reason": "unknown journey"}
    assert (await page.client.post("/v/api/send-link", json={"to": "+1555"})).status == 400
    web_only = visual.engine.start_web_session("service_line")
    assert web_only is not None
    assert (await ask(web_only.session.call.call_id))["reason"] == "no call"
    early = fake_call(visual.engine)
    assert (await ask(early.session.call.call_id))["reason"] == "not now"  # no consent yet
    landline = fake_call(visual.engine, caller_id="2001")
    landline.press("191")
    assert (await ask(landline.session.call.call_id))["reason"] == "not a mobile"
    first = fake_call(visual.engine)
    first.press("191")
    assert (await ask(first.session.call.call_id))["ok"] is True
    assert (await ask(first.session.call.call_id))["reason"] == "too soon"
    same_number = fake_call(visual.engine)
    same_number.press("191")
    assert (await ask(same_number.session.call.call_id))["reason"] == "too soon"
    from tests.visual.helpers import Clock

    assert isinstance(visual.tokens.clock, Clock)
    visual.tokens.clock.now += 181
    assert (await ask(same_number.session.call.call_id))["ok"] is True
    assert [sms.to for sms in visual.sender.outbox] == ["+15550001234"] * 2  # type: ignore[attr-defined]


async def test_a_reference_is_shown_as_one_number(page: PageClient, visual: VisualIvr) -> None:
    """The voice spells a reference digit by digit; the page shows it as one number."""
    await start(page)
    await choose(page, "welcome", "1")
    await choose(page, "main", "2")
    await page.post("/v/s/submit", {"node": "account", "value": "123456"})
    await page.post("/v/s/submit", {"node": "pin", "value": "1234"})
    session = session_of(visual, page)
    journey = session.call.call_id
    await visual.hub.until(journey, lambda: session.node.id == "bill_confirm", 5.0)
    asked = await page.get("/v/s")  # what the call says of the bill, the page shows
    assert re.search(r'<p class="card">Your bill is \$[0-9.,]+\.</p>', asked.text)
    await choose(page, "bill_confirm", "1")
    await visual.hub.until(journey, lambda: session.node.id == "anything_else", 5.0)
    done = await page.get("/v/s")
    paid = r'<p class="card">Done\. We paid \$[0-9.,]+\. Your reference is (.*?)\.</p>'
    card = re.search(paid, done.text)
    assert card is not None, done.text
    assert re.fullmatch(r"[0-9]{4,}", card[1]), card[1]
    spoken = [e.data["text"] for e in session.trail if e.kind == "prompt"]
    assert any(f"Your reference is {' '.join(card[1])}." in text for text in spoken)


async def test_a_page_in_view_is_counted_once_however_its_streams_come_and_go(
    page: PageClient, visual: VisualIvr
) -> None:
    """A phone that changes networks reconnects while its old stream lingers open on
    the server: the page is one page in view, and its beacon ends it at once."""
    await start(page)
    session = session_of(visual, page)
    cookie = {"Cookie": f"ivr_page={page.cookie}"}
    pid = "abcdefgh12345678"

    async def until(check: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not check():
                await asyncio.sleep(0.01)

    async with page.client.get(f"/v/s/events?p={pid}", headers=cookie) as old:
        await old.content.readline()
        await until(lambda: session.page.open == 1)
        async with page.client.get(f"/v/s/events?p={pid}", headers=cookie) as new:
            await new.content.readline()
            # The old stream is told to end; the page is still one page in view.
            async with asyncio.timeout(5):
                assert (await old.content.read()).endswith(b"event: end\ndata: {}\n\n")
            assert session.page.open == 1
            async with page.client.get("/v/s/events?p=otherpage1234", headers=cookie) as two:
                await two.content.readline()
                await until(lambda: session.page.open == 2)
            await until(lambda: session.page.open == 1)  # that one closed
            # Hidden: the beacon ends the page's stream, though its connection is open.
            async with page.client.post("/v/s/away", data=pid, headers=cookie) as away:
                assert away.status == 204
            await until(lambda: session.page.open == 0)
            async with asyncio.timeout(5):
                assert (await new.content.read()).endswith(b"event: end\ndata: {}\n\n")
    # Hidden and shown again at once: the new stream (2) reaches the server before
    # the beacon of the old one (1), which then ends nothing.
    async with page.client.get(f"/v/s/events?p={pid}&n=1", headers=cookie) as first:
        await first.content.readline()
        async with page.client.get(f"/v/s/events?p={pid}&n=2", headers=cookie) as second:
            await second.content.readline()
            async with page.client.post("/v/s/away", data=f"{pid}.1", headers=cookie):
                pass
            await asyncio.sleep(0.3)
            assert session.page.open == 1
            async with page.client.post("/v/s/away", data=f"{pid}.2", headers=cookie):
                pass
            await until(lambda: session.page.open == 0)
    opened = [e for e in session.trail if e.kind == "page"]
    assert [dict(e.data) for e in opened] == [{"event": "opened"}]  # the first time only


async def test_keys_typed_on_the_call_are_on_the_page(
    page: PageClient, visual: VisualIvr
) -> None:
    """The page (no JavaScript: a reload) shows the keys typed so far into the input
    the call is at; a PIN's only as a count."""
    call = fake_call(visual.engine)
    call.press("11")  # English, check my balance
    assert call.session.node.id == "account"
    call.press("12")
    link = f"/v/l/{visual.tokens.issue(call.session.call.call_id)}"
    shown = await page.follow(await page.post(link))
    assert h1(shown) == "Account number"
    assert 'name="value" type="text"' in shown.text and 'value="12"' in shown.text
    assert "2 digits typed on your phone so far." in shown.text
    call.press("3456#")
    assert call.session.node.id == "pin"
    call.press("9")
    pin = await page.get("/v/s")
    assert "1 digit typed on your phone so far." in pin.text
    assert 'value="9"' not in pin.text and 'type="password"' in pin.text


def test_a_call_that_ended_before_the_queue_is_not_said_to_be_connecting() -> None:
    from engine.flow import load_flow_dir
    from engine.session.machine import CallInfo
    from visual_ivr.pages import Where, page_model
    from visual_ivr.texts import TEXTS

    flows, _ = load_flow_dir("flows")
    session = Session(flows["service_line"], CallInfo("6b0f" * 8), flows=flows.get)
    session.start()
    session.feed(WebChoose("welcome", "0"))  # to a person
    assert session.outcome == "transfer:support"
    where = Where(call=True, brand="Demo Bank", human_phone="+1 555 0100", restart="/v/s")
    connecting = page_model(session, where, {"state": "queued", "lines": [], "settled": False})
    assert connecting["lines"] == [TEXTS["en"]["transfer_call"]]
    assert connecting["dial"] is None  # the caller is on the line: no second call
    ended = {"state": "ended", "lines": [TEXTS["en"]["call_ended"]], "settled": True}
    assert page_model(session, where, ended)["lines"] == []  # the handoff's line says it


async def test_a_body_that_cannot_be_read_is_a_400_not_a_500(page: PageClient) -> None:
    """A hostile client's body (a charset that does not exist, bytes that are not
    UTF-8, a multipart body with no boundary): the client's mistake, told as one."""
    await start(page)
    cookie = {"Cookie": f"ivr_page={page.cookie}"}
    bodies = [
        ("application/x-www-form-urlencoded; charset=bogus", b"node=welcome&key=1"),
        ("application/x-www-form-urlencoded", b"node=welcome&key=\xff"),
        ("multipart/form-data", b"node=welcome"),
    ]
    for content_type, body in bodies:
        for path in ("/v/s/choose", "/v/s/submit", "/v/s/lang"):
            async with page.client.post(
                path, data=body, headers={**cookie, "Content-Type": content_type}
            ) as r:
                assert r.status == 400, (path, content_type, r.status)
    for path in ("/demo/api/verify", "/v/api/send-link"):
        async with page.client.post(
            path, data=b'{"a": 1}', headers={"Content-Type": "application/json; charset=bogus"}
        ) as r:
            assert r.status == 400, (path, r.status)
    still = await choose(page, "welcome", "1")  # the journey carries on
    assert still.status == 200 and h1(still) == "Main menu"


async def test_a_web_journey_in_use_is_kept_past_the_ended_journeys_time(
    page: PageClient, visual: VisualIvr, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finished journeys are let go after ENDED_KEPT_S; one on the web whose page is
    still in use is kept, and let go once its page has gone quiet that long."""
    import engine.runtime as runtime

    monkeypatch.setattr(runtime, "ENDED_KEPT_S", 0.3)
    await start(page)
    journey = session_of(visual, page).call.call_id
    await asyncio.sleep(0.4)
    assert (await choose(page, "welcome", "1")).status == 200  # in use
    visual.engine.start_web_session("service_line")  # another journey: old ones looked at
    assert journey in visual.engine.sessions
    await asyncio.sleep(0.4)  # quiet
    visual.engine.start_web_session("service_line")
    assert journey not in visual.engine.sessions


async def test_a_page_without_javascript_comes_back_by_itself_while_the_backend_works(
    page: PageClient,
) -> None:
    """The slow demo account (3 s): "One moment" reloads itself every 2 s without
    JavaScript (with it, the page's events bring the result)."""
    await start(page)
    await choose(page, "welcome", "1")
    await choose(page, "main", "1")
    await page.follow(await page.post("/v/s/submit", {"node": "account", "value": "999999"}))
    waiting = await page.follow(await page.post("/v/s/submit", {"node": "pin", "value": "9999"}))
    assert 'class="wait"' in waiting.text or "One moment" in waiting.text, waiting.text[:800]
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in waiting.text
    for _ in range(40):
        shown = await page.get("/v/s")
        if "refresh" not in shown.text:
            break
        await asyncio.sleep(0.2)
    assert h1(shown) == "Anything else?" and "refresh" not in shown.text  # told, and on


async def test_digits_typed_full_width_or_grouped_are_taken_as_keys(
    page: PageClient, visual: VisualIvr
) -> None:
    """A Chinese keyboard's full-width digits, and digits grouped with spaces, are
    what the keypad would have sent; letters still are not."""
    await start(page)
    await choose(page, "welcome", "2")
    await choose(page, "main", "1")

    async def submit(value: str) -> Reply:
        sent = await page.post("/v/s/submit", {"node": "account", "value": value})
        return await page.follow(sent)

    await submit("12a456")
    assert session_of(visual, page).node.id == "account"  # still asked
    full_width = "".join(chr(0xFF10 + int(d)) for d in "123") + " " + "456"
    await submit(full_width)
    assert session_of(visual, page).vars["account"] == "123456"


def test_a_decimal_point_is_not_taken_for_a_grouping() -> None:
    """"5000.50" typed into an amount of whole units was taken as 500050."""
    from engine.session.web import keypad_entry

    assert keypad_entry("5000.50") == "5000.50"  # the input refuses it: not digits
    assert keypad_entry("1.5") == "1.5"
    assert keypad_entry("555.123.4567") == "5551234567"  # dots grouping a number
    assert keypad_entry("555-0100") == "5550100"
    assert keypad_entry("\uff11\uff12\uff13\u3000456") == "123456"  # full-width


async def test_starts_from_one_address_are_limited_and_say_when_to_try_again(
    page: PageClient, visual: VisualIvr, clock: Clock
) -> None:
    assert visual.settings.web_starts_per_minute == 30  # a person starts a few at most
    for _ in range(visual.settings.web_starts_per_minute):
        assert (await PageClient(page.client).open("/v/service_line")).status == 303
    busy = await PageClient(page.client).open("/v/service_line")
    assert busy.status == 429 and busy.headers["Retry-After"] == "60"
    clock.now += 61  # the next minute
    assert (await PageClient(page.client).open("/v/service_line")).status == 303


def test_an_input_s_hint_tells_the_page_how_to_write_it() -> None:
    """The prompt is for the ear; the page shows the field's title, and the flow's
    own hint (a date's order) before how many digits it takes, in the page's language."""
    import textwrap

    from engine.flow.parse import parse_flow
    from engine.session.machine import CallInfo
    from visual_ivr.pages import Where, page_model

    flow, problems = parse_flow(textwrap.dedent("""\
        languages: [en, es]
        start: dob
        human: nurse
        nodes:
          dob:
            type: input
            title: {en: Date of birth, es: Fecha de nacimiento}
            hint: {en: "Month, day and year: 01311990", es: "Mes, día y año: 01311990"}
            prompt: {en: Enter your date of birth., es: Marque su fecha de nacimiento.}
            var: dob
            min_length: 8
            max_length: 8
            next: nurse
          nurse: {type: transfer, queue: support}
        """), "dob.yaml", "dob")
    assert flow is not None and not [p for p in problems if p.is_error], problems
    for lang, hint in (("en", "Month, day and year: 01311990 · 8 digits"),
                       ("es", "Mes, día y año: 01311990 · 8 dígitos")):
        session = Session(flow, CallInfo("88" * 16, lang=lang))
        session.start()
        model = page_model(session, Where(call=False, brand="", human_phone="", restart=""))
        assert (model["label"], model["hint"]) == (
            "Date of birth" if lang == "en" else "Fecha de nacimiento", hint
        )
    # A hint that says the count itself is not followed by the count again.
    from visual_ivr.pages import _says_count

    assert _says_count("六位数字", 6) and _says_count("请输入18位身份证号码", 18)
    assert _says_count("Your 6-digit PIN", 6) and not _says_count("01311990", 8)
    assert not _says_count("16 characters", 6)


async def test_a_client_that_keeps_no_cookies_starts_no_journey(
    page: PageClient, visual: VisualIvr
) -> None:
    """A link preview, an uptime check, a crawler: a HEAD, or a GET whose cookie
    does not come back, gets no journey (each counted as abandoned in the report);
    a browser with cookies refused is told why the page cannot work."""
    before = set(visual.engine.sessions)
    head = await page.client.head("/v/service_line", allow_redirects=False)
    assert head.status == 200
    first = await page.get("/v/service_line")
    assert first.status == 303 and first.location == "/v/service_line?started"
    assert first.cookies["ivr_start"]["max-age"] == "60"
    page.start_cookie = ""  # not kept
    back = await page.get(first.location)
    assert back.status == 400 and "This page needs cookies" in back.text
    assert set(visual.engine.sessions) == before
    started = await page.open("/v/service_line")  # a browser: one journey
    assert started.status == 303 and started.location == "/v/s"
    assert started.cookies["ivr_start"]["max-age"] == "0"  # used up
    assert len(set(visual.engine.sessions) - before) == 1


async def test_steps_that_cannot_apply_are_kept_up_to_a_bound(
    page: PageClient, visual: VisualIvr
) -> None:
    """Each refused step is in the trail (the agent sees the caller's attempts), but a
    script posting thousands of them does not grow the journey's trail without end."""
    from engine.session.web import MAX_REFUSED_KEPT

    await start(page)
    for _ in range(MAX_REFUSED_KEPT + 20):
        assert (await page.post("/v/s/choose", {"node": "welcome", "key": "7"})).status == 303
    refused = [i for i in web_inputs(session_of(visual, page)) if i.get("refused")]
    assert len(refused) == MAX_REFUSED_KEPT and refused[0]["value"] == "7"
    assert h1(await choose(page, "welcome", "1")) == "Main menu"  # and the page works on


def test_right_to_left_languages_are_laid_out_so() -> None:
    from visual_ivr.texts import LANG_NAMES, direction

    assert [direction(x) for x in ("ar", "ar-EG", "he", "fa_IR", "en", "zh", "ko")] == [
        "rtl", "rtl", "rtl", "rtl", "ltr", "ltr", "ltr"
    ]
    assert LANG_NAMES["ar"] == "العربية" and LANG_NAMES["ko"] == "한국어"


_GOODBYE_FLOW = """
languages: [en, zh]
start: lang
nodes:
  lang:
    type: language
    prompt: {en: "For English, press 1.", zh: "中文请按2。"}
    options:
      - {key: 1, lang: en, label: English, goto: thanks}
      - {key: 2, lang: zh, label: 中文, goto: thanks}
  thanks:
    type: say
    prompt: {en: "Your visit is booked.", zh: "您的预约已确认。"}
    next: bye
  bye: {type: hangup, prompt: {en: "Goodbye from the clinic.", zh: "诊所祝您健康，再见。"}}
  quiet: {type: hangup}
"""


@pytest.mark.parametrize(
    ("key", "lang", "cards"),
    [("1", "en", ["Your visit is booked.", "Goodbye from the clinic."]),
     ("2", "zh", ["您的预约已确认。", "诊所祝您健康，再见。"])],
)
def test_the_end_page_says_the_flows_own_goodbye_in_the_pages_language(
    key: str, lang: str, cards: list[str]
) -> None:
    from engine.flow.parse import parse_flow
    from engine.session.machine import CallInfo
    from visual_ivr.pages import Pages, Where, page_model
    from visual_ivr.texts import TEXTS

    flow, problems = parse_flow(_GOODBYE_FLOW, "clinic.yaml")
    assert flow is not None and problems == []
    session = Session(flow, CallInfo("6b0f" * 8))
    session.start()
    session.feed(WebChoose("lang", key))
    assert session.outcome == "hangup"
    where = Where(call=False, brand="", human_phone="", restart="/v/clinic")
    model = page_model(session, where)
    assert (model["lang"], model["cards"], model["lines"]) == (lang, cards, [])
    shown = Pages().fragment(model)
    assert f'<p class="card">{cards[-1]}</p>' in shown
    assert TEXTS[lang]["hangup"] not in shown


def test_the_end_page_says_its_own_goodbye_when_the_flow_says_none() -> None:
    from engine.flow.parse import parse_flow
    from engine.session.machine import CallInfo
    from visual_ivr.pages import Where, page_model
    from visual_ivr.texts import TEXTS

    flow, _ = parse_flow(_GOODBYE_FLOW.replace("start: lang", "start: quiet"), "clinic.yaml")
    assert flow is not None
    session = Session(flow, CallInfo("6b0f" * 8))
    session.start()
    assert session.outcome == "hangup"
    model = page_model(session, Where(call=False, brand="", human_phone="", restart="/v/c"))
    assert (model["cards"], model["lines"]) == ([], [TEXTS["en"]["hangup"]])


ID_FLOW = """
languages: [zh, en]
start: id
human: person
nodes:
  id:
    type: input
    title: {zh: 身份证号码, en: ID card number}
    prompt: {zh: "请输入身份证号码，X请按星号键。", en: "Your ID number; for X press star."}
    var: id_number
    min_length: 18
    max_length: 18
    pattern: '^[0-9]{17}[0-9*]$'
    letter_keys: {X: "*"}
    next: person
  person: {type: transfer, queue: support}
"""


def test_an_id_card_s_x_is_typed_as_x_on_the_page() -> None:
    """An ID card number ends in X for about one holder in eleven; on the phone it is
    pressed as *, and the page refused X, x and full-width X."""
    from engine.flow.parse import parse_flow
    from engine.session.machine import CallInfo
    from visual_ivr.pages import Where, page_model

    flow, problems = parse_flow(ID_FLOW, "id.yaml", "id")
    assert flow is not None, [str(p) for p in problems]
    where = Where(call=False, brand="", human_phone="", restart="/v/id")
    for typed in ("11010519491231002X", "11010519491231002x", "11010519491231002\uff38"):
        session = Session(flow, CallInfo("99" * 16, lang="zh"))
        session.start()
        assert page_model(session, where)["letters"]  # a keyboard with letters
        session.feed(WebSubmit("id", typed, session.entered))
        assert session.vars.get("id_number") == "11010519491231002*", typed
    _, problems = parse_flow(ID_FLOW.replace('{X: "*"}', '{XY: "*", Z: "a"}'), "id.yaml", "id")
    assert [str(p) for p in problems] == [
        "id.yaml:14:19: input 'id' letter_keys: 'XY' is not a letter",
        "id.yaml:14:31: input 'id' letter_keys 'Z': the key must be one of 0-9, * or #, "
        "not text ('a')",
    ]
