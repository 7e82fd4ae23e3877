"""Reading the values of a flow file into model pieces, with a problem for each mistake.

:class:`Reader` reads one YAML mapping against its field table from
:mod:`engine.flow.schema` (unknown fields, missing ones, wrong types); the functions
below read the shapes that recur: prompts, texts, phrases, keys. Each records where
its values were written (``Context.locations``, by model path) and, on a mistake,
reports it and returns a harmless placeholder so reading can go on and find the next.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterator

from engine.flow.model import DEFAULT_LANGUAGE, Prompt, PromptPart, Text, Where
from engine.flow.problems import Problem, did_you_mean, error
from engine.flow.schema import KEYS, NAME_PATTERN, QUEUE_PATTERN, Table, default, field_of, names
from engine.flow.yamlsource import Map, Scalar, Seq, YValue, describe

Path = tuple[str | int, ...]
_NAME = re.compile(NAME_PATTERN)
_QUEUE = re.compile(QUEUE_PATTERN)
_NAMES = frozenset({"a node id", "a flow's name", "a variable name"})  # never empty


class Context:
    """What reading one file accumulates: problems, locations, the flow's languages."""

    def __init__(self, file: str, name: str) -> None:
        self.file = file
        self.name = name
        self.languages: tuple[str, ...] = (DEFAULT_LANGUAGE,)
        self.human: str | None = None
        self.problems: list[Problem] = []
        self.locations: dict[Path, Where] = {}
        self.unread_sets: set[str] = set()  # see unread_variables

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def error(self, where: Where, message: str) -> None:
        self.problems.append(error(where, message))

    def mark(self, path: Path, where: Where) -> None:
        self.locations.setdefault(path, where)


def _lower_first(text: str) -> str:
    return (text[:1].lower() + text[1:]).rstrip(".")


# A field of one node kind written on another: what this kind has instead.
_INSTEAD = {
    "goto": ("next", " (this node goes on with 'next')"),
    "next": ("goto", " (options and cases go on with 'goto')"),
    "timeout": (
        "first_digit_timeout",
        " (an input has 'first_digit_timeout' and 'inter_digit_timeout')",
    ),
}


def _instead(key: str, known: Collection[str]) -> str:
    found = _INSTEAD.get(key)
    return found[1] if found is not None and found[0] in known else ""


# Fields whose values name the variables they set.
_SETTERS = ("var", "save_as", "values", "variables")


def unread_variables(mapping: Map, known: Collection[str] = ()) -> Iterator[str]:
    """The variables that fields not read (not in ``known``) would set, had they been:
    a misspelled setter ('saveas: slots'), or one on a node that could not be read.
    The mistake is reported where it is written; a use of such a name is not also
    reported as unknown (``Flow.unread_sets``), once per use."""
    for entry in mapping:
        if entry.key in known or not difflib.get_close_matches(entry.key, _SETTERS, 1, 0.6):
            continue
        if isinstance(entry.value, Map):
            yield from (e.key for e in entry.value)
        elif isinstance(entry.value, Scalar) and entry.value.text():
            yield entry.value.text() or ""


