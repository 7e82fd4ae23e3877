"""The media call driver against a fake Asterisk: a fake AGI channel whose
``EXEC AudioSocket`` connects a scripted phone to the engine's real AudioSocket
server. Voice is a loud frame (the classifier is injected), the recogniser a stub."""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from engine.agi.protocol import AgiRequest, AgiResponse
from engine.flow.parse import parse_flow
from engine.media import protocol as p
from engine.media.call import MediaCall
from engine.media.server import MediaServer
from engine.media.vad import Classifier
from engine.prompts import PromptCache
from engine.session.machine import CallInfo, Session
from engine.speech.grammar import Grammar
from engine.speech.recognizer import Hypothesis
from engine.speech.service import SpeechService

FLOW = """
start: menu
human: person
nodes:
  menu:
    type: menu
    prompt: "Say balance or agent, or press a key."
    timeout: 1
    end_silence: 0.3
    no_input: {max: 1, prompts: ["Nothing."], goto: person}
    options:
      - {key: 1, label: Balance, phrases: {en: [balance]}, goto: bye}
      - {key: 0, label: Person, phrases: {en: [agent]}, goto: person}
  bye: {type: hangup, prompt: "Bye."}
  person: {type: transfer, queue: support}
"""

VOICE = b"\x10\x27" * 160
QUIET = bytes(320)


class StubSpeech(SpeechService):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.heard: list[int] = []

    async def recognize(self, lang: str, pcm: bytes, grammar: Grammar) -> Hypothesis | None:
        self.heard.append(len(pcm))
        return Hypothesis(self.text, 0.9) if self.text in grammar.phrases else None


Phone = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class FakeChannel:
    """AGI commands recorded; EXEC AudioSocket runs ``phone`` against the server."""

    def __init__(self, phone: Phone) -> None:
        self.request = AgiRequest({"agi_channel": "PJSIP/test-1"})
        self.commands: list[tuple[Any, ...]] = []
        self._phone = phone
        self.received = bytearray()

    async def command(self, command: str, *args: Any, timeout: float | None = 30) -> AgiResponse:
        self.commands.append((command, *args))
        if command == "EXEC" and args[0] == "AudioSocket":
            session_id, address = str(args[1]).split(",")
            host, port = address.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(p.frame(p.KIND_UUID, uuid.UUID(session_id).bytes))
            await self._phone(reader, writer)
            writer.close()
        return AgiResponse(200, "0")

    def close(self) -> None:
        pass


def loud(_: int) -> Classifier:
    return lambda frame: frame[:2] == b"\x10\x27"


async def run_call(
    phone: Phone, speech: StubSpeech, tmp: str, classifier: Callable[[int], Classifier] = loud
) -> tuple[Session, FakeChannel]:
    flow, problems = parse_flow(textwrap.dedent(FLOW), "m.yaml", "m")
    assert flow is not None, problems
    session = Session(flow, CallInfo("c1"))
    channel = FakeChannel(phone)
    media = MediaServer()
    await media.start("127.0.0.1", 0)
    async with aiohttp.ClientSession() as http:
        call = MediaCall(
            channel,  # type: ignore[arg-type]
            session,
            PromptCache(tmp),
            http,
            media,
            speech,
            classifier=classifier,
        )
        await asyncio.wait_for(call.run(), 20)
    await media.stop()
    return session, channel


async def read_until_closed(reader: asyncio.StreamReader, into: bytearray) -> None:
    while data := await reader.read(4096):
        into += data


async def send(writer: asyncio.StreamWriter, frames: list[bytes]) -> None:
    for frame in frames:
        writer.write(p.audio_frame(frame))
        await asyncio.sleep(0.02)


async def test_speech_over_the_prompt_barges_in_and_chooses(tmp_path: object) -> None:
    heard = bytearray()

    async def phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listening = asyncio.ensure_future(read_until_closed(reader, heard))
        await send(writer, [QUIET] * 25 + [VOICE] * 20)  # talks over the prompt
        await listening  # then silence: no frames at all, until the engine hangs up

    speech = StubSpeech("balance")
    session, channel = await run_call(phone, speech, str(tmp_path))
    assert session.outcome == "hangup"
    inputs = [dict(e.data) for e in session.trail if e.kind == "input"]
    assert inputs == [
        {"source": "speech", "value": "balance", "confidence": 0.9, "option": "1", "goto": "bye"}
    ]
    assert speech.heard  # the utterance went to the recogniser
    assert ("EXEC", "MSet", "IVR_RESULT=hangup") in channel.commands
    events = p.FrameParser().feed(bytes(heard))
    audio = [e for e in events if isinstance(e, p.Audio)]
    assert all(len(a.pcm) == p.FRAME_BYTES for a in audio)
    assert isinstance(events[-1], p.Hangup)  # the engine ended the AudioSocket session


async def test_a_key_on_the_stream_barges_in(tmp_path: object) -> None:
    async def phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listening = asyncio.ensure_future(read_until_closed(reader, bytearray()))
        await asyncio.sleep(0.3)
        writer.write(p.frame(p.KIND_DTMF, b"0"))
        await listening

    session, channel = await run_call(phone, StubSpeech("none"), str(tmp_path))
    assert session.outcome == "transfer:support"
    assert ("EXEC", "MSet", "IVR_QUEUE=support,IVR_RESULT=transfer") in channel.commands


async def test_the_caller_hanging_up_ends_the_call(tmp_path: object) -> None:
    async def phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        writer.write(p.hangup_frame())
        await writer.drain()

    session, channel = await run_call(phone, StubSpeech("none"), str(tmp_path))
    assert session.outcome == "caller_hangup"
    assert not any("IVR_RESULT" in " ".join(map(str, c)) for c in channel.commands)


async def test_silence_without_frames_reaches_no_input(tmp_path: object) -> None:
    async def phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_until_closed(reader, bytearray())  # never sends a frame

    session, _ = await run_call(phone, StubSpeech("none"), str(tmp_path))
    retries = [e.data["retry"] for e in session.trail if e.kind == "retry"]
    assert retries == ["no_input", "no_input"] and session.outcome == "transfer:support"


HUM = b"\x20\x4e" * 160


def adapting(_: int) -> Classifier:
    """Like webrtcvad: a steady noise is voice for its first 100 ms, then learnt."""
    heard = [0]

    def classify(frame: bytes) -> bool:
        if frame[:2] != HUM[:2]:
            return frame[:2] == VOICE[:2]
        heard[0] += 1
        return heard[0] <= 5

    return classify


async def test_a_steady_noise_is_learnt_once_not_at_every_retry(tmp_path: object) -> None:
    """A hum on the line: each turn had a voice detector of its own, which took the
    hum for a caller starting to speak, so every retry prompt was cut and no-matched
    in turn: four no-matches and a transfer in two seconds."""

    async def phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listening = asyncio.ensure_future(read_until_closed(reader, bytearray()))
        await send(writer, [QUIET] * 25 + [HUM] * 150)  # three seconds of hum
        await listening

    session, _ = await run_call(phone, StubSpeech("nothing said"), str(tmp_path), adapting)
    retries = [e.data["retry"] for e in session.trail if e.kind == "retry"]
    assert retries.count("no_match") <= 1, retries
