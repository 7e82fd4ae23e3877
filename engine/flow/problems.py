"""What the loader, parser and validator report: one :class:`Problem` per mistake.

A problem prints as ``file:line:col: message`` (warnings as ``file:line:col: warning:
message``), the form editors and CI logs turn into links.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from engine.flow.model import Where

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    where: Where
    message: str
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        if self.severity == "warning":
            return f"{self.where}: warning: {self.message}"
        return f"{self.where}: {self.message}"


def error(where: Where, message: str) -> Problem:
    return Problem(where, message, "error")


def warning(where: Where, message: str) -> Problem:
    return Problem(where, message, "warning")


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.is_error for p in problems)


def sorted_problems(problems: Iterable[Problem]) -> list[Problem]:
    """In file order (then message), each problem once."""
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.where.file, p.where.line, p.where.col, p.message))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a candidate is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
