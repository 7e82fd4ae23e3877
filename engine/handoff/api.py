"""The caller page's side of the handoff: JSON under ``/handoff/<journey>``.

    GET  /handoff/<journey>                   where the caller is: self-service,
         ?version=<n>&wait=<s>                 calling back, queued (position, callers
                                               waiting, estimated wait), connected; what
                                               agents pushed. With ``version``, waits up
                                               to ``wait`` seconds (max 25) for a change.
    POST /handoff/<journey>/callback          {"number": "+1 555 010 0199"}: call me back
    POST /handoff/<journey>/pushes/<id>       {"values": {"field": "..."}}: a pushed form
                                               answered (a card: {} marks it seen)

The journey id (96 random bits after the second it began) is the key to a journey
here; a page that holds its own session cookie can instead call :class:`HandoffHub`
methods directly (the visual IVR's page does). What is answered here is not to be
cached (``Cache-Control: no-store``), and a call-back's number shows its last four
digits only: whoever holds the id learns no more of the caller's phone than that.
Errors are ``{"error": "..."}`` with a status: 404 unknown journey or page, 400
invalid (with ``problems`` per field for a form, ``reason`` for a number), 409
not now (a call-back for a journey that has not asked for a person: ``reason``
``no_person``), 429 too often (with ``retry_after_s``; ``reason`` ``busy``: the
call-backs of the minute, all journeys', are placed), 503 Asterisk unreachable.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from engine import webbody
from engine.handoff.hub import JOURNEY_ID, HandoffError, HandoffHub
from engine.logs import masked

HUB_KEY = web.AppKey("handoff_hub", HandoffHub)
MAX_WAIT_S = 25.0


def _journey(request: web.Request) -> str:
    journey = request.match_info["journey"]
    if not JOURNEY_ID.fullmatch(journey) or not request.app[HUB_KEY].has_journey(journey):
        raise web.HTTPNotFound(text='{"error": "no such journey"}', content_type="application/json")
    return journey


async def _body(request: web.Request) -> dict[str, Any]:
    data = await webbody.json_body(request)
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text='{"error": "expected a JSON object"}', content_type="application/json"
        )
    return data


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})


def _shown(status: dict[str, Any]) -> dict[str, Any]:
    """The hub's status of a journey, its call-back number masked."""
    callback = status.get("callback")
    if not callback:
        return status
    return {**status, "callback": {**callback, "number": masked(callback["number"], keep=4)}}


def _error(exc: HandoffError) -> web.Response:
    return _json({"error": str(exc), **exc.extra}, status=exc.status)


async def status(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    journey = _journey(request)
    version = request.query.get("version")
    # ASCII digits, and few: "²" is a digit to isdigit() but not to int(), and int()
    # refuses more than 4,300 digits.
    if version is None or not (version.isascii() and version.isdigit()) or len(version) > 18:
        return _json(_shown(hub.status(journey)))
    try:
        wait = min(float(request.query.get("wait", MAX_WAIT_S)), MAX_WAIT_S)
    except ValueError:
        wait = MAX_WAIT_S
    if not math.isfinite(wait):  # "nan"
        wait = MAX_WAIT_S
    return _json(_shown(await hub.wait_status(journey, int(version), max(wait, 0.0))))


async def callback(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    journey = _journey(request)
    number = (await _body(request)).get("number")
    if not isinstance(number, str):
        return _json({"error": "number: text"}, status=400)
    try:
        return _json(_shown(await hub.callback(journey, number)), status=202)
    except HandoffError as exc:
        return _error(exc)


async def answer(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    journey = _journey(request)
    values = (await _body(request)).get("values", {})
    if not isinstance(values, dict):
        return _json({"error": "values: an object"}, status=400)
    try:
        await hub.answer(journey, request.match_info["push"], values)
    except HandoffError as exc:
        return _error(exc)
    return _json(_shown(hub.status(journey)))


def handoff_api(hub: HandoffHub) -> web.Application:
    app = web.Application(client_max_size=16 * 1024)
    app[HUB_KEY] = hub
    app.router.add_get("/{journey}", status)
    app.router.add_post("/{journey}/callback", callback)
    app.router.add_post("/{journey}/pushes/{push}", answer)
    return app
