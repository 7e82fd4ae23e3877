"""Reading a flow's ``hours`` (engine/flow/hours.py), a problem at each mistake."""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from functools import lru_cache

from engine.flow.fields import Context, Reader
from engine.flow.hours import DAY_NAMES, MINUTES_A_DAY, Hours, Span, day_number
from engine.flow.problems import did_you_mean, warning
from engine.flow.schema import HOURS_FIELDS
from engine.flow.yamlsource import Map, Scalar, Seq, YValue, describe

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_YEARLY = re.compile(r"^(\d{2})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EXAMPLE_RANGE = '"08:00-20:00"'
# In the zone database, but no place's time: what the machine says, or nothing.
_NO_PLACE = frozenset({"localtime", "Factory"})


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NO_PLACE


def read_hours(ctx: Context, value: Map) -> Hours:
    r = Reader(ctx, value, HOURS_FIELDS, "hours", ("hours",))
    timezone = r.string("timezone")
    found = value.get("timezone")
    if timezone is not None and found is not None and timezone not in _zones():
        ctx.error(found.where, f"hours: '{timezone}' is not a time zone{_zone_hint(timezone)}")
        timezone = None
    week = _week(ctx, r.mapping("open"))
    found = value.get("open")
    if not week and isinstance(found, Map) and not _has_problems_in(ctx, found):
        ctx.error(found.where, "hours: 'open' gives no hours: the line would never be open")
    dates, yearly = _closed(ctx, r.sequence("closed"))
    return Hours(timezone, week, frozenset(dates), frozenset(yearly))


_OFFSET = re.compile(r"(?i)^(utc|gmt)?\s*[+-]\s*\d")


def _zone_hint(name: str) -> str:
    if _OFFSET.match(name):
        return (
            " (an offset misses summer time and its changes: name the place's zone, "
            "such as Europe/Paris)"
        )
    place = [z for z in _zones() if z.lower().endswith("/" + name.strip().lower())]
    if place:
        return f" (did you mean '{sorted(place)[0]}'?)"
    return did_you_mean(name, _zones()) or (
        " (an IANA name such as Europe/London or Asia/Shanghai)"
    )


def _days(key: str) -> list[int] | None:
    """``mon-fri``, ``sat``, ``mon,wed,fri`` or ``fri-mon`` as weekday numbers."""
    days: list[int] = []
    for part in key.split(","):
        first, dash, last = part.partition("-")
        start, end = day_number(first), day_number(last if dash else first)
        if start is None or end is None:
            return None
        days.extend((start + n) % 7 for n in range((end - start) % 7 + 1))
    return days


def _week(ctx: Context, value: Map | None) -> tuple[Span, ...]:
    if value is None:
        return ()
    spans: list[Span] = []
    given: dict[int, str] = {}
    for entry in value:
        days = _days(entry.key)
        if days is None:
            ctx.error(
                entry.key_where,
                f"hours: '{entry.key}' is not a day or days: write mon, tue, ... sun, a "
                "range such as mon-fri, or a list such as mon,wed,fri",
            )
            continue
        for day in days:
            if day in given:
                ctx.error(
                    entry.key_where,
                    f"hours: {DAY_NAMES[day]} is given twice ('{given[day]}' and "
                    f"'{entry.key}'): give each day once",
                )
            given.setdefault(day, entry.key)
        for start, end in _ranges(ctx, entry.key, entry.value):
            spans.extend(Span(day, start, end) for day in days)
    return tuple(spans)


def _ranges(ctx: Context, key: str, value: YValue) -> list[tuple[int, int]]:
    items = value.items if isinstance(value, Seq) else (value,)
    ranges: list[tuple[int, int]] = []
    read: list[tuple[tuple[int, int], YValue]] = []
    for item in items:
        found = _range(item.text() if isinstance(item, Scalar) else None)
        if isinstance(found, str):
            ctx.error(item.where, f"hours: {key}: {found}")
            continue
        start, end = found
        if end - start > MINUTES_A_DAY // 2 and end > MINUTES_A_DAY:
            text = item.text() if isinstance(item, Scalar) else ""
            first, _, last = (text or "").partition("-")
            ctx.problems.append(
                warning(
                    item.where,
                    f"hours: {key}: '{text}' runs past midnight, {(end - start) // 60} hours"
                    f" (did you mean '{last.strip()}-{first.strip()}'?)",
                )
            )
        ranges.append(found)
        _warn_overlap(ctx, key, item, found, read)
        read.append((found, item))
    return ranges


def _warn_overlap(
    ctx: Context, key: str, item: YValue, found: tuple[int, int],
    read: list[tuple[tuple[int, int], YValue]],
) -> None:
    """Two of a day's ranges that overlap are open as one, but one of them is most
    likely a typo ("09:00-13:00", "12:00-18:00" for a lunch break)."""
    start, end = found
    for (other_start, other_end), other in read:
        if start < other_end and other_start < end:
            ctx.problems.append(
                warning(item.where, f"hours: {key}: {_shown(item)} overlaps {_shown(other)}")
            )
            return


def _range(text: str | None) -> tuple[int, int] | str:
    """(start, end) in minutes of the day, end past a day's minutes when the range
    runs over midnight; or what is wrong with ``text``."""
    if text is None:
        return f"give the hours as a range such as {_EXAMPLE_RANGE}, or a list of ranges"
    match = _RANGE.match(text)
    if match is None:
        return (
            f"'{text}' is not a range of hours: write {_EXAMPLE_RANGE} "
            "(24-hour clock, quoted)"
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        return f"'{text}' is not a time of day (00:00 to 24:00)"
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        return f"'{text}' is empty; for the whole day write \"00:00-24:00\""
    return (start, end if end > start else end + MINUTES_A_DAY)


def _closed(ctx: Context, value: Seq | None) -> tuple[set[date], set[tuple[int, int]]]:
    dates: set[date] = set()
    yearly: set[tuple[int, int]] = set()
    for item in value.items if value is not None else ():
        text = (item.text() or "").strip() if isinstance(item, Scalar) else ""
        if match := _YEARLY.match(text):
            month, day = int(match[1]), int(match[2])
            try:
                date(2000, month, day)  # a leap year: 02-29 is a day
            except ValueError:
                swapped = f"{match[2]}-{match[1]}"
                hint = f": month first, did you mean '{swapped}'?" if day <= 12 else ""
                ctx.error(
                    item.where,
                    f"hours: closed: '{text}' is not a day of the year (MM-DD){hint}",
                )
                continue
            yearly.add((month, day))
            continue
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            dates.add(date.fromisoformat(text))
        except ValueError:
            if _DATE.match(text):
                ctx.error(item.where, f"hours: closed: '{text}' is no day of the calendar")
                continue
            ctx.error(
                item.where,
                f"hours: closed: {_shown(item)} is not a date: write 2026-12-25, or 12-25 for "
                "every year",
            )
    return dates, yearly


def _has_problems_in(ctx: Context, value: Map) -> bool:
    """Whether a problem was reported inside ``value`` (from its line on)."""
    return any(
        p.where.file == value.where.file and p.where.line >= value.where.line
        for p in ctx.problems
    )


def _shown(value: YValue) -> str:
    return f"'{value.text()}'" if isinstance(value, Scalar) and value.text() else describe(value)
