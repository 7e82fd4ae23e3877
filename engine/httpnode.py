"""Carries out a flow's http node: one JSON request with a deadline, never raises.

The body is read to its end (a backend's response often comes in several chunks),
up to ``MAX_RESPONSE_BYTES``; it must be strict JSON (no NaN or Infinity, no lone
surrogates: the trail, the page and the agent's desktop could not carry them) and
nested no deeper than Python's parser can follow.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from engine.session.events import HttpDone, HttpRequest

MAX_RESPONSE_BYTES = 1024 * 1024


def client() -> aiohttp.ClientSession:
    """The engine's client for http nodes. It keeps no cookies: a cookie one
    caller's request was given must not go out with the next caller's (and a
    shared jar grows without bound)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def perform(client: aiohttp.ClientSession, request: HttpRequest) -> HttpDone:
    """The request's result as an event: ``ok`` with the parsed JSON body, or an
    ``error`` (timeout, connection refused, status 4xx/5xx, a body that isn't JSON)."""
    started = time.monotonic()

    def done(ok: bool, status: int, data: object, error: str = "") -> HttpDone:
        elapsed = time.monotonic() - started
        return HttpDone(request.request_id, ok, status, data, error, elapsed)

    try:
        async with asyncio.timeout(request.timeout_s):
            async with client.request(
                request.method, request.url, json=request.body if request.method != "GET" else None
            ) as response:
                raw = await _body(response)
                status = response.status
    except TimeoutError:
        return done(False, 0, None, "timeout")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return done(False, 0, None, f"unreachable: {type(exc).__name__}")
    if len(raw) > MAX_RESPONSE_BYTES:
        return done(False, status, None, "response too large")
    if not 200 <= status < 300:
        return done(False, status, None, f"status {status}")
    try:
        data = json.loads(raw, parse_constant=_not_json) if raw.strip() else {}
        # What the trail, the page and the desktop can carry: no Infinity (1e400
        # parses to it), no half characters ("\ud800" escapes parse to them).
        json.dumps(data, ensure_ascii=False, allow_nan=False).encode()
    except ValueError:
        return done(False, status, None, "response is not JSON")
    except RecursionError:
        return done(False, status, None, "response nested too deeply")
    return done(True, status, data)


async def _body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, or its first ``MAX_RESPONSE_BYTES + 1`` bytes."""
    raw = bytearray()
    while len(raw) <= MAX_RESPONSE_BYTES:
        chunk = await response.content.read(MAX_RESPONSE_BYTES + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    return bytes(raw)


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")
