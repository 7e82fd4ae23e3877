"""A YAML loader that remembers where every value was written.

PyYAML's safe loader composes the document into a node graph (which carries marks);
instead of letting it construct plain dicts and lists, which forget positions, we walk
the graph ourselves and build :class:`Map`, :class:`Seq` and :class:`Scalar` values,
each stamped with a 1-based :class:`~engine.flow.model.Where`. Mapping keys are kept
as written (``1:`` and ``"1":`` are the same key) with their own position, so
duplicate keys can be reported with both lines.

Whatever the input — garbage bytes, tabs, a bomb of aliases, a document nested ten
thousand deep — the result is a value or a list of problems, never a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from engine.flow.model import Where
from engine.flow.problems import Problem, error, warning
from engine.flow.yamlerrors import LOOK_ALIKES, LimitError, at_mark, at_position, diagnose

MAX_FILE_BYTES = 1_000_000
MAX_ALIASES = 200  # alias uses (*name) per document
MAX_VALUES = 100_000  # values built, counting each alias expansion
MAX_DEPTH = 64

_CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str")
)
_TEXT_TAGS = frozenset({"tag:yaml.org,2002:timestamp"})  # kept as written
_SEPARATOR = re.compile("[\x85\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_HALF_CHARACTER = (
    "a '\\u' escape here makes half of a character (a surrogate, U+D800 to U+DFFF); "
    "write the character itself, or its '\\U' escape with 8 digits"
)


@dataclass(frozen=True, slots=True)
class Scalar:
    value: object  # str, int, float, bool or None
    raw: str  # the characters as written
    where: Where
    quoted: bool = False

    def text(self) -> str | None:
        """The value as text: strings as they are, numbers and booleans as written
        (so ``label: No`` stays ``"No"``), None for null."""
        if self.value is None:
            return None
        return self.value if isinstance(self.value, str) else self.raw


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[YValue, ...]
    where: Where


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    key_where: Where
    value: YValue


@dataclass(frozen=True, slots=True)
class Map:
    entries: tuple[Entry, ...]
    where: Where
    # Keys written again later in the mapping, each reported as a duplicate and left
    # out of ``entries`` (the first stands): a reader may tell that the one it read
    # was not the only one.
    repeated: tuple[Entry, ...] = ()

    def entry(self, key: str) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)

    def get(self, key: str) -> YValue | None:
        found = self.entry(key)
        return found.value if found is not None else None

    def __contains__(self, key: str) -> bool:
        return self.entry(key) is not None

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)


YValue = Scalar | Seq | Map


def describe(value: YValue) -> str:
    """What a value is, in a designer's words."""
    if isinstance(value, Map):
        return "a mapping"
    if isinstance(value, Seq):
        return "a list"
    v = value.value
    if v is None:
        return "empty"
    if isinstance(v, bool | int | float):
        return value.raw
    odd = next((c for c in value.raw if c in LOOK_ALIKES), None)
    if odd is not None:  # "type： hangup" (a full-width colon) is text, not a field
        return f"text ('{value.raw[:40]}'): it holds {LOOK_ALIKES[odd]}"
    return f"text ('{value.raw[:40]}')"


def to_plain(value: YValue) -> object:
    """Plain Python data (dicts, lists, scalars), e.g. to check against the JSON Schema.
    As in YAML 1.2 (and editors), only true and false are booleans: ``yes`` is text."""
    if isinstance(value, Map):
        return {e.key: to_plain(e.value) for e in value.entries}
    if isinstance(value, Seq):
        return [to_plain(item) for item in value.items]
    if isinstance(value.value, bool) and value.raw.lower() not in ("true", "false"):
        return value.raw
    return value.value


