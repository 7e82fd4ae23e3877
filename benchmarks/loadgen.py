"""Concurrent real calls through the sandbox Asterisk, and what happened to each.

A call is an AMI ``Originate`` of the sandbox's ``caller`` endpoint to a user of the
IVR side (``native`` for the dialplan menu, ``<flow>+<port>`` for an engine), with
the caller leg running ``[ivr-bench-caller]``: silent RTP, key 1 after 1.5 s, then it
waits for the IVR to hang up. The key comes from the dialplan, so the generator
sends one action per call; everything else is read from AMI events, which the
tools' user ``ivr-tools`` reads (the engine's does not): ``Newchannel``, ``DTMFEnd``,
``Hangup``.

panoramisk hands the ``OriginateResponse`` of an asynchronous Originate to the
action instead of the event handlers, so the action returns when the caller leg is
answered (or the originate failed): that moment is the call's *answered* time.

Per call the generator records (``loop.time()`` when the event was read):
originated, answered, the IVR leg's key (``DTMFEnd`` received), where the IVR leg
was when it hung up (context, extension), and when the caller leg hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from dataclasses import dataclass, field

from engine.ami import Ami, AmiError

CALLER_CONTEXT = "ivr-bench-caller"
ORIGINATE_TIMEOUT_MS = 15_000
DRAIN_S = 15.0  # longest wait for the channels of a run to go after it


@dataclass(frozen=True, slots=True)
class Target:
    """What the calls dial: ``mode`` names it in reports."""

    mode: str
    user: str  # the user part of the IVR side's SIP URI


@dataclass(eq=False)
class CallRecord:
    mode: str
    caller_id: str
    channel_id: str  # the caller leg's Uniqueid (we choose it)
    originated: float
    answered: float | None = None
    key_heard: float | None = None  # the IVR leg received the key
    ivr_gone: float | None = None
    ivr_place: str = ""  # "context,exten" of the IVR leg when it hung up
    gone: float | None = None  # the caller leg hung up
    cause: str = ""  # the caller leg's hang-up cause
    caller_channel: str = ""
    ivr_channel: str = ""
    ivr_uid: str = ""
    caller_answered_at: float | None = None  # the caller leg's own clock (Asterisk's)
    caller_gone_at: float | None = None
    error: str = ""  # the generator gave up: originate refused, deadline passed
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def answer_to_hangup(self) -> float | None:
        if self.answered is None or self.gone is None:
            return None
        return self.gone - self.answered

    @property
    def caller_answer_to_hangup(self) -> float | None:
        """Answer to hang-up on the caller leg's clock (see the module's doc)."""
        if self.caller_answered_at is None or self.caller_gone_at is None:
            return None
        return self.caller_gone_at - self.caller_answered_at

    @property
    def setup(self) -> float | None:
        return None if self.answered is None else self.answered - self.originated

    @property
    def key_to_hangup(self) -> float | None:
        if self.key_heard is None or self.ivr_gone is None:
            return None
        return self.ivr_gone - self.key_heard

    def check_done(self) -> None:
        if self.gone is not None and (not self.ivr_uid or self.ivr_gone is not None):
            self.done.set()


class CallGenerator:
    """Places calls on one AMI connection and follows them through its events."""

    def __init__(self, ami: Ami, deadline_s: float) -> None:
        self._ami = ami
        self._deadline_s = deadline_s
        self._by_uid: dict[str, CallRecord] = {}  # both legs, until each hangs up
        self._by_caller: dict[str, CallRecord] = {}  # calls whose IVR leg is not yet seen
        self._live: dict[str, str] = {}  # uniqueid -> channel name, of every leg we made
        self._idle = asyncio.Event()  # set while no leg of ours is up
        self._idle.set()
        self._numbers = itertools.count(1)
        self._prefix = f"77{random.randrange(1000):03d}"
        ami.on("Newchannel", self._on_newchannel)
        ami.on("DTMFEnd", self._on_dtmf)
        ami.on("Hangup", self._on_hangup)
        ami.on("UserEvent", self._on_user_event)

    @property
    def live_channels(self) -> int:
        return len(self._live)

    async def run(self, target: Target, concurrency: int, duration_s: float) -> list[CallRecord]:
        """Keep ``concurrency`` calls up for ``duration_s``: each ends, the next starts.
        First calls are spread over ``ramp`` seconds, so arrivals come evenly."""
        loop = asyncio.get_running_loop()
        end = loop.time() + duration_s
        ramp = min(2.0, duration_s / 4)
        records: list[CallRecord] = []

        async def worker(index: int) -> None:
            await asyncio.sleep(ramp * index / concurrency)
            while loop.time() < end:
                records.append(await self.call(target))

        async with asyncio.TaskGroup() as group:
            for index in range(concurrency):
                group.create_task(worker(index))
        return records

    async def call(self, target: Target) -> CallRecord:
        """One call, from Originate until both legs hung up (at most the deadline)."""
        loop = asyncio.get_running_loop()
        caller_id = f"{self._prefix}{next(self._numbers):07d}"
        record = CallRecord(target.mode, caller_id, _uid(), loop.time())
        self._by_uid[record.channel_id] = record
        self._by_caller[caller_id] = record
        try:
            async with asyncio.timeout(self._deadline_s):
                try:
                    await self._ami.action(
                        {
                            "Action": "Originate",
                            "Channel": f"PJSIP/caller/sip:{target.user}@127.0.0.1:5060",
                            "Context": CALLER_CONTEXT,
                            "Exten": "s",
                            "Priority": "1",
                            "CallerID": f'"bench" <{caller_id}>',
                            "Async": "true",
                            "ChannelId": record.channel_id,
                            "Timeout": str(ORIGINATE_TIMEOUT_MS),
                        },
                        timeout=self._deadline_s,
                    )
                except AmiError as exc:
                    record.error = f"originate: {exc}"
                    return record
                if record.gone is None:
                    record.answered = loop.time()
                await record.done.wait()
        except TimeoutError:
            record.error = f"not over after {self._deadline_s:.0f} s"
            await self._hang_up(record)
        finally:
            self._by_caller.pop(caller_id, None)
        return record

    async def drain(self) -> int:
        """Wait for every leg we made to hang up; hang up what is left. How many were left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), DRAIN_S)
        left = dict(self._live)
        for channel in left.values():
            with contextlib.suppress(AmiError):
                await self._ami.action({"Action": "Hangup", "Channel": channel}, timeout=5.0)
        return len(left)

    async def _hang_up(self, record: CallRecord) -> None:
        for channel in (record.caller_channel, record.ivr_channel):
            if channel:
                with contextlib.suppress(AmiError):
                    await self._ami.action({"Action": "Hangup", "Channel": channel}, timeout=5.0)

    # ------------------------------------------------------------ events

    def _on_newchannel(self, fields: dict[str, str]) -> None:
        uid = fields.get("Uniqueid", "")
        record = self._by_uid.get(uid)
        if record is not None:  # our caller leg: we chose its Uniqueid
            record.caller_channel = fields.get("Channel", "")
            self._live[uid] = record.caller_channel
            self._idle.clear()
            return
        record = self._by_caller.pop(fields.get("CallerIDNum", ""), None)
        if record is not None:  # the IVR leg of one of our calls
            record.ivr_uid = uid
            record.ivr_channel = fields.get("Channel", "")
            self._by_uid[uid] = record
            self._live[uid] = record.ivr_channel
            self._idle.clear()

    def _on_dtmf(self, fields: dict[str, str]) -> None:
        uid = fields.get("Uniqueid", "")
        record = self._by_uid.get(uid)
        if (
            record is not None
            and uid == record.ivr_uid
            and fields.get("Direction") == "Received"
            and record.key_heard is None
        ):
            record.key_heard = asyncio.get_running_loop().time()

    def _on_user_event(self, fields: dict[str, str]) -> None:
        if fields.get("UserEvent") != "BenchCall":
            return
        uid = fields.get("Uniqueid", "")
        record = self._by_uid.get(uid)  # the caller leg's Hangup comes after it
        if record is None or uid != record.channel_id:
            return
        with contextlib.suppress(ValueError):
            record.caller_answered_at = float(fields.get("Answered", ""))
            record.caller_gone_at = float(fields.get("Gone", ""))

    def _on_hangup(self, fields: dict[str, str]) -> None:
        uid = fields.get("Uniqueid", "")
        record = self._by_uid.pop(uid, None)
        self._live.pop(uid, None)
        if not self._live:
            self._idle.set()
        if record is None:
            return
        now = asyncio.get_running_loop().time()
        if uid == record.channel_id:
            record.gone = now
            record.cause = fields.get("Cause", "")
        else:
            record.ivr_gone = now
            record.ivr_place = f"{fields.get('Context', '')},{fields.get('Exten', '')}"
        record.check_done()


def _uid() -> str:
    return f"bench-{random.getrandbits(64):016x}"