class Reader:
    """One mapping read against its field table. ``label`` starts every message
    (``menu 'main'``); ``path`` is the model path its values are recorded under."""

    def __init__(
        self,
        ctx: Context,
        mapping: Map,
        table: Table,
        label: str,
        path: Path,
        where: Where | None = None,
    ) -> None:
        self.ctx = ctx
        self.map = mapping
        self.table = table
        self.label = label
        self.path = path
        self.where = where or mapping.where
        self._check_fields()

    def _check_fields(self) -> None:
        known = names(self.table)
        self.ctx.unread_sets.update(unread_variables(self.map, known))
        for entry in self.map:
            if entry.key not in known:
                hint = (
                    did_you_mean(entry.key, known)
                    or _instead(entry.key, known)
                    or f" (expected one of: {', '.join(known)})"
                )
                self.ctx.error(entry.key_where, f"{self.label}: unknown field '{entry.key}'{hint}")
        for f in self.table:
            if f.required and f.name not in self.map:
                self.ctx.error(
                    self.where, f"{self.label}: missing '{f.name}' ({_lower_first(f.description)})"
                )

    def value(self, name: str) -> YValue | None:
        """The value as written (None when absent), its position recorded."""
        found = self.map.get(name)
        if found is not None:
            self.ctx.mark((*self.path, name), found.where)
        return found

    def wrong(self, name: str, value: YValue, expected: str) -> None:
        self.ctx.error(
            value.where, f"{self.label}: '{name}' must be {expected}, not {describe(value)}"
        )

    def string(self, name: str, expected: str = "text") -> str | None:
        """Text (numbers and booleans as written); None when absent or null."""
        found = self.value(name)
        if found is None:
            return None
        if isinstance(found, Scalar):
            text = found.text()
            # null is "none" where a field may be left out; a name given as '' is not
            named_nothing = text is not None and expected in _NAMES
            blank = text is None or not text.strip()
            if blank and (named_nothing or field_of(self.table, name).required):
                self.ctx.error(found.where, f"{self.label}: '{name}' is empty")
            return text
        self.wrong(name, found, expected)
        return None

    def target(self, name: str) -> str | None:
        return self.string(name, "a node id")

    def flow_name(self, name: str) -> str | None:
        return self.string(name, "a flow's name")

    def queue_name(self, name: str) -> str | None:
        """An Asterisk queue's name: it goes into the dialplan's Queue() as it is, where
        a comma would start the application's options."""
        text = self.string(name, "a queue's name")
        found = self.map.get(name)
        if text and text.strip() and found is not None and not _QUEUE.match(text):
            self.ctx.error(
                found.where,
                f"{self.label}: '{text}' is not a queue name (letters, digits, '_', '-' "
                "and '.', as in queues.conf)",
            )
        return text

    def variable_name(self, name: str) -> str | None:
        text = self.string(name, "a variable name")
        found = self.map.get(name)
        if text and text.strip() and found is not None and not _NAME.match(text):
            self.ctx.error(
                found.where,
                f"{self.label}: '{text}' is not a variable name (ASCII letters, digits and _, "
                "not starting with a digit)",
            )
        return text

    def _number(self, name: str, expected: str, ok: Callable[[float], bool]) -> float:
        fallback = default(self.table, name)
        assert isinstance(fallback, int | float)
        found = self.value(name)
        if found is None:
            return float(fallback)
        number = _as_number(found)
        if number is not None and ok(number):
            return number
        self.wrong(name, found, expected)
        return float(fallback)

    def seconds(self, name: str) -> float:
        return self._number(name, "a number of seconds above 0", lambda x: x > 0)

    def fraction(self, name: str) -> float:
        return self._number(name, "a number from 0 to 1", lambda x: 0 <= x <= 1)

    def count(self, name: str) -> int:
        return int(
            self._number(name, "a whole number, 1 or more", lambda x: x >= 1 and x == int(x))
        )

    def flag(self, name: str) -> bool:
        found = self.value(name)
        if found is None:
            return bool(default(self.table, name))
        if isinstance(found, Scalar) and isinstance(found.value, bool):
            return found.value
        self.wrong(name, found, "true or false")
        return bool(default(self.table, name))

    def _null(self, name: str, found: YValue) -> bool:
        """Null (reported when the field is required)."""
        if isinstance(found, Scalar) and found.value is None:
            if field_of(self.table, name).required:
                self.ctx.error(found.where, f"{self.label}: '{name}' is empty")
            return True
        return False

    def mapping(self, name: str) -> Map | None:
        found = self.value(name)
        if found is None or self._null(name, found):
            return None
        if isinstance(found, Map):
            return found
        self.wrong(name, found, "a mapping")
        return None

    def sequence(self, name: str) -> Seq | None:
        found = self.value(name)
        if found is None or self._null(name, found):
            return None
        if isinstance(found, Seq):
            return found
        self.wrong(name, found, "a list")
        return None


