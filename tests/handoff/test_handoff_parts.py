"""The handoff's small parts, in memory: the queue book, the call-back policy, pushed
pages, settings."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.handoff.callback import CallbackPolicy, normalise
from engine.handoff.desks import OUTBOX_LIMIT, Desk
from engine.handoff.pushes import PushError, check_answer, parse_push
from engine.handoff.queue import (
    Completed,
    Connected,
    Gone,
    Joined,
    Moved,
    QueueBook,
    RangOut,
    Ringing,
)
from engine.handoff.settings import HandoffConfigError, HandoffSettings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def join(book: QueueBook, channel: str, position: int, queue: str = "support") -> None:
    book.feed(
        {
            "Event": "QueueCallerJoin",
            "Channel": channel,
            "Uniqueid": f"u-{channel}",
            "Queue": queue,
            "Position": str(position),
            "CallerIDNum": "+15550001",
        }
    )


def test_positions_move_up_as_callers_ahead_leave() -> None:
    book = QueueBook(Clock())
    for position, channel in enumerate(("a", "b", "c"), start=1):
        join(book, channel, position)
    join(book, "x", 1, queue="billing")
    happened = book.feed({"Event": "QueueCallerLeave", "Channel": "a", "Position": "1"})
    assert [type(h) for h in happened] == [Moved]
    assert (book.calls["b"].position, book.calls["c"].position, book.calls["x"].position) == (
        1,
        2,
        1,
    )
    assert book.waiting("support") == 2


def test_callers_ahead_the_book_never_saw_still_move_the_line() -> None:
    book = QueueBook(Clock())
    join(book, "b", 2)  # someone joined before the book was watching, at position 1
    join(book, "c", 3)
    left = {"Event": "QueueCallerLeave", "Channel": "early", "Queue": "support", "Position": "1"}
    assert [type(h) for h in book.feed(left)] == [Moved]
    assert (book.calls["b"].position, book.calls["c"].position) == (1, 2)


def test_ringing_answering_and_hanging_up() -> None:
    clock = Clock()
    book = QueueBook(clock)
    join(book, "a", 1)
    ring = {"Channel": "a", "MemberName": "agent1", "DestChannel": "Local/agent1;1"}
    assert isinstance(book.feed({"Event": "AgentCalled", **ring})[0], Ringing)
    call = book.calls["a"]
    assert (call.state, call.member) == ("ringing", "agent1")
    assert isinstance(book.feed({"Event": "AgentRingNoAnswer", **ring})[0], RangOut)
    assert (call.state, call.member) == ("waiting", "")
    book.feed({"Event": "AgentCalled", **ring})
    book.feed({"Event": "QueueCallerLeave", "Channel": "a", "Position": "1"})
    connected = book.feed({"Event": "AgentConnect", "HoldTime": "40", **ring})
    assert isinstance(connected[0], Connected) and book.calls["a"].hold_s == 40
    assert isinstance(book.feed({"Event": "Hangup", "Channel": "a"})[0], Gone)
    assert "a" not in book.calls


def test_the_record_of_a_wait_kept_with_the_journey() -> None:
    clock = Clock()
    book = QueueBook(clock)
    join(book, "a", 1)
    join(book, "b", 2)
    call = book.calls["a"]
    book.feed({"Event": "AgentConnect", "Channel": "a", "MemberName": "m1", "HoldTime": "9"})
    book.feed({"Event": "AgentComplete", "Channel": "a", "MemberName": "m1", "TalkTime": "64"})
    record = call.record()
    assert (record["answered"], record["agent"], record["waited_s"], record["talk_s"]) == (
        True,
        "m1",
        9,
        64,
    )
    assert record["queue"] == "support" and record["joined"] > 0
    clock.now += 25  # "b" gives up after 25 s in line
    book.feed({"Event": "QueueCallerLeave", "Channel": "b", "Position": "1"})
    gone = book.calls["b"]
    book.feed({"Event": "Hangup", "Channel": "b"})
    assert {k: gone.record()[k] for k in ("answered", "agent", "waited_s", "talk_s")} == {
        "answered": False,
        "agent": "",
        "waited_s": 25,
        "talk_s": None,
    }


def test_a_hang_up_reported_first_still_tells_the_wait_and_the_talk() -> None:
    """Asterisk may send the caller's Hangup before QueueCallerLeave or AgentComplete."""
    clock = Clock()
    book = QueueBook(clock)
    join(book, "a", 1)
    join(book, "b", 2)
    talking, waiting = book.calls["a"], book.calls["b"]
    book.feed({"Event": "AgentConnect", "Channel": "a", "MemberName": "m1", "HoldTime": "3"})
    clock.now += 42
    book.feed({"Event": "Hangup", "Channel": "a"})
    book.feed({"Event": "AgentComplete", "Channel": "a", "MemberName": "m1", "TalkTime": "42"})
    book.feed({"Event": "Hangup", "Channel": "b"})
    assert (talking.record()["waited_s"], talking.record()["talk_s"]) == (3, 42)
    assert (waiting.record()["answered"], waiting.record()["waited_s"]) == (False, 42)


