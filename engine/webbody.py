"""Reading a request's body as a hostile client may send it.

aiohttp raises on a body it cannot decode (``charset=bogus``: LookupError; bytes
that are not UTF-8: UnicodeDecodeError; a multipart body with no boundary or cut
short: ValueError), on JSON nested thousands deep (RecursionError) and on a client
gone half way (ConnectionResetError). Each of those is the client's mistake, not the
server's: these readers return None, and the route answers 400 instead of a 500
with a traceback in the log.

A body that takes longer than ``BODY_S`` to arrive is unreadable too: aiohttp has
no timeout of its own for it, and a client trickling a body a byte at a time would
hold its handler (and a file descriptor) for as long as it liked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy

BODY_S = 30.0
_UNREADABLE = (ValueError, LookupError, ConnectionResetError, TimeoutError, RecursionError)
T = TypeVar("T")


async def _read(body: Awaitable[T]) -> T | None:
    try:
        async with asyncio.timeout(BODY_S):
            return await body
    except _UNREADABLE:
        return None


async def form(request: web.Request) -> MultiDictProxy[Any] | None:
    """The posted form, or None if it cannot be read."""
    return await _read(request.post())


async def json_body(request: web.Request) -> object | None:
    """The JSON body, or None if it is not JSON (or cannot be read)."""
    return await _read(request.json())


async def text(request: web.Request) -> str | None:
    """The body as text, or None if it cannot be read."""
    return await _read(request.text())
