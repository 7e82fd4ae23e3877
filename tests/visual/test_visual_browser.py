"""The visual IVR in a real headless Chromium, beside a real call in the sandbox
Asterisk: one journey, two channels, each following the other live."""

from __future__ import annotations

import re
import time

import pytest
from playwright.async_api import Page, expect

from engine.serve import Stack
from engine.session.texts import builtin_text
from tests.conftest import caller_number
from tests.live_call import LiveCall
from tests.visual.live import artifact, chromium, phone
from visual_ivr.app import VISUAL_KEY, VisualIvr

pytestmark = pytest.mark.asterisk
HOLD = builtin_text("page_hold", "en")


def visual_of(stack: Stack) -> VisualIvr:
    return stack.runner.app[VISUAL_KEY]


async def texted_link(stack: Stack, call: LiveCall) -> str:
    """Walk the call to "get this menu on your phone", agree, and read the text."""
    outbox = visual_of(stack).sender.outbox  # type: ignore[attr-defined]
    already = len(outbox)
    await call.at("welcome")
    await call.press("1")  # English (during the prompt: barge-in)
    await call.at("main")
    await call.press("9")
    await call.at("link_offer")
    await call.press("1")  # "yes, text me the link"
    await call.until(lambda: len(outbox) > already, 15)
    sms = outbox[-1]
    assert sms.to == call.caller_id
    found = re.search(r"https?://\S+/v/l/\S+", sms.text)
    assert found, sms.text
    return found.group(0)


async def heading(page: Page) -> str:
    return (await page.locator("h1").inner_text()).strip()


async def test_the_page_and_the_call_are_one_journey(demo_stack: Stack) -> None:
    async with LiveCall(demo_stack, "service_line", caller_number()) as call, chromium() as b:
        link = await texted_link(demo_stack, call)
        context = await phone(b)
        page = await context.new_page()
        await page.goto(link)  # opens the link: its page posts it at once
        await expect(page.locator("h1")).to_have_text("Main menu", timeout=15_000)
        assert page.url.endswith("/v/s")
        cookie = next(c for c in await context.cookies() if c["name"] == "ivr_page")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"  # Secure over https
        await expect(page.locator(".live")).to_have_text("Following your call")
        await page.screenshot(path=artifact("visual-main-menu-360.png"))

        # A tap moves the call: the prompt stops, the call enters the node.
        await page.get_by_role("button", name="Check my balance").click()
        await call.at("account", 5)
        await expect(page.locator("h1")).to_have_text("Account number")
        assert await page.evaluate("document.activeElement.tagName") == "H1"
        trail = call.s.trail
        tap = next(i for i, e in enumerate(trail) if e.data.get("source") == "web")
        assert trail[tap].node == "main" and trail[tap].data["goto"] == "balance_identify"
        spoken = [e.data["text"] for e in trail[tap:] if e.kind == "prompt"]
        assert spoken[0].startswith("Please enter your six digit account number")

        # Keys on the call move the page.
        await call.press("123456#")
        await expect(page.locator("h1")).to_have_text("PIN", timeout=10_000)
        assert await page.locator("#value").get_attribute("type") == "password"

        # The form is checked like the voice input, by the session, in the flow's words
        # (the browser's own check would refuse grouped or full-width digits).
        await page.fill("#value", "12")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator(".notice")).to_contain_text("doesn't look right")
        assert call.s.node.id == "pin"
        assert await page.evaluate("document.activeElement.className") == "notice"
        # No network: the page and what was typed stay, and it says so.
        await context.set_offline(True)
        await page.fill("#value", "\uff11\uff12 34")  # a Chinese keyboard's digits, grouped
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator(".notice.offline")).to_contain_text("No connection")
        assert await page.evaluate("document.activeElement.className") == "notice offline"
        assert await page.locator("#value").input_value() == "\uff11\uff12 34"
        assert call.s.node.id == "pin"
        await context.set_offline(False)
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator("h1")).to_have_text("Anything else?", timeout=15_000)
        await expect(page.locator(".card")).to_have_text("Alex, your balance is $1,520.75.")
        await page.screenshot(path=artifact("visual-balance-360.png"))

        # "Talk to a person", from any page, moves the call into the queue.
        await page.get_by_role("button", name="Main menu").click()
        await expect(page.locator("h1")).to_have_text("Main menu")
        await page.get_by_role("button", name="Pay my bill").click()  # signed in: not again
        await expect(page.locator("h1")).to_have_text("Pay your bill")
        await page.get_by_role("button", name="Talk to a person").click()
        await call.until(lambda: call.s.done, 10)
        assert call.s.outcome == "transfer:support"
        await expect(page.locator("h1")).to_have_text("Talk to a person")
        await expect(page.locator("main")).to_contain_text("connected to a person on your call")

        inputs = [e for e in call.s.trail if e.kind == "input"]
        sources = [e.data.get("source") for e in inputs[-7:]]
        assert sources == ["web", "key", "web", "web", "web", "web", "web"]
        assert [(e.node, e.data.get("value"), e.data.get("valid")) for e in inputs[-7:]] == [
            ("main", "1", None),  # the tap
            ("account", "123456", True),  # keys on the call
            ("pin", "**", False),  # the page's invalid entry, refused by the session
            ("pin", "****", True),
            ("anything_else", "1", None),
            ("main", "2", None),
            ("bill_confirm", "0", None),  # "talk to a person", this menu's own option
        ]
        await context.close()


