"""The asyncio edge of AudioSocket: a TCP server that pairs each connection with the
call that asked for it.

A call that wants its audio registers a fresh id with :meth:`MediaServer.expect`,
then tells Asterisk ``AudioSocket(<id>,<host>:<port>)``. When Asterisk connects and
names that id in its first frame, the waiting call gets a :class:`MediaStream`.
A connection that does not name an expected id within ``header_timeout`` (a port
scan, a stale call) is closed; every read is bounded in size and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from engine.media.protocol import (
    AudioSocketError,
    FrameParser,
    Hangup,
    MediaEvent,
    SessionId,
    hangup_frame,
)
from engine.peers import Peers

log = logging.getLogger(__name__)

READ_CHUNK = 4096


class MediaStream:
    """One AudioSocket session: events from the caller, frames to the caller."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        parser: FrameParser,
        pending: list[MediaEvent],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = parser
        self._pending = pending
        self.closed = False

    async def read(self) -> list[MediaEvent]:
        """The next events; ``[Hangup()]`` once the stream has ended."""
        if self._pending:
            events, self._pending = self._pending, []
            return events
        if self.closed or self._parser.ended:
            return [Hangup()]
        try:
            data = await self._reader.read(READ_CHUNK)
        except ConnectionError:
            data = b""
        if not data:
            return [Hangup()]
        try:
            return self._parser.feed(data)
        except AudioSocketError as exc:
            log.warning("audiosocket: %s", exc)
            return [Hangup()]

    def write(self, data: bytes) -> None:
        if not self.closed and not self._writer.is_closing():
            self._writer.write(data)

    async def close(self) -> None:
        """End the session: Asterisk's AudioSocket() returns and the dialplan (or
        the AGI command that ran it) goes on."""
        if self.closed:
            return
        self.write(hangup_frame())
        self.closed = True
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()


class MediaServer:
    def __init__(self, header_timeout: float = 5.0, peers: Peers | None = None) -> None:
        self._header_timeout = header_timeout
        self._peers = peers or Peers()  # who may connect (engine/peers.py)
        self._server: asyncio.Server | None = None
        self._waiting: dict[str, asyncio.Future[MediaStream]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port, limit=READ_CHUNK)
        name = self._server.sockets[0].getsockname()
        self.address = (str(name[0]), int(name[1]))
        return self.address

    def expect(self) -> tuple[str, asyncio.Future[MediaStream]]:
        """A fresh session id and the future its stream arrives on. Cancel the
        future (or let :meth:`forget` do it) if the call gives up waiting."""
        session_id = str(uuid.uuid4())
        future: asyncio.Future[MediaStream] = asyncio.get_running_loop().create_future()
        self._waiting[session_id] = future
        return session_id, future

    def forget(self, session_id: str) -> None:
        future = self._waiting.pop(session_id, None)
        if future is not None and not future.done():
            future.cancel()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._peers.allows(writer, "audiosocket"):
            writer.close()
            return
        task = asyncio.get_running_loop().create_task(self._greet(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _greet(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = FrameParser()
        events: list[MediaEvent] = []
        try:
            async with asyncio.timeout(self._header_timeout):
                while not events:
                    data = await reader.read(READ_CHUNK)
                    if not data:
                        break
                    events = parser.feed(data)
        except (TimeoutError, ConnectionError, AudioSocketError) as exc:
            log.info("audiosocket: refused a connection: %s", str(exc) or type(exc).__name__)
            events = []
        first = events[0] if events else None
        future = self._waiting.pop(first.uuid, None) if isinstance(first, SessionId) else None
        if future is None or future.done():
            if first is not None:
                log.info("audiosocket: refused a connection for an unknown session")
            writer.close()
            return
        future.set_result(MediaStream(reader, writer, parser, events[1:]))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
