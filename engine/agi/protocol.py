"""FastAGI as bytes in, events out: no sockets here.

Theory of operation
-------------------
Asterisk opens a TCP connection and sends the *environment*: ``agi_name: value``
lines ended by a blank line. From then on the server writes one command line at a
time and Asterisk answers each with a response:

    200 result=1 (timeout) endpos=8000      one line
    510 Invalid or unknown command          one line
    520-Invalid command syntax.             several lines, up to "520 End of ..."
    HANGUP                                  a notice, any time, then the response

:class:`EnvironmentParser` and :class:`ResponseParser` are fed whatever bytes
arrive and hand back complete messages; both bound what they buffer, so a peer
that sends garbage or never finishes costs a bounded amount of memory and, with
the timeouts of the server, a bounded amount of time. Text is decoded only once a
message boundary has been found.

:func:`format_command` builds a command line whose every argument is quoted the
way Asterisk's AGI argument parser unquotes it, and strips line breaks, so no text
that a caller controls (caller ID, speech, web input) can end the line early and
inject a command of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

MAX_ENVIRONMENT_BYTES = 16 * 1024
MAX_RESPONSE_BYTES = 64 * 1024


class AgiProtocolError(Exception):
    """The peer sent something that is not AGI."""


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """The environment of one AGI session."""

    env: dict[str, str]

    @property
    def script(self) -> str:
        """The path of ``agi://host/path?query`` without its query: a flow name."""
        return urlsplit(self.env.get("agi_network_script", "")).path.strip("/")

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.env.get("agi_network_script", "")).query))

    @property
    def answered(self) -> bool:
        """The dialplan answered the call before it ran the AGI (``?answered=1``)."""
        return self.query.get("answered") == "1"

    @property
    def channel(self) -> str:
        return self.env.get("agi_channel", "")

    @property
    def unique_id(self) -> str:
        return self.env.get("agi_uniqueid", "")

    @property
    def caller_id(self) -> str:
        value = self.env.get("agi_callerid", "")
        return "" if value == "unknown" else value

    @property
    def called(self) -> str:
        return self.env.get("agi_dnid", "") or self.env.get("agi_extension", "")

    def args(self) -> list[str]:
        """``agi_arg_1``, ``agi_arg_2``, ... in order."""
        out: list[str] = []
        while (value := self.env.get(f"agi_arg_{len(out) + 1}")) is not None:
            out.append(value)
        return out


_ENV_LINE = re.compile(rb"^(agi_[A-Za-z0-9_]+):\s?(.*)$")


class EnvironmentParser:
    """Collects the environment block; :meth:`feed` returns it once complete."""

    def __init__(self, limit: int = MAX_ENVIRONMENT_BYTES) -> None:
        self._buffer = bytearray()
        self._env: dict[str, str] = {}
        self._limit = limit
        self.rest = b""  # bytes after the blank line (there should be none)

    def feed(self, data: bytes) -> AgiRequest | None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._limit:
                    raise AgiProtocolError("environment line too long")
                return None
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            if not line:
                if not self._env:
                    raise AgiProtocolError("empty environment")
                self.rest = bytes(self._buffer)
                return AgiRequest(self._env)
            match = _ENV_LINE.match(line)
            if match is None:
                raise AgiProtocolError(f"not an AGI environment line: {line[:40]!r}")
            self._limit -= len(line) + 1
            if self._limit < 0:
                raise AgiProtocolError("environment too large")
            key, value = match.groups()
            self._env[key.decode("ascii")] = value.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class AgiResponse:
    """One answer to a command: ``200 result=1 (timeout) endpos=8000``."""

    code: int
    result: str = ""
    data: str = ""  # the parenthesised part, if any
    extras: dict[str, str] = field(default_factory=dict)
    text: str = ""  # the whole (first) line, for messages

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            return -1


@dataclass(frozen=True, slots=True)
class HangupNotice:
    """Asterisk's ``HANGUP`` line: the channel is gone; responses may still follow."""


_RESPONSE = re.compile(r"^(\d{3})(?:[ -](.*))?$")
_RESULT = re.compile(r"result=(\S*)(?:\s+\((.*?)\))?(.*)$")


def parse_response_line(line: str) -> AgiResponse:
    match = _RESPONSE.match(line)
    if match is None:
        raise AgiProtocolError(f"not an AGI response: {line[:60]!r}")
    code = int(match.group(1))
    rest = match.group(2) or ""
    found = _RESULT.search(rest)
    if found is None:
        return AgiResponse(code=code, text=line)
    extras = dict(item.split("=", 1) for item in found.group(3).split() if "=" in item)
    return AgiResponse(code, found.group(1), found.group(2) or "", extras, line)


class ResponseParser:
    """Turns the byte stream after the environment into responses and notices."""

    def __init__(self, limit: int = MAX_RESPONSE_BYTES) -> None:
        self._buffer = bytearray()
        self._limit = limit
        self._multiline: list[str] | None = None

    def feed(self, data: bytes) -> list[AgiResponse | HangupNotice]:
        self._buffer += data
        out: list[AgiResponse | HangupNotice] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).rstrip(b"\r").decode("utf-8", "replace")
            del self._buffer[: end + 1]
            message = self._line(line)
            if message is not None:
                out.append(message)
        if len(self._buffer) > self._limit:
            raise AgiProtocolError("response line too long")
        return out

    def _line(self, line: str) -> AgiResponse | HangupNotice | None:
        if self._multiline is not None:
            self._multiline.append(line)
            if re.match(r"^\d{3} ", line):
                first = self._multiline[0]
                self._multiline = None
                return AgiResponse(int(first[:3]), text=first)
            if len(self._multiline) > 200:
                raise AgiProtocolError("endless multi-line response")
            return None
        if line == "HANGUP":
            return HangupNotice()
        if not line:
            return None
        if re.match(r"^\d{3}-", line):
            self._multiline = [line]
            return None
        return parse_response_line(line)


def quote_argument(value: str) -> str:
    """Quote one argument for Asterisk's AGI parser (``parse_args`` in res_agi).

    Inside double quotes a backslash escapes the next character. Line breaks and NUL
    can't be escaped there, so they are dropped: a line break would end the command.
    """
    cleaned = value.replace("\r", " ").replace("\n", " ").replace("\0", "")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


_COMMAND_WORD = re.compile(r"^[A-Z][A-Z ]*[A-Z]$")


def format_command(command: str, *args: str | int | float) -> bytes:
    """``format_command("STREAM FILE", path, "0123456789*#")`` -> the wire line.

    The command words are ours and checked; every argument is quoted.
    """
    if not _COMMAND_WORD.match(command):
        raise ValueError(f"not an AGI command: {command!r}")
    parts = [command, *(quote_argument(str(arg)) for arg in args)]
    return (" ".join(parts) + "\n").encode("utf-8")
