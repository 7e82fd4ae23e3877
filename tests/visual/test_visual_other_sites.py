"""What another site's page can make a visitor's browser do here: nothing. A POST it
sends is refused before it uses a link or takes a step; no page of /v is shown in
its frames; and behind a proxy, one client's starts are not everyone's."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import DummyCookieJar, web

from engine.runtime import Engine
from tests.conftest import FLOWS, local_settings
from tests.visual.conftest import ClientMaker, fake_call
from tests.visual.helpers import Clock, PageClient
from tests.visual.test_visual_pages import h1, session_of, start
from visual_ivr.app import VisualIvr
from visual_ivr.sms import LogSender

ELSEWHERE = "https://attacker.example"


def own_origin(page: PageClient) -> str:
    return str(page.client.make_url("").origin())


async def test_a_link_posted_from_another_site_gives_no_cookie(
    page: PageClient, visual: VisualIvr
) -> None:
    """The attacker's own journey's link, auto-posted by their page in the victim's
    browser, would have put the victim on the attacker's call."""
    call = fake_call(visual.engine)
    path = f"/v/l/{visual.tokens.issue(call.session.call.call_id)}"
    for headers in (
        {"Origin": ELSEWHERE},
        {"Sec-Fetch-Site": "cross-site"},  # a browser that says so, without an Origin
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame's
        {"Origin": own_origin(page), "Sec-Fetch-Site": "cross-site"},
    ):
        refused = await page.post(path, headers={**headers, "Accept-Language": "es"})
        assert refused.status == 403, headers
        assert "ivr_page" not in refused.cookies and not page.cookie
        assert h1(refused) == "Esto vino de otro sitio web y no se hizo"
        assert refused.headers["X-Frame-Options"] == "DENY"
    # The link was not used up: the phone it was texted to still opens it.
    same = {"Origin": own_origin(page), "Sec-Fetch-Site": "same-origin"}
    used = await page.post(path, headers=same)
    assert used.status == 303 and used.cookies["ivr_page"]["httponly"]


async def test_steps_posted_from_another_site_are_not_taken(
    page: PageClient, visual: VisualIvr
) -> None:
    await start(page)
    session = session_of(visual, page)
    for step, form in (
        ("/v/s/choose", {"node": "welcome", "key": "1"}),
        ("/v/s/lang", {"lang": "zh"}),
        ("/v/s/nav", {"where": "home"}),
        ("/v/s/human", {}),
        ("/v/s/callback", {"number": "+15550001234"}),
        ("/v/s/push", {"push": "1"}),
    ):
        refused = await page.post(step, form, headers={"Origin": ELSEWHERE})
        assert refused.status == 403, step
        refused = await page.post(step, form, headers={"Sec-Fetch-Site": "cross-site"})
        assert refused.status == 403, step
    assert session.node.id == "welcome" and session.lang == "en"  # nothing was taken
    # The page's own forms: from its origin, as the proxy in front says it, or with
    # no word of where they come from (an old browser, curl).
    proxied = {
        "Origin": "https://ivr.example.com",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ivr.example.com",
        "Sec-Fetch-Site": "same-origin",
    }
    taken = await page.post("/v/s/choose", {"node": "welcome", "key": "1"}, headers=proxied)
    assert taken.status == 303 and session.node.id == "main"
    taken = await page.post("/v/s/nav", {"where": "home"}, headers={"Origin": own_origin(page)})
    assert taken.status == 303
    # A form without JavaScript, in Chromium: the page's Referrer-Policy (no-referrer)
    # keeps its origin back, and Sec-Fetch-Site says where it is from.
    no_script = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert (await page.post("/v/s/nav", {"where": "home"}, headers=no_script)).status == 303
    assert (await page.post("/v/s/choose", {"node": "main", "key": "1"})).status == 303
    assert session.node.id == "account"


async def test_no_page_of_the_journey_can_be_framed_by_another_site(
    page: PageClient, visual: VisualIvr
) -> None:
    shown = await start(page)
    assert shown.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in shown.headers["Content-Security-Policy"]
    step = await page.post("/v/s/choose", {"node": "welcome", "key": "1"})
    assert step.status == 303 and step.headers["X-Frame-Options"] == "DENY"
    assert (await page.get("/v/no_such_flow")).headers["X-Frame-Options"] == "DENY"
    # The page's no-JavaScript presence frame: framed by the page itself, and no other.
    async with page.client.get(
        "/v/s/here", headers={"Cookie": f"ivr_page={page.cookie}"}
    ) as here:
        assert here.status == 200
        assert here.headers["X-Frame-Options"] == "SAMEORIGIN"
        policy = here.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in policy and "default-src 'none'" in policy
        assert here.headers["X-Content-Type-Options"] == "nosniff"
        assert here.headers["Referrer-Policy"] == "no-referrer"
        assert here.headers["Cache-Control"] == "no-store"


async def test_behind_a_trusted_proxy_each_client_has_its_own_starts(
    engine: Engine, clock: Clock, aiohttp_client: ClientMaker
) -> None:
    settings = replace(
        local_settings(FLOWS), trusted_proxies=("127.0.0.0/8",), web_starts_per_minute=2
    )
    page = await page_client(VisualIvr(engine, settings, LogSender(), clock=clock), aiohttp_client)

    async def open_as(forwarded_for: str) -> int:
        headers = {"X-Forwarded-For": forwarded_for}
        return (await PageClient(page.client).open("/v/service_line", headers)).status

    assert [await open_as("198.51.100.7") for _ in range(3)] == [303, 303, 429]
    assert await open_as("203.0.113.9") == 303  # another person behind the same proxy
    # A client cannot pass for another: the proxy adds the address it sees, on the right.
    assert await open_as("203.0.113.9, 198.51.100.7") == 429
    clock.now += 61
    assert await open_as("198.51.100.7") == 303


async def test_without_trusted_proxies_x_forwarded_for_is_not_believed(
    engine: Engine, clock: Clock, aiohttp_client: ClientMaker
) -> None:
    settings = replace(local_settings(FLOWS), web_starts_per_minute=2)
    page = await page_client(VisualIvr(engine, settings, LogSender(), clock=clock), aiohttp_client)
    statuses = []
    for n in range(3):  # each "from" another address, all from this one
        headers = {"X-Forwarded-For": f"10.0.0.{n}"}
        statuses.append((await PageClient(page.client).open("/v/service_line", headers)).status)
    assert statuses == [303, 303, 429]


async def page_client(visual: VisualIvr, aiohttp_client: ClientMaker) -> PageClient:
    root = web.Application()
    root.add_subapp("/v", visual.app())
    return PageClient(await aiohttp_client(root, cookie_jar=DummyCookieJar()))
