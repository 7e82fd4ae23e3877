"""A flow's opening hours: when its people answer, in the line's own time zone.

A flow with ``hours`` has the variable ``open``, true while they are open; it is read
again each time the call enters a node, so a branch or an option's ``when`` sees the
time of that step::

    hours:
      timezone: Europe/London
      open: {mon-fri: "08:00-20:00", sat: "09:00-13:00"}
      closed: [2026-12-25, "01-01"]     # a date, or month-day every year

A range may end after midnight (``"22:00-02:00"``: from Friday 22:00 to Saturday
02:00 for ``fri``); a date in ``closed`` has none of its own ranges, whatever the
week says (a range of the day before that runs past midnight still ends as it would).
The file is read by :mod:`engine.flow.hours_reader`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_A_DAY = 24 * 60


def day_number(word: str) -> int | None:
    """0 for mon or Monday (any case), ... 6 for sun; None for anything else."""
    word = word.strip().lower()
    if word in DAYS:
        return DAYS.index(word)
    if word in DAY_NAMES:
        return DAY_NAMES.index(word)
    return None


@dataclass(frozen=True, slots=True)
class Span:
    """Open on ``day`` (0 = Monday) from minute ``start`` to minute ``end`` of that
    day; ``end`` above a day's minutes runs into the next day."""

    day: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Hours:
    timezone: str | None  # an IANA name; None: the engine's machine's own
    week: tuple[Span, ...]
    closed_dates: frozenset[date] = frozenset()
    closed_every_year: frozenset[tuple[int, int]] = frozenset()  # (month, day)

    def zone(self) -> tzinfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None

    def local(self, when: float) -> datetime:
        """``when`` (seconds since the epoch) as the line's local time."""
        return datetime.fromtimestamp(when, self.zone())

    def is_open(self, when: float) -> bool:
        """A range belongs to the day it starts: its hours past midnight are open
        unless that day is closed, whatever the next day is."""
        moment = self.local(when)
        minute = moment.hour * 60 + moment.minute
        today = moment.date()
        yesterday = today - timedelta(days=1)
        return self._today(today, minute) or self._after_midnight(yesterday, minute)

    def _after_midnight(self, yesterday: date, minute: int) -> bool:
        """Open now by a range of ``yesterday`` that ran past midnight."""
        return not self.closed_on(yesterday) and any(
            s.day == yesterday.weekday() and minute + MINUTES_A_DAY < s.end for s in self.week
        )

    def _today(self, today: date, minute: int) -> bool:
        """Open now by one of ``today``'s own ranges."""
        return not self.closed_on(today) and any(
            s.day == today.weekday() and s.start <= minute < s.end for s in self.week
        )

    def describe(self) -> str:
        """The hours in a line: "mon-fri 09:00-12:00, 13:30-18:00; sat 10:00-16:00
        (Asia/Shanghai); closed 10-01" (for the flow's graph)."""
        by_day = {
            day: ", ".join(
                f"{_clock(s.start)}-{_clock(s.end % MINUTES_A_DAY or MINUTES_A_DAY)}"
                for s in sorted(self.week, key=lambda s: s.start)
                if s.day == day
            )
            for day in range(7)
        }
        runs: list[tuple[int, int, str]] = []  # first day, last day, hours
        for day in range(7):
            if runs and runs[-1][1] == day - 1 and runs[-1][2] == by_day[day]:
                runs[-1] = (runs[-1][0], day, by_day[day])
            else:
                runs.append((day, day, by_day[day]))
        week = "; ".join(
            (DAYS[a] if a == b else f"{DAYS[a]}-{DAYS[b]}") + f" {hours}"
            for a, b, hours in runs
            if hours
        )
        text = f"open {week or 'never'} ({self.timezone or 'local time'})"
        closed = sorted(d.isoformat() for d in self.closed_dates) + sorted(
            f"{m:02}-{d:02}" for m, d in self.closed_every_year
        )
        return text + (f"; closed {', '.join(closed)}" if closed else "")

    def next_open(self, when: float, days: int = 14) -> datetime | None:
        """When the line opens next after ``when``, in its own time zone; None if it
        does not within ``days`` (a long closure, or never open)."""
        now = self.local(when)
        found: list[datetime] = []
        for ahead in range(days + 1):
            day = now.date() + timedelta(days=ahead)
            if self.closed_on(day):
                continue
            for span in self.week:
                if span.day != day.weekday() or self._open_before(day, span.start):
                    continue  # the line is already open then: it does not open there
                start = datetime.combine(day, time(span.start // 60, span.start % 60))
                if now.tzinfo is not None:  # a time the clocks skip is read past the skip
                    start = start.replace(tzinfo=now.tzinfo).astimezone(UTC)
                    start = start.astimezone(now.tzinfo)
                if start > now:
                    found.append(start)
            if found:
                return min(found)
        return None

    def _open_before(self, day: date, minute: int) -> bool:
        """Whether another range of ``day`` (or one of the day before, past midnight)
        is open at the minute before ``minute``: a range that only carries on."""
        if minute == 0:
            yesterday = day - timedelta(days=1)
            return not self.closed_on(yesterday) and any(
                s.day == yesterday.weekday() and s.end >= MINUTES_A_DAY for s in self.week
            )
        return any(s.day == day.weekday() and s.start < minute <= s.end for s in self.week)

    def closed_on(self, day: date) -> bool:
        return day in self.closed_dates or (day.month, day.day) in self.closed_every_year


def _clock(minute: int) -> str:
    return f"{minute // 60:02}:{minute % 60:02}"


_MOMENT = re.compile(
    r"^\s*(?:(?P<date>\d{4}-\d{2}-\d{2})|(?P<day>[A-Za-z]+))?[\sT]*(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*$"
)


def moment(text: str, zone: tzinfo | None, now: float) -> datetime:
    """A time a designer names to try a flow at (``ivr call --at``), in the line's
    time zone: ``2026-12-25 10:00``, ``sat 22:00`` (the next Saturday, today
    included) or ``22:00`` (today). ValueError says what to write."""
    found = _MOMENT.match(text)
    usage = f"'{text}': write a time such as '2026-12-25 10:00', 'sat 22:00' or '22:00'"
    if found is None:
        raise ValueError(usage)
    hour, minute = int(found["hour"]), int(found["minute"])
    if hour > 23 or minute > 59:
        raise ValueError(f"'{text}': {hour:02}:{minute:02} is not a time of day")
    today = datetime.fromtimestamp(now, zone).date()
    if found["date"]:
        try:
            day = date.fromisoformat(found["date"])
        except ValueError:
            raise ValueError(f"'{text}': {found['date']} is not a date") from None
    elif found["day"]:
        weekday = day_number(found["day"])
        if weekday is None:
            raise ValueError(usage)
        day = today + timedelta(days=(weekday - today.weekday()) % 7)
    else:
        day = today
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return local if zone is not None else local.astimezone()
