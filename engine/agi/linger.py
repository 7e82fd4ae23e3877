"""FastAGI connections the engine is done with, until Asterisk closes its side.

After the session's last command the engine has shut its side (``AgiChannel.let_go``)
and Asterisk goes on in the dialplan; what is left is to read Asterisk's answer to that
command and its close, and only then close the socket (closing it with bytes unread
would reset the connection). Read as they come, those are one or two wake-ups of the
engine per call, as many as the rest of a short call costs. Here they cost none: the
socket stops being read, and a sweep every ``SWEEP_S`` seconds, one wake-up for every
connection held, drains each socket and closes those whose peer has closed, or that
have been held ``HOLD_S`` seconds.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

SWEEP_S = 0.5
HOLD_S = 5.0  # how long Asterisk may take to close its side


@dataclass(slots=True)
class _Held:
    writer: asyncio.StreamWriter
    fd: int
    until: float


class Linger:
    def __init__(self, sweep_s: float = SWEEP_S, hold_s: float = HOLD_S) -> None:
        self._sweep_s = sweep_s
        self._hold_s = hold_s
        self._held: list[_Held] = []
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, writer: asyncio.StreamWriter) -> bool:
        """Take over ``writer``'s connection (its writing side already shut); False,
        and nothing taken, when its socket cannot be reached."""
        sock = writer.get_extra_info("socket")
        try:
            fd = sock.fileno() if sock is not None else -1
        except (OSError, AttributeError):
            fd = -1
        pause_reading = getattr(writer.transport, "pause_reading", None)  # a read transport's
        if fd < 0 or pause_reading is None or writer.transport.is_closing():
            return False
        pause_reading()
        loop = asyncio.get_running_loop()
        self._held.append(_Held(writer, fd, loop.time() + self._hold_s))
        if self._timer is None:
            self._timer = loop.call_later(self._sweep_s, self._sweep)
        return True

    def _sweep(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        self._held = [held for held in self._held if not _finished(held, now)]
        if self._held:
            self._timer = asyncio.get_running_loop().call_later(self._sweep_s, self._sweep)

    def close_all(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for held in self._held:
            held.writer.transport.abort()
        self._held.clear()


def _finished(held: _Held, now: float) -> bool:
    """Drain the socket; close it if the peer has closed or time is up."""
    if held.writer.transport.is_closing():
        return True
    peer_closed = False
    try:
        while os.read(held.fd, 4096):  # the socket is non-blocking
            pass
        peer_closed = True  # b"": the peer's close
    except BlockingIOError:
        pass  # drained; the peer has not closed yet
    except OSError:
        peer_closed = True  # reset
    if peer_closed or now >= held.until:
        held.writer.transport.close()
        return True
    return False
