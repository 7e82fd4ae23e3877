"""Secrets that let a phone into a journey: link tokens and page cookies.

A **link token** goes out in an SMS during a call. It is 192 random bits, works
once, and only for ``ttl_s`` seconds. Opening the link trades it for a **page
cookie** (another 192 random bits) bound to the same journey; from then on the
link is worth nothing, to the caller or to anyone who sees the text later.

Only hashes of link tokens are kept, so a memory dump or a debug print does not
hand out live links. Used and expired tokens are remembered for a while so that
the page can say *why* a link does not open ("already used", "expired"); a token
that was never issued, or was altered, is simply "invalid".

Both stores are in memory and bounded: a journey lives as long as its engine.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

TOKEN_BYTES = 24  # 192 bits; 32 URL-safe characters
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_TOKEN_LEN = len(secrets.token_urlsafe(TOKEN_BYTES))

LinkStatus = Literal["ok", "used", "expired", "invalid"]
Clock = Callable[[], float]


@dataclass(slots=True)
class _Link:
    journey: str
    expires: float
    used: bool = False


@dataclass(frozen=True, slots=True)
class LinkCheck:
    status: LinkStatus
    journey: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def well_formed(token: str) -> bool:
    return len(token) == _TOKEN_LEN and set(token) <= _TOKEN_CHARS


class LinkTokens:
    """Single-use, expiring tokens bound to a journey."""

    def __init__(
        self, ttl_s: float, clock: Clock = time.monotonic, max_links: int = 100_000
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._max = max_links
        self._links: OrderedDict[bytes, _Link] = OrderedDict()  # oldest first

    def issue(self, journey: str) -> str:
        self._purge()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._links[_digest(token)] = _Link(journey, self.clock() + self.ttl_s)
        return token

    def check(self, token: str) -> LinkCheck:
        """What opening ``token`` would do, without using it."""
        if not well_formed(token):
            return LinkCheck("invalid")
        link = self._links.get(_digest(token))
        if link is None:
            return LinkCheck("invalid")
        if link.used:  # the journey, for the browser that used it (its cookie says so)
            return LinkCheck("used", link.journey)
        if self.clock() >= link.expires:
            return LinkCheck("expired")
        return LinkCheck("ok", link.journey)

    def redeem(self, token: str) -> LinkCheck:
        """Use ``token``: its journey the first time, and never again."""
        result = self.check(token)
        if result.ok:
            self._links[_digest(token)].used = True
        return result

    def revoke(self, token: str) -> None:
        """Forget a token that never reached anyone (the text could not be sent)."""
        self._links.pop(_digest(token), None)

    def __len__(self) -> int:
        return len(self._links)

    def _purge(self) -> None:
        # Expired and used links are kept one more lifetime to explain themselves.
        horizon = self.clock() - self.ttl_s
        while self._links:
            link = next(iter(self._links.values()))
            if link.expires > horizon and len(self._links) < self._max:
                break
            self._links.popitem(last=False)


@dataclass(slots=True)
class PageVisit:
    """What a page cookie stands for."""

    journey: str
    flow: str  # the flow the journey started in: where "start again" leads
    lang: str | None = None  # the journey's language when its page was last seen


class PageCookies:
    """Page cookies: random values that stand for a journey, for ``ttl_s`` after
    their last use."""

    def __init__(
        self, ttl_s: float = 4 * 3600, clock: Clock = time.monotonic, max_visits: int = 100_000
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._max = max_visits
        self._visits: OrderedDict[str, tuple[PageVisit, float]] = OrderedDict()

    def open(self, journey: str, flow: str) -> str:
        self._purge()
        value = secrets.token_urlsafe(TOKEN_BYTES)
        self._visits[value] = (PageVisit(journey, flow), self.clock())
        return value

    def get(self, value: str | None) -> PageVisit | None:
        if not value or not well_formed(value):
            return None
        found = self._visits.get(value)
        if found is None:
            return None
        visit, used = found
        now = self.clock()
        if now - used > self.ttl_s:
            del self._visits[value]
            return None
        self._visits[value] = (visit, now)
        self._visits.move_to_end(value)
        return visit

    def close(self, value: str) -> None:
        self._visits.pop(value, None)

    def __len__(self) -> int:
        return len(self._visits)

    def _purge(self) -> None:
        horizon = self.clock() - self.ttl_s
        while self._visits:
            _, used = next(iter(self._visits.values()))
            if used > horizon and len(self._visits) < self._max:
                break
            self._visits.popitem(last=False)