class LineLoader(yaml.SafeLoader):
    """The safe loader, refusing alias bombs and deep nesting while composing."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.alias_count = 0
        self.depth = 0

    def compose_node(self, parent: YamlNode | None, index: int) -> YamlNode | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                raise LimitError(
                    problem=f"document too large: more than {MAX_ALIASES} aliases",
                    problem_mark=mark,
                )
        if self.depth >= MAX_DEPTH:
            raise LimitError(
                problem=f"document too large: nested more than {MAX_DEPTH} levels",
                problem_mark=mark,
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_ASKS_FOR_A_KEY = re.compile(r"(?i)\b(press|key|dial|enter)\s*$|按\s*$")


class _Builder:
    """Walks a composed node graph into :data:`YValue`, with a budget."""

    def __init__(self, loader: LineLoader, path: str, lines: list[str]) -> None:
        self.loader = loader
        self.path = path
        self.lines = lines
        self.budget = MAX_VALUES
        self.active: set[int] = set()
        self.problems: list[Problem] = []

    def build(self, node: YamlNode) -> YValue:
        self.budget -= 1
        if self.budget < 0:
            raise LimitError(
                problem=f"document too large: over {MAX_VALUES} values once aliases expand",
                problem_mark=node.start_mark,
            )
        if id(node) in self.active:
            raise LimitError(
                problem="invalid YAML: an alias that contains itself", problem_mark=node.start_mark
            )
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node)
            if isinstance(node, SequenceNode):
                return Seq(tuple(self.build(n) for n in node.value), self.where(node))
            return self._scalar(node)
        finally:
            self.active.discard(id(node))

    def where(self, node: YamlNode) -> Where:
        return at_mark(self.path, node.start_mark)

    def _content_where(self, node: ScalarNode) -> Where:
        """For ``|`` and ``>`` blocks: where the text itself starts (the next line)."""
        start = self.where(node)
        for number in range(start.line, len(self.lines)):
            line = self.lines[number]
            if line.strip():
                return Where(self.path, start.line + 1, len(line) - len(line.lstrip(" ")) + 1)
        return start

    def _scalar(self, node: YamlNode) -> Scalar:
        raw = str(node.value)
        quoted = isinstance(node, ScalarNode) and node.style in ("'", '"')
        block = isinstance(node, ScalarNode) and node.style in ("|", ">")
        where = self._content_where(node) if isinstance(node, ScalarNode) and block else None
        where = where or self.where(node)
        if isinstance(node, ScalarNode) and node.style is None and not raw:
            where = self._comment_after(node) or where  # "key: #": the value is empty
        if node.tag in _TEXT_TAGS:
            return Scalar(raw, raw, where, quoted)
        if node.tag not in _CORE_TAGS:
            self.problems.append(error(where, f"YAML tag '{node.tag}' is not supported here"))
            return Scalar(raw, raw, where, quoted)
        if _SURROGATE.search(raw):  # "\ud800": half of a character, which nothing can print
            self.problems.append(error(where, _HALF_CHARACTER))
            raw = _SURROGATE.sub("\ufffd", raw)
            return Scalar(raw, raw, where, quoted)
        try:
            value = self.loader.construct_object(node)
        except (ValueError, OverflowError, KeyError, IndexError):
            # A 5000-digit number, "!!int ''", "!!bool maybe": keep it as text, which
            # the field's own check then names ("expected a number, got text").
            return Scalar(raw, raw, where, quoted)
        if isinstance(value, str) and isinstance(node, ScalarNode) and node.style is None:
            self._cut_by_comment(node, value)
        return Scalar(value, raw, where, quoted)

    def _comment_after(self, node: ScalarNode) -> Where | None:
        """Where the ``#`` is, when a comment follows an empty value on its line."""
        mark = node.start_mark
        if mark.line >= len(self.lines):
            return None
        rest = self.lines[mark.line][mark.column :]
        if not rest.lstrip().startswith("#"):
            return None
        return Where(self.path, mark.line + 1, mark.column + len(rest) - len(rest.lstrip()) + 1)

    def _cut_by_comment(self, node: ScalarNode, text: str) -> None:
        """Unquoted text that a '#' cut short: 'then press #. To go back, press *.'
        reads as 'then press' and a comment. A comment that reads as the text going
        on ('#' then no space), or text that ends asking for a key, is a warning."""
        end = node.end_mark
        if end.line != node.start_mark.line or end.line >= len(self.lines):
            return
        rest = self.lines[end.line][end.column :].lstrip()
        if not rest.startswith("#"):
            return
        goes_on = len(rest) > 1 and not rest[1].isspace() and rest[1] != "#"
        if goes_on or _ASKS_FOR_A_KEY.search(text):
            self.problems.append(
                warning(
                    self.where(node),
                    f"the text ends at '{text[-30:]}': in YAML, ' #' starts a comment, so "
                    f"'{rest[:30]}' is not part of it; put the whole text in quotes",
                )
            )

    def _mapping(self, node: MappingNode) -> Map:
        written = {id(key) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"}
        self.loader.flatten_mapping(node)  # resolves "<<" merge keys: theirs come first
        entries: list[Entry] = []
        repeated: list[Entry] = []
        seen: dict[str, tuple[Where, bool]] = {}
        for key_node, value_node in node.value:
            key_where = self.where(key_node)
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    error(key_where, "a key must be a plain name, not a list or mapping")
                )
                continue
            key = str(key_node.value)
            if _SURROGATE.search(key):
                self.problems.append(error(key_where, _HALF_CHARACTER))
                key = _SURROGATE.sub("\ufffd", key)
            mine = id(key_node) in written
            value = self.build(value_node)
            if key in seen:
                first, first_mine = seen[key]
                if first_mine and mine:
                    self.problems.append(
                        error(key_where, f"duplicate key '{key}' (first at line {first.line})")
                    )
                    repeated.append(Entry(key, key_where, value))
                    continue
                if not mine:  # a default merged in again: the first one stands
                    continue
                # "<<: *defaults" then "key: ...": the key written here wins
                entries = [e for e in entries if e.key != key]
            seen[key] = (key_where, mine)
            entries.append(Entry(key, key_where, value))
        return Map(tuple(entries), self.where(node), tuple(repeated))