async def test_a_link_works_once_and_either_channel_can_end(demo_stack: Stack) -> None:
    visual = visual_of(demo_stack)
    async with LiveCall(demo_stack, "service_line", caller_number()) as call, chromium() as b:
        link = await texted_link(demo_stack, call)
        mine = await phone(b)
        page = await mine.new_page()
        await page.goto(link)
        await expect(page.locator("h1")).to_have_text("Main menu", timeout=15_000)

        # Anyone else who gets hold of the link later gets nothing.
        other = await phone(b)
        theirs = await other.new_page()
        await theirs.goto(link)
        await expect(theirs.locator("h1")).to_have_text("This link has already been used")
        assert await other.cookies() == []
        await theirs.goto(link[:-3] + ("xyz" if not link.endswith("xyz") else "abc"))
        await expect(theirs.locator("h1")).to_have_text("This link isn't valid")
        expiring = visual.tokens.issue(call.s.call.call_id)
        visual.tokens.clock = lambda: time.monotonic() + visual.settings.link_ttl_s + 1
        try:
            await theirs.goto(link.rsplit("/", 1)[0] + "/" + expiring)
        finally:
            visual.tokens.clock = time.monotonic
        await expect(theirs.locator("h1")).to_have_text("This link has expired")
        assert await other.cookies() == []
        await theirs.goto(link.split("/v/")[0] + "/v/s")
        await expect(theirs.locator("h1")).to_have_text("This page needs a link")

        # The page goes away: the call goes on; the page comes back where the call is.
        await page.close()
        await call.press("3")
        await call.at("account", 15)
        page = await mine.new_page()
        await page.goto(link.split("/v/")[0] + "/v/s")
        await expect(page.locator("h1")).to_have_text("Account number")

        # The call ends: the page says so, and offers to go on here.
        await call.hangup()
        await expect(page.locator("h1")).to_have_text("This session has ended", timeout=10_000)
        await expect(page.locator("main")).to_contain_text("Your call has ended.")
        await page.get_by_role("link", name="Start again on this page").click()
        await expect(page.locator("h1")).to_have_text("Language")
        await mine.close()
        await other.close()


def _page_events(call: LiveCall, since: int) -> list[tuple[str, str]]:
    """(kind, what) of the call's holds, retries and prompts after trail entry ``since``."""
    out = []
    for entry in call.s.trail[since:]:
        if entry.kind == "page":
            out.append(("page", str(entry.data["event"])))
        elif entry.kind == "retry":
            out.append(("retry", str(entry.data["retry"])))
        elif entry.kind == "prompt":
            out.append(("prompt", str(entry.data.get("text", ""))))
    return out


