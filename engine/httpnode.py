"""Carries out a flow's http node: one JSON request with a deadline, never raises."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from engine.session.events import HttpDone, HttpRequest

MAX_RESPONSE_BYTES = 1024 * 1024


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
                raw = await response.content.read(MAX_RESPONSE_BYTES + 1)
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
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return done(False, status, None, "response is not JSON")
    return done(True, status, data)