def load_yaml(text: str, path: str) -> tuple[YValue | None, list[Problem]]:
    """Parse one YAML document. None with problems when it cannot be read at all;
    None without problems for an empty document."""
    loader: LineLoader | None = None
    separator = _SEPARATOR.search(text)
    if separator is not None:  # YAML breaks the line there; editors do not: lines would be off
        where = at_position(path, text, separator.start())
        code = f"U+{ord(separator.group()):04X}"
        return None, [error(where, f"an invisible line separator ({code}) is here: delete it")]
    try:
        loader = LineLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, []
        builder = _Builder(loader, path, text.splitlines())
        value = builder.build(node)
        return value, builder.problems
    except yaml.reader.ReaderError as exc:
        where = at_position(path, text, int(exc.position))
        return None, [error(where, f"invalid character U+{int(exc.character):04X} in the file")]
    except yaml.MarkedYAMLError as exc:
        return None, [diagnose(exc, text, path)]
    except yaml.YAMLError as exc:
        return None, [error(Where(path, 1, 1), f"invalid YAML: {exc}")]
    except RecursionError:
        return None, [error(Where(path, 1, 1), "invalid YAML: nested too deeply")]
    finally:
        if loader is not None:
            loader.dispose()


def decode(data: bytes, path: str) -> tuple[str | None, list[Problem]]:
    """UTF-8 text (a byte-order mark is dropped), or a problem at the first bad byte."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        where = at_position(path, good, len(good))
        return None, [error(where, f"not UTF-8 text ({_encoding_of(data)})")]


def _encoding_of(data: bytes) -> str:
    """What a file that is not UTF-8 most likely is, and what to do about it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "it is UTF-16: save it as UTF-8"
    if b"\0" in data[:4096]:
        return "a binary file?"
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        return "a binary file?"
    return "it reads as a Chinese encoding such as GBK: save it as UTF-8"


def read_source(path: str) -> tuple[str | None, list[Problem]]:
    """A flow file's text, or why it cannot be read."""
    try:
        if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block
            return None, [error(Where(path, 1, 1), "cannot read: not a regular file")]
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, [error(Where(path, 1, 1), f"cannot read the file: {exc.strerror or exc}")]
    if len(data) > MAX_FILE_BYTES:
        return None, [error(Where(path, 1, 1), f"file larger than {MAX_FILE_BYTES} bytes")]
    return decode(data, path)
