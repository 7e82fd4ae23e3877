from __future__ import annotations

import random

import pytest

from engine.agi.protocol import (
    AgiProtocolError,
    AgiResponse,
    EnvironmentParser,
    HangupNotice,
    ResponseParser,
    format_command,
    parse_response_line,
    quote_argument,
)

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: service_line?lang=zh\n"
    b"agi_request: agi://127.0.0.1:4573/service_line?lang=zh\n"
    b"agi_channel: PJSIP/loopback-ivr-00000001\n"
    b"agi_uniqueid: 1700000000.1\n"
    b"agi_callerid: 15551230000\n"
    b"agi_dnid: service_line+4573\n"
    b"agi_arg_1: first\n"
    b"agi_arg_2: second\n"
    b"\n"
)


def test_environment_in_one_piece() -> None:
    request = EnvironmentParser().feed(ENV)
    assert request is not None
    assert request.script == "service_line"
    assert request.query == {"lang": "zh"}
    assert request.channel == "PJSIP/loopback-ivr-00000001"
    assert request.caller_id == "15551230000"
    assert request.args() == ["first", "second"]


def test_environment_byte_by_byte() -> None:
    parser = EnvironmentParser()
    results = [parser.feed(ENV[i : i + 1]) for i in range(len(ENV))]
    assert all(r is None for r in results[:-1])
    assert results[-1] is not None and results[-1].script == "service_line"


def test_unknown_caller_id_is_empty() -> None:
    request = EnvironmentParser().feed(b"agi_callerid: unknown\n\n")
    assert request is not None and request.caller_id == ""


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
        b"SSH-2.0-OpenSSH_9.2\r\n",
    ],
)
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(AgiProtocolError):
        EnvironmentParser().feed(data)


def test_endless_line_is_refused_at_the_bound() -> None:
    parser = EnvironmentParser(limit=1024)
    with pytest.raises(AgiProtocolError):
        for _ in range(100):
            parser.feed(b"agi_x: " + b"a" * 100)


def test_endless_environment_is_refused_at_the_bound() -> None:
    parser = EnvironmentParser(limit=1024)
    with pytest.raises(AgiProtocolError):
        for i in range(1000):
            parser.feed(f"agi_v{i}: value\n".encode())


def test_random_bytes_never_crash_otherwise() -> None:
    rng = random.Random(7)
    for _ in range(500):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        try:
            EnvironmentParser().feed(data)
            ResponseParser().feed(data)
        except AgiProtocolError:
            pass


def test_response_lines() -> None:
    r = parse_response_line("200 result=49 endpos=12000")
    assert r == AgiResponse(200, "49", "", {"endpos": "12000"}, "200 result=49 endpos=12000")
    assert r.ok and r.result_int == 49
    r = parse_response_line("200 result=1 (timeout) endpos=8000")
    assert r.data == "timeout" and r.extras == {"endpos": "8000"}
    assert parse_response_line("510 Invalid or unknown command").code == 510
    assert parse_response_line("200 result=-1").result_int == -1


def test_response_stream_with_hangup_and_multiline() -> None:
    parser = ResponseParser()
    out = parser.feed(b"HANGUP\n200 result=0\n520-Invalid command syntax.  Proper usage follows:\n")
    assert isinstance(out[0], HangupNotice)
    assert isinstance(out[1], AgiResponse) and out[1].result == "0"
    assert len(out) == 2
    out = parser.feed(b"Usage: STREAM FILE ...\n520 End of proper usage.\n")
    assert len(out) == 1 and isinstance(out[0], AgiResponse) and out[0].code == 520


def test_split_response() -> None:
    parser = ResponseParser()
    assert parser.feed(b"200 res") == []
    out = parser.feed(b"ult=35\r\n")
    assert isinstance(out[0], AgiResponse) and out[0].result == "35"


@pytest.mark.parametrize(
    "text",
    [
        'Bob" \n EXEC System "rm -rf /',
        "line one\r\nHANGUP",
        'back\\slash \\" quote',
        "\0nul",
    ],
)
def test_caller_text_cannot_inject_a_command(text: str) -> None:
    line = format_command("SET VARIABLE", "CALLER_NAME", text)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert b"\r" not in line and b"\0" not in line
    # Unquote the way Asterisk's parse_args does and get the text back (minus line breaks).
    args = _asterisk_parse_args(line.decode().rstrip("\n"))
    expected = text.replace("\r", " ").replace("\n", " ").replace("\0", "")
    assert args == ["SET", "VARIABLE", "CALLER_NAME", expected]


def test_quote_plain() -> None:
    assert quote_argument("abc") == '"abc"'
    assert format_command("STREAM FILE", "/p/x", "0123456789*#", 0) == (
        b'STREAM FILE "/p/x" "0123456789*#" "0"\n'
    )


def test_command_words_are_checked() -> None:
    with pytest.raises(ValueError):
        format_command("NOOP\nHANGUP")


def _asterisk_parse_args(line: str) -> list[str]:
    """A transcription of res_agi.c parse_args(): whitespace splits unless quoted,
    a backslash escapes the next character, quotes toggle quoting."""
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = whitespace = False
    started = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
            started = True
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
            started = True
        elif char in " \t" and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
            whitespace = True
        else:
            current.append(char)
            started = True
    if started:
        args.append("".join(current))
    del whitespace
    return args
