"""The agent desktop: one page and one WebSocket, at ``/agent``.

    GET /agent/        the desktop (sign in with an extension, then calls arrive)
    GET /agent/ws      ?ext=<extension>[&queues=support,billing]: the desktop's socket
    GET /agent/report  the supervisor's report (visual_ivr/agent/report_page.py)

Signing in is opening the socket: the hub adds the agent's device to the queues
and removes it when the last desktop of that extension has been closed for a
grace period. Messages (JSON):

    to the desktop    signed_in, offer {journey, handoff}, connected {journey[, handoff]},
                      withdrawn, trail {journey, entries}, ended, pushed, wrapup_saved,
                      found {reference, journeys: [handoff + reference]}, error
    from the desktop  {"type": "wrapup", "journey", "disposition", "resolved": bool, "note"}
                      {"type": "push", "journey", "push": {"kind": "card"|"form", ...}}
                      {"type": "find", "reference": "3F2A-91BC"}: a journey a caller
                      names by the reference their page gave them (a web-only journey
                      that ended "call us and give this reference")
                      {"type": "ping"}

Who may open it: the desktop shows callers' data, so it answers only clients from
``agent_networks`` (the contact centre's own; the sandbox: this machine; behind a
reverse proxy in ``trusted_proxies``, the client its X-Forwarded-For names), and a
socket only from a page of the same origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler

from engine import webedge
from engine.handoff.aftercall import DISPOSITION_LABELS
from engine.handoff.desks import Desk, SignInError
from engine.handoff.hub import HandoffError, HandoffHub
from engine.handoff.lookup import find_by_reference

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
HUB = web.AppKey("agent_hub", HandoffHub)
ENV = web.AppKey("agent_templates", jinja2.Environment)
# The reverse proxies whose X-Forwarded-For names the client.
PROXIES = web.AppKey("trusted_proxies", tuple[webedge.Network, ...])
MAX_MESSAGE = 64 * 1024
_PORT = re.compile(r"(:[0-9]{1,5})?")
MAX_REFERENCE = 64  # characters of a "find" the desktop takes


def _allowed(request: web.Request) -> bool:
    allowed = webedge.networks(request.app[HUB].settings.agent_networks)
    proxies = request.app[PROXIES]
    return webedge.client_within(request, allowed, proxies)


def require_agent_network(request: web.Request) -> None:
    if not _allowed(request):
        raise web.HTTPForbidden(text="the agent desktop is for the contact centre's network")
    name = _host_name(request.host)
    if not _known_name(name, request.app[HUB].settings.agent_hosts):
        raise web.HTTPForbidden(
            text=f"the agent desktop is not reached by the name {name!r}: add it to "
            "IVR_HANDOFF_AGENT_HOSTS (names, comma-separated) if it is yours"
        )


def _host_name(host: str) -> str:
    """The name in a Host header, without its port ("[::1]:8080" -> "::1"). Anything
    else after an IPv6 literal's "]" ("[::1]evil.example") leaves the header whole,
    which is no address and no known name."""
    if host.startswith("["):
        end = host.find("]")
        if end > 0 and _PORT.fullmatch(host[end + 1 :]):
            return host[1:end]
        return host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _known_name(name: str, names: tuple[str, ...]) -> bool:
    try:
        ipaddress.ip_address(name)
        return True  # an address: no name a page elsewhere could make resolve here
    except ValueError:
        pass
    return name.lower().rstrip(".") in ("localhost", *(n.lower() for n in names))


@web.middleware
async def agents_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything under /agent (page, socket, report, scripts) is for the contact
    centre's network, reached by an address or one of its own names."""
    require_agent_network(request)
    return await handler(request)


async def page(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    template = request.app[ENV].get_template("desktop.html")
    html = template.render(
        queues=hub.settings.agent_queues,
        dispositions=DISPOSITION_LABELS.items(),
        base=request.app.router["page"].url_for().path.rstrip("/"),
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser (a script of the contact centre's own)
    scheme, _, rest = origin.partition("://")
    return scheme.lower() in ("http", "https") and rest.lower() == request.host.lower()


async def socket(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        raise web.HTTPForbidden(text="cross-origin socket")
    hub = request.app[HUB]
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_MESSAGE)
    try:
        await ws.prepare(request)
    except ConnectionError:  # the client left during the handshake
        return ws
    ext = request.query.get("ext", "")
    queues = tuple(q for q in request.query.get("queues", "").split(",") if q)
    try:
        desk = await hub.desks.sign_in(ext, queues)
    except SignInError as exc:
        await ws.send_json({"type": "error", "message": str(exc)})
        await ws.close()
        return ws
    log.info("agent desktop: %s signed in from %s", ext, request.remote)
    writer = asyncio.get_running_loop().create_task(_write(ws, desk))
    try:
        await ws.send_json(
            {"type": "signed_in", "agent": desk.ext, "member": desk.member, "queues": desk.queues}
        )
        hub.resume(desk)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            reply = await _handle(hub, desk, message.data)
            if reply is not None:
                desk.put(reply)
    finally:
        hub.desk_closed(desk)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await writer
        log.info("agent desktop: %s closed", ext)
    return ws


async def _write(ws: web.WebSocketResponse, desk: Desk) -> None:
    while (message := await desk.next()) is not None:
        if ws.closed:
            return
        await ws.send_json(message)
    await ws.close()


async def _handle(hub: HandoffHub, desk: Desk, text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # the latter: nested thousands deep
        return {"type": "error", "message": "not JSON"}
    if not isinstance(data, dict):
        return {"type": "error", "message": "expected an object"}
    kind = data.get("type")
    journey = str(data.get("journey", ""))
    try:
        if kind == "ping":
            return {"type": "pong"}
        if kind == "wrapup":
            saved = await hub.wrapup(desk, journey, data)
            return {"type": "wrapup_saved", "journey": journey, "wrapup": saved}
        if kind == "find":
            # A reference is a dozen characters: what is echoed back is bounded too
            # (a desk that does not read queues up to its outbox's length of replies).
            text = str(data.get("reference", ""))[:MAX_REFERENCE]
            journeys = await find_by_reference(hub, text, desk)
            return {"type": "found", "reference": text, "journeys": journeys}
        if kind == "push":
            spec = data.get("push")
            if not isinstance(spec, dict):
                return {"type": "error", "message": "push: an object"}
            push = await hub.push(desk, journey, spec)
            return {"type": "pushed", "journey": journey, "push": push.as_json()}
    except HandoffError as exc:
        return {"type": "error", "journey": journey, "message": str(exc), "about": kind}
    return {"type": "error", "message": f"unknown message type {kind!r}"}


# The desktop and the report show callers' data: not to be framed by another page
# (clickjacking), cached, or run anything but their own files.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';"
    " img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none';"
    " frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def desktop_app(hub: HandoffHub, proxies: tuple[str, ...] = ()) -> web.Application:
    # No form posts here yet (the desktop talks over its socket, which checks its
    # Origin): any that come are refused when another site's page sends them.
    app = web.Application(middlewares=[agents_only, webedge.same_origin_only()])
    app.on_response_prepare.append(_secure)
    app[HUB] = hub
    app[PROXIES] = webedge.networks(proxies)
    app[ENV] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    app.router.add_get("/", page, name="page")
    app.router.add_get("/ws", socket)
    app.router.add_static("/static", HERE / "static")
    return app
