"""Texting the caller a link to their own journey's page.

A flow asks for it with an ``http`` node that POSTs ``{"journey": "{{ call_id }}"}``
to ``{{ engine_url }}/v/api/send-link``, after a menu where the caller agreed. The
request names a journey, never a number: the text goes only to the caller ID of
that journey's call, and only when

- the journey is a call that is up, and is at that very ``http`` step right now
  (so a request from anywhere else, at any other time, sends nothing);
- the caller ID looks like a mobile (``[visual] mobile_pattern``);
- no link went to this journey, or this number, in the last ``link_resend_s``.

The answer is ``{"ok": bool, "reason": str}`` for the flow to branch on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.flow import model as m
from engine.runtime import Engine
from visual_ivr.sms import SmsSender
from visual_ivr.texts import text
from visual_ivr.tokens import LinkTokens

MAX_REMEMBERED = 100_000


@dataclass(frozen=True, slots=True)
class LinkResult:
    ok: bool
    reason: str  # sent | unknown journey | no call | not now | not a mobile | too soon | ...


class LinkService:
    def __init__(
        self,
        engine: Engine,
        tokens: LinkTokens,
        sender: SmsSender,
        mobile_pattern: str,
        resend_s: float,
        base: str = "/v",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._tokens = tokens
        self.sender = sender
        self._mobile = re.compile(mobile_pattern)
        self._resend_s = resend_s
        self._base = base
        self._clock = clock
        self._last_sent: dict[str, float] = {}  # journey ids and numbers

    async def send(self, journey: str, public_url: str) -> LinkResult:
        handle = self._engine.sessions.get(journey)
        if handle is None:
            return LinkResult(False, "unknown journey")
        session = handle.session
        if not handle.voice or session.done:
            return LinkResult(False, "no call")
        node = session.node
        if not isinstance(node, m.Http) or m.SEND_LINK_PATH not in node.url:
            return LinkResult(False, "not now")
        number = session.call.caller_id.strip()
        if not self._mobile.fullmatch(number):
            return LinkResult(False, "not a mobile")
        now = self._clock()
        if any(now - self._last_sent.get(k, -1e18) < self._resend_s for k in (journey, number)):
            return LinkResult(False, "too soon")
        self._remember(now, journey, number)  # before the send: a second request waits its turn
        token = self._tokens.issue(journey)
        url = f"{public_url.rstrip('/')}{self._base}/l/{token}"
        minutes = max(1, round(self._tokens.ttl_s / 60))
        title = session.flow.title.get(session.lang)
        message = text(session.lang, "sms", title=title, url=url, minutes=minutes)
        result = await self.sender.send(number, message)
        if not result.ok:
            self._tokens.revoke(token)
            for key in (journey, number):
                self._last_sent.pop(key, None)
            return LinkResult(False, f"send failed: {result.detail}")
        return LinkResult(True, "sent")

    def _remember(self, now: float, *keys: str) -> None:
        if len(self._last_sent) > MAX_REMEMBERED:
            self._last_sent = {k: t for k, t in self._last_sent.items() if now - t < self._resend_s}
        for key in keys:
            self._last_sent[key] = now
