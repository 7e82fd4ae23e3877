"""What a YAML syntax error in a flow file means, said where it is.

PyYAML fails where it gives up, often lines after the mistake, and in its own
words ("expected <block end>, but found '<scalar>'"). These look for the usual
causes in a flow file (a look-alike character, a quote or bracket left open, a bare
``#`` or ``*``, a field indented under a value) and name the place and the fix.
"""

from __future__ import annotations

import re

import yaml

from engine.flow.model import Where
from engine.flow.problems import Problem, error


class LimitError(yaml.MarkedYAMLError):
    """A document over the loader's limits (aliases, depth): its message stands."""


def at_mark(path: str, mark: yaml.Mark | None) -> Where:
    if mark is None:
        return Where(path, 1, 1)
    return Where(path, mark.line + 1, mark.column + 1)


def _on_a_line(path: str, mark: yaml.Mark | None, text: str) -> Where:
    """``mark`` as a place, kept on the file's last line: the parser's end of the
    stream is the line after it, which an editor does not have."""
    where = at_mark(path, mark)
    lines = text.splitlines() or [""]
    if where.line > len(lines):
        return Where(path, len(lines), len(lines[-1]) + 1)
    return where


# Characters that look like YAML's own but are not: the parser reads them as text,
# and fails somewhere that says nothing of them.
LOOK_ALIKES = {
    "\u00a0": "a no-break space (U+00A0), which YAML takes for text: type a plain space",
    "\u202f": "a narrow no-break space (U+202F), which YAML takes for text: type a plain "
    "space",
    "\u3000": "a full-width space (U+3000), which YAML takes for text: type a plain space",
    "\uff1a": "a full-width colon (U+FF1A), which is not YAML's ':': type ':'",
    "\uff0c": "a full-width comma (U+FF0C), which is not YAML's ',': type ','",
} | {chr(c): f"a typographic space (U+{c:04X}), which YAML takes for text: type a plain space"
     for c in range(0x2000, 0x200B)}


def _look_alike(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str] | None:
    """A look-alike character outside quotes on the lines the parser failed on (or
    the line of text before, past blank lines): the line, the column and what to say."""
    marks = [m for m in (exc.context_mark, exc.problem_mark) if m is not None]
    if not marks:
        return None
    lines = text.splitlines()
    first = max(0, min(m.line for m in marks) - 1)
    while 0 < first < len(lines) and not lines[first].split("#", 1)[0].strip(" \t"):
        first -= 1  # a node's last field, a blank line, then the next node
    for number in range(first, min(max(m.line for m in marks) + 1, len(lines))):
        line = lines[number].split("#", 1)[0]
        for column, char in enumerate(line):
            if char in LOOK_ALIKES and not _quoted(line, column):
                return number, column, f"invalid YAML: this is {LOOK_ALIKES[char]}"
    return None


def _quoted(line: str, column: int) -> bool:
    """Whether ``column`` of ``line`` is inside quotes (an even count before it is not)."""
    before = line[:column]
    return before.count('"') % 2 == 1 or before.count("'") % 2 == 1


def at_position(path: str, text: str, position: int) -> Where:
    before = text[:position]
    line = before.count("\n") + 1
    return Where(path, line, position - (before.rfind("\n") + 1) + 1)


_COMMENT = re.compile(r"[:{,]\s*#")


def _bare_star(exc: yaml.MarkedYAMLError) -> bool:
    """An unquoted ``*`` (``key: *``): YAML reads it as an alias with no name."""
    start, end = exc.context_mark, exc.problem_mark
    return (
        exc.context == "while scanning an alias"
        and start is not None
        and end is not None
        and end.index == start.index + 1
    )


def _yaml_message(exc: yaml.MarkedYAMLError, text: str) -> str:
    if _bare_star(exc):
        return 'invalid YAML: a bare * starts an alias: write "*" (quoted) for the key'
    problem = exc.problem or exc.context or "not valid YAML"
    if "'\\t'" in problem:
        return "invalid YAML: a tab character here; indent with spaces"
    if isinstance(exc, LimitError):
        return problem
    if "flow mapping" in (exc.context or "") and "but got ':'" in problem:
        return (
            "invalid YAML: inside { } the pairs 'key: value' are separated by commas: a "
            "comma is missing before this ':', or the text before it contains ': ' (put "
            "that text in quotes)"
        )
    message = f"invalid YAML: {problem}"
    if exc.context and exc.problem:
        at = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message += f" ({exc.context}{at})"
    return message + _hint(exc, text)


def _unclosed_quote(exc: yaml.MarkedYAMLError, text: str) -> tuple[yaml.Mark, str] | None:
    """A quote left open, as the place to look and what to say. YAML lets quoted text
    run on over lines, so the parser fails where the text finally ends (often at the
    next quote, lines below) or at the end of the file; a flow's quoted text is one
    line, so the quote that opens text running on over lines is the likely cause."""
    start = exc.context_mark
    if exc.context == "while scanning a quoted scalar" and start is not None:
        return start, f"invalid YAML: the {text[start.index]} opened here is never closed"
    problem = exc.problem_mark
    if problem is None:
        return None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= problem.index:
                return None
            quoted = isinstance(token, yaml.ScalarToken) and token.style in ('"', "'")
            ends = token.end_mark.line
            if quoted and ends > token.start_mark.line and ends >= problem.line - 1:
                opened = token.start_mark
                return opened, (
                    f"invalid YAML: the {text[opened.index]} opened here is not closed on "
                    f"this line, so the text runs on to line {token.end_mark.line + 1}, where: "
                    f"{exc.problem or 'not valid YAML'}"
                )
    except yaml.YAMLError:
        return None
    return None