def test_the_wait_estimate_is_app_queues_own() -> None:
    clock = Clock()
    book = QueueBook(clock)
    join(book, "a", 1)
    assert book.estimated_wait(book.calls["a"]) is None  # nothing learnt yet
    book.feed({"Event": "AgentConnect", "Channel": "a", "MemberName": "m", "HoldTime": "80"})
    join(book, "b", 1)
    book.feed({"Event": "AgentConnect", "Channel": "b", "MemberName": "m", "HoldTime": "40"})
    assert book.holdtime["support"] == 70  # (3 * 80 + 40) / 4
    join(book, "c", 1)
    clock.now += 30
    assert book.estimated_wait(book.calls["c"]) == 40  # the average less what was waited
    clock.now += 100
    assert book.estimated_wait(book.calls["c"]) == 0


def test_a_caller_who_joined_before_the_book_watched_is_adopted_when_rung() -> None:
    book = QueueBook(Clock())
    assert book.feed({"Event": "Hangup", "Channel": "stranger"}) == []
    rung = book.feed({"Event": "AgentCalled", "Channel": "early", "Queue": "q", "MemberName": "m"})
    assert [type(h) for h in rung] == [Joined, Ringing]
    assert book.calls["early"].position == 0 and book.calls["early"].state == "ringing"
    assert isinstance(
        book.feed({"Event": "QueueCallerJoin", "Channel": "n", "Queue": "q"})[0], Joined
    )


def test_callback_numbers_and_how_often() -> None:
    clock = Clock()
    policy = CallbackPolicy(HandoffSettings(callback_number_gap_s=600), clock)
    assert normalise(" +1 (555) 010-0199 ") == "+15550100199"
    for bad in ("12", "+0123456789", "5550100199,IVR_X=1", "+1555010019912345678"):
        refusal = policy.check("j1", bad)
        assert refusal is not None and refusal.reason == "invalid_number", bad
    assert policy.check("j1", "+15550100199") is None
    refused = policy.check("j1", "+15550100198")
    assert refused is not None and refused.reason == "too_soon" and refused.retry_after_s == 120
    refused = policy.check("j2", "+15550100199")  # another journey, the same phone
    assert refused is not None and refused.reason == "number_busy"
    clock.now += 121
    assert policy.check("j1", "+15550100198") is None
    clock.now += 121
    refused = policy.check("j1", "+15550100197")
    assert refused is not None and refused.reason == "too_many"
    clock.now += 600
    assert policy.check("j2", "+15550100199") is None


