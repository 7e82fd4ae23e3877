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
    Hangup            an agent's channel in a conversation: it ended          -> Completed

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
    hold_s: int | None = None  # seconds waited before an agent answered
    talk_s: int | None = None  # seconds talked, once the conversation ended
    joined_at: float = 0.0  # wall clock, for the record kept with the journey
    left: float | None = None  # monotonic: when the caller left the line
    connected: float | None = None  # monotonic: when an agent answered
    gone: float | None = None  # monotonic: when the caller's channel hung up

    def record(self) -> dict[str, object]:
        """How the wait went, for the journey's store: answered (and by whom, after
        how long) or not (hung up or timed out while waiting). Asterisk may report
        the caller's hang-up before the leaving or the end of the talk: the hang-up
        then tells when."""
        answered = self.hold_s is not None
        waited = self.hold_s
        end = self.left if self.left is not None else self.gone
        if not answered and end is not None:
            waited = max(0, round(end - self.joined))
        talk = self.talk_s
        if talk is None and self.connected is not None and self.gone is not None:
            talk = max(0, round(self.gone - self.connected))
        return {
            "queue": self.queue,
            "joined": self.joined_at,
            "answered": answered,
            "agent": self.member if answered else "",
            "waited_s": waited,
            "talk_s": talk,
        }


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
            return [Joined(self._add(fields, _int(fields.get("Position")) or 1))]
        if name == "QueueCallerLeave":
            return self._leave(fields)
        out: list[Happening] = []
        call = self.calls.get(channel)
        if call is None and name == "Hangup":
            return self._agent_gone(channel)
        if call is None:
            if name not in ("AgentCalled", "AgentConnect"):
                return out
            # A caller who joined before this book was watching (the engine restarted
            # while they waited): known from now on, their place in line unknown.
            call = self._add(fields, 0)
            out.append(Joined(call))
        member = fields.get("MemberName", "")
        if name == "AgentCalled":
            call.state, call.member = "ringing", member
            call.agent_channel = fields.get("DestChannel", "")
            out.append(Ringing(call, member))
        elif name == "AgentRingNoAnswer":
            if call.state == "ringing" and call.member == member:
                call.state, call.member = "waiting", ""
            out.append(RangOut(call, member))
        elif name == "AgentConnect":
            call.state, call.member, call.position = "connected", member, 0
            call.agent_channel = fields.get("DestChannel", call.agent_channel)
            call.hold_s = _int(fields.get("HoldTime"))
            call.connected = self._clock()
            self._learn(call.queue, call.hold_s)
            out.append(Connected(call, member))
        elif name == "AgentComplete":
            call.talk_s = _int(fields.get("TalkTime"))
            if call.state != "ended":  # else ended when the agent's phone hung up
                call.state = "ended"
                out.append(Completed(call, member, fields.get("Reason", "")))
        elif name == "Hangup":
            del self.calls[channel]
            call.state, call.gone = "ended", self._clock()
            out.append(Gone(call))
        return out

    def _agent_gone(self, channel: str) -> list[Happening]:
        """An agent's phone hung up: their conversation is over now. AgentComplete
        may come tens of seconds later while the caller stays on the line (a survey
        after the agent), and meanwhile the desktop showed the call as going on and
        let the next call take the screen."""
        phone = _phone(channel)
        for call in self.calls.values():
            if call.state == "connected" and call.agent_channel and _phone(
                call.agent_channel
            ) == phone:
                call.state = "ended"
                if call.connected is not None:
                    call.talk_s = round(self._clock() - call.connected)
                return [Completed(call, call.member, "agent")]
        return []

    def _add(self, fields: Mapping[str, str], position: int) -> QueuedCall:
        call = QueuedCall(
            channel=fields.get("Channel", ""),
            uniqueid=fields.get("Uniqueid", ""),
            queue=fields.get("Queue", ""),
            caller_id=fields.get("CallerIDNum", ""),
            position=position,
            joined=self._clock(),
            joined_at=time.time(),
        )
        self.calls[call.channel] = call
        return call

    def _leave(self, fields: Mapping[str, str]) -> list[Happening]:
        """Whoever left (known or not), those behind them in that queue move up."""
        call = self.calls.get(fields.get("Channel", ""))
        queue = fields.get("Queue", call.queue if call is not None else "")
        left_at = _int(fields.get("Position")) or (call.position if call is not None else 0)
        moved = []
        if left_at > 0:
            for other in self.calls.values():
                waiting = other is not call and other.queue == queue and other.position > left_at
                if waiting and other.state != "connected":
                    other.position -= 1
                    moved.append(other)
        if call is not None:
            call.position = 0
            call.left = self._clock()
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


def _phone(channel: str) -> str:
    """A channel without a Local channel's ";1"/";2": either half hanging up is the
    agent's phone hanging up."""
    return channel.rsplit(";", 1)[0] if channel.startswith("Local/") else channel


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
