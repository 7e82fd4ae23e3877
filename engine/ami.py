"""An AMI connection that stays up: panoramisk's Manager, supervised.

panoramisk 1.4 reconnects every 2 s without backoff and sends pings without
looking at the answers. Here a supervisor task owns the connection: it connects,
logs in, checks a ``Ping`` every ``ping_interval`` seconds (a connection whose ping
goes unanswered is dead, even if TCP says otherwise), and on any loss reconnects
with exponential backoff and jitter. Callers use :meth:`Ami.action`, which waits
(bounded) for a live connection, and :meth:`Ami.on`, which survives reconnects.
The secret is never logged.

Events take a short road (:class:`_Protocol`): an engine beside a busy Asterisk
reads an event for every channel that starts or ends, and panoramisk's general
message handling cost several times the parsing itself.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from engine.config import Secret

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, str]], None]


class AmiError(Exception):
    """AMI is unreachable, refused the login, or answered an action with an error."""


# Events panoramisk acts on itself (it closes on Shutdown, resends on FullyBooted).
_PANORAMISK_EVENTS = ("Event: Shutdown\r\n", "Event: FullyBooted\r\n")
_ACTION_ID = "\r\nActionID: "


def event_name(block: str) -> str | None:
    """The name of an event block for every listener, or None for a block that is
    panoramisk's: a response, or an event panoramisk acts on itself."""
    if not block.startswith("Event: ") or block.startswith(_PANORAMISK_EVENTS):
        return None
    end = block.find("\r\n")
    return block[7:] if end < 0 else block[7:end]


def action_id(block: str) -> str | None:
    start = block.find(_ACTION_ID)
    if start < 0:
        return None
    start += len(_ACTION_ID)
    end = block.find("\r\n", start)
    return block[start:] if end < 0 else block[start:end]