async def _set_hidden(page: Page, hidden: bool) -> None:
    """What the phone's browser does when the caller turns to another app and back."""
    await page.evaluate(
        """hidden => {
            Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


async def test_keys_typed_on_the_phone_show_on_the_page(demo_stack: Stack) -> None:
    """Half an account number typed on the keypad: the page shows it in its field, and
    the caller finishes there. A PIN's keys are counted on the page, never shown; what
    the caller is typing into the page stays when a key on the phone comes in."""
    async with LiveCall(demo_stack, "service_line", caller_number()) as call, chromium() as b:
        link = await texted_link(demo_stack, call)
        page = await (await phone(b)).new_page()
        await page.goto(link)
        await expect(page.locator("h1")).to_have_text("Main menu", timeout=15_000)
        await page.get_by_role("button", name="Check my balance").click()
        await call.at("account", 5)
        await expect(page.locator("h1")).to_have_text("Account number")

        await call.press("123")
        await expect(page.locator("#value")).to_have_value("123", timeout=10_000)
        await expect(page.locator(".typed")).to_have_text("3 digits typed on your phone so far.")
        field = page.locator("#value")
        await field.focus()
        await field.press("End")
        await page.keyboard.type("456")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator("h1")).to_have_text("PIN", timeout=10_000)
        account = [e for e in call.s.trail if e.kind == "input" and e.node == "account"]
        assert [(e.data["source"], e.data["value"]) for e in account] == [("web", "123456")]

        await page.locator("#value").fill("98")  # typing here, then a key on the phone
        await page.locator("#value").focus()
        await call.press("1")
        await expect(page.locator(".typed")).to_have_text("1 digit typed on your phone so far.")
        assert await page.locator("#value").input_value() == "98"
        assert await page.evaluate("document.activeElement.id") == "value"
        # A PIN's keys are counted, not shown.
        assert await page.locator("#value").get_attribute("value") is None
        # Resting on another control, a key on the phone leaves focus there (it went
        # to the heading, and a screen reader read it again at every key), and the
        # count is said through the live region that was there before it changed.
        home = page.get_by_role("button", name="Home")
        await home.focus()
        await call.press("2")
        typed = "2 digits typed on your phone so far."
        await expect(page.locator(".typed")).to_have_text(typed)
        assert await page.evaluate("document.activeElement.value") == "home"
        await expect(page.locator("#live")).to_have_text(typed)
        await call.hangup()


async def test_the_call_holds_while_the_caller_reads_the_page(demo_stack: Stack) -> None:
    async with LiveCall(demo_stack, "service_line", caller_number()) as call, chromium() as b:
        link = await texted_link(demo_stack, call)
        await call.at("main", 20)
        since = len(call.s.trail)
        page = await (await phone(b)).new_page()
        await page.goto(link)
        await expect(page.locator("h1")).to_have_text("Main menu", timeout=15_000)

        def held(n: int) -> bool:
            return sum(e.data.get("event") == "hold" for e in call.s.trail[since:]) >= n

        # The caller reads the page and presses nothing: the call says it waits,
        # and no retry is spent (the main menu's prompt, then its 5 s timeout).
        await call.until(lambda: held(1), 40)
        seen = _page_events(call, since)
        assert seen[0] == ("page", "opened")
        assert seen[-2:] == [("page", "hold"), ("prompt", HOLD)]
        assert [e for e in seen if e[0] == "retry"] == []
        assert call.s.node.id == "main" and call.s.page.open == 1

        # They turn to another app: the menu's own timeout runs again, not the 30 s
        # of the hold, and their silence now counts.
        hidden_at = time.monotonic()
        await _set_hidden(page, True)
        await call.until(lambda: call.s.page.open == 0, 5)
        await call.until(lambda: ("retry", "no_input") in _page_events(call, since), 20)
        counted_after = time.monotonic() - hidden_at
        assert counted_after < 15, counted_after

        # Back on the page: it follows the call again, and the call holds again.
        await _set_hidden(page, False)
        await call.until(lambda: call.s.page.open == 1, 5)
        await call.until(lambda: held(2), 40)
        assert call.s.node.id == "main" and not call.s.done
        await expect(page.locator("h1")).to_have_text("Main menu")
        print(f"hidden page: silence counted again after {counted_after:.1f} s")


async def test_a_page_without_javascript_holds_the_call_too(demo_stack: Stack) -> None:
    """No JavaScript, so no event stream: the page's <noscript> frame stays open while
    it is shown, and the call holds for it the same way; a tap (a form post) loads the
    next page, whose frame takes over; leaving the page ends the hold."""
    async with LiveCall(demo_stack, "service_line", caller_number()) as call, chromium() as b:
        link = await texted_link(demo_stack, call)
        await call.at("main", 20)
        since = len(call.s.trail)
        page = await (await phone(b, java_script_enabled=False)).new_page()
        await page.goto(link)
        await page.get_by_role("button", name="Open the menu").click()  # no script to post it
        await expect(page.locator("h1")).to_have_text("Main menu", timeout=15_000)
        await call.until(lambda: call.s.page.open == 1, 10)
        await call.until(
            lambda: any(e.data.get("event") == "hold" for e in call.s.trail[since:]), 40
        )
        assert [e for e in _page_events(call, since) if e[0] == "retry"] == []

        await page.get_by_role("button", name="Check my balance").click()
        await expect(page.locator("h1")).to_have_text("Account number", timeout=15_000)
        await call.until(lambda: call.s.node.id == "account", 10)
        await call.until(lambda: call.s.page.open == 1, 10)

        left_at = time.monotonic()
        await page.goto("about:blank")  # the caller leaves the page
        await call.until(lambda: call.s.page.open == 0, 10)
        print(f"page without JavaScript left: seen after {time.monotonic() - left_at:.1f} s")


LONG_AND_ARABIC = """
start: main
languages: [ar, en]
human: person
nodes:
  main:
    type: menu
    title: {ar: "القائمة الرئيسية", en: Main menu}
    prompt: {ar: "اختر", en: "Choose."}
    options:
      - key: 1
        label: {ar: "رصيد WORD_AR", en: "Balance WORD_EN"}
        goto: person
  person: {type: transfer, queue: support}
""".replace("WORD_AR", "ب" * 2500).replace("WORD_EN", "A" * 2500)


async def test_a_long_word_and_a_right_to_left_language_fit_a_phone() -> None:
    """A label of one 2,500-letter word wraps inside a 360 px screen instead of
    widening the page (the browser then zooms the whole page out), and an Arabic
    page is laid out right to left."""
    import textwrap

    from engine.flow.parse import parse_flow
    from engine.session.machine import CallInfo, Session
    from visual_ivr.pages import Pages, Where, digest, page_model

    flow, problems = parse_flow(textwrap.dedent(LONG_AND_ARABIC), "wide.yaml", "wide")
    assert flow is not None, [str(p) for p in problems]
    pages = Pages()
    for lang in ("ar", "en"):
        session = Session(flow, CallInfo("77" * 16, lang=lang))
        session.start()
        model = page_model(session, Where(call=False, brand="", human_phone="", restart="/v/wide"))
        fragment = pages.fragment(model)
        async with chromium() as browser:
            page = await (await phone(browser)).new_page()
            await page.set_content(pages.page(model, fragment, digest(fragment)))
            width = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
            assert width[0] <= width[1] == 360, (lang, width)
            direction = await page.evaluate("getComputedStyle(document.body).direction")
            assert direction == ("rtl" if lang == "ar" else "ltr")
            await page.screenshot(path=artifact(f"visual-long-word-{lang}-360.png"))


ID_CARD = """
start: id
human: person
nodes:
  id:
    type: input
    title: ID card number
    prompt: "Your ID card number."
    var: id_number
    min_length: 18
    max_length: 18
    next: person
  person: {type: transfer, queue: support}
"""


CLOSED_AT_NIGHT = """
start: main
human: person_if_open
languages: [en, zh]
hours:
  timezone: Asia/Shanghai
  open: {mon-fri: "09:00-18:00"}
nodes:
  main:
    type: menu
    prompt: {en: "Press 1 for opening hours.", zh: "营业时间请按1。"}
    options:
      - {key: 1, label: {en: Opening hours, zh: 营业时间}, goto: bye}
  person_if_open:
    type: branch
    cases: [{when: open, goto: person}]
    default: bye
  bye: {type: hangup, prompt: {en: "Goodbye.", zh: "再见。"}}
  person: {type: transfer, queue: support}
"""


@pytest.mark.parametrize(
    ("lang", "note"),
    [
        ("en", "No one is answering now. We open again on Monday at 09:00."),
        ("zh", "现在是非人工服务时间，周一09:00恢复人工服务。"),
    ],
)
async def test_at_night_the_person_button_says_when_people_are_back(
    lang: str, note: str
) -> None:
    """Saturday 21:00 in Shanghai: the page's "talk to a person" is described by when
    the people answer again, for eyes and for screen readers alike."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from engine.flow.parse import parse_flow
    from engine.session.machine import CallInfo, Session
    from visual_ivr.pages import Pages, Where, digest, page_model

    flow, problems = parse_flow(CLOSED_AT_NIGHT, "night.yaml", "night")
    assert flow is not None, [str(p) for p in problems]
    night = datetime(2026, 12, 5, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    session = Session(flow, CallInfo("99" * 16, lang=lang), now=lambda: night)
    session.start()
    pages = Pages()
    model = page_model(session, Where(call=False, brand="", human_phone="", restart="/v/night"))
    fragment = pages.fragment(model)
    async with chromium() as browser:
        page = await (await phone(browser)).new_page()
        await page.set_content(pages.page(model, fragment, digest(fragment)))
        await expect(page.locator(".closed")).to_have_text(note)
        await expect(page.locator("button.human")).to_have_accessible_description(note)
        await page.screenshot(path=artifact(f"visual-closed-at-night-{lang}-360.png"))


async def test_an_eighteen_digit_entry_is_seen_whole_on_a_small_phone() -> None:
    """A Chinese ID card's 18 characters: 14 of them showed in the box at 320 px."""
    from engine.flow.parse import parse_flow
    from engine.session.machine import CallInfo, Session
    from visual_ivr.pages import Pages, Where, digest, page_model

    flow, problems = parse_flow(ID_CARD, "id.yaml", "id")
    assert flow is not None, [str(p) for p in problems]
    session = Session(flow, CallInfo("88" * 16))
    session.start()
    pages = Pages()
    model = page_model(session, Where(call=False, brand="", human_phone="", restart="/v/id"))
    fragment = pages.fragment(model)
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 320, "height": 640})
        page = await context.new_page()
        await page.set_content(pages.page(model, fragment, digest(fragment)))
        await page.fill("#value", "11010519491231002X"[:17] + "8")
        sizes = await page.evaluate("[value.scrollWidth, value.clientWidth]")
        assert sizes[0] <= sizes[1], sizes
        await context.close()


