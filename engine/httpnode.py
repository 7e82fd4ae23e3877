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
import urllib.parse

import aiohttp
from yarl import URL

from engine.session.events import HttpDone, HttpRequest

MAX_RESPONSE_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
_MOVED = frozenset({301, 302, 303, 307, 308})


MAX_CONNECTIONS = 1000  # at once, all backends: aiohttp's default of 100 timed calls out


def client() -> aiohttp.ClientSession:
    """The engine's client for http nodes. It keeps no cookies: a cookie one
    caller's request was given must not go out with the next caller's (and a
    shared jar grows without bound). Every call in progress may be waiting on a
    backend at once: with aiohttp's default of 100 connections, the 101st of 150
    calls to a backend answering in 3 s waited for a connection until it timed out."""
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


async def perform(client: aiohttp.ClientSession, request: HttpRequest) -> HttpDone:
    """The request's result as an event: ``ok`` with the parsed JSON body, or an
    ``error`` (timeout, connection refused, status 4xx/5xx, a body that isn't JSON)."""
    started = time.monotonic()

    def done(ok: bool, status: int, data: object, error: str = "") -> HttpDone:
        elapsed = time.monotonic() - started
        return HttpDone(request.request_id, ok, status, data, error, elapsed)

    if _climbs(request.url):
        return done(False, 0, None, "the URL's path has a '..' or '.' segment")
    try:
        async with asyncio.timeout(request.timeout_s):
            method, url = request.method, URL(request.url)
            body = request.body if method != "GET" else None
            for _ in range(MAX_REDIRECTS + 1):
                async with client.request(
                    method, url, json=body, headers=request.headers, allow_redirects=False
                ) as response:
                    status = response.status
                    location = response.headers.get("Location") if status in _MOVED else None
                    if location is None:
                        raw = await _body(response)
                        break
                # Followed within the same origin only (scheme, host and port; http to
                # https on the same host too): a redirect elsewhere would take the
                # request (a PIN in its body or URL) to a server the flow never named,
                # another port of the same host included, or off TLS.
                target = url.join(URL(location))
                if not _same_origin(url, target):
                    return done(False, status, None, f"redirected to another host ({status})")
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, body = "GET", None  # as browsers do; 307 and 308 keep both
                url = target
            else:
                return done(False, status, None, "too many redirects")
    except TimeoutError:
        return done(False, 0, None, "timeout")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return done(False, 0, None, why_unreachable(exc))
    if len(raw) > MAX_RESPONSE_BYTES:
        return done(False, status, None, "response too large")
    if not 200 <= status < 300:
        # A backend's own word on what went wrong ({"reason": "no such meter"}), kept
        # for the flow to branch on or say when it is JSON.
        try:
            said = _json(raw) if raw.strip() else None
        except (ValueError, RecursionError):
            said = None
        return done(False, status, said, f"status {status}")
    try:
        data = _json(raw) if raw.strip() else {}
    except ValueError:
        return done(False, status, None, "response is not JSON")
    except RecursionError:
        return done(False, status, None, "response nested too deeply")
    return done(True, status, data)


def _json(raw: bytes) -> object:
    data = json.loads(raw, parse_constant=_not_json)
    # What the trail, the page and the desktop can carry: no Infinity (1e400 parses
    # to it), no half characters ("\ud800" escapes parse to them).
    json.dumps(data, ensure_ascii=False, allow_nan=False).encode()
    return data


def _climbs(url: str) -> bool:
    """A path with a "." or ".." segment, which the client resolves before sending:
    a value put into the path ("{{ r.area }}" being "../../admin") would reach
    another endpoint than the one the flow names. (``urlencode`` leaves "." and "/".)"""
    path = urllib.parse.urlsplit(url).path
    return any(urllib.parse.unquote(part) in (".", "..") for part in path.split("/"))


def _same_origin(url: URL, target: URL) -> bool:
    if target.host != url.host or target.scheme not in ("http", "https"):
        return False
    if target.scheme == url.scheme:
        return target.port == url.port
    return url.scheme == "http" and target.scheme == "https" and target.is_default_port()


def why_unreachable(exc: Exception) -> str:
    """In words a designer can branch on or read out, not the client's class names."""
    match exc:
        case aiohttp.InvalidURL() | ValueError():
            return "unreachable: not a URL"
        case aiohttp.ClientConnectorDNSError():
            return "unreachable: host not found"
        case aiohttp.ClientConnectorCertificateError() | aiohttp.ClientSSLError():
            return "unreachable: TLS failed"
        case aiohttp.ClientConnectorError():
            return "unreachable: connection refused"
        case aiohttp.ServerDisconnectedError() | aiohttp.ClientPayloadError():
            return "unreachable: the server hung up"
        case _:
            return "unreachable"


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