_BRACED_HASH = re.compile(r"\{[^{}#]*:\s*(#)")  # "{key: #, label: ...}"
_HASH_IN_BRACES = (
    'invalid YAML: this # starts a comment, so the rest of the line is lost and the '
    '{ } is never closed: write "#" in quotes'
)


def _hash_in_braces(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, int] | None:
    """The line and column of a bare # inside { } on or a few lines above where the
    parser failed (it fails where the { } would have had to end, often lines on)."""
    problem = exc.problem_mark
    if problem is None:
        return None
    lines = text.splitlines()
    for line in range(min(problem.line, len(lines) - 1), max(problem.line - 6, -1), -1):
        found = _BRACED_HASH.search(lines[line])
        if found is not None:
            return line, found.start(1)
    return None


_OPENERS = {"while parsing a flow mapping": ("{", "}"), "while parsing a flow sequence": ("[", "]")}


def _unclosed_bracket(exc: yaml.MarkedYAMLError, text: str) -> str | None:
    """A ``{`` or ``[`` not closed on its line: the parser fails on a later line, at
    the key of the next node or field (indented no deeper than the bracket's line);
    say so at the bracket."""
    start, problem = exc.context_mark, exc.problem_mark
    pair = _OPENERS.get(exc.context or "")
    lines = text.splitlines()
    if pair is None or start is None or problem is None:
        return None
    line, opened, closed = lines[start.line], pair[0], pair[1]
    if problem.line >= len(lines):  # the file ended inside the brackets
        if line.count(opened) <= line.count(closed):
            return None
        return f"invalid YAML: the {opened} opened here is never closed: end it with {closed}"
    later = lines[problem.line]
    if (
        problem.line == start.line
        or line.count(opened) <= line.count(closed)
        or _indent(later) > _indent(line)
    ):
        return None
    return (
        f"invalid YAML: the {opened} opened here is not closed on this line: end it with {closed}"
    )


def _left_open_at_the_end(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str] | None:
    """The file ended inside a ``[`` or ``{``: the last one left open, outside quotes
    and comments (the parser only says it found the end of the stream)."""
    if "<stream end>" not in (exc.problem or ""):
        return None
    depth: list[tuple[int, int, str]] = []
    for number, line in enumerate(text.splitlines()):
        quote = ""
        for column, char in enumerate(line):
            if quote:
                quote = "" if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == "#" and (column == 0 or line[column - 1] in " \t"):
                break
            elif char in "[{":
                depth.append((number, column, char))
            elif char in "]}" and depth:
                depth.pop()
    if not depth:
        return None
    number, column, opened = depth[-1]
    closed = "]" if opened == "[" else "}"
    return number, column, (
        f"invalid YAML: the {opened} opened here is never closed: end it with {closed}"
    )


_FIELD = re.compile(r"\s*(- )?[\w-]+:\s")


def _indented_under_a_value(lines: list[str], number: int) -> bool:
    """Line ``number`` starts with a field and is indented more than the line above,
    which is a field with its value: "  type: hangup" then "   prompt: Bye."."""
    above = next((n for n in range(number - 1, -1, -1) if lines[n].strip()), None)
    if above is None or number >= len(lines) or not _FIELD.match(lines[number] + " "):
        return False
    field_above = _FIELD.match(lines[above] + " ")
    has_value = field_above is not None and lines[above].split(":", 1)[1].strip() != ""
    return has_value and _indent(lines[number]) > _indent(lines[above])


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _hint(exc: yaml.MarkedYAMLError, text: str) -> str:
    """What usually causes this error in a flow file."""
    lines = text.splitlines()
    marks = [m for m in (exc.context_mark, exc.problem_mark) if m is not None]
    if any(m.line < len(lines) and _COMMENT.search(lines[m.line]) for m in marks):
        return '; note that # starts a comment: write "#" for the key'
    problem = exc.problem or ""
    if "'?'" in problem and "flow" in (exc.context or ""):  # in { } or [ ]
        return "; inside { } a '?' ends the text: put the text in quotes"
    if "mapping values are not allowed" in problem:
        if exc.problem_mark is not None and _indented_under_a_value(lines, exc.problem_mark.line):
            return (
                "; this line is indented more than the field above it: the fields of "
                "one node line up (if it is that field's text going on, quote the text)"
            )
        return "; put text that contains ': ' in quotes"
    if problem.startswith("expected <block end>"):
        return (
            "; check this line's indentation: the fields of one node, or the items of "
            "one list, line up"
        )
    return ""


def diagnose(exc: yaml.MarkedYAMLError, text: str, path: str) -> Problem:
    """The parser's error as a designer can act on it: at the place that is wrong
    (not where the parser gave up), saying what usually causes it."""
    odd = _look_alike(exc, text)
    if odd is not None:
        return error(Where(path, odd[0] + 1, odd[1] + 1), odd[2])
    quote = _unclosed_quote(exc, text)
    if quote is not None:
        return error(at_mark(path, quote[0]), quote[1])
    hash_key = _hash_in_braces(exc, text)
    if hash_key is not None:
        return error(Where(path, hash_key[0] + 1, hash_key[1] + 1), _HASH_IN_BRACES)
    bracket = _unclosed_bracket(exc, text)
    if bracket is not None and exc.context_mark is not None:
        return error(at_mark(path, exc.context_mark), bracket)
    left_open = _left_open_at_the_end(exc, text)
    if left_open is not None:
        return error(Where(path, left_open[0] + 1, left_open[1] + 1), left_open[2])
    mark = exc.context_mark if _bare_star(exc) else exc.problem_mark or exc.context_mark
    return error(_on_a_line(path, mark, text), _yaml_message(exc, text))
