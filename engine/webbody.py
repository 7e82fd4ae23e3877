"""Reading a request's body as a hostile client may send it.

aiohttp raises on a body it cannot decode (``charset=bogus``: LookupError; bytes
that are not UTF-8: UnicodeDecodeError; a multipart body with no boundary or cut
short: ValueError) and on a client gone half way (ConnectionResetError). Each of
those is the client's mistake, not the server's: these readers return None, and
the route answers 400 instead of a 500 with a traceback in the log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

_UNREADABLE = (ValueError, LookupError, ConnectionResetError)


async def form(request: web.Request) -> MultiDictProxy[Any] | None:
    """The posted form, or None if it cannot be read."""
    try:
        return await request.post()
    except _UNREADABLE:
        return None


async def json_body(request: web.Request) -> object | None:
    """The JSON body, or None if it is not JSON (or cannot be read)."""
    try:
        body: object = await request.json()
    except _UNREADABLE:
        return None
    return body


async def text(request: web.Request) -> str | None:
    """The body as text, or None if it cannot be read."""
    try:
        return await request.text()
    except _UNREADABLE:
        return None