def test_call_backs_per_minute_whichever_journeys_ask() -> None:
    clock = Clock()
    policy = CallbackPolicy(HandoffSettings(callback_per_minute=3), clock)
    for n in range(3):
        assert policy.check(f"j{n}", f"+1555010010{n}") is None
        clock.now += 10
    refused = policy.check("j3", "+15550100103")
    assert refused is not None and refused.reason == "busy" and refused.retry_after_s == 30
    assert policy.check("j3", "+15550100103") is not None  # a refusal is not counted
    clock.now += 30  # the first call is a minute old: one more may go
    assert policy.check("j3", "+15550100103") is None
    refused = policy.check("j4", "+15550100104")
    assert refused is not None and refused.reason == "busy" and refused.retry_after_s == 10


def test_the_configured_pattern_narrows_the_numbers() -> None:
    policy = CallbackPolicy(HandoffSettings(callback_pattern=r"(\+?86)?1[3-9][0-9]{9}"))
    assert policy.check("j", "+15550100199") is not None
    assert policy.check("j", "13812345678") is None


def test_pushed_pages_are_checked() -> None:
    card = parse_push({"kind": "card", "title": "Your new card", "text": "Arrives Monday"}, "a1")
    assert card.kind == "card" and card.fields == ()
    form = parse_push(
        {
            "kind": "form",
            "title": "Confirm",
            "fields": [
                {"name": "postcode", "label": "Postcode", "pattern": "[0-9]{5}"},
                {"name": "dob", "label": "Date of birth", "sensitive": True},
                {"name": "note", "label": "Anything else", "required": False},
            ],
        },
        "a1",
    )
    clean, problems = check_answer(form, {"postcode": "1011", "dob": " 01/01/1990 "})
    assert problems == {"postcode": "not in the expected form"}
    assert clean == {"dob": "01/01/1990"}  # sensitive: a hidden box, not a date by its name
    for spec in (
        {"kind": "page", "title": "x"},
        {"kind": "card", "title": ""},
        {"kind": "form", "title": "x", "fields": []},
        {"kind": "form", "title": "x", "fields": [{"name": "Bad Name"}]},
        {"kind": "form", "title": "x", "fields": [{"name": "a", "pattern": "("}]},
        {"kind": "form", "title": "x", "fields": [{"name": "a"}, {"name": "a"}]},
    ):
        with pytest.raises(PushError):
            parse_push(spec, "a1")


def test_pushed_form_fields_have_types_checked_on_the_answer() -> None:
    form = parse_push(
        {
            "kind": "form",
            "title": "Your details",
            "fields": [
                {"name": "email", "label": "E-mail"},  # typed by its name
                {"name": "phone", "label": "Phone"},
                {"name": "visit", "label": "Visit", "type": "date"},
                {"name": "amount", "label": "Amount", "type": "number"},
                {"name": "note", "label": "Note", "required": False},
            ],
        },
        "a1",
    )
    assert [f.type for f in form.fields] == ["email", "tel", "date", "number", "text"]
    good = {"email": "li.wei@example.cn", "phone": "+86 138 0013 8000", "visit": "2026-12-24",
            "amount": "12.50", "note": "@ anything"}
    assert check_answer(form, good) == (good, {})
    bad = {"email": "li.wei@", "phone": "call me", "visit": "24/12", "amount": "twelve"}
    assert check_answer(form, bad)[1] == {
        "email": "not an email",
        "phone": "not a phone number",
        "visit": "not a date",
        "amount": "not a number",
    }
    with pytest.raises(PushError, match="type: one of text, email, tel, number, date"):
        parse_push({"kind": "form", "title": "x", "fields": [{"name": "a", "type": "url"}]}, "a1")


