"""What a keypad can type into an input: can its ``pattern`` ever match?

An input takes digits, ``*`` and ``#``. A pattern of plain regular-expression parts
(literals, classes, repeats, alternatives, groups, anchors) matches some keypad entry
of length n exactly when, part by part, each class admits a keypad key and the
lengths add up to n: which key within a class does not matter. So the lengths a
pattern can match on a keypad are worked out on its parse tree, without trying
strings. Anything else (look-arounds, back-references) is "unknown", and the
validator then says nothing.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

KEYS = "0123456789*#"
Lengths = frozenset[int]

_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    c.CATEGORY_DIGIT: str.isdigit,
    c.CATEGORY_NOT_DIGIT: lambda ch: not ch.isdigit(),
    c.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
    c.CATEGORY_NOT_WORD: lambda ch: not (ch.isalnum() or ch == "_"),
    c.CATEGORY_SPACE: str.isspace,
    c.CATEGORY_NOT_SPACE: lambda ch: not ch.isspace(),
}


class _Unknown(Exception):
    pass


def _admits(items: list[tuple[Any, Any]], key: str) -> bool:
    negate = False
    hit = False
    for op, arg in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            hit |= ord(key) == arg
        elif op is c.RANGE:
            hit |= arg[0] <= ord(key) <= arg[1]
        elif op is c.CATEGORY and arg in _CATEGORIES:
            hit |= _CATEGORIES[arg](key)
        else:
            raise _Unknown
    return hit != negate


def _one(op: Any, arg: Any) -> bool:
    """Whether this one-character part admits some keypad key."""
    if op is c.LITERAL:
        return chr(arg) in KEYS
    if op is c.NOT_LITERAL:
        return any(ord(k) != arg for k in KEYS)
    if op is c.ANY:
        return True
    if op is c.IN:
        return any(_admits(arg, k) for k in KEYS)
    raise _Unknown


def _lengths(parts: Any, limit: int) -> Lengths:
    found: Lengths = frozenset({0})
    for op, arg in parts:
        if op is c.AT:
            continue  # ^, $, \b...: zero width (fullmatch anchors the whole entry)
        if op in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.IN):
            step: Lengths = frozenset({1}) if _one(op, arg) else frozenset()
        elif op is c.SUBPATTERN:
            step = _lengths(arg[-1], limit)
        elif op is c.BRANCH:
            step = frozenset().union(*(_lengths(p, limit) for p in arg[1]))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = arg
            if low > 1000:
                raise _Unknown
            once = _lengths(sub, limit)
            step = frozenset({0}) if low == 0 else frozenset()
            reach: Lengths = frozenset({0})
            for count in range(1, min(high, max(low, limit)) + 1):
                reach = frozenset(a + b for a in reach for b in once if a + b <= limit)
                if not reach:
                    break
                if count >= low:
                    step |= reach
        elif op is c.ATOMIC_GROUP:
            step = _lengths(arg, limit)
        else:
            raise _Unknown
        found = frozenset(a + b for a in found for b in step if a + b <= limit)
    return found


def pattern_warning(pattern: str) -> str | None:
    """What Python warns of in a pattern that compiles ("[[0-9]": a set in a set may
    mean something else in a later Python). Read from the parser, which ``re``'s
    cache of compiled patterns would otherwise skip after the first compile."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            _parser.parse(pattern)
        except Exception:  # said by the compile; or re's private parser has changed
            return None
    return str(warned[0].message) if warned else None


def entry_lengths(pattern: str, limit: int) -> Lengths | None:
    """The lengths (up to ``limit``) of keypad entries the pattern fully matches;
    None when that cannot be told cheaply (or the pattern does not compile)."""
    try:
        with warnings.catch_warnings():  # "[[0-9]": validate warns of it at its line
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(pattern)
            return _lengths(_parser.parse(pattern), limit)
    except (_Unknown, re.error, RecursionError, OverflowError):
        return None
    except (AttributeError, TypeError, ValueError):  # re's private parser has changed
        return None