async def test_the_phone_s_back_is_the_page_s_back(demo_stack: Stack) -> None:
    """Every step of a journey is the one address /v/s: the browser's Back (a phone's
    back button or gesture) used to leave the journey. It now does what the page's
    Back does while there is one (the flow's own "Back" option where it has one), and
    leaves from the first page."""
    async with chromium() as b:
        page = await (await phone(b)).new_page()
        await page.goto("about:blank")
        await page.goto(f"{demo_stack.web_url}/v/service_line")
        await page.get_by_role("button", name="English").click()
        await expect(page.locator("h1")).to_have_text("Main menu")
        await page.get_by_role("button", name="Check my balance").click()
        await expect(page.locator("h1")).to_have_text("Account number")
        await page.go_back()  # the sign-in's own "Back" (its * option): to the main menu
        await expect(page.locator("h1")).to_have_text("Main menu")
        assert page.url.endswith("/v/s")
        await page.go_back()  # the page's Back: to the language page, the first
        await expect(page.get_by_role("button", name="English")).to_be_visible()
        assert await page.locator("button[data-back]").count() == 0
        await page.go_back()
        await expect(page).to_have_url("about:blank")


# Words a line break cuts in two: a word whose text has more than one box.
CUT_WORDS = """() => {
  const cut = [];
  for (const el of document.querySelectorAll("h1, .label, .foot button, .card")) {
    const text = el.firstChild && el.firstChild.nodeType === 3 ? el.firstChild : null;
    if (!text) continue;
    for (const m of text.data.matchAll(/\\S+/g)) {
      const r = document.createRange();
      r.setStart(text, m.index); r.setEnd(text, m.index + m[0].length);
      if (r.getClientRects().length > 1) cut.push(m[0]);
    }
  }
  return cut;
}"""


