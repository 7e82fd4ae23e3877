"""AudioSocket as bytes in, events out: no sockets here.

Theory of operation
-------------------
Asterisk's ``AudioSocket(uuid,host:port)`` opens a TCP connection to the engine and
both sides exchange *frames*::

    +------+----------------+-----------------+
    | kind | length (2, BE) | payload         |
    +------+----------------+-----------------+

    0x00  hangup     no payload: either side ends the session
    0x01  uuid       16 bytes: the session's id, the first frame Asterisk sends
    0x03  dtmf       one ASCII key ("4", "#")
    0x10  audio      signed 16-bit little-endian, 8 kHz mono (320 bytes = 20 ms)
    0xff  error      one byte of error code from Asterisk

:class:`FrameParser` is fed whatever bytes arrive and hands back complete events.
It holds at most one frame's worth of bytes (a payload is bounded by
:data:`MAX_PAYLOAD`), so a peer that sends garbage costs a bounded amount of memory;
unknown kinds are skipped. :func:`audio_frame` and :func:`hangup_frame` build what the
engine writes.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # 320: 20 ms of 16-bit mono
MAX_PAYLOAD = 8192  # Asterisk sends 320-byte frames; anything far larger is not AudioSocket
DTMF_KEYS = frozenset("0123456789*#ABCD")


class AudioSocketError(Exception):
    """The peer sent something that is not AudioSocket."""


@dataclass(frozen=True, slots=True)
class SessionId:
    """The first frame: the id the dialplan passed to ``AudioSocket()``."""

    uuid: str


@dataclass(frozen=True, slots=True)
class Audio:
    """Caller audio: signed 16-bit little-endian samples at 8 kHz."""

    pcm: bytes


@dataclass(frozen=True, slots=True)
class Dtmf:
    key: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """The session ended (the caller hung up, or Asterisk closed it)."""


@dataclass(frozen=True, slots=True)
class PeerError:
    code: int


MediaEvent = SessionId | Audio | Dtmf | Hangup | PeerError


class FrameParser:
    """Bytes in, :data:`MediaEvent` out, with a bounded buffer."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.ended = False

    def feed(self, data: bytes) -> list[MediaEvent]:
        if self.ended:
            return []
        self._buffer += data
        events: list[MediaEvent] = []
        while len(self._buffer) >= 3:
            kind = self._buffer[0]
            length = int.from_bytes(self._buffer[1:3], "big")
            if length > MAX_PAYLOAD:
                raise AudioSocketError(f"frame of {length} bytes (kind {kind:#04x})")
            if len(self._buffer) < 3 + length:
                break
            payload = bytes(self._buffer[3 : 3 + length])
            del self._buffer[: 3 + length]
            event = _decode(kind, payload)
            if event is not None:
                events.append(event)
            if isinstance(event, Hangup):
                self.ended = True
                self._buffer.clear()
                break
        return events


def _decode(kind: int, payload: bytes) -> MediaEvent | None:
    if kind == KIND_AUDIO:
        return Audio(payload[: len(payload) - len(payload) % 2])
    if kind == KIND_DTMF:
        key = payload[:1].decode("ascii", errors="replace")
        return Dtmf(key) if key in DTMF_KEYS else None
    if kind == KIND_HANGUP:
        return Hangup()
    if kind == KIND_UUID:
        if len(payload) != 16:
            raise AudioSocketError(f"a session id of {len(payload)} bytes")
        return SessionId(str(uuidlib.UUID(bytes=payload)))
    if kind == KIND_ERROR:
        return PeerError(payload[0] if payload else 0)
    return None  # a kind this engine does not use


def frame(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError("payload too long for one frame")
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


def audio_frame(pcm: bytes) -> bytes:
    return frame(KIND_AUDIO, pcm)


def hangup_frame() -> bytes:
    return frame(KIND_HANGUP)


SILENCE = bytes(FRAME_BYTES)
SILENCE_FRAME = audio_frame(SILENCE)
