"""Sending a text message: one small interface, two senders.

- :class:`LogSender` (development and tests): logs each text and keeps the last
  ones in an in-memory ``outbox``. Nothing leaves the machine.
- :class:`HttpGatewaySender`: an SMS gateway reached over HTTP, as configured
  (``[visual] sms_gateway_url``, ``sms_gateway_token``, ``sms_from``). It POSTs
  ``{"to": ..., "from": ..., "text": ...}`` as JSON with the token as a bearer
  credential; any 2xx answer counts as sent.

A sender never raises for a failed send: it answers a :class:`SendResult` whose
``detail`` says what went wrong, without the number or the text (a link in the
text is a key to the caller's session).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from engine.config import Secret, Settings
from engine.logs import masked

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sms:
    to: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    detail: str = ""


class SmsSender(Protocol):
    async def send(self, to: str, text: str) -> SendResult: ...

    async def close(self) -> None: ...


class LogSender:
    """Logs texts instead of sending them; keeps the last ``keep`` in ``outbox``."""

    def __init__(self, keep: int = 1000) -> None:
        self.outbox: deque[Sms] = deque(maxlen=keep)

    async def send(self, to: str, text: str) -> SendResult:
        self.outbox.append(Sms(to, text, time.time()))
        log.info("sms (not sent, log sender) to %s: %s", masked(to), text)
        return SendResult(True, "logged")

    async def close(self) -> None:
        return None


class HttpGatewaySender:
    def __init__(
        self,
        url: str,
        token: Secret,
        sender_id: str = "",
        timeout_s: float = 5.0,
        client: aiohttp.ClientSession | None = None,
    ) -> None:
        self._url = url
        self._token = token
        self._from = sender_id
        self._timeout_s = timeout_s
        self._client = client
        self._own_client = client is None

    async def send(self, to: str, text: str) -> SendResult:
        if self._client is None:
            self._client = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        headers = {"Authorization": f"Bearer {self._token.value}"} if self._token.value else {}
        body = {"to": to, "from": self._from, "text": text}
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._client.post(self._url, json=body, headers=headers) as response:
                    await response.content.read(64 * 1024)
                    status = response.status
        except TimeoutError:
            return self._failed("timeout", to)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return self._failed(f"unreachable: {type(exc).__name__}", to)
        if not 200 <= status < 300:
            return self._failed(f"status {status}", to)
        log.info("sms sent to %s through the gateway", masked(to))
        return SendResult(True, f"status {status}")

    async def close(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.close()
            self._client = None

    def _failed(self, detail: str, to: str) -> SendResult:
        log.warning("sms to %s failed: %s", masked(to), detail)
        return SendResult(False, detail)


def sender_from_settings(settings: Settings) -> SmsSender:
    if settings.sms_gateway_url:
        return HttpGatewaySender(
            settings.sms_gateway_url, settings.sms_gateway_token, settings.sms_from
        )
    # Said once, at start: the log then holds live links (each opens a caller's session).
    log.warning(
        "no sms_gateway_url is set ([visual] sms_gateway_url, IVR_SMS_GATEWAY_URL): "
        "texts are not sent, they go to this log, with their links"
    )
    return LogSender()
