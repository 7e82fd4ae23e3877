"""The page's live side: its server-sent event stream, and whether it is in view.

``GET /v/s/events`` sends the page's state each time the journey moves (rendered once
per change by :mod:`.screens`, shared by every open page), a comment every
``HEARTBEAT_S`` for proxies and dead peers, and ``event: end`` when nothing more can
change. The stream is open while the page is in view (page.js closes it when the page
is hidden), so its opening and closing are the page coming into and out of view, which
the session hears as ``PageSeen`` (see :mod:`.presence`); ``POST /v/s/away`` is the
page's beacon when it is hidden. A page without JavaScript has no stream: its
``<noscript>`` frame loads ``GET /v/s/here``, held open the same way while the page
is shown, so that the call holds for it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from engine import webbody
from engine.handoff.hub import HandoffHub
from engine.session import events as ev
from visual_ivr.agent import handoff_hub_of
from visual_ivr.handoff_page import follow
from visual_ivr.push import Watcher
from visual_ivr.tokens import PageVisit

if TYPE_CHECKING:
    from visual_ivr.app import VisualIvr

HEARTBEAT_S = 20.0  # an event stream says something this often (proxies, dead peers)
GONE_CHECK_S = 1.0  # how soon a closed event stream is noticed (the call holds for it)
WRITE_TIMEOUT_S = 10.0


class PageStreams:
    def __init__(self, visual: VisualIvr) -> None:
        self._visual = visual

    async def events(self, request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store"}
        return await self._serve(request, headers, self._stream)

    async def here(self, request: web.Request) -> web.StreamResponse:
        """A page without JavaScript in view: its ``<noscript>`` frame loads this, which
        stays open while the page is shown. No visibility to go by: it ends when the
        page is left (closed, or another page of the journey loaded)."""
        headers = self._visual.page_headers(in_own_frame=True)
        return await self._serve(request, headers, self._keep)

    async def _serve(
        self, request: web.Request, headers: dict[str, str], body: _Body
    ) -> web.StreamResponse:
        visit, handle = self._visual.visit_of(request)
        if visit is None or handle is None:
            return web.Response(status=204)  # an event source stops asking
        if self._visual.hub.full(visit.journey):
            return web.Response(status=204)
        response = web.StreamResponse(headers={**headers, "X-Accel-Buffering": "no"})
        handoff = handoff_hub_of(request)
        with self._visual.hub.watch(visit.journey) as watcher:
            # The handoff's changes (the queue moving) come from the hub, not the session.
            following_task = (
                asyncio.get_running_loop().create_task(follow(handoff, visit.journey, watcher))
                if handoff is not None
                else None
            )
            # The stream is open while the page is in view (page.js closes it when the
            # page is hidden): the voice side holds for the caller meanwhile.
            page, new = self._visual.presence.arrive(
                visit.journey, _page_id(request), watcher, _stream_number(request.query.get("n"))
            )
            if new:
                handle.submit(ev.PageSeen(True))
            try:
                await response.prepare(request)
                await body(request, response, watcher, visit, handoff)
            except (ConnectionError, TimeoutError):
                pass  # the page went away
            finally:
                if self._visual.presence.leave(visit.journey, page, watcher):
                    handle.submit(ev.PageSeen(False))
                if following_task is not None:
                    following_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await following_task
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        watcher: Watcher,
        visit: PageVisit,
        handoff: HandoffHub | None,
    ) -> None:
        """Send the page's state each time it changes, until nothing more can."""
        visual = self._visual
        last = request.query.get("h", "")
        await self._write(response, b"retry: 1000\n\n")
        while not watcher.closed:
            current = self._visual.engine.sessions.get(visit.journey)
            if current is None:
                break
            screen = visual.screens.of(current, visit, visual.handoff_of(handoff, current, visit))
            if screen.digest != last:
                last = screen.digest
                await self._write(response, b"data: " + screen.update + b"\n\n")
            if screen.done:
                break
            if not await _changed(watcher, request):
                await self._write(response, b": still here\n\n")
        await self._write(response, b"event: end\ndata: {}\n\n")

    async def _keep(
        self,
        request: web.Request,
        response: web.StreamResponse,
        watcher: Watcher,
        visit: PageVisit,
        handoff: HandoffHub | None,
    ) -> None:
        """Say nothing but that the connection lives, until the journey ends."""
        await self._write(response, b"<!doctype html><title>-</title>\n")
        while not watcher.closed:
            current = self._visual.engine.sessions.get(visit.journey)
            if current is None or current.session.done:
                break
            if not await _changed(watcher, request):
                await self._write(response, b"<!-- still here -->\n")

    async def away(self, request: web.Request) -> web.Response:
        """The page went out of view (a beacon from page.js): its stream ends now,
        though the server could not yet tell its connection is dead."""
        visit, _ = self._visual.visit_of(request)
        if visit is not None and (request.content_length or 0) <= 64:
            body = await webbody.text(request) or ""
            page, _, number = body.partition(".")  # "<page>.<stream>"
            presence = self._visual.presence
            presence.away(visit.journey, _page_id(request, page), _stream_number(number))
        return web.Response(status=204)

    @staticmethod
    async def _write(response: web.StreamResponse, data: bytes) -> None:
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await response.write(data)


_Body = Callable[
    [web.Request, web.StreamResponse, Watcher, PageVisit, HandoffHub | None], Awaitable[None]
]
_PAGE_ID = re.compile(r"[0-9A-Za-z]{8,32}")


def _page_id(request: web.Request, given: str | None = None) -> str:
    """The id page.js gave its document (``?p=``, or a beacon's body); '' if none."""
    page = request.query.get("p", "") if given is None else given.strip()
    return page if _PAGE_ID.fullmatch(page) else ""


def _stream_number(text: str | None) -> int:
    """Which of its page's streams (page.js counts them; 0 if not given)."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 9:
        return 0
    return int(text)


async def _changed(watcher: Watcher, request: web.Request) -> bool:
    """Wait for the journey to change: True when it did, False after ``HEARTBEAT_S``
    of quiet. Raises ConnectionResetError when the page has gone (aiohttp tells a
    handler nothing of that until it writes), within ``GONE_CHECK_S``."""
    loop = asyncio.get_running_loop()
    until = loop.time() + HEARTBEAT_S
    while (left := until - loop.time()) > 0:
        if await watcher.wait(min(left, GONE_CHECK_S)):
            return True
        if request.transport is None or request.transport.is_closing():
            raise ConnectionResetError("the page went away")
    return False
