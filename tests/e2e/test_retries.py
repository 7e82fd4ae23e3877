"""No-input and no-match by real calls: separate counters, tapered prompts, exits."""

from __future__ import annotations

import pytest

from engine.ami import Ami
from engine.caller import parse_steps, place_call
from engine.serve import Stack
from tests.conftest import caller_number

pytestmark = pytest.mark.asterisk


async def test_silence_retries_with_tapered_prompts_then_a_person(
    fixture_stack: Stack, tools: Ami
) -> None:
    report = await place_call(
        tools,
        fixture_stack.engine,
        "quick",
        parse_steps("_ _ _"),
        caller_number(),
        timeout=60,
    )
    r = report.as_dict()
    retries = [(e["retry"], e["count"]) for e in r["trail"] if e["kind"] == "retry"]
    assert retries == [("no_input", 1), ("no_input", 2), ("no_input", 3)]
    assert "I did not hear anything." in r["prompts"]
    assert "Please press a key now." in r["prompts"]
    assert r["outcome"] == "transfer:support"


async def test_no_match_and_no_input_count_apart(fixture_stack: Stack, tools: Ami) -> None:
    report = await place_call(
        tools,
        fixture_stack.engine,
        "quick",
        parse_steps("_ 5 _ 1 4321"),
        caller_number(),
        timeout=60,
    )
    r = report.as_dict()
    retries = [(e["retry"], e["count"]) for e in r["trail"] if e["kind"] == "retry"]
    assert retries == [("no_input", 1), ("no_match", 1), ("no_input", 2)]
    assert r["nodes"] == ["menu", "digits", "readback", "bye"]
    assert "You entered 4 3 2 1." in r["prompts"]


async def test_a_prompt_that_fails_on_a_call_sends_the_caller_to_the_person(
    fixture_stack: Stack, tools: Ami
) -> None:
    """A template that fails while the call runs (a field that is not there) leaves
    the caller with the flow's person, not with the dialplan's catch-all, and the
    trail says where it failed."""
    report = await place_call(
        tools, fixture_stack.engine, "quick", parse_steps("2"), caller_number(), timeout=60
    )
    r = report.as_dict()
    assert r["nodes"] == ["menu", "broken", "person"]
    assert r["outcome"] == "transfer:support" and "Connecting you." in r["prompts"]
    error = next(e for e in r["trail"] if e["kind"] == "error")
    assert error["node"] == "broken" and error["then"] == "person"
    assert "quick.yaml:35: flow 'quick' node 'broken':" in error["reason"]


async def test_options_on_offer_follow_their_when(fixture_stack: Stack, tools: Ami) -> None:
    """On a real call: with nothing due, 2 ('pay my bill') is no choice; two slots
    offer two keys, so 3 is no choice either, and the prompt says the slots."""
    report = await place_call(
        tools, fixture_stack.engine, "conditional", parse_steps("2 1 3 2"), caller_number(),
        timeout=60,
    )
    r = report.as_dict()
    retries = [(e["node"], e["retry"]) for e in r["trail"] if e["kind"] == "retry"]
    assert retries == [("main", "no_match"), ("slot", "no_match")]
    assert "For 9:00 press 1. For 10:30 press 2." in " ".join(r["prompts"])
    assert r["outcome"] == "transfer:support"
