"""Opening hours: read from the flow, open or closed at a moment in the line's own
time zone, and the variable ``open`` a call's nodes see."""

from __future__ import annotations

import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.flow.hours import Hours, moment
from engine.flow.parse import parse_flow
from engine.flow.validate import validate
from engine.session import events as ev
from engine.session.machine import CallInfo, Session

LONDON = ZoneInfo("Europe/London")

FLOW = """\
start: ask
human: agent
hours:
  timezone: Europe/London
  open:
    mon-fri: "08:00-20:00"
    sat: ["09:00-12:00", "13:00-17:00"]
    sun: "22:00-02:00"
  closed: [2026-12-24, "12-25"]
nodes:
  ask:
    type: menu
    prompt: "Press 0 for a person."
    options:
      - {key: 0, label: A person, goto: check}
  check:
    type: branch
    cases: [{when: "open", goto: agent}]
    default: closed
  closed:
    type: hangup
    prompt: "We are closed. {{ 'Yes' if open else 'No' }}"
  agent:
    type: transfer
    queue: support
"""


def _hours(text: str = FLOW) -> Hours:
    flow, problems = parse_flow(textwrap.dedent(text), "hours.yaml", "hours")
    assert flow is not None and not [p for p in problems if p.is_error], problems
    assert flow.hours is not None
    return flow.hours


def at(text: str, zone: ZoneInfo = LONDON) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_the_week_in_the_lines_time_zone() -> None:
    hours = _hours()
    assert hours.is_open(at("2026-12-02 08:00"))  # a Wednesday
    assert hours.is_open(at("2026-12-02 19:59"))
    assert not hours.is_open(at("2026-12-02 20:00"))  # a range's end is closed
    assert not hours.is_open(at("2026-12-02 07:59"))
    assert hours.is_open(at("2026-12-05 11:30"))  # Saturday, two ranges
    assert not hours.is_open(at("2026-12-05 12:30"))
    assert hours.is_open(at("2026-12-05 16:00"))
    # 09:00 in New York is 14:00 in London: open; 16:00 there is 21:00 here: closed
    assert hours.is_open(at("2026-12-02 09:00", ZoneInfo("America/New_York")))
    assert not hours.is_open(at("2026-12-02 16:00", ZoneInfo("America/New_York")))


def test_a_range_past_midnight_belongs_to_the_day_it_starts() -> None:
    hours = _hours()
    assert hours.is_open(at("2026-12-06 23:00"))  # Sunday night
    assert hours.is_open(at("2026-12-07 01:59"))  # Monday, early
    assert not hours.is_open(at("2026-12-07 02:00"))
    assert not hours.is_open(at("2026-12-06 01:00"))  # Saturday's night is not Sunday's


def test_closed_days_whatever_the_week_says() -> None:
    hours = _hours()
    assert not hours.is_open(at("2026-12-24 10:00"))  # a Thursday
    assert not hours.is_open(at("2026-12-25 10:00"))  # every year
    assert not hours.is_open(at("2031-12-25 10:00"))
    assert hours.is_open(at("2027-12-24 10:00"))  # the date, not every year


def test_summer_time_is_the_lines_own() -> None:
    hours = _hours()
    # 07:30 UTC in July is 08:30 in London (BST): open; in January it is 07:30: closed
    assert hours.is_open(datetime.fromisoformat("2026-07-01 07:30+00:00").timestamp())
    assert not hours.is_open(datetime.fromisoformat("2026-01-07 07:30+00:00").timestamp())


def test_days_written_as_lists_wrapping_ranges_and_full_names() -> None:
    week = 'Wednesday,THU: "08:00-20:00"\n    sat-tue: "00:00-24:00"'
    hours = _hours(
        FLOW.replace('mon-fri: "08:00-20:00"', week)
        .replace('    sat: ["09:00-12:00", "13:00-17:00"]\n', "")
        .replace('    sun: "22:00-02:00"\n', "")
    )
    assert hours.is_open(at("2026-12-02 10:00"))  # Wednesday
    assert hours.is_open(at("2026-12-03 10:00"))  # Thursday
    assert not hours.is_open(at("2026-12-04 10:00"))  # Friday
    assert hours.is_open(at("2026-12-06 03:00"))  # Sunday, in sat-tue
    assert hours.is_open(at("2026-12-08 23:59"))  # Tuesday


