"""What an agent pushes to the caller's page: an info card or a short form.

The agent's desktop sends a spec (JSON); :func:`parse_push` checks it and gives a
:class:`Push` (or says what is wrong). The caller's page shows the journey's
pushes and posts a form's values back; :func:`check_answer` validates them
against the form (required fields, each field's pattern). Both the push and the
answer go into the journey's trail, like every other step the caller sees or
takes (the answer as ``input`` entries with source ``web``, sensitive fields
masked), so the agent — and whoever reads the journey later — sees them.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import regex

log = logging.getLogger(__name__)

MAX_FIELDS = 8
# An agent's pattern is checked against a caller's answer on the loop every call
# shares; one such as "(a|aa)+$" takes exponential time on an answer that almost
# matches. The regex module can stop a match: one taking longer does not match.
PATTERN_S = 0.05
NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ids = itertools.count(1)

FieldType = Literal["text", "email", "tel", "number", "date"]
FIELD_TYPES: Mapping[str, FieldType] = {t: t for t in ("text", "email", "tel", "number", "date")}
# A field's type, when the agent gives none, from its name: a phone's keyboard then
# offers what the field takes (the @, the digits, a date picker).
TYPE_OF_NAME: Mapping[str, FieldType] = {
    "email": "email",
    "e_mail": "email",
    "phone": "tel",
    "mobile": "tel",
    "tel": "tel",
    "telephone": "tel",
    "date": "date",
    "birthday": "date",
    "date_of_birth": "date",
    "dob": "date",
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_TEL = re.compile(r"\+?[0-9 ()./-]{5,24}")
_NUMBER = re.compile(r"-?[0-9]+([.,][0-9]+)?")


def _is_date(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


# Each type's check, and the problem's name when the value fails it.
_CHECKS: Mapping[FieldType, tuple[Callable[[str], bool], str]] = {
    "email": (lambda v: _EMAIL.fullmatch(v) is not None, "not an email"),
    "tel": (lambda v: _TEL.fullmatch(v) is not None and sum(c.isdigit() for c in v) >= 5,
            "not a phone number"),
    "number": (lambda v: _NUMBER.fullmatch(v) is not None, "not a number"),
    "date": (_is_date, "not a date"),
}


class PushError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    pattern: str = ""  # the whole value must match; empty: anything up to 200 characters
    required: bool = True
    sensitive: bool = False  # masked in the trail (and on the agent's desktop)
    type: FieldType = "text"  # what the page's input takes (and the answer is checked as)


@dataclass(slots=True)
class Push:
    id: str
    kind: Literal["card", "form"]
    title: str
    text: str
    fields: tuple[FormField, ...]
    agent: str
    at: float = field(default_factory=time.time)
    answered: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "text": self.text,
            "fields": [asdict(f) for f in self.fields],
            "agent": self.agent,
            "at": self.at,
            "answered": self.answered,
        }


def _text(spec: Mapping[str, Any], key: str, limit: int, required: bool = False) -> str:
    value = spec.get(key, "")
    if not isinstance(value, str):
        raise PushError(f"'{key}' must be text")
    value = value.strip()
    if required and not value:
        raise PushError(f"'{key}' is missing")
    if len(value) > limit:
        raise PushError(f"'{key}' is longer than {limit} characters")
    return value


def parse_push(spec: Mapping[str, Any], agent: str) -> Push:
    kind = spec.get("kind")
    if kind not in ("card", "form"):
        raise PushError("'kind' must be 'card' or 'form'")
    title = _text(spec, "title", 120, required=True)
    text = _text(spec, "text", 2000)
    form_fields: list[FormField] = []
    if kind == "form":
        raw = spec.get("fields")
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_FIELDS:
            raise PushError(f"a form has 1 to {MAX_FIELDS} 'fields'")
        for item in raw:
            if not isinstance(item, Mapping):
                raise PushError("each field is an object with 'name' and 'label'")
            form_fields.append(_field(item))
        names = [f.name for f in form_fields]
        if len(set(names)) != len(names):
            raise PushError("field names must differ")
    return Push(f"p{next(_ids)}", kind, title, text, tuple(form_fields), agent)


def _field(item: Mapping[str, Any]) -> FormField:
    name = _text(item, "name", 32, required=True)
    if not NAME.fullmatch(name):
        raise PushError(f"field name '{name}': lower-case letters, digits and _")
    pattern = _text(item, "pattern", 200)
    if pattern:
        try:
            _compiled(pattern)
        except (regex.error, OverflowError, RecursionError) as exc:
            raise PushError(f"field '{name}': pattern: {exc}") from exc
    given = _text(item, "type", 12)
    sensitive = bool(item.get("sensitive", False))
    # A sensitive field's box hides what is typed: no date picker from its name alone.
    inferred = "text" if sensitive else TYPE_OF_NAME.get(name, "text")
    kind: FieldType | None = FIELD_TYPES.get(given) if given else inferred
    if kind is None:
        raise PushError(f"field '{name}': type: one of {', '.join(FIELD_TYPES)}")
    return FormField(
        name=name,
        label=_text(item, "label", 120) or name,
        pattern=pattern,
        required=bool(item.get("required", True)),
        sensitive=sensitive,
        type=kind,
    )


def check_answer(push: Push, values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(clean values, problems by field name); a card takes no values."""
    clean: dict[str, str] = {}
    problems: dict[str, str] = {}
    for f in push.fields:
        raw = values.get(f.name, "")
        value = raw.strip() if isinstance(raw, str) else ""
        if not value:
            if f.required:
                problems[f.name] = "required"
            continue
        check = _CHECKS.get(f.type)
        if len(value) > 200:
            problems[f.name] = "too long"
        elif check is not None and not check[0](value):
            problems[f.name] = check[1]
        elif f.pattern and not _matches(f.pattern, value):
            problems[f.name] = "not in the expected form"
        else:
            clean[f.name] = value
    return clean, problems


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


PATTERN_TRIES = 3


def _matches(pattern: str, value: str) -> bool:
    """The timeout is wall-clock time, so a busy machine (another thread holding the
    GIL, the process descheduled) can run out a simple pattern's: only a pattern
    that times out on every try is taken as not matching."""
    for _ in range(PATTERN_TRIES):
        try:
            return _compiled(pattern).fullmatch(value, timeout=PATTERN_S) is not None
        except TimeoutError:
            continue
    log.warning("push pattern %r: over %.0f ms on an answer, %d times; taken as not matching",
                pattern[:60], PATTERN_S * 1000, PATTERN_TRIES)
    return False


def shown(f: FormField, value: str) -> str:
    return "*" * len(value) if f.sensitive else value
