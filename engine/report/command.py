"""``ivr report``: how the flows served callers over a period, from the trail store.

Plain text for a person (engine/report/text.py), or ``--json`` for a dashboard or a
spreadsheet. Definitions: engine/report/figures.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime

from engine.report.figures import tally
from engine.report.reading import (
    Journey,
    ReportError,
    check_flow_name,
    journeys,
    open_store,
)
from engine.report.text import as_text

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")
LATEST_S = 253402300799.0  # 9999-12-31T23:59:59Z
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def when(text: str, now: float) -> float:
    """``7d``, ``12h``, ``30m``, ``2w`` ago; a date ``2026-11-01``; a time
    ``2026-11-01T08:00``; seconds since 1970; ``all``: the beginning."""
    text = text.strip()
    if text == "all":
        return 0.0
    if text == "now":
        return now
    if re.fullmatch(r"\d{9,}(\.\d*)?", text):
        return _in_range(text, float(text))
    span = _SPAN.match(text)
    if span:  # back past 1970 is from the beginning
        return max(0.0, _in_range(text, now - float(span.group(1)) * _UNIT_S[span.group(2)]))
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ReportError(
            f"{text!r}: give a span back from now (30m, 12h, 7d, 2w), a date (2026-11-01)"
            " or a time (2026-11-01T08:00), or 'all'"
        ) from None


def _in_range(text: str, at: float) -> float:
    if not -LATEST_S < at < LATEST_S:  # inf, from a span of a thousand digits
        raise ReportError(f"{text[:40]!r}: out of range (before 1970 or after 9999)")
    return at


def run_report(args: argparse.Namespace) -> int:
    try:
        store = args.store or _configured_store(args.config)
        now = time.time()
        since, until = when(args.since, now), when(args.until, now)
        if since >= until:
            raise ReportError(f"--since {args.since} is not before --until {args.until}")
        db = open_store(store)
        try:
            if args.flow:
                check_flow_name(db, args.flow)
            tests: list[Journey] = []
            every = journeys(db, since, until, args.flow)
            flows = tally(_callers(every, tests, args.with_tests), now)
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
        "test_calls_left_out": len(tests),
    }
    try:
        if args.json:
            print(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            print(as_text(report))
        sys.stdout.flush()
    except BrokenPipeError:  # `ivr report | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _callers(
    every: Iterator[Journey], tests: list[Journey], with_tests: bool
) -> Iterator[Journey]:
    """The journeys to count: callers', and `ivr call`'s only ``with_tests`` (the
    others go to ``tests``, to be said left out)."""
    for journey in every:
        if journey.test and not with_tests:
            tests.append(journey)
        else:
            yield journey


def _configured_store(config: str | None) -> str:
    from engine.config import ConfigError, load_settings

    try:
        return load_settings(config).trail_db
    except ConfigError as exc:
        raise ReportError(str(exc)) from exc
