"""Who waits in which queue, where, and for how long: app_queue's AMI events, read.

No I/O: :meth:`QueueBook.feed` takes one AMI event (its fields) and returns what
happened in the book's terms, for the hub to act on. Theory of operation:

    QueueCallerJoin   a caller is in ``Queue`` at ``Position`` (1 = next)   -> Joined
    AgentCalled       a member's phone rings for the caller                  -> Ringing
    AgentRingNoAnswer it rang out                                            -> RangOut
    QueueCallerLeave  the caller left the line, at ``Position``: everyone
                      behind moves up one (exact, whoever else is waiting)    -> Left
    AgentConnect      the member answered; ``HoldTime`` updates the queue's
                      average exactly as app_queue does: (3 * avg + new) / 4 -> Connected
    AgentComplete     the conversation ended                                  -> Completed
    Hangup            the caller's channel is gone                            -> Gone

The estimated wait is app_queue's own, so the page says what the caller hears:
the queue's average hold time less the time already waited (``None`` until the
book has seen a caller answered in that queue).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

State = Literal["waiting", "ringing", "connected", "ended"]


@dataclass(slots=True)
class QueuedCall:
    channel: str
    uniqueid: str
    queue: str
    caller_id: str
    position: int
    joined: float  # monotonic
    state: State = "waiting"
    member: str = ""  # the agent (MemberName) ringing or talking
    agent_channel: str = ""
    journey: str | None = None
    hold_s: int | None = None


@dataclass(frozen=True, slots=True)
class Joined:
    call: QueuedCall


@dataclass(frozen=True, slots=True)
class Ringing:
    call: QueuedCall
    member: str


@dataclass(frozen=True, slots=True)
class RangOut:
    call: QueuedCall
    member: str


@dataclass(frozen=True, slots=True)
class Moved:
    """Callers behind one who left moved up (their ``position`` is already new)."""

    calls: tuple[QueuedCall, ...]


@dataclass(frozen=True, slots=True)
class Connected:
    call: QueuedCall
    member: str


@dataclass(frozen=True, slots=True)
class Completed:
    call: QueuedCall
    member: str
    reason: str


@dataclass(frozen=True, slots=True)
class Gone:
    call: QueuedCall


Happening = Joined | Ringing | RangOut | Moved | Connected | Completed | Gone


class QueueBook:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.calls: dict[str, QueuedCall] = {}  # by caller channel, until it is gone
        self.holdtime: dict[str, float] = {}  # queue -> average seconds to answer

    def feed(self, fields: Mapping[str, str]) -> list[Happening]:
        name = fields.get("Event", "")
        channel = fields.get("Channel", "")
        if name == "QueueCallerJoin":
            return self._join(fields)
        call = self.calls.get(channel)
        if call is None:
            return []
        member = fields.get("MemberName", "")
        if name == "AgentCalled":
            call.state, call.member = "ringing", member
            call.agent_channel = fields.get("DestChannel", "")
            return [Ringing(call, member)]
        if name == "AgentRingNoAnswer":
            if call.state == "ringing" and call.member == member:
                call.state, call.member = "waiting", ""
            return [RangOut(call, member)]
        if name == "QueueCallerLeave":
            return self._leave(call, fields)
        if name == "AgentConnect":
            call.state, call.member = "connected", member
            call.agent_channel = fields.get("DestChannel", call.agent_channel)
            call.hold_s = _int(fields.get("HoldTime"))
            self._learn(call.queue, call.hold_s)
            return [Connected(call, member)]
        if name == "AgentComplete":
            call.state = "ended"
            return [Completed(call, member, fields.get("Reason", ""))]
        if name == "Hangup":
            del self.calls[channel]
            call.state = "ended"
            return [Gone(call)]
        return []

    def _join(self, fields: Mapping[str, str]) -> list[Happening]:
        call = QueuedCall(
            channel=fields.get("Channel", ""),
            uniqueid=fields.get("Uniqueid", ""),
            queue=fields.get("Queue", ""),
            caller_id=fields.get("CallerIDNum", ""),
            position=_int(fields.get("Position")) or 1,
            joined=self._clock(),
        )
        self.calls[call.channel] = call
        return [Joined(call)]

    def _leave(self, call: QueuedCall, fields: Mapping[str, str]) -> list[Happening]:
        left_at = _int(fields.get("Position")) or call.position
        moved = []
        for other in self.calls.values():
            same_line = other is not call and other.queue == call.queue
            if same_line and other.state != "connected" and other.position > left_at:
                other.position -= 1
                moved.append(other)
        call.position = 0
        return [Moved(tuple(moved))] if moved else []

    def _learn(self, queue: str, hold_s: int | None) -> None:
        if hold_s is None:
            return
        old = self.holdtime.get(queue)
        self.holdtime[queue] = float(hold_s) if old is None else (3 * old + hold_s) / 4

    def estimated_wait(self, call: QueuedCall) -> int | None:
        """Seconds still to wait, as app_queue announces it; None while unknown."""
        if call.state == "connected":
            return 0
        average = self.holdtime.get(call.queue)
        if average is None:
            return None
        return max(0, round(average - (self._clock() - call.joined)))

    def waiting(self, queue: str) -> int:
        return sum(1 for c in self.calls.values() if c.queue == queue and c.position > 0)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
