"""Phones unlike the tests' default one (ulaw or alaw, keys as RFC 4733 events): a
wideband phone that offers only Opus or G.722, and one that sends its keys as tones in
its audio. Asterisk transcodes the first and hears the second (``dtmf_mode = auto``);
the flows run the same, keys and speech alike."""

from __future__ import annotations

import pytest

from engine.caller import Phone, parse_steps, place_call, speak
from engine.serve import Stack
from engine.session.events import trail_as_dicts
from tests.conftest import caller_ami, caller_number
from tests.live_call import LiveCall

pytestmark = pytest.mark.asterisk


@pytest.mark.parametrize("codec", ["opus", "g722", "alaw"])
async def test_a_phone_with_one_codec_is_heard(speech_stack: Stack, codec: str) -> None:
    async with LiveCall(speech_stack, "speech_menu", caller_number(), Phone(codec)) as call:
        assert call.ami is not None
        format_ = await call.ami.action(
            {"Action": "Getvar", "Channel": call.leg, "Variable": "CHANNEL(audionativeformat)"}
        )
        assert format_["Value"] == f"({codec})"  # the phone's codec, not a default
        await call.until(lambda: call.s.turns > 0)
        await speak(call.ami, speech_stack.engine.prompts, call.leg, "check my balance", "en")
        await call.at("code")
        await call.press("1234")
        await call.until(lambda: call.s.done, 30)
    trail = trail_as_dicts(call.s.trail)
    assert [e["node"] for e in trail if e["kind"] == "node"] == [
        "menu", "balance", "code", "readback", "bye"
    ]
    heard = [(e["source"], e["value"]) for e in trail if e["kind"] == "input"]
    assert heard == [("speech", "check my balance"), ("key", "1234")]


@pytest.mark.parametrize(
    ("flow", "script", "expected"),
    [
        ("quick", "1 4321", ["menu", "digits", "readback", "bye"]),  # FastAGI reads the keys
        ("speech_menu", "1 1234", ["menu", "balance", "code", "readback", "bye"]),  # AudioSocket
    ],
)
async def test_keys_sent_as_tones_are_heard(
    speech_stack: Stack, flow: str, script: str, expected: list[str]
) -> None:
    async with caller_ami() as ami:
        report = await place_call(
            ami, speech_stack.engine, flow, parse_steps(script), caller_number(), 60,
            Phone(inband_keys=True),
        )
    result = report.as_dict()
    assert result["nodes"] == expected
    assert [i["value"] for i in result["inputs"]] == script.split()
    assert result["outcome"] == "hangup"