def plain_event(block: str) -> dict[str, str] | None:
    """The fields of an event block, or None when panoramisk must read it: one line
    is not ``Key: value``, or a header repeats (panoramisk makes lists of those)."""
    lines = block.split("\r\n")
    fields: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            return None
        fields[key] = value
    return fields if len(fields) == len(lines) else None


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's AMI protocol, with a short road for events.

    panoramisk makes every block a case-insensitive ``Message`` (every key lowered
    on each access), then matches the event's name against every registered
    pattern; that is most of what an event cost the engine. Here an event that
    answers none of this connection's actions is dropped unread when no handler
    wants its name (Asterisk sends every session the events of its login's filter,
    tools' calls' included), and otherwise goes straight to the Ami's handlers as a
    dict (:func:`plain_event`), about three times cheaper. Responses, events that
    belong to an action in progress, and Shutdown and FullyBooted take panoramisk's
    road.

    Text is decoded as UTF-8, incrementally (a character split between two reads
    arrives whole); panoramisk decodes ASCII and drops every other character, a
    caller's name in Chinese included."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def data_received(self, data: bytes) -> None:
        if self.version is None:  # the greeting: panoramisk reads the version from it
            super().data_received(data)
            return
        text = self._decoder.decode(data)
        if self.queue:
            text = self.queue.popleft() + text
        blocks = text.split("\r\n\r\n")
        self.queue.append(blocks.pop())  # the start of a block still coming
        for block in blocks:
            block = block.strip()
            name = event_name(block)
            if name is not None and action_id(block) not in self.responses:
                if not self.factory.wants(name):
                    continue
                fields = plain_event(block)
                if fields is not None:
                    self.factory.on_event(fields)
                    continue
            message = Message.from_line(block)
            if message is not None:
                self.handle_message(message)


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager without its own reconnecting and pinging."""

    lost: asyncio.Event
    on_event: Callable[[dict[str, str]], None]  # plain events, from _Protocol
    wants: Callable[[str], bool]  # whether a handler reads events of this name

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        self.lost.set()

    def ping(self) -> None:  # the supervisor pings, and checks the answer
        return None


class Ami:
    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        secret: Secret,
        ping_interval: float = 5.0,
        max_backoff: float = 30.0,
        ping_timeout: float = 5.0,
        events: str = "on",
        connect_timeout: float = 5.0,
    ) -> None:
        self._address = (host, port)
        # How long a connection and then the login's answer may take, each.
        self._connect_timeout = connect_timeout
        self._events = events  # the login's event mask: "on", "off" or classes
        self._user = user
        self._secret = secret
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_backoff = max_backoff
        self._manager: _Manager | None = None
        self._ready = asyncio.Event()
        self._handlers: list[tuple[str, EventHandler]] = []
        self._wanted: set[str] = set()  # names with a handler; "*" for every name
        self._task: asyncio.Task[None] | None = None
        self._problem = ""  # why the last attempt to connect failed, for wait_ready
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def on(self, event: str, handler: EventHandler) -> None:
        """Call ``handler(fields)`` for each event named ``event`` ("*" for all) that
        the login's event mask lets through."""
        self._handlers.append((event, handler))
        self._wanted.add(event)

    def off(self, handler: EventHandler) -> None:
        """Stop calling ``handler`` (for every event it was registered for)."""
        self._handlers = [(e, h) for e, h in self._handlers if h is not handler]
        self._wanted = {e for e, _ in self._handlers}

    def _wants(self, name: str) -> bool:
        return name in self._wanted or "*" in self._wanted

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="ami")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop()

    async def wait_ready(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError as exc:
            problem = f": {self._problem}" if self._problem else ""
            raise AmiError(
                f"AMI at {self._address[0]}:{self._address[1]} not reachable{problem}"
            ) from exc

    async def action(
        self, fields: Mapping[str, str | list[str]], timeout: float = 10.0
    ) -> dict[str, str]:
        """Send one action and return its response; AmiError on failure. A list is a
        header given once per item (Originate's ``Variable``)."""
        await self.wait_ready(timeout)
        manager = self._manager
        assert manager is not None
        action = dict(fields)
        # panoramisk reads 'async' of any response ending in "successfully queued"
        # (PlayDTMF's does) and fails on a KeyError unless the action has one.
        action.setdefault("Async", "false")
        # It also takes QueueAdd's "Added interface to queue" for the start of an event
        # list that never comes: that one response is the whole answer.
        single = False if str(action.get("Action", "")).lower() == "queueadd" else None
        try:
            async with asyncio.timeout(timeout):
                response = await manager.send_action(action, as_list=single)
        except TimeoutError as exc:
            raise AmiError(f"{fields.get('Action')}: no answer in {timeout} s") from exc
        if isinstance(response, list):
            response = response[0] if response else {}
        result = {str(k): str(v) for k, v in dict(response).items()}
        if result.get("Response", "").lower() == "error":
            raise AmiError(f"{fields.get('Action')}: {result.get('Message', 'error')}")
        return result

    # ------------------------------------------------------------ supervision

    async def _supervise(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._connect()
                backoff = 0.5
                await self._keep_alive()
            except (OSError, AmiError, TimeoutError) as exc:
                self._problem = str(exc) or type(exc).__name__
                log.warning("ami: %s", self._problem)
            self._drop()
            delay = backoff * (0.5 + random.random())
            log.info("ami: reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, self._max_backoff)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        manager = _Manager(
            loop=loop,
            host=self._address[0],
            port=self._address[1],
            username=self._user,
            secret=self._secret.value,
            ping_delay=3600,
            reconnect_timeout=3600,
            events=self._events,
            protocol_factory=_Protocol,
        )
        manager.lost = asyncio.Event()
        manager.on_event = self._deliver
        manager.wants = self._wants
        manager.register_event("*", self._dispatch)
        connection = loop.create_connection(manager.config["protocol_factory"], *self._address)
        done: asyncio.Future[Any] = loop.create_future()
        host, port = self._address
        # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
        # that arrives as the awaited thing completes, and stop() would wait forever.
        try:
            async with asyncio.timeout(self._connect_timeout):
                done.set_result(await connection)
        except TimeoutError as exc:
            raise AmiError(
                f"no answer from {host}:{port} within {self._connect_timeout:g} s"
            ) from exc
        manager.connection_made(done)
        try:
            async with asyncio.timeout(self._connect_timeout):
                response = await manager.authenticated_future
        except TimeoutError as exc:
            manager.close()
            raise AmiError(
                f"{host}:{port} did not answer the login as '{self._user}' within "
                f"{self._connect_timeout:g} s"
            ) from exc
        if not response.success:
            manager.close()
            raise AmiError(f"login as '{self._user}' refused")
        self._manager = manager
        self.connects += 1
        self._problem = ""
        self._ready.set()
        log.info("ami: connected to %s:%d", *self._address)

    async def _keep_alive(self) -> None:
        manager = self._manager
        assert manager is not None
        while not manager.lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ping_interval):
                    await manager.lost.wait()
            if manager.lost.is_set():
                break
            try:
                async with asyncio.timeout(self._ping_timeout):
                    await manager.send_action({"Action": "Ping"})
            except TimeoutError as exc:
                raise AmiError("ping unanswered: connection is dead") from exc
        log.warning("ami: connection lost")

    def _drop(self) -> None:
        self._ready.clear()
        if self._manager is not None:
            self._manager.close()
            self._manager = None

    def _dispatch(self, manager: Manager, message: Any) -> None:
        """An event that took panoramisk's road."""
        self._deliver({str(k): str(v) for k, v in dict(message).items()})

    def _deliver(self, fields: dict[str, str]) -> None:
        name = fields.get("Event", "")
        for wanted, handler in self._handlers:
            if wanted in ("*", name):
                try:
                    handler(fields)
                except Exception:
                    log.exception("ami: handler for %s failed", name)
