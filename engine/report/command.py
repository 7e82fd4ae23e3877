"""``ivr report``: how the flows served callers over a period, from the trail store.

Plain text for a person (one block per flow, then its nodes, busiest first), or
``--json`` for a dashboard or a spreadsheet. Definitions: engine/report/figures.py.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime
from typing import Any

from engine.report.figures import ENDINGS, LISTENING, tally
from engine.report.reading import ReportError, journeys, open_store

PASSING = ("branch", "set", "subflow", "return")  # no time spent there: JSON only
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
ENDING_LABELS = {
    "self_served": "self-served (or hung up after a goal)",
    "retries_ran_out": "ended after retries ran out",
    "caller_hung_up": "caller hung up before any goal",
    "to_person": "to a person",
    "failed": "to the fallback (engine error or stop)",
    "not_ended": "not ended (in progress, or a page left)",
}


def when(text: str, now: float) -> float:
    """``7d``, ``12h``, ``30m``, ``2w`` ago; a date ``2026-11-01``; a time
    ``2026-11-01T08:00``; seconds since 1970; ``all``: the beginning."""
    text = text.strip()
    if text == "all":
        return 0.0
    if text == "now":
        return now
    if re.fullmatch(r"\d{9,}(\.\d*)?", text):
        return float(text)
    span = _SPAN.match(text)
    if span:
        return now - float(span.group(1)) * _UNIT_S[span.group(2)]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ReportError(
            f"{text!r}: give a span back from now (30m, 12h, 7d, 2w), a date (2026-11-01)"
            " or a time (2026-11-01T08:00), or 'all'"
        ) from None


def run_report(args: argparse.Namespace) -> int:
    try:
        store = args.store or _configured_store(args.config)
        now = time.time()
        since, until = when(args.since, now), when(args.until, now)
        if since >= until:
            raise ReportError(f"--since {args.since} is not before --until {args.until}")
        db = open_store(store)
        try:
            flows = tally(journeys(db, since, until, args.flow))
        finally:
            db.close()
    except ReportError as exc:
        print(f"ivr report: {exc}", file=sys.stderr)
        return 2
    report = {
        "store": store,
        "since": since,
        "until": until,
        "flows": [figures.as_dict() for _, figures in sorted(flows.items())],
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(as_text(report))
    return 0


def _configured_store(config: str | None) -> str:
    from engine.config import ConfigError, load_settings

    try:
        return load_settings(config).trail_db
    except ConfigError as exc:
        raise ReportError(str(exc)) from exc


def as_text(report: dict[str, Any]) -> str:
    lines = [f"Journeys begun {_time(report['since'])} to {_time(report['until'])}"]
    if not report["flows"]:
        lines.append("  none in the store for that period.")
    for flow in report["flows"]:
        lines.append("")
        lines.extend(_flow_text(flow))
    return "\n".join(lines)


def _flow_text(f: dict[str, Any]) -> list[str]:
    total = f["journeys"]
    lines = [
        f"Flow {f['flow']}: {_n(total, 'journey')} ({_n(f['calls'], 'call')},"
        f" {f['web_only']} web only;"
        f" the page opened on {f['page_opened_on_calls']} calls)"
    ]
    for name in ENDINGS:
        count = f["endings"][name]
        if count:
            lines.append(f"  {ENDING_LABELS[name]:<42}{count:>7}  {_pct(count / total)}")
    lines.append(f"  containment (no person needed, of those ended): {_pct(f['containment'])}")
    times = f["self_service_s"]
    lines.append(f"  time in self-service: p50 {_s(times['p50'])}, p90 {_s(times['p90'])}")
    q = f["queue"]
    if q["waits"]:
        lines.append(
            f"  queue: {q['waits']} waits; {q['answered']} answered after p50"
            f" {_s(q['wait_answered_s']['p50'])}, p90 {_s(q['wait_answered_s']['p90'])}"
            f" (talk p50 {_s(q['talk_s_p50'])})"
        )
        if q["unanswered"]:
            lines.append(
                f"         {q['unanswered']} not answered ({_pct(q['abandon_rate'])}),"
                f" hung up or timed out after p50 {_s(q['wait_unanswered_s_p50'])}"
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
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(w["dispositions"].items()))
        lines.append(
            f"  wrap-ups: {w['count']}; resolved on first contact"
            f" {_pct(w['first_contact_resolution'])}; {kinds}"
        )
    if w["answered_without"]:
        lines.append(f"  answered calls with no wrap-up: {w['answered_without']}")
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
                f"  {name[:27]:<28}{n['type']:<10}{n['visits']:>7}"
                f"{_pct(n['no_input_rate']) if listens else '-':>10}"
                f"{_pct(n['no_match_rate']) if listens else '-':>10}"
                f"{n['retries_ran_out'] if listens else '-':>9}"
                f"{n['caller_hung_up']:>9}{n['to_person']:>11}{_s(n['seconds_p50']):>10}{failed}"
            )
    return lines


def _n(count: int, thing: str) -> str:
    return f"{count} {thing}" if count == 1 else f"{count} {thing}s"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 100:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _time(at: float) -> str:
    if at <= 0:
        return "the beginning"
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")
