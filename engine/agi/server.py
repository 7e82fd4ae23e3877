"""The asyncio edge of FastAGI: sockets, timeouts, one task per connection.

A connection must deliver its environment within ``header_timeout`` seconds and
within the parser's byte bound, or it is closed: a port scan, a health check that
connects and leaves, a slow or garbage-sending peer each cost one short-lived task
and never stall the event loop. Every read is bounded in size and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from engine.agi.linger import HOLD_S, Linger
from engine.agi.protocol import (
    AgiProtocolError,
    AgiRequest,
    AgiResponse,
    EnvironmentParser,
    HangupNotice,
    ResponseParser,
    format_command,
)
from engine.peers import Peers

log = logging.getLogger(__name__)

READ_CHUNK = 4096


class ChannelGone(Exception):
    """The call hung up or the connection closed: no further commands can run."""


class AgiChannel:
    """One AGI session: send a command, get its response. One command at a time."""

    def __init__(
        self,
        request: AgiRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        parser: ResponseParser,
        linger: Linger | None = None,
    ) -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._parser = parser
        self._linger = linger
        self._pending: list[AgiResponse | HangupNotice] = []
        self._lock = asyncio.Lock()
        self.hung_up = False
        self.closed = False
        self.released = False  # the linger closes the connection, not this channel
        self.commands = 0  # sent so far (keys pressed before the first are not heard)

    async def command(
        self, command: str, *args: str | int | float, timeout: float | None = 30.0
    ) -> AgiResponse:
        """Run one command. ``timeout`` bounds the wait for its response (None: wait
        as long as the command runs, e.g. a prompt; hang-up still ends it)."""
        if self.closed:
            raise ChannelGone("connection closed")
        async with self._lock:
            self._writer.write(format_command(command, *args))
            self.commands += 1
            try:
                await self._writer.drain()
                async with asyncio.timeout(timeout):  # no task per command, as wait_for makes
                    response = await self._next_response()
            except (ConnectionError, TimeoutError) as exc:
                self.close()
                raise ChannelGone(f"{command}: {str(exc) or type(exc).__name__}") from exc
        if response.code == 511:
            self.hung_up = True
            raise ChannelGone(f"{command}: channel is dead")
        return response

    async def let_go(self, command: str, *args: str | int | float) -> None:
        """Send the session's last command and close the writing side behind it.

        Asterisk runs the command, then reads the end of the session and goes on in the
        dialplan at once: it does not wait for the engine to read the response and close
        the connection, a round trip through a busy machine's run queue. The response and
        Asterisk's own close are then read (bounded) so that the socket closes cleanly:
        by the server's :class:`Linger`, which does it for all such connections at
        once, or else here."""
        if self.closed:
            raise ChannelGone("connection closed")
        async with self._lock:
            self._writer.write(format_command(command, *args))
            try:
                shut = self._writer.can_write_eof()
                if shut:
                    self._writer.write_eof()
                await self._writer.drain()
                if shut and self._linger is not None and self._linger.hold(self._writer):
                    self.released = self.closed = True
                    return
                async with asyncio.timeout(HOLD_S):
                    while await self._reader.read(READ_CHUNK):
                        pass
            except (ConnectionError, TimeoutError) as exc:
                log.debug("agi: after %s: %s", command, str(exc) or type(exc).__name__)
            finally:
                self.close()

    async def _next_response(self) -> AgiResponse:
        while True:
            while self._pending:
                message = self._pending.pop(0)
                if isinstance(message, HangupNotice):
                    self.hung_up = True
                    continue
                return message
            data = await self._reader.read(READ_CHUNK)
            if not data:
                raise ConnectionError("connection closed by Asterisk")
            try:
                self._pending.extend(self._parser.feed(data))
            except AgiProtocolError as exc:
                raise ConnectionError(str(exc)) from exc

    def close(self) -> None:
        self.closed = True
        if not self.released:
            self._writer.close()


Handler = Callable[[AgiChannel], Awaitable[None]]


async def read_environment(
    reader: asyncio.StreamReader, timeout: float
) -> tuple[AgiRequest, ResponseParser] | str:
    """The environment block, or why there is none: the peer ``closed`` early (a
    port scan, a health check), ``stalled`` past ``timeout``, or sent ``garbage``."""
    parser = EnvironmentParser()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return "stalled"
        try:
            async with asyncio.timeout(remaining):
                data = await reader.read(READ_CHUNK)
        except TimeoutError:
            return "stalled"
        except ConnectionError:
            return "closed"
        if not data:
            return "closed"
        try:
            request = parser.feed(data)
        except AgiProtocolError as exc:
            log.info("agi: refused a connection: %s", exc)
            return "garbage"
        if request is not None:
            responses = ResponseParser()
            responses.feed(parser.rest)
            return request, responses


class AgiServer:
    """Accepts FastAGI connections and runs ``handler`` for each valid one."""

    def __init__(
        self,
        handler: Handler,
        header_timeout: float = 5.0,
        refused: Callable[[str], None] | None = None,
        peers: Peers | None = None,
    ) -> None:
        self._handler = handler
        self._peers = peers or Peers()  # who may connect (engine/peers.py)
        self._header_timeout = header_timeout
        self._refused = refused  # told why a connection brought no request
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.linger = Linger()  # connections whose session is over, until Asterisk closes

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port, limit=READ_CHUNK)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._peers.allows(writer, "agi"):
            writer.close()
            if self._refused is not None:
                self._refused("not allowed")
            return
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel: AgiChannel | None = None
        try:
            found = await read_environment(reader, self._header_timeout)
            if isinstance(found, str):
                if self._refused is not None:
                    self._refused(found)
                return
            request, parser = found
            channel = AgiChannel(request, reader, writer, parser, self.linger)
            await self._handler(channel)
        except ChannelGone as exc:
            log.debug("agi: channel gone: %s", exc)
        except Exception:
            log.exception("agi: handler failed")
        finally:
            if channel is not None:
                channel.close()
            else:
                writer.close()
            if channel is None or not channel.released:
                with contextlib.suppress(ConnectionError, TimeoutError):
                    async with asyncio.timeout(1.0):
                        await writer.wait_closed()

    async def stop(self) -> None:
        """Stop accepting, then cancel the sessions in progress: their connections
        close and the dialplan takes each call on to its fallback."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.linger.close_all()
        if self._server is not None:
            await self._server.wait_closed()
