"""Events reach the handlers whole, however the stream is cut, and in UTF-8;
what belongs to an action, or to panoramisk, still goes there; events no handler
wants are dropped unread."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import pytest

from engine import ami as ami_module
from engine.ami import Ami, action_id, event_name, plain_event
from engine.config import Secret
from tests.ami.conftest import FakeAmi

HANGUP = (
    "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/caller-00000001\r\n"
    "CallerIDNum: 5551234\r\nCallerIDName: 王小明\r\nAccountCode: \r\n"
    "Uniqueid: 1700000000.1\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"
)
NEWCHANNEL = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/ivr-00000002\r\n"
    "Uniqueid: 1700000000.2\r\n\r\n"
)


@pytest.fixture
async def connected(fake: tuple[FakeAmi, int]) -> AsyncIterator[tuple[FakeAmi, Ami]]:
    state, port = fake
    ami = Ami("127.0.0.1", port, "ivr", Secret("x"), max_backoff=0.2)
    ami.start()
    await ami.wait_ready(5)
    yield state, ami
    await ami.stop()


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def test_events_arrive_whole_however_the_stream_is_cut(
    connected: tuple[FakeAmi, Ami],
) -> None:
    state, ami = connected
    seen: list[dict[str, str]] = []
    ami.on("*", seen.append)
    raw = (HANGUP + NEWCHANNEL).encode()
    name_at = raw.index("王".encode())
    # cut inside a header, inside a UTF-8 character, and between the blank lines
    cuts = [0, 30, name_at + 1, name_at + 4, len(HANGUP.encode()) - 1, len(raw)]
    await state.push(*(raw[a:b] for a, b in itertools.pairwise(cuts)))
    await _until(lambda: len(seen) == 2)
    hangup, newchannel = seen
    assert hangup["Event"] == "Hangup" and hangup["CallerIDName"] == "王小明"
    assert hangup["Cause-txt"] == "Normal Clearing" and hangup["AccountCode"] == ""
    assert newchannel == {
        "Event": "Newchannel",
        "Privilege": "call,all",
        "Channel": "PJSIP/ivr-00000002",
        "Uniqueid": "1700000000.2",
    }


async def test_an_event_that_answers_an_action_goes_to_the_action(
    connected: tuple[FakeAmi, Ami],
) -> None:
    state, ami = connected
    seen: list[str] = []
    ami.on("*", lambda fields: seen.append(fields["Event"]))
    # panoramisk completes an asynchronous Originate only on its OriginateResponse
    answer = await ami.action(
        {"Action": "Originate", "Channel": "PJSIP/x", "Async": "true", "ChannelId": "u1"},
        timeout=3,
    )
    assert answer["Response"] == "Success"
    await state.push(NEWCHANNEL.encode())
    await _until(lambda: seen == ["Newchannel"])  # and no OriginateResponse before it


async def test_shutdown_still_closes_the_connection(connected: tuple[FakeAmi, Ami]) -> None:
    state, ami = connected
    await state.push(b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\n\r\n")
    await _until(lambda: ami.connects == 2)  # panoramisk saw it, and the Ami reconnected


async def test_another_sessions_action_event_reaches_the_handlers(
    connected: tuple[FakeAmi, Ami],
) -> None:
    state, ami = connected
    seen: list[dict[str, str]] = []
    ami.on("OriginateResponse", seen.append)
    # a tool on another AMI session originated: its answer comes to every session
    await state.push(
        b"Event: OriginateResponse\r\nActionID: someone-else/7\r\nResponse: Failure\r\n\r\n"
    )
    await _until(lambda: len(seen) == 1)
    assert seen[0]["ActionID"] == "someone-else/7" and seen[0]["Response"] == "Failure"


async def test_events_no_handler_wants_are_not_read(
    connected: tuple[FakeAmi, Ami], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, ami = connected
    parsed: list[str] = []

    def counting(block: str) -> dict[str, str] | None:
        parsed.append(block.partition("\r\n")[0])
        return plain_event(block)

    monkeypatch.setattr(ami_module, "plain_event", counting)
    seen: list[str] = []
    ami.on("Hangup", lambda fields: seen.append(fields["Uniqueid"]))
    await state.push((NEWCHANNEL + NEWCHANNEL + HANGUP).encode())
    await _until(lambda: seen == ["1700000000.1"])
    assert parsed == ["Event: Hangup"]


def test_event_names_action_ids_and_fields() -> None:
    assert event_name("Event: Hangup\r\nUniqueid: 1.2") == "Hangup"
    assert event_name("Event: Hangup") == "Hangup"
    assert event_name("Response: Success\r\nActionID: 1") is None  # an action's answer
    assert event_name("Event: FullyBooted\r\nStatus: Fully Booted") is None  # panoramisk's
    assert event_name("Event: Shutdown\r\nShutdown: Cleanly") is None
    assert action_id("Event: OriginateResponse\r\nActionID: a/1/2\r\nResponse: Failure") == "a/1/2"
    assert action_id("Event: OriginateResponse\r\nActionID: a/1/2") == "a/1/2"
    assert action_id("Event: Hangup\r\nUniqueid: 1.2") is None
    assert plain_event("Event: Hangup\r\nUniqueid: 1.2\r\nCause:") is None  # not Key: value
    assert plain_event("Event: Hangup\r\nUniqueid: 1.2\r\nCause: 16") == {
        "Event": "Hangup",
        "Uniqueid": "1.2",
        "Cause": "16",
    }
    assert plain_event("Event: VarSet\r\nVariable: A\r\nVariable: B") is None  # a repeat
