"""AudioSocket frames as bytes in memory: no sockets."""

from __future__ import annotations

import uuid

import pytest

from engine.media import protocol as p

SESSION = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_a_session_as_asterisk_sends_it() -> None:
    audio = bytes(range(256)) + bytes(64)
    data = (
        p.frame(p.KIND_UUID, SESSION.bytes)
        + p.frame(p.KIND_AUDIO, audio)
        + p.frame(p.KIND_DTMF, b"4")
        + p.frame(p.KIND_DTMF, b"#")
        + p.frame(p.KIND_HANGUP)
    )
    events = p.FrameParser().feed(data)
    assert events == [
        p.SessionId(str(SESSION)),
        p.Audio(audio),
        p.Dtmf("4"),
        p.Dtmf("#"),
        p.Hangup(),
    ]


def test_frames_split_anywhere_come_out_whole() -> None:
    data = p.frame(p.KIND_UUID, SESSION.bytes) + p.audio_frame(b"\x01\x00" * 160)
    parser = p.FrameParser()
    events: list[p.MediaEvent] = []
    for i in range(len(data)):
        events += parser.feed(data[i : i + 1])
    assert events == [p.SessionId(str(SESSION)), p.Audio(b"\x01\x00" * 160)]


def test_nothing_after_hangup() -> None:
    parser = p.FrameParser()
    assert parser.feed(p.hangup_frame() + p.frame(p.KIND_DTMF, b"1")) == [p.Hangup()]
    assert parser.feed(p.frame(p.KIND_DTMF, b"2")) == []


def test_unknown_kinds_and_bad_keys_are_skipped() -> None:
    data = p.frame(0x42, b"xyz") + p.frame(p.KIND_DTMF, b"x") + p.frame(p.KIND_DTMF, b"9")
    assert p.FrameParser().feed(data) == [p.Dtmf("9")]


def test_an_odd_byte_of_audio_is_dropped() -> None:
    assert p.FrameParser().feed(p.frame(p.KIND_AUDIO, b"\x01\x02\x03")) == [p.Audio(b"\x01\x02")]


def test_errors_from_asterisk() -> None:
    assert p.FrameParser().feed(p.frame(p.KIND_ERROR, b"\x02")) == [p.PeerError(2)]


def test_an_oversized_frame_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(p.AudioSocketError):
        p.FrameParser().feed(bytes([p.KIND_AUDIO]) + (60_000).to_bytes(2, "big"))


def test_a_session_id_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(p.AudioSocketError):
        p.FrameParser().feed(p.frame(p.KIND_UUID, b"short"))


def test_what_the_engine_writes() -> None:
    assert p.hangup_frame() == b"\x00\x00\x00"
    assert b"\x10\x01\x40" + bytes(320) == p.SILENCE_FRAME
    assert p.audio_frame(b"\x01\x02") == b"\x10\x00\x02\x01\x02"
