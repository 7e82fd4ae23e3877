"""The visual IVR's routes, mounted by ``ivr serve`` at ``/v``.

    GET  /v/<flow>            start a web-only journey, then the page (on the second
                              request, which brings back a cookie the first set)
    GET  /v/l/<token>         a link from a text: a page that opens it (one POST)
    POST /v/l/<token>         trade the link for a page cookie, then the page
    GET  /v/s                 the page: where the journey is now
    GET  /v/s/events          server-sent events: the page's updates, as they happen
    POST /v/s/choose|submit|nav|lang|human
                              a step on the page; 303 back to the page, or the new
                              state as JSON when the page's script asks for it
    POST /v/s/callback|push   after "Talk to a person": call me back; a form (or
                              card) an agent pushed, answered (see handoff_page.py)
    POST /v/api/send-link     the flow asks to text the caller a link (see links.py)

A step on the page is an event for the journey's session (``handle.submit``). On a
call the session takes it between two AGI commands, a few milliseconds later; the
POST waits (bounded) until it has, so that the page it answers with, with or
without JavaScript, already shows the step's effect.

Opening a link takes two requests on purpose: a GET that uses nothing (message
apps fetch links to draw previews) and a POST, sent by the page's one-line script
or by the button on it, that uses the token.

A POST sent by another site's page is refused (engine/webedge.py): the page's
cookie is SameSite=Lax, which keeps it from being sent with such a POST, but not
a cookie from being set by its answer (a link of someone else's journey, used by
a page elsewhere, would have put this browser on their call).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDictProxy

from engine import webbody, webedge
from engine.config import Settings
from engine.handoff.hub import HandoffHub
from engine.logs import CALL
from engine.runtime import Engine, SessionHandle
from engine.session import events as ev
from engine.webcall import WebOnlyCall
from visual_ivr.agent import handoff_hub_of
from visual_ivr.handoff_page import HandoffForms, following, handoff_part
from visual_ivr.links import LinkService
from visual_ivr.pages import Pages
from visual_ivr.presence import Presence
from visual_ivr.push import Hub
from visual_ivr.screens import Handoff, Screen, Screens
from visual_ivr.sms import SmsSender, sender_from_settings
from visual_ivr.stream import PageStreams
from visual_ivr.texts import PAGE_LANGS, TEXTS, text
from visual_ivr.tokens import LinkTokens, PageCookies, PageVisit

log = logging.getLogger(__name__)

COOKIE = "ivr_page"
# A journey begins on the second request for /v/<flow>, the one that brings this
# cookie back: a link preview, an uptime check or a crawler (no cookies, or a HEAD)
# gets the redirect and no journey, which would count in the report as abandoned.
START_COOKIE = "ivr_start"
SUBMIT_WAIT_S = 3.0  # how long a step waits for the call to take it
MAX_FORM_BYTES = 4096
MAX_VALUE = MAX_FORM_BYTES  # an input's value is never cut: the session judges its length
_FLOW_NAME = "{flow:[A-Za-z0-9_.-]+}"


class VisualIvr:
    """The visual IVR of one engine: its pages, links, cookies and open pages."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        sender: SmsSender | None = None,
        base: str = "/v",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.base = base
        self.pages = Pages(base)
        self.screens = Screens(
            self.pages, lambda name: engine.flows.snapshot.get(name), settings.human_phone, base
        )
        self.hub = Hub()
        self.presence = Presence()  # which pages of a journey are in view
        self.streams = PageStreams(self)
        self.forms = HandoffForms()
        self.tokens = LinkTokens(settings.link_ttl_s, clock)
        self.cookies = PageCookies(clock=clock)
        self.sender = sender if sender is not None else sender_from_settings(settings)
        self.links = LinkService(
            engine,
            self.tokens,
            self.sender,
            settings.mobile_pattern,
            settings.link_resend_s,
            base,
            clock,
        )
        # Web-only journeys one client may start a minute (behind a trusted proxy,
        # the client X-Forwarded-For names: otherwise one client would stop everyone).
        self._starts = _RateLimit(settings.web_starts_per_minute, 60.0, clock)
        self._proxies = webedge.networks(settings.trusted_proxies)
        engine.listeners.append(self.hub.on_update)

    def app(self) -> web.Application:
        refuse = webedge.same_origin_only(self.settings.public_url, self._cross_site)
        app = web.Application(middlewares=[refuse, self._no_such_page])
        app[VISUAL_KEY] = self
        app.cleanup_ctx.append(self._lifetime)
        app.on_response_prepare.append(_not_framed)
        app.on_shutdown.append(self._on_shutdown)
        r = app.router
        r.add_get("/s", self.page)
        r.add_get("/s/events", self.streams.events)
        r.add_post("/s/away", self.streams.away)
        r.add_get("/s/here", self.streams.here)
        r.add_post("/s/choose", self.choose)
        r.add_post("/s/submit", self.submit)
        r.add_post("/s/nav", self.navigate)
        r.add_post("/s/lang", self.language)
        r.add_post("/s/human", self.human)
        r.add_post("/s/callback", self.call_back)
        r.add_post("/s/push", self.answer_push)
        r.add_get("/l/{token}", self.open_link)
        r.add_post("/l/{token}", self.use_link)
        r.add_post("/api/send-link", self.send_link)
        r.add_get("/" + _FLOW_NAME, self.start)
        return app

    @web.middleware
    async def _no_such_page(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """An address under /v that is no page: said in the reader's language, as a
        page, not aiohttp's bare "404: Not Found"."""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            lang = _preferred(request, PAGE_LANGS)
            return self._message(request, 404, lang, "not_found", [])

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        if self.hub.on_update in self.engine.listeners:
            self.engine.listeners.remove(self.hub.on_update)
        await self.sender.close()

    async def _on_shutdown(self, app: web.Application) -> None:
        self.hub.close()  # open event streams end, so the server can stop

    # ------------------------------------------------------------ ways in

    async def start(self, request: web.Request) -> web.StreamResponse:
        """Web first: a new journey in ``flow`` (or the one this browser has open)."""
        flow = request.match_info["flow"]
        visit, handle = self.visit_of(request)
        if visit is not None and visit.flow == flow and handle is not None:
            session = handle.session
            # Sent to a person with no call: their reference and the call-back form
            # stay theirs when they come back to the flow's address (the page's own
            # "start again" says ?again).
            waiting = not handle.voice and (session.outcome or "").startswith("transfer:")
            if not session.done or (waiting and "again" not in request.query):
                return self._see_page()
        snapshot = self.engine.flows.snapshot.get(flow)
        lang = _preferred(request, snapshot.languages if snapshot else PAGE_LANGS)
        if snapshot is None:
            return self._message(request, 404, lang, "not_found", [])
        if request.method == "HEAD":
            return web.Response(headers={"Cache-Control": "no-store"})
        if request.cookies.get(START_COOKIE) != flow:
            return self._start_with_cookie(request, flow, lang)
        client = webedge.client_address(request, self._proxies)
        if not self._starts.allow(webedge.client_site(client)):
            busy = self._message(request, 429, lang, "busy", [])
            busy.headers["Retry-After"] = "60"  # the window the starts are counted in
            return busy
        started = self.engine.start_web_session(flow, lang)
        if started is None:
            return self._message(request, 404, lang, "not_found", [])
        response = self._see_page()
        self._set_cookie(request, response, self.cookies.open(started.session.call.call_id, flow))
        response.del_cookie(START_COOKIE, path=self.base)
        return response

    def _start_with_cookie(self, request: web.Request, flow: str, lang: str) -> web.Response:
        """Back to the same address with a cookie that says a browser asked for it
        (a client that keeps none comes back without it: no journey for it)."""
        if "started" in request.query:  # it was set, and did not come back
            return self._message(request, 400, lang, "cookies", [text(lang, "cookies_line")])
        again = "&again" if "again" in request.query else ""  # a new journey, still
        response = web.Response(
            status=303,
            headers={
                "Location": f"{self.base}/{flow}?started{again}",
                "Cache-Control": "no-store",
            },
        )
        self._set_cookie(request, response, flow, START_COOKIE, max_age=60)
        return response

    async def open_link(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        check = self.tokens.check(token)
        if self._already_in(request, check.journey):
            return self._see_page()  # the text tapped again, in the browser that used it
        lang = self._journey_lang(check.journey) or _preferred(request, PAGE_LANGS)
        if not check.ok:
            return self._link_refused(request, lang, check.status)
        body = self.pages.message(
            lang,
            text(lang, "open_heading"),
            [text(lang, "open_line")],
            form={"action": f"{self.base}/l/{token}", "label": text(lang, "open_button")},
            script=True,
        )
        return self._html(body)

    async def use_link(self, request: web.Request) -> web.StreamResponse:
        result = self.tokens.redeem(request.match_info["token"])
        if not result.ok and self._already_in(request, result.journey):
            return self._see_page()
        lang = self._journey_lang(result.journey) or _preferred(request, PAGE_LANGS)
        handle = self.engine.sessions.get(result.journey) if result.ok else None
        if handle is None:
            return self._link_refused(request, lang, result.status if not result.ok else "expired")
        flow = _root_flow_name(handle)
        response = self._see_page()
        self._set_cookie(request, response, self.cookies.open(result.journey, flow))
        return response

    async def send_link(self, request: web.Request) -> web.Response:
        body = await webbody.json_body(request)
        journey = body.get("journey") if isinstance(body, dict) else None
        if not isinstance(journey, str) or not journey:
            return web.json_response({"ok": False, "reason": "no journey"}, status=400)
        public = self.settings.public_url or str(request.url.origin())
        result = await self.links.send(journey, public)
        return web.json_response({"ok": result.ok, "reason": result.reason})

    # ------------------------------------------------------------ the page

    async def page(self, request: web.Request) -> web.StreamResponse:
        visit, handle = self.visit_of(request)
        if visit is None:
            return self._no_session(request)
        if handle is None:
            return self._ended(request, visit)
        return self._html(self._screen(request, handle, visit).page)

    # ------------------------------------------------------------ steps on the page

    async def choose(self, request: web.Request) -> web.StreamResponse:
        return await self._step(
            request,
            lambda form, _: ev.WebChoose(_field(form, "node"), _field(form, "key", 4), _at(form)),
        )

    async def submit(self, request: web.Request) -> web.StreamResponse:
        return await self._step(
            request,
            # Longer than any input takes (the session refuses it), not cut to fit.
            lambda form, _: ev.WebSubmit(
                _field(form, "node"), _field(form, "value", MAX_VALUE), _at(form)
            ),
        )

    async def navigate(self, request: web.Request) -> web.StreamResponse:
        def event(form: MultiDictProxy[Any], handle: SessionHandle) -> ev.Event | None:
            where = _field(form, "where")
            return ev.WebNavigate("back" if where == "back" else "home")

        return await self._step(request, event)

    async def language(self, request: web.Request) -> web.StreamResponse:
        def event(form: MultiDictProxy[Any], handle: SessionHandle) -> ev.Event | None:
            lang = _field(form, "lang", 8)
            session = handle.session
            if lang not in session.flow.languages or lang == session.lang:
                return None
            return ev.WebLanguage(lang)

        return await self._step(request, event)

    async def human(self, request: web.Request) -> web.StreamResponse:
        return await self._step(request, lambda form, _: ev.WebHuman())

    async def _step(
        self,
        request: web.Request,
        make: Callable[[MultiDictProxy[Any], SessionHandle], ev.Event | None],
    ) -> web.StreamResponse:
        visit, handle = self.visit_of(request)
        if visit is None:
            return self._no_session(request)
        if handle is None:
            return self._ended(request, visit)
        if (request.content_length or 0) > MAX_FORM_BYTES:
            return web.Response(status=413)
        form = await webbody.form(request)
        if form is None:
            return web.Response(status=400, text="the form could not be read")
        event = make(form, handle)
        if event is not None and not handle.session.done:
            await self._take(visit.journey, handle, event)
        return self._answer(request, handle, visit)

    def _answer(
        self, request: web.Request, handle: SessionHandle, visit: PageVisit
    ) -> web.Response:
        """After a step: the new state as JSON for the page's script, else 303."""
        if "application/json" in request.headers.get("Accept", ""):
            return web.Response(
                body=self._screen(request, handle, visit).update,
                content_type="application/json",
                headers={"Cache-Control": "no-store"},
            )
        return self._see_page()

    # ------------------------------------------------------------ after "Talk to a person"

    async def call_back(self, request: web.Request) -> web.StreamResponse:
        async def act(hub: HandoffHub, journey: str, form: MultiDictProxy[Any]) -> None:
            await self.forms.call_back(hub, journey, _field(form, "number", 40))

        return await self._handoff_step(request, act)

    async def answer_push(self, request: web.Request) -> web.StreamResponse:
        async def act(hub: HandoffHub, journey: str, form: MultiDictProxy[Any]) -> None:
            values = {
                key[2:]: _field(form, key, 400)
                for key in form
                if key.startswith("f_") and len(key) <= 40
            }
            await self.forms.answer(hub, journey, _field(form, "push", 16), values)

        return await self._handoff_step(request, act)

    async def _handoff_step(
        self,
        request: web.Request,
        act: Callable[[HandoffHub, str, MultiDictProxy[Any]], Awaitable[None]],
    ) -> web.StreamResponse:
        visit, handle = self.visit_of(request)
        if visit is None:
            return self._no_session(request)
        if handle is None:
            return self._ended(request, visit)
        hub = handoff_hub_of(request)
        if hub is None:
            raise web.HTTPNotFound()
        if (request.content_length or 0) > MAX_FORM_BYTES:
            return web.Response(status=413)
        form = await webbody.form(request)
        if form is None:
            return web.Response(status=400, text="the form could not be read")
        await act(hub, visit.journey, form)
        return self._answer(request, handle, visit)

    async def _take(self, journey: str, handle: SessionHandle, event: ev.Event) -> None:
        """Submit ``event`` and wait (bounded) until the session has taken it (every
        web step leaves an ``input`` with source ``web`` in the trail, or counts as
        refused past those kept) and the trail is stored."""
        session = handle.session
        before, refused = len(session.trail), session.refused_on_web
        handle.submit(event)

        def taken() -> bool:
            return session.done or session.refused_on_web > refused or any(
                e.kind == "input" and e.data.get("source") == "web" for e in session.trail[before:]
            )

        if not await self.hub.until(journey, taken, SUBMIT_WAIT_S):
            log.warning("journey %s: the call did not take a web step in time", journey)
            return
        try:
            async with asyncio.timeout(SUBMIT_WAIT_S):
                await handle.saved()  # the trail holds the step before the page says so
        except TimeoutError:
            log.warning("journey %s: the trail was slow to store a web step", journey)

    # ------------------------------------------------------------ helpers

    def _screen(self, request: web.Request, handle: SessionHandle, visit: PageVisit) -> Screen:
        handoff = self.handoff_of(handoff_hub_of(request), handle, visit)
        return self.screens.of(handle, visit, handoff)

    def handoff_of(
        self, hub: HandoffHub | None, handle: SessionHandle, visit: PageVisit
    ) -> Handoff | None:
        """The handoff's part of the page, once the journey asked for a person."""
        session = handle.session
        if hub is None or not following(session):
            return None
        status = hub.status(visit.journey)
        asked = self.forms.of(visit.journey)
        t = TEXTS.get(session.lang, TEXTS["en"])
        part = handoff_part(status, asked, handle.voice, t)
        return Handoff((status["version"], asked.revision), part)

    def visit_of(self, request: web.Request) -> tuple[PageVisit | None, SessionHandle | None]:
        visit = self.cookies.get(request.cookies.get(COOKIE))
        if visit is None:
            return None, None
        CALL.set(visit.journey)  # this request's log records name the journey
        handle = self.engine.sessions.get(visit.journey)
        if isinstance(handle, WebOnlyCall):
            handle.touch()  # its person is still on the page: the engine keeps it
        if handle is not None:
            visit.lang = handle.session.lang  # to say "ended" in it, once it has
        return visit, handle

    def _already_in(self, request: web.Request, journey: str) -> bool:
        """This browser's page cookie is for ``journey``, which is still there."""
        visit, handle = self.visit_of(request)
        mine = visit is not None and visit.journey == journey
        return bool(journey) and mine and handle is not None

    def _journey_lang(self, journey: str) -> str | None:
        handle = self.engine.sessions.get(journey) if journey else None
        return handle.session.lang if handle is not None else None

    def _see_page(self) -> web.Response:
        return web.Response(
            status=303, headers={"Location": f"{self.base}/s", "Cache-Control": "no-store"}
        )

    def _set_cookie(
        self,
        request: web.Request,
        response: web.Response,
        value: str,
        name: str = COOKIE,
        max_age: int | None = None,
    ) -> None:
        """The page's cookie: Secure wherever the page is served over https (here, or
        behind a proxy, or as the public address says); over plain http (the demo
        opened from a phone on the LAN) a browser would drop a Secure cookie, and the
        page would ask for a link it has just been given."""
        secure = (
            request.secure
            or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
            or self.settings.public_url.lower().startswith("https:")
        )
        response.set_cookie(
            name, value, path=self.base, secure=secure, httponly=True, samesite="Lax",
            max_age=max_age,
        )

    def page_headers(self, in_own_frame: bool = False) -> dict[str, str]:
        """A page's headers: its own styles and scripts only, never cached, no
        referrer, framed by no other page (``in_own_frame``: the no-JavaScript
        presence frame, which the page itself holds)."""
        return {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Security-Policy": self.pages.frame_csp if in_own_frame else self.pages.csp,
            "X-Frame-Options": "SAMEORIGIN" if in_own_frame else "DENY",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        }

    def _html(self, body: str | bytes, status: int = 200) -> web.Response:
        return web.Response(
            body=body.encode("utf-8") if isinstance(body, str) else body,
            status=status,
            headers=self.page_headers(),
        )

    def _message(
        self,
        request: web.Request,
        status: int,
        lang: str,
        heading: str,
        lines: list[str],
        link: dict[str, str] | None = None,
    ) -> web.Response:
        body = self.pages.message(lang, text(lang, heading), lines, link=link)
        return self._html(body, status)

    def _link_refused(self, request: web.Request, lang: str, status: str) -> web.Response:
        heading = {"used": "used", "expired": "expired"}.get(status, "invalid_link")
        code = 404 if heading == "invalid_link" else 410
        return self._message(request, code, lang, heading, [text(lang, "link_help")])

    def _cross_site(self, request: web.Request) -> web.Response:
        lang = _preferred(request, PAGE_LANGS)
        return self._message(request, 403, lang, "cross_site", [text(lang, "no_session_line")])

    def _no_session(self, request: web.Request) -> web.Response:
        lang = _preferred(request, PAGE_LANGS)
        return self._message(request, 401, lang, "no_session", [text(lang, "no_session_line")])

    def _ended(self, request: web.Request, visit: PageVisit) -> web.Response:
        """The journey is over: said in its own language, as its pages were."""
        lang = _preferred(request, PAGE_LANGS)
        if visit.lang in PAGE_LANGS and "lang" not in request.query:
            lang = visit.lang
        link = {"href": f"{self.base}/{visit.flow}", "label": text(lang, "start_again")}
        return self._message(request, 410, lang, "ended", [], link=link)


VISUAL_KEY = web.AppKey("visual_ivr", VisualIvr)


async def _not_framed(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer under /v (redirects, JSON, errors too) is shown in no other
    site's frame, for browsers that read X-Frame-Options but not the CSP's
    frame-ancestors."""
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


class _RateLimit:
    """At most ``count`` per ``per_s`` seconds for each key (a fixed window)."""

    def __init__(self, count: int, per_s: float, clock: Callable[[], float]) -> None:
        self._count = count
        self._per_s = per_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def allow(self, key: str) -> bool:
        now = self._clock()
        if len(self._windows) > 10_000:
            self._windows = {k: w for k, w in self._windows.items() if now - w[0] < self._per_s}
        start, used = self._windows.get(key, (now, 0))
        if now - start >= self._per_s:
            start, used = now, 0
        if used >= self._count:
            return False
        self._windows[key] = (start, used + 1)
        return True


def _at(form: MultiDictProxy[Any]) -> int | None:
    """The visit a form was drawn at; None from a form without one (not checked)."""
    text = _field(form, "at", 10)
    return int(text) if text.isascii() and text.isdigit() else None


def _field(form: MultiDictProxy[Any], name: str, limit: int = 100) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


_LANG_RANGE = re.compile(r"\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q=([0-9.]+))?")


def _preferred(request: web.Request, available: tuple[str, ...]) -> str:
    """The first of ``available`` the browser asks for (``?lang=`` wins)."""
    asked = request.query.get("lang", "")
    if asked in available:
        return asked
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(request.headers.get("Accept-Language", "").split(",")[:20]):
        match = _LANG_RANGE.fullmatch(item)
        if match:
            try:
                q = float(match.group(2) or 1)
            except ValueError:
                continue
            ranked.append((-q, index, match.group(1).lower()))
    for _, _, lang in sorted(ranked):
        if lang in available:
            return lang
    return available[0] if available else "en"


def _root_flow_name(handle: SessionHandle) -> str:
    start = handle.session.trail[0] if handle.session.trail else None
    if start is not None and start.kind == "start":
        return str(start.data.get("flow", handle.session.flow.name))
    return handle.session.flow.name