def test_when_the_line_opens_next() -> None:
    hours = _hours()

    def opens(text: str) -> str | None:
        found = hours.next_open(at(text))
        return found.isoformat(" ", "minutes") if found else None

    assert opens("2026-12-02 21:00") == "2026-12-03 08:00+00:00"  # Wednesday night
    assert opens("2026-12-02 07:00") == "2026-12-02 08:00+00:00"  # the same morning
    assert opens("2026-12-05 12:30") == "2026-12-05 13:00+00:00"  # Saturday's lunch
    assert opens("2026-12-05 18:00") == "2026-12-06 22:00+00:00"  # Sunday night
    assert opens("2026-12-23 21:00") == "2026-12-26 09:00+00:00"  # past the holidays
    assert opens("2026-07-01 21:00") == "2026-07-02 08:00+01:00"  # in summer time
    # The clocks go forward at 01:00 on 2026-03-29: Sunday's 01:30 is 02:30 BST.
    early = _hours(FLOW.replace('sun: "22:00-02:00"', 'sun: "01:30-04:00"'))
    found = early.next_open(at("2026-03-28 21:00"))
    assert found is not None and found.isoformat(" ", "minutes") == "2026-03-29 02:30+01:00"
    never = _hours(FLOW.replace('closed: [2026-12-24, "12-25"]', 'closed: ["12-24"]'))
    assert never.next_open(at("2026-12-23 21:00"), days=0) is None


def test_a_range_that_carries_on_from_the_last_is_no_opening() -> None:
    split = 'mon-fri: ["08:00-12:00", "12:00-20:00"]'
    hours = _hours(FLOW.replace('mon-fri: "08:00-20:00"', split))
    assert hours.next_open(at("2026-12-02 10:00")) == datetime.fromisoformat(
        "2026-12-03 08:00+00:00"
    )


def _session(moment: float) -> Session:
    flow, _ = parse_flow(FLOW, "hours.yaml", "hours")
    assert flow is not None
    session = Session(flow, CallInfo("call-1"), now=lambda: moment)
    session.start()
    return session


def test_a_call_sees_open_at_each_node() -> None:
    session = _session(at("2026-12-02 10:00"))
    actions = session.feed(ev.Digit("0"))
    assert session.vars["open"] is True
    assert any(isinstance(a, ev.Transfer) for a in actions)
    assert [e.data.get("took") for e in session.trail if e.node == "check"] == ["open"]

    session = _session(at("2026-12-02 21:00"))
    actions = session.feed(ev.Digit("0"))
    assert session.vars["open"] is False
    assert session.outcome == "hangup"
    played = [p.text for a in actions if isinstance(a, ev.Play) for p in a.parts]
    assert "We are closed. No" in played
    # The trail says which way the branch took, and why (ivr call prints it).
    took = [e.data.get("took") for e in session.trail if e.kind == "node" and e.node == "check"]
    assert took == ["default"]


def test_a_moment_named_for_ivr_call_at() -> None:
    now = at("2026-12-02 15:00")  # a Wednesday
    assert moment("2026-12-25 10:00", LONDON, now) == datetime(2026, 12, 25, 10, 0, tzinfo=LONDON)
    assert moment("sat 22:00", LONDON, now) == datetime(2026, 12, 5, 22, 0, tzinfo=LONDON)
    assert moment("Wednesday 9:30", LONDON, now).day == 2  # today is the next Wednesday
    assert moment("07:00", LONDON, now) == datetime(2026, 12, 2, 7, 0, tzinfo=LONDON)
    shanghai = moment("10:00", ZoneInfo("Asia/Shanghai"), at("2026-12-02 23:30"))
    assert shanghai.day == 3  # already Thursday there
    for wrong in ("tomorrow", "25:00", "2026-02-30 10:00", "someday 10:00"):
        with pytest.raises(ValueError, match=wrong):
            moment(wrong, LONDON, now)


def test_the_graph_says_the_hours() -> None:
    from engine.flow.graph import to_dot

    flow, _ = parse_flow(FLOW, "hours.yaml", "hours")
    assert flow is not None and flow.hours is not None
    said = flow.hours.describe()
    assert said == (
        "open mon-fri 08:00-20:00; sat 09:00-12:00, 13:00-17:00; sun 22:00-02:00"
        " (Europe/London); closed 2026-12-24, 12-25"
    )
    assert said in to_dot(flow)


