"""One setting's value, read from a TOML file or from the environment, and refused
when it cannot be what the setting means.

A setting has a parser: it takes the value as given (a string from the environment;
a string, number, boolean or list from TOML) and returns the value the engine uses,
or raises ValueError saying what is wrong. The caller puts where the value was given
in front (``IVR_AGI_PORT: ...``, ``ivr.toml: [engine] agi_port: ...``), so an
operator reads which line to fix, not a traceback from deep in the engine once it
has started (or a port number silently wrapped around 65536).

Booleans are not numbers here (Python's ``int(True)`` is 1), and whole numbers are
not floats: ``agi_port = 45751.9`` is refused, not cut down to 45751.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Parser = Callable[[object], Any]
# A value as given: (the setting's name, where it was given, the value itself).
Entry = tuple[str, str, object]


def shown(raw: object) -> str:
    """A value as the person typed it: TOML's ``true``, not Python's ``True``."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return repr(raw)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a candidate is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def from_environment(names: Iterable[str], environ: Mapping[str, str], prefix: str) -> list[Entry]:
    """The settings the environment gives: ``agi_port`` is ``{prefix}AGI_PORT``."""
    entries: list[Entry] = []
    for name in names:
        variable = f"{prefix}{name.upper()}"
        if variable in environ:
            entries.append((name, variable, environ[variable]))
    return entries


def parse(
    parsers: Mapping[str, Parser], entries: Iterable[Entry], problems: list[str]
) -> dict[str, Any]:
    """Each entry's value, parsed; a later entry for the same setting wins (the
    environment's over the file's). What is wrong goes to ``problems``, one line
    each, so that one run reports every mistake, not the first of them."""
    values: dict[str, Any] = {}
    for name, where, raw in entries:
        try:
            values[name] = parsers[name](raw)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return values


# ------------------------------------------------------------------ parsers


def text(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected text (in quotes), got {shown(raw)}")
    return raw


def _whole(raw: object) -> int | None:
    """``raw`` as a whole number, or None: not one (a float, a boolean, 'many')."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            return None
    return None


def port(*, free: bool) -> Parser:
    """A TCP port. ``free``: the engine listens on it, and 0 asks for any free port
    (the tests do); a port the engine connects to cannot be 0."""
    low = 0 if free else 1
    hint = " (0: any free port)" if free else ""

    def parser(raw: object) -> int:
        value = _whole(raw)
        if value is None or not low <= value <= 65535:
            raise ValueError(f"expected a port number from {low} to 65535{hint}, got {shown(raw)}")
        return value

    return parser


def whole(low: int, unit: str = "") -> Parser:
    """A whole number, ``low`` or more: a count, or seconds (``unit``)."""
    what = f"a whole number of {unit}" if unit else "a whole number"

    def parser(raw: object) -> int:
        value = _whole(raw)
        if value is None or value < low:
            raise ValueError(f"expected {what}, {low} or more, got {shown(raw)}")
        return value

    return parser


def seconds(low: float = 0.0) -> Parser:
    """A number of seconds, ``low`` or more (fractions allowed; not nan or inf)."""

    def parser(raw: object) -> float:
        value: float | None = None
        if isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
            try:
                value = float(raw)
            except ValueError:
                value = None
        if value is None or not math.isfinite(value) or value < low:
            raise ValueError(f"expected a number of seconds, {low:g} or more, got {shown(raw)}")
        return value

    return parser


def choice(*options: str) -> Parser:
    """One of ``options``, in any case (``FULL`` is ``full``)."""

    def parser(raw: object) -> str:
        value = raw.strip().lower() if isinstance(raw, str) else None
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {shown(raw)}")
        return value

    return parser


def regex(raw: object) -> str:
    """A regular expression, compiled now: a mistake in it is found at start-up, with
    the setting's name, not by the first caller it would have been matched against."""
    pattern = text(raw)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
    return pattern


def yes_no(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected yes or no, got {shown(raw)}")


def names(raw: object) -> tuple[str, ...]:
    """Names: comma-separated text (``"support, billing"``) or a TOML list of texts."""
    if isinstance(raw, str):
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return tuple(x.strip() for x in raw if x.strip())
    raise ValueError(f"expected names separated by commas, got {shown(raw)}")


def networks(raw: object) -> tuple[str, ...]:
    """IP networks (``10.1.2.0/24, ::1/128``). An address with host bits set
    (``10.1.2.3/24``) is refused with the network it is in: the check of each request
    against these would otherwise fail on it, every time."""
    given = names(raw)
    for network in given:
        try:
            ipaddress.ip_network(network)
        except ValueError as exc:
            raise ValueError(_not_a_network(network, exc)) from None
    return given


def _not_a_network(network: str, exc: ValueError) -> str:
    try:
        meant = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return f"{network!r} is not an IP network (such as 10.1.2.0/24 or ::1/128)"
    return f"{network!r} has host bits set (did you mean {meant}?)"


def template(placeholder: str, example: str) -> Parser:
    """Text with ``{placeholder}`` in it, filled in later (``PJSIP/{ext}``): a brace
    out of place would otherwise fail each time it is filled in."""
    field = "{" + placeholder + "}"

    def parser(raw: object) -> str:
        value = text(raw)
        try:
            value.format(**{placeholder: "x"})
        except (KeyError, IndexError, AttributeError, ValueError):
            ok = False
        else:
            ok = field in value
        if not ok:
            raise ValueError(
                f"expected text with {field} in it (and no other braces), such as "
                f"{example!r}, got {value!r}"
            )
        return value

    return parser
