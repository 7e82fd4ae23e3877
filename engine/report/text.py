"""``ivr report``'s figures as plain text for a person: one block per flow, then its
nodes, busiest first (the page at /agent/report shows the same as HTML)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from engine.handoff.aftercall import DISPOSITION_LABELS
from engine.report.figures import ENDINGS, LISTENING

PASSING = ("branch", "set", "subflow", "return")  # no time spent there: JSON only
ENDING_LABELS = {
    "self_served": "self-served (or hung up after a goal)",
    "retries_ran_out": "ended after retries ran out",
    "caller_hung_up": "caller hung up before any goal",
    "to_person": "to a person",
    "no_person": "asked for a person; none (closed)",
    "failed": "to the fallback (engine error, stop or crash)",
    "not_ended": "not ended (in progress, or a page left)",
}


def as_text(report: dict[str, Any]) -> str:
    since = "" if report["since"] <= 0 else f" from {_time(report['since'])}"
    lines = [f"Journeys begun{since} up to {_time(report['until'])}"]
    if report.get("test_calls_left_out"):
        n = report["test_calls_left_out"]
        lines.append(f"  ({n} test call{'s' if n != 1 else ''} of `ivr call` left out: "
                     "--with-tests counts them)")
    if not report["flows"]:
        lines.append("  none in the store for that period.")
    for flow in report["flows"]:
        lines.append("")
        lines.extend(_flow_text(flow))
    return "\n".join(lines)


def _flow_text(f: dict[str, Any]) -> list[str]:
    total = f["journeys"]
    if f["surveys"] == total:  # a survey flow: its answers are what it is for
        lines = [f"Flow {f['flow']}: {_n(total, 'survey')} after agents' calls"]
        lines.extend(_answer_lines(f))
        lines.extend(_node_lines(f))
        return lines
    lines = [
        f"Flow {f['flow']}: {_n(total, 'journey')} ({_n(f['calls'], 'call')},"
        f" {f['web_only']} web only;"
        f" the page opened on {f['page_opened_on_calls']} calls)"
    ]
    for name in ENDINGS:
        count = f["endings"][name]
        if count:
            lines.append(f"  {ENDING_LABELS[name]:<42}{count:>7}  {percent(count / total)}")
    lines.append(f"  containment (no person needed, of those ended): {percent(f['containment'])}")
    times = f["self_service_s"]
    p50, p90 = seconds(times["p50"]), seconds(times["p90"])
    lines.append(f"  time in self-service: p50 {p50}, p90 {p90}")
    q = f["queue"]
    if q["waits"]:
        lines.append(
            f"  queue: {q['waits']} waits; {q['answered']} answered after p50"
            f" {seconds(q['wait_answered_s']['p50'])}, p90 {seconds(q['wait_answered_s']['p90'])}"
            f" (talk p50 {seconds(q['talk_s_p50'])})"
        )
        if len(q["by_queue"]) > 1:
            each = ", ".join(
                f"{name} {c['answered']} of {c['waits']}" for name, c in q["by_queue"].items()
            )
            lines.append(f"         answered by queue: {each}")
        if q["unanswered"]:
            lines.append(
                f"         {q['unanswered']} not answered ({percent(q['abandon_rate'])}),"
                f" hung up or timed out after p50 {seconds(q['wait_unanswered_s_p50'])}"
            )
    if f["goals"]:
        reached = "; ".join(
            f"{goal} {g['reached']}"
            + (f" ({g['then_to_person']} then to a person)" if g["then_to_person"] else "")
            for goal, g in f["goals"].items()
        )
        lines.append(f"  goals reached: {reached}")
    w = f["wrapups"]
    if w["count"]:
        kinds = ", ".join(
            f"{DISPOSITION_LABELS.get(k, k)} {v}" for k, v in sorted(w["dispositions"].items())
        )
        lines.append(
            f"  wrap-ups: {w['count']}; resolved on first contact"
            f" {percent(w['first_contact_resolution'])}; {kinds}"
        )
    if w["answered_without"]:
        lines.append(f"  answered calls with no wrap-up: {w['answered_without']}")
    lines.extend(_answer_lines(f))
    lines.extend(_node_lines(f))
    return lines


def _answer_lines(f: dict[str, Any]) -> list[str]:
    lines = []
    for title, answers in (
        ("after-call survey", f["after_call_survey"]),
        ("answers", f["survey_answers"]),
    ):
        for var, a in answers.items():
            mean = f", mean {a['mean']:.2f}" if a["mean"] is not None else ""
            values = ", ".join(f"{v}: {n}" for v, n in a["values"].items())
            lines.append(f"  {title}, {var}: {_n(a['answers'], 'answer')}{mean} ({values})")
    return lines


def _node_lines(f: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    nodes = sorted(
        (n for n in f["nodes"] if n["type"] not in PASSING),
        key=lambda n: (-n["visits"], n["flow"], n["node"]),
    )
    if nodes:
        lines.append("")
        lines.append(
            f"  {'node':<28}{'type':<10}{'visits':>7}{'no input':>10}{'no match':>10}"
            f"{'ran out':>9}{'hung up':>9}{'to person':>11}{'time p50':>10}"
        )
        for n in nodes:
            name = n["node"] if n["flow"] == f["flow"] else f"{n['flow']}/{n['node']}"
            listens = n["type"] in LISTENING
            failed = f", backend failed {n['backend_failed']}" if n["backend_failed"] else ""
            lines.append(
                f"  {column(name, 28)}{n['type']:<10}{n['visits']:>7}"
                f"{percent(n['no_input_rate']) if listens else '-':>10}"
                f"{percent(n['no_match_rate']) if listens else '-':>10}"
                f"{n['retries_ran_out'] if listens else '-':>9}"
                f"{n['caller_hung_up']:>9}{n['to_person']:>11}{seconds(n['seconds_p50']):>10}{failed}"
            )
    return lines


def column(text: str, width: int) -> str:
    """``text`` in a column ``width`` terminal cells wide (a Chinese character takes
    two), cut to leave one cell free."""
    cells, kept = 0, []
    for char in text:
        size = 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if cells + size > width - 1:
            break
        cells += size
        kept.append(char)
    return "".join(kept) + " " * (width - cells)


def _n(count: int, thing: str) -> str:
    return f"{count} {thing}" if count == 1 else f"{count} {thing}s"


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 100:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s"


def _time(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")