def test_settings_from_the_environment() -> None:
    settings = HandoffSettings.from_env(
        {
            "IVR_HANDOFF_AGENT_QUEUES": "support, billing",
            "IVR_HANDOFF_OFFER_ON_RING": "no",
            "IVR_HANDOFF_CALLBACK_PER_JOURNEY": "3",
            "IVR_HANDOFF_AGENT_GRACE_S": "2.5",
            "IVR_HANDOFF_CALLBACK_PER_MINUTE": "5",
        }
    )
    assert settings.agent_queues == ("support", "billing")
    assert settings.offer_on_ring is False
    assert settings.callback_per_journey == 3 and settings.agent_grace_s == 2.5
    assert settings.callback_per_minute == 5 and HandoffSettings().callback_per_minute == 20
    with pytest.raises(HandoffConfigError):
        HandoffSettings.from_env({"IVR_HANDOFF_OFFER_ON_RING": "maybe"})
    with pytest.raises(HandoffConfigError, match="CALLBACK_PER_MINUTE"):
        HandoffSettings.from_env({"IVR_HANDOFF_CALLBACK_PER_MINUTE": "0"})


async def test_a_desk_too_far_behind_is_closed_not_left_open_and_deaf() -> None:
    """A desktop that stopped reading fills its outbox: it is closed (its backlog
    dropped so that the close gets through), and its socket then ends."""
    desk = Desk("agent1", "PJSIP/agent1", ("support",))
    for n in range(OUTBOX_LIMIT + 1):
        desk.put({"type": "pong", "n": n})
    assert desk.closed
    async with asyncio.timeout(1):
        assert await desk.next() is None


def test_an_agent_s_pattern_cannot_hold_the_engine() -> None:
    """"(a|aa)+$" takes exponential time on an answer that almost matches: checked
    with a time limit, such an answer is refused in about PATTERN_S, not minutes."""
    push = parse_push(
        {"kind": "form", "title": "f", "fields": [{"name": "a", "label": "A",
                                                  "pattern": "(a|aa)+$"}]},
        "agent1",
    )
    started = time.monotonic()
    clean, problems = check_answer(push, {"a": "a" * 100 + "!"})
    assert time.monotonic() - started < 1.0
    assert problems == {"a": "not in the expected form"} and clean == {}
    assert check_answer(push, {"a": "aaaa"}) == ({"a": "aaaa"}, {})


def test_a_busy_machine_does_not_refuse_a_right_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pattern's time limit is wall-clock: one try run out by a busy machine is
    tried again, and only a pattern that runs out every time refuses the answer."""
    import engine.handoff.pushes as pushes

    class Slow:
        def __init__(self, timeouts: int) -> None:
            self.timeouts = timeouts

        def fullmatch(self, value: str, timeout: float) -> object:
            if self.timeouts:
                self.timeouts -= 1
                raise TimeoutError
            return object()

    once, always = Slow(1), Slow(pushes.PATTERN_TRIES)
    monkeypatch.setattr(pushes, "_compiled", lambda pattern: once)
    assert pushes._matches("[0-9]{6}", "100001")
    monkeypatch.setattr(pushes, "_compiled", lambda pattern: always)
    assert not pushes._matches("[0-9]{6}", "100001")


def test_the_agent_hanging_up_ends_the_conversation_at_once() -> None:
    """The caller stays on for a survey after the agent: AgentComplete came 11 to 40 s
    after the agent's phone hung up, and a next call took the desktop meanwhile."""
    clock = Clock()
    book = QueueBook(clock)
    join(book, "a", 1)
    agent = {"Channel": "a", "MemberName": "a2y", "DestChannel": "Local/a2y@agents-0000002a;1"}
    book.feed({"Event": "AgentConnect", "HoldTime": "4", **agent})
    clock.now += 13
    assert book.feed({"Event": "Hangup", "Channel": "PJSIP/someone-else-0001"}) == []
    [ended] = book.feed({"Event": "Hangup", "Channel": "Local/a2y@agents-0000002a;2"})
    assert isinstance(ended, Completed) and ended.reason == "agent"
    assert book.calls["a"].state == "ended" and book.calls["a"].talk_s == 13
    clock.now += 35
    complete = {"Event": "AgentComplete", "TalkTime": "13", "Reason": "caller", **agent}
    assert book.feed(complete) == []  # already over
    assert isinstance(book.feed({"Event": "Hangup", "Channel": "a"})[0], Gone)
