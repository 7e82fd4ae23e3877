"""The sandbox Asterisk (`ivr sandbox up`) takes real calls.

Each test logs in to AMI as the engine's user and places a real SIP loopback call: the
caller endpoint sends an INVITE and RTP from 127.0.0.1:5062 to the IVR side on
127.0.0.1:5060. The AMI client here is deliberately tiny and local to the tests, so these
tests check the sandbox and its configuration, not the engine's own AMI code.
"""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.asterisk

AMI_ADDR = ("127.0.0.1", 5038)
AMI_USER = "ivr-tools"  # the tools' user: it reads Newchannel and UserEvent, the engine's does not
AMI_SECRET = "ivr-tools-sandbox-secret"

Message = dict[str, str]


class Ami:
    """AMI over one TCP connection: actions matched by ActionID, every event kept."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._ids = (f"t{n}" for n in range(1_000_000))
        self.events: list[Message] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read_loop())
        self.channels: list[str] = []  # hung up when the test ends

    @classmethod
    async def connect(cls) -> Ami:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*AMI_ADDR), 5)
        banner = await asyncio.wait_for(reader.readline(), 5)
        assert banner.startswith(b"Asterisk Call Manager/"), banner
        return cls(reader, writer)

    async def _read_loop(self) -> None:
        while True:
            try:
                block = await self._reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            message: Message = {}
            for line in block.decode("utf-8", "replace").split("\r\n"):
                name, sep, value = line.partition(":")
                if sep:
                    message[name.strip()] = value.strip()
            future = self._pending.pop(message.get("ActionID", ""), None)
            if "Response" in message and future is not None:
                future.set_result(message)
            elif "Event" in message:
                async with self._changed:
                    self.events.append(message)
                    self._changed.notify_all()

    async def action(self, name: str, **fields: str) -> Message:
        action_id = next(self._ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{key}: {value}" for key, value in fields.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        return await asyncio.wait_for(future, 10)

    async def event(self, what: str, match: Callable[[Message], bool], timeout: float) -> Message:
        """The first event (already seen or still to come) that ``match`` accepts."""

        def found() -> Message | None:
            return next((e for e in self.events if match(e)), None)

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: found() is not None)
        except TimeoutError:
            seen = "\n".join(f"  {e}" for e in self.events[-20:])
            pytest.fail(f"no {what} within {timeout} s; last events:\n{seen}")
        result = found()
        assert result is not None
        return result

    async def close(self) -> None:
        gone = {e.get("Channel") for e in self.events if e.get("Event") == "Hangup"}
        for channel in self.channels:
            if channel not in gone:
                await self.action("Hangup", Channel=channel)
        await self.action("Logoff")
        self._writer.close()
        await self._writer.wait_closed()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def ami() -> AsyncIterator[Ami]:
    client = await Ami.connect()
    reply = await client.action("Login", Username=AMI_USER, Secret=AMI_SECRET)
    assert reply["Response"] == "Success", reply
    try:
        yield client
    finally:
        await client.close()


def _event(name: str, **fields: str) -> Callable[[Message], bool]:
    return lambda e: e.get("Event") == name and all(e.get(k) == v for k, v in fields.items())


@dataclass(frozen=True)
class Call:
    caller: str  # the caller's channel name
    caller_uid: str
    ivr_uid: str  # the IVR leg's Uniqueid


async def _call(ami: Ami, user: str) -> Call:
    """Place a loopback call to ``user`` and wait until the IVR side answers."""
    caller_id = f"555{random.randrange(10**7):07d}"  # tells our call from anyone else's
    caller_uid = f"sandbox-test-{uuid.uuid4().hex}"
    reply = await ami.action(
        "Originate",
        Channel=f"PJSIP/caller/sip:{user}@127.0.0.1:5060",
        Context="ivr-caller-leg",
        Exten="s",
        Priority="1",
        Async="true",
        Timeout="15000",
        CallerID=f'"sandbox test" <{caller_id}>',
        ChannelId=caller_uid,
    )
    assert reply["Response"] == "Success", reply
    answered = await ami.event(
        "OriginateResponse", _event("OriginateResponse", Uniqueid=caller_uid), 15
    )
    assert answered["Response"] == "Success", answered
    ami.channels.append(answered["Channel"])
    ivr_leg = await ami.event(
        "Newchannel of the IVR leg",
        lambda e: (
            e.get("Event") == "Newchannel"
            and e.get("CallerIDNum") == caller_id
            and e.get("Channel", "").startswith("PJSIP/loopback-ivr-")
        ),
        5,
    )
    ami.channels.append(ivr_leg["Channel"])
    assert ivr_leg["Context"] == "ivr-loopback"
    assert ivr_leg["Exten"] == user
    return Call(answered["Channel"], caller_uid, ivr_leg["Uniqueid"])


async def test_ami_login_ping_and_a_native_menu_call(ami: Ami) -> None:
    pong = await ami.action("Ping")
    assert pong["Response"] == "Success" and pong["Ping"] == "Pong", pong

    call = await _call(ami, "native")
    # The menu answers, then plays its prompt; a key pressed during the prompt ends it.
    await asyncio.sleep(0.5)
    reply = await ami.action("PlayDTMF", Channel=call.caller, Digit="1", Duration="120")
    assert reply["Response"] == "Success", reply

    digit = await ami.event("DTMFEnd on the IVR leg", _event("DTMFEnd", Uniqueid=call.ivr_uid), 5)
    assert digit["Digit"] == "1" and digit["Direction"] == "Received", digit
    ended = await ami.event("Hangup of the IVR leg", _event("Hangup", Uniqueid=call.ivr_uid), 10)
    # Option 1 of the menu hung up, not the menu's timeout (exten t) or invalid key (i).
    assert (ended["Context"], ended["Exten"]) == ("ivr-native-menu", "1"), ended
    await ami.event("Hangup of the caller", _event("Hangup", Uniqueid=call.caller_uid), 10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


async def test_no_engine_falls_back_to_the_support_queue(ami: Ami) -> None:
    port = _free_port()
    call = await _call(ami, f"service_line+{port}")
    ivr_uid = call.ivr_uid

    fallback = await ami.event(
        "UserEvent IvrFallback", _event("UserEvent", UserEvent="IvrFallback", Uniqueid=ivr_uid), 10
    )
    assert fallback["Flow"] == "service_line"
    assert fallback["Engine"] == f"127.0.0.1:{port}"
    assert fallback["AgiStatus"] == "FAILURE"
    # After the recorded apology (about 7 s) the caller waits for a person.
    joined = await ami.event("QueueCallerJoin", _event("QueueCallerJoin", Uniqueid=ivr_uid), 20)
    assert joined["Queue"] == "support", joined

    reply = await ami.action("Hangup", Channel=call.caller)
    assert reply["Response"] == "Success", reply
    await ami.event("Hangup of the IVR leg", _event("Hangup", Uniqueid=ivr_uid), 10)
    left = await ami.event("QueueCallerLeave", _event("QueueCallerLeave", Uniqueid=ivr_uid), 5)
    assert left["Queue"] == "support"


async def test_a_flow_without_a_port_goes_to_the_engine_at_the_global_address(ami: Ami) -> None:
    """`<flow>` (no `+<port>`) runs the flow at ${IVR_ENGINE}, the global. The test
    points the global at an engine of its own for its length, then puts it back, so it
    runs whether or not an `ivr serve` holds the usual address."""
    requests: asyncio.Queue[str] = asyncio.Queue()

    async def fake_engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        environment = (await reader.readuntil(b"\n\n")).decode()
        fields = dict(line.split(": ", 1) for line in environment.splitlines() if ": " in line)
        requests.put_nowait(fields.get("agi_request", ""))
        writer.write(b"EXEC MSet IVR_RESULT=hangup\n")  # the engine's own way to end a call
        await writer.drain()
        await reader.readline()
        writer.close()

    server = await asyncio.start_server(fake_engine, "127.0.0.1", 0)
    address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    before = await ami.action("Getvar", Variable="GLOBAL(IVR_ENGINE)")
    assert before["Response"] == "Success" and before["Value"], before
    reply = await ami.action("Setvar", Variable="GLOBAL(IVR_ENGINE)", Value=address)
    assert reply["Response"] == "Success", reply
    try:
        async with server:
            call = await _call(ami, "service_line")
            request = await asyncio.wait_for(requests.get(), 10)
            assert request == f"agi://{address}/service_line?answered=1"
            ivr_hangup = _event("Hangup", Uniqueid=call.ivr_uid)
            ended = await ami.event("Hangup of the IVR leg", ivr_hangup, 10)
            assert (ended["Context"], ended["Exten"]) == ("ivr-result", "hangup"), ended
    finally:
        await ami.action("Setvar", Variable="GLOBAL(IVR_ENGINE)", Value=before["Value"])


def test_an_engine_is_told_when_the_sandbox_cannot_see_its_prompts(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prompts are rendered where the engine's prompt_dir says and played from the
    same path by Asterisk: a directory the running sandbox does not share is named."""
    from engine.config import Settings
    from engine.sandbox import unseen_prompt_dir

    monkeypatch.delenv("IVR_SANDBOX_DIR", raising=False)
    assert unseen_prompt_dir(Settings().prompt_dir) is None  # what `up` shared
    problem = unseen_prompt_dir(str(tmp_path))
    assert problem is not None
    assert f"cannot see prompt_dir {tmp_path}" in problem
    assert f"IVR_PROMPT_DIR={tmp_path} ivr sandbox up" in problem
