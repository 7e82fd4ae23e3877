"""What the engine's AMI user hears, on real calls: nothing of a call the engine ran to
its end (asterisk_conf/manager_ivr.conf leaves out its Hangup in [ivr-result]), while
the hang-up of a caller it transferred still reaches it, as the hand-off needs."""

from __future__ import annotations

import asyncio

import pytest

from engine.ami import Ami
from engine.caller import parse_steps, place_call
from engine.serve import ENGINE_EVENTS, Stack
from tests.conftest import caller_number, local_settings

pytestmark = pytest.mark.asterisk


async def test_the_engine_hears_only_the_calls_the_handoff_needs(
    fixture_stack: Stack, tools: Ami
) -> None:
    settings = local_settings()
    engine_user = Ami(
        settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
        events=ENGINE_EVENTS,
    )
    heard: list[dict[str, str]] = []
    engine_user.on("*", heard.append)
    ivr_hangups: list[dict[str, str]] = []  # the IVR legs' hang-ups, as the tools see them
    tools.on(
        "Hangup",
        lambda e: ivr_hangups.append(e) if e["Channel"].startswith("PJSIP/loopback-ivr") else None,
    )
    engine_user.start()
    try:
        await engine_user.wait_ready(10.0)
        ended, transferred = caller_number(), caller_number()
        engine = fixture_stack.engine
        done = await place_call(tools, engine, "quick", parse_steps("1 4321"), ended, 60)
        assert done.outcome == "hangup"
        moved = await place_call(tools, engine, "quick", parse_steps("0"), transferred, 60)
        assert moved.outcome == "transfer:support"  # place_call hangs the caller up

        def hung_up(number: str) -> dict[str, str] | None:
            return next((e for e in ivr_hangups if e.get("CallerIDNum") == number), None)

        async with asyncio.timeout(15):
            while hung_up(ended) is None or hung_up(transferred) is None:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time for anything sent to the engine's user to arrive
    finally:
        await engine_user.stop()

    first, second = hung_up(ended), hung_up(transferred)
    assert first is not None and (first["Context"], first["Exten"]) == ("ivr-result", "hangup")
    # Still in [ivr-run], on its way to the queue, or queued: as the caller hung up.
    assert second is not None and (second["Context"], second["Exten"]) != ("ivr-result", "hangup")
    by_engine = [(e["Event"], e.get("Channel")) for e in heard if "Channel" in e]
    assert ("Hangup", first["Channel"]) not in by_engine
    assert ("Hangup", second["Channel"]) in by_engine
    # Neither the callers' legs nor the tools' Originates reach it.
    callers = {e["Channel"] for e in heard if e.get("Channel", "").startswith("PJSIP/caller")}
    assert callers == set()
    assert [e for e in heard if e["Event"] in ("Newchannel", "OriginateResponse")] == []