def test_a_closed_day_s_night_shift_does_not_run_and_the_eve_s_does() -> None:
    hours = _hours(FLOW.replace('closed: [2026-12-24, "12-25"]', 'closed: ["12-28"]'))
    # Sunday 27th's 22:00-02:00 runs into Monday 28th, which is closed: it still ends
    # at 02:00; Monday's own hours are closed.
    assert hours.is_open(at("2026-12-28 01:00"))
    assert not hours.is_open(at("2026-12-28 10:00"))
    hours = _hours(FLOW.replace('closed: [2026-12-24, "12-25"]', 'closed: ["12-27"]'))
    assert not hours.is_open(at("2026-12-27 23:00"))  # the closed Sunday's shift
    assert not hours.is_open(at("2026-12-28 01:00"))  # ... past midnight too
    assert hours.is_open(at("2026-12-28 10:00"))


def test_the_trail_marks_a_caller_who_asked_for_the_person_not_one_sent_there() -> None:
    """The report's "asked for a person; none (closed)" counts callers who asked, not
    those whose retries ran out into the same branch."""
    flow, _ = parse_flow(FLOW.replace("human: agent", "human: check"), "hours.yaml", "hours")
    assert flow is not None
    night = at("2026-12-02 21:00")

    def marks(session: Session) -> list[object]:
        entered = (e for e in session.trail if e.kind == "node" and e.node == "check")
        return [e.data.get("human") for e in entered]

    asked = Session(flow, CallInfo("call-1"), now=lambda: night)
    asked.start()
    asked.feed(ev.Digit("0"))
    assert marks(asked) == [True] and asked.outcome == "hangup"

    sent = Session(flow, CallInfo("call-2"), now=lambda: night)
    actions = sent.start()
    while not sent.done:  # the caller says nothing: each prompt ends, each wait times out
        last = actions[-1]
        if isinstance(last, ev.Play):
            actions = sent.feed(ev.PromptFinished(last.play_id))
        else:
            assert isinstance(last, ev.StartTimer)
            actions = sent.feed(ev.TimerFired(last.timer_id))
    assert marks(sent) == [None] and sent.outcome == "hangup"


def test_the_flow_s_variables_may_read_open() -> None:
    declared = "variables: {when: \"{{ 'now' if open else 'later' }}\"}"
    text = FLOW.replace("human: agent", f"human: agent\n{declared}")
    flow, problems = parse_flow(text, "hours.yaml", "hours")
    assert flow is not None and not [p for p in problems if p.is_error]
    session = Session(flow, CallInfo("call-1"), now=lambda: at("2026-12-02 10:00"))
    session.start()
    assert session.vars["when"] == "now" and not session.done


def test_a_subflow_s_open_is_not_left_in_its_caller() -> None:
    """'open' says when the subflow's people answer (a nurse line at night), not the
    caller flow's: back in a flow without hours, it is gone."""
    nurse, _ = parse_flow(
        'start: say\nhours: {open: {mon-sun: "00:00-24:00"}}\nnodes:\n'
        '  say: {type: say, prompt: "A nurse is on duty.", next: back}\n'
        "  back: {type: return}\n",
        "nurse.yaml",
        "nurse",
    )
    main, _ = parse_flow(
        "start: ask\nhuman: agent\nnodes:\n"
        "  ask: {type: subflow, flow: nurse, next: agent}\n"
        "  agent: {type: transfer, queue: support}\n",
        "main.yaml",
        "main",
    )
    assert nurse is not None and main is not None
    session = Session(main, CallInfo("call-1"), flows={"nurse": nurse}.get)
    actions = session.start()
    assert session.vars["open"] is True  # in the subflow
    play = next(a for a in actions if isinstance(a, ev.Play))
    session.feed(ev.PromptFinished(play.play_id))
    assert session.node.id == "agent" and "open" not in session.vars


def test_open_declared_or_set_by_the_flow_is_a_warning() -> None:
    text = FLOW.replace("human: agent", 'human: agent\nvariables: {open: "yes"}')
    flow, _ = parse_flow(text, "hours.yaml", "hours")
    assert flow is not None
    said = [str(p) for p in validate(flow)]
    assert any("variables: 'open' is whether the hours say the line is open" in p for p in said)
