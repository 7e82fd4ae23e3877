"""Test helpers for the visual IVR: a cookie-keeping HTTP client that shows each
redirect, a settable clock, and a stand-in call for journeys that need one."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from engine.session import events as ev
from engine.session.machine import Session


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    text: str
    cookies: SimpleCookie
    location: str = ""

    def json(self) -> Any:
        import json

        return json.loads(self.text)


@dataclass
class PageClient:
    """Like a browser without JavaScript: keeps the page cookie, follows nothing
    by itself (so each redirect and cookie can be checked)."""

    client: TestClient[Any, Any]
    cookie: str = ""
    start_cookie: str = ""  # set by /v/<flow>, which starts a journey once it comes back
    history: list[Reply] = field(default_factory=list)

    async def _reply(self, response: ClientResponse) -> Reply:
        jar: SimpleCookie = SimpleCookie()
        for header in response.headers.getall("Set-Cookie", []):
            jar.load(header)
        if "ivr_page" in jar:
            self.cookie = jar["ivr_page"].value
        if "ivr_start" in jar:
            self.start_cookie = jar["ivr_start"].value
        reply = Reply(
            response.status,
            dict(response.headers),
            await response.text(),
            jar,
            response.headers.get("Location", ""),
        )
        self.history.append(reply)
        return reply

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        cookies = {"ivr_page": self.cookie, "ivr_start": self.start_cookie}
        sent = "; ".join(f"{name}={value}" for name, value in cookies.items() if value)
        if sent:
            headers["Cookie"] = sent
        return headers

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        async with self.client.get(
            path, headers=self._headers(headers), allow_redirects=False
        ) as response:
            return await self._reply(response)

    async def post(
        self,
        path: str,
        data: Mapping[str, str] | None = None,
        json_reply: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = {**(headers or {}), **({"Accept": "application/json"} if json_reply else {})}
        async with self.client.post(
            path, data=data or {}, headers=self._headers(sent), allow_redirects=False
        ) as response:
            return await self._reply(response)

    async def open(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        """GET a flow's address as a browser opens it: its first answer only sets the
        cookie that starts the journey, and sends the browser back for it."""
        first = await self.get(path, headers)
        if first.status == 303 and first.location.endswith("?started"):
            return await self.get(first.location, headers)
        return first

    async def follow(self, reply: Reply) -> Reply:
        """Follow one 303 as a browser would (a GET, with the cookie)."""
        assert reply.status == 303, (reply.status, reply.text[:300])
        return await self.get(reply.location)


class FakeCall:
    """A session with a stand-in call, fed at once: prompts play out instantly and
    backend requests wait in ``requests``. What the pages and the send-link endpoint
    see of a live call, without Asterisk."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.requests: list[ev.HttpRequest] = []

    @property
    def voice(self) -> bool:
        return True

    def start(self) -> None:
        self._run(self.session.start())

    async def saved(self) -> None:
        return None

    def press(self, keys: str) -> None:
        for key in keys:
            self._run(self.session.feed(ev.Digit(key)))

    def submit(self, event: ev.Event) -> None:
        self._run(self.session.feed(event))

    def _run(self, actions: list[ev.Action]) -> None:
        pending = deque(actions)
        while pending:
            action = pending.popleft()
            if isinstance(action, ev.Play):
                pending.extend(self.session.feed(ev.PromptFinished(action.play_id)))
            elif isinstance(action, ev.HttpRequest):
                self.requests.append(action)