def _as_number(value: YValue) -> float | None:
    """A finite int or float (not a boolean) as a float, else None."""
    if not isinstance(value, Scalar) or isinstance(value.value, bool):
        return None
    if not isinstance(value.value, int | float):
        return None
    try:
        number = float(value.value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def read_key(ctx: Context, value: YValue | None, label: str) -> str | None:
    """A phone key: an int 0-9 or one of the strings in :data:`KEYS`."""
    if value is None:
        return None
    if isinstance(value, Scalar):
        if value.value is None:
            ctx.error(value.where, f'{label}: the key is empty; write * and # in quotes: "#"')
            return None
        text = value.text()
        if text in KEYS:
            return text
        plain = unicodedata.normalize("NFKC", text or "")
        if plain in KEYS:  # U+FF11, U+FF03: a Chinese or Japanese keyboard's full width
            ctx.error(
                value.where,
                f"{label}: '{text}' is a full-width character: type the key {plain!r}",
            )
            return None
    ctx.error(value.where, f"{label}: the key must be one of 0-9, * or #, not {describe(value)}")
    return None


def read_text(ctx: Context, value: YValue | None, label: str, path: Path) -> Text:
    """A label or title: plain text (every language) or a mapping language -> text."""
    if value is None:
        return Text()
    if isinstance(value, Scalar) and value.text() is not None:
        return Text({lang: value.text() or "" for lang in ctx.languages})
    if isinstance(value, Map):
        by_lang: dict[str, str] = {}
        for entry in value:
            ctx.mark((*path, entry.key), entry.key_where)
            if isinstance(entry.value, Scalar) and entry.value.text() is not None:
                by_lang[entry.key] = entry.value.text() or ""
            else:
                ctx.error(
                    entry.value.where,
                    f"{label} ({entry.key}): must be text, not {describe(entry.value)}",
                )
        return Text(by_lang)
    ctx.error(
        value.where,
        f"{label}: must be text or a mapping of languages to text, not {describe(value)}",
    )
    return Text()


def _part(ctx: Context, value: YValue, label: str, path: Path) -> PromptPart | None:
    ctx.mark(path, value.where)
    if isinstance(value, Scalar) and value.text() is not None:
        return PromptPart(text=value.text())
    if isinstance(value, Map) and "file" in value:
        return _file_part(ctx, value, label, path)
    ctx.error(
        value.where, f"{label}: a prompt part is text or {{file: path}}, not {describe(value)}"
    )
    return None


def _file_part(ctx: Context, value: Map, label: str, path: Path) -> PromptPart | None:
    for entry in value:
        if entry.key != "file":
            ctx.error(entry.key_where, f"{label}: unknown field '{entry.key}' next to 'file'")
    found = value.get("file")
    if isinstance(found, Scalar) and found.text():
        ctx.mark(path, found.where)
        return PromptPart(file=found.text())
    where = found.where if found is not None else value.where
    ctx.error(where, f"{label}: 'file' must be the path of a recording")
    return None


def _parts(ctx: Context, value: YValue, label: str, path: Path) -> tuple[PromptPart, ...]:
    items = value.items if isinstance(value, Seq) else (value,)
    parts = (_part(ctx, item, label, (*path, i)) for i, item in enumerate(items))
    return tuple(p for p in parts if p is not None)


def read_prompt(ctx: Context, value: YValue | None, label: str, path: Path) -> Prompt:
    """Text, a list of parts, ``{file: ...}``, or a mapping language -> any of those.
    Text and parts without a language are the flow's default language; a recording
    without one is the same file for every language."""
    if value is None:
        return Prompt()
    if isinstance(value, Scalar) and value.value is None:
        return Prompt(where=value.where)
    ctx.mark(path, value.where)
    if isinstance(value, Map) and "file" in value:
        parts = _parts(ctx, value, label, (*path, ctx.default_language))
        for lang in ctx.languages:
            ctx.mark((*path, lang), value.where)
            ctx.mark((*path, lang, 0), value.where)
        return Prompt({lang: parts for lang in ctx.languages}, value.where)
    if isinstance(value, Map):
        by_lang: dict[str, tuple[PromptPart, ...]] = {}
        for entry in value:
            ctx.mark((*path, entry.key), entry.key_where)
            by_lang[entry.key] = _parts(
                ctx, entry.value, f"{label} ({entry.key})", (*path, entry.key)
            )
        return Prompt(by_lang, value.where)
    lang = ctx.default_language
    ctx.mark((*path, lang), value.where)
    return Prompt({lang: _parts(ctx, value, label, (*path, lang))}, value.where)


def read_phrases(
    ctx: Context, value: YValue | None, label: str, path: Path
) -> dict[str, tuple[str, ...]]:
    """Phrases per language: a list (the default language) or language -> list/text."""
    if value is None or (isinstance(value, Scalar) and value.value is None):
        return {}
    if isinstance(value, Map):
        result: dict[str, tuple[str, ...]] = {}
        for entry in value:
            ctx.mark((*path, entry.key), entry.key_where)
            result[entry.key] = _phrase_list(ctx, entry.value, label)
        return result
    ctx.mark((*path, ctx.default_language), value.where)
    return {ctx.default_language: _phrase_list(ctx, value, label)}


def _phrase_list(ctx: Context, value: YValue, label: str) -> tuple[str, ...]:
    items = value.items if isinstance(value, Seq) else (value,)
    phrases: list[str] = []
    for item in items:
        if isinstance(item, Scalar) and item.text():
            phrases.append(item.text() or "")
        else:
            ctx.error(item.where, f"{label}: a phrase must be text, not {describe(item)}")
    return tuple(phrases)


def _json_literal(value: YValue) -> str | None:
    """A YAML number, boolean or null as the template expression that is it."""
    if not isinstance(value, Scalar):
        return None
    match value.value:
        case bool(yes):
            return "true" if yes else "false"
        case int() | float() as number if math.isfinite(number):
            return repr(number)
        case None:
            return "none"
    return None


def read_templates(
    ctx: Context,
    value: Map | None,
    label: str,
    path: Path,
    *,
    names_only: bool,
    literals: bool = False,
) -> dict[str, str]:
    """A mapping name -> template text (numbers and booleans as written). With
    ``literals`` (a JSON body) an unquoted number, boolean or null is written as
    the one expression that is it (``50`` as ``{{ 50 }}``), so that it is sent as
    a number, a boolean or null, not as text."""
    result: dict[str, str] = {}
    for entry in value or ():
        ctx.mark((*path, entry.key), entry.value.where)
        if names_only and not _NAME.match(entry.key):
            ctx.error(
                entry.key_where,
                f"{label}: '{entry.key}' is not a variable name "
                "(ASCII letters, digits and _, not starting with a digit)",
            )
        literal = _json_literal(entry.value) if literals else None
        if literal is not None:
            result[entry.key] = "{{ " + literal + " }}"
        elif isinstance(entry.value, Scalar):
            result[entry.key] = entry.value.text() or ""
        else:
            ctx.error(
                entry.value.where,
                f"{label}: '{entry.key}' must be text (a template), not {describe(entry.value)}",
            )
    return result