async def test_text_zoomed_to_200_percent_keeps_its_words_whole(demo_stack: Stack) -> None:
    """A 360 px phone with its text at 200 % lays the page out 180 px wide: words
    wrap between them ("Block my | card"), not inside ("Bloc | k"), and the page
    does not scroll sideways."""
    async with chromium() as b:
        context = await b.new_context(viewport={"width": 180, "height": 740})
        page = await context.new_page()
        await page.goto(f"{demo_stack.web_url}/v/service_line")
        await page.get_by_role("button", name="English").click()
        await expect(page.locator("h1")).to_have_text("Main menu")
        assert await page.evaluate(CUT_WORDS) == []
        await page.get_by_role("button", name="Report a lost card").click()
        await expect(page.locator("h1")).to_have_text("Account number")
        assert await page.evaluate(CUT_WORDS) == []
        width = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1]
        await page.screenshot(path=artifact("visual-zoom-200.png"), full_page=True)
        await context.close()


async def test_focus_stays_with_the_person_using_the_page(demo_stack: Stack) -> None:
    """A screen reader's focus is never left on nothing, nor taken from a field being
    typed in: a language switch (whose update may come on the event stream before the
    tap's own answer) puts it on the new heading; an out-of-date tap from another
    page of the journey shows its notice here but leaves the typing alone."""
    async with chromium() as b:
        context = await phone(b)
        page = await context.new_page()
        await page.goto(f"{demo_stack.web_url}/v/service_line")
        await page.get_by_role("button", name="English").click()
        await expect(page.locator("h1")).to_have_text("Main menu")
        await page.get_by_role("button", name="中文").click()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        assert await page.evaluate("document.activeElement.tagName") == "H1"

        await page.get_by_role("button", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await page.get_by_role("button", name="Check my balance").click()
        await expect(page.locator("h1")).to_have_text("Account number")
        field = page.locator("#value")
        await field.focus()
        await page.keyboard.type("123")
        stale = await context.request.post(  # another page, still showing the first menu
            f"{demo_stack.web_url}/v/s/choose", form={"node": "welcome", "at": "1", "key": "1"}
        )
        assert stale.ok
        await expect(page.locator(".notice")).to_contain_text("out of date")
        assert await page.evaluate("document.activeElement.id") == "value"
        await page.keyboard.type("456")
        await expect(field).to_have_value("123456")
        # An entry the input refuses: the notice is the field's description.
        await field.fill("12")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator("#value")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#value")).to_have_attribute("aria-describedby", "notice hint")
        assert await page.evaluate("document.activeElement.id") == "notice"
        await context.close()


# Each control's contrast, WCAG's way: its text against its own fill, and its outline
# (the border, or the fill where it has one) against what the control stands on.
CONTRASTS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const opaque = (c) => { const v = rgb(c); return v.length < 4 || v[3] > 0; };
  const fill = (el) => {
    for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor;
      if (opaque(c)) return rgb(c);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const el of document.querySelectorAll("button, a.button, input:not([type=hidden])")) {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const own = fill(el), around = fill(el.parentElement);
    const edge = opaque(style.backgroundColor) && ratio(own, around) >= 3
      ? ratio(own, around) : ratio(rgb(style.borderTopColor), around);
    found.push({
      name: (el.innerText || el.value || el.id).trim().slice(0, 30),
      text: ratio(rgb(style.color), own),
      edge: parseFloat(style.borderTopWidth) > 0 || opaque(style.backgroundColor) ? edge : 0,
    });
  }
  return found;
}"""


async def test_every_control_can_be_told_from_the_page(demo_stack: Stack) -> None:
    """A button's outline is what shows a low-vision reader where to tap: against the
    page it has 3:1 at least, and its words 4.5:1 against the button (WCAG 1.4.11 and
    1.4.3). The buttons' grey border had 1.7:1."""
    async with chromium() as b:
        page = await (await phone(b)).new_page()
        await page.goto(f"{demo_stack.web_url}/v/service_line")
        await page.get_by_role("button", name="English").click()
        await expect(page.locator("h1")).to_have_text("Main menu")
        seen = await page.evaluate(CONTRASTS)
        await page.get_by_role("button", name="Check my balance").click()
        await expect(page.locator("h1")).to_have_text("Account number")
        seen += await page.evaluate(CONTRASTS)
        assert len(seen) >= 10, seen
        assert [c for c in seen if c["edge"] < 3 or c["text"] < 4.5] == [], seen
