"""Templates in flows: ``{{ variables }}`` in prompts, URLs, bodies, ``set`` values,
and branch ``when`` expressions.

One sandboxed Jinja2 environment serves the engine (rendering on every call, so
compiled templates are cached) and the validator (syntax and the names a template
uses). Undefined names fail loudly (``StrictUndefined``); nothing is HTML-escaped —
the text is spoken, and the web front end escapes on its own.

Filters for speech: ``say_number`` (``1234.5`` → ``"1234.50"``: TTS reads numerals,
amounts with cents keep two places), ``say_digits`` (``"1234"`` → ``"1 2 3 4"``),
``say_money`` (``1520.75`` → ``"1520 dollars and 75 cents"``, :mod:`engine.flow.money`),
``mask`` (``"12345678"`` → ``"****5678"``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import TypeVar

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from engine.flow.money import say_money, shown_money

_N = TypeVar("_N", bound=nodes.Node)


class TemplateFailure(Exception):
    """A template could not be rendered or evaluated (the message says why)."""


@dataclass(frozen=True, slots=True)
class TemplateIssue:
    """A template that does not compile: the message and the 1-based line inside it."""

    message: str
    line: int


def say_number(value: object, places: int = 2) -> str:
    """A number as numerals for TTS: whole numbers plain, others to ``places``."""
    if isinstance(value, bool):
        return str(value)
    try:
        number = Decimal(str(value).strip().replace(",", ""))
        if not number.is_finite():
            return str(value)
        if number == number.to_integral_value():
            return f"{number.quantize(Decimal(1)):f}"
        return f"{number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):f}"
    except (InvalidOperation, ValueError):
        return str(value)


def say_digits(value: object) -> str:
    """Each character on its own, so TTS reads "1234" as one, two, three, four."""
    return " ".join(ch for ch in str(value) if not ch.isspace())


def show_digits(value: object) -> str:
    """``say_digits`` on a screen: the characters together, as the eye reads them."""
    return "".join(ch for ch in str(value) if not ch.isspace())


def mask(value: object, keep: int = 4, char: str = "*") -> str:
    """All but the last ``keep`` characters hidden; a short value is hidden whole."""
    text = str(value)
    if len(text) <= keep:
        return char * len(text)
    return char * (len(text) - keep) + text[len(text) - keep :]


MAX_RESULT = 100_000  # characters or items a ``*`` may make; digits a ``**`` may make
_PARSE_ERRORS = (TemplateSyntaxError, RecursionError)  # the latter: nested hundreds deep


class _FlowEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, immutable: a template reads the call's values and cannot change
    them (``{{ r.pop('name') }}`` would empty a saved result for every later step).

    ``r.items`` is a backend's field "items" when it has one, not the dict's method
    of that name: flows read JSON, whose keys may be any word.

    A cap on what one operator may build: ``'a' * 10**9`` would hold the event loop
    (and gigabytes) while every call waits. Intercepting ``*`` and ``**`` also keeps
    Jinja from folding such constants as it compiles."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: object, attribute: str) -> object:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        if operator == "*":
            size = max(_repeated(left, right), _repeated(right, left))
            if size > MAX_RESULT:
                raise SecurityError(f"'*' would make {size:,} items")
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            digits = abs(right) * max(abs(left), 2).bit_length() * 0.302
            if digits > MAX_RESULT:
                raise SecurityError(f"'**' would make a number of about {digits:,.0f} digits")
        return super().call_binop(context, operator, left, right)


def _repeated(item: object, count: object) -> int:
    """How long ``item * count`` would be, for text and lists (else 0)."""
    if isinstance(item, str | list | tuple) and isinstance(count, int):
        return len(item) * count
    return 0


def default(value: object, fallback: object = "", boolean: bool = False) -> object:
    """Jinja's ``default``, which also stands in for a JSON null: a backend's
    ``"eta": null`` was spoken "None" through ``| default('unknown')``."""
    if isinstance(value, Undefined) or value is None or (boolean and not value):
        return fallback
    return value


def _spoken(value: object) -> object:
    """What ``{{ x }}`` writes: nothing for a null, never the word "None"."""
    return "" if value is None else value


def _environment(screen: bool = False) -> SandboxedEnvironment:
    env = _FlowEnvironment(undefined=StrictUndefined, autoescape=False, finalize=_spoken)
    env.filters.update(default=default, d=default)
    spelt = show_digits if screen else say_digits
    money = shown_money if screen else say_money
    env.filters.update(say_number=say_number, say_digits=spelt, say_money=money, mask=mask)
    return env


ENVIRONMENT = _environment()
SCREEN = _environment(screen=True)  # the same templates, as the visual IVR shows them
GLOBAL_NAMES = frozenset(ENVIRONMENT.globals)


@lru_cache(maxsize=2048)
def _template(text: str, screen: bool = False) -> Template:
    return (SCREEN if screen else ENVIRONMENT).from_string(text)


@lru_cache(maxsize=1024)
def _expression(expression: str) -> TemplateExpression:
    return ENVIRONMENT.compile_expression(expression, undefined_to_none=False)


def render(template_text: str, variables: Mapping[str, object], screen: bool = False) -> str:
    """The text with its ``{{ }}`` filled in; :class:`TemplateFailure` if it cannot be.
    ``screen``: as a screen shows it (``say_digits`` does not space the digits out)."""
    if "{" not in template_text:
        return template_text
    try:
        return _template(template_text, screen).render(variables)
    except Exception as exc:  # a designer's template must never crash a call
        raise TemplateFailure(_message(exc)) from exc


_WHOLE = re.compile(r"\s*\{\{(?P<expression>.*?)\}\}\s*", re.S)
_PLAIN = (bool, int, float, str, list, dict, type(None))


def value(template_text: str, variables: Mapping[str, object]) -> object:
    """A ``set`` or ``variables`` value. A template that is one ``{{ expression }}``
    keeps the expression's own type: ``{{ false }}`` is false (not the text "False",
    which a ``when`` would take for true), ``{{ tries | int + 1 }}`` a number,
    ``{{ customer }}`` the backend's mapping. Any other template renders to text."""
    whole = _WHOLE.fullmatch(template_text)
    if whole is None or "}}" in whole["expression"] or "{{" in whole["expression"]:
        return render(template_text, variables)
    result = evaluate(whole["expression"], variables)
    if isinstance(result, Undefined):
        render(template_text, variables)  # raises, saying what is undefined
    return result if isinstance(result, _PLAIN) else str(result)


def evaluate(expression: str, variables: Mapping[str, object]) -> object:
    """The value of a ``when`` expression such as ``balance.ok and tries < 3``."""
    try:
        return _expression(expression)(**variables)
    except Exception as exc:  # as in render
        raise TemplateFailure(_message(exc)) from exc


def _message(exc: Exception) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return exc.message or "template syntax error"
    return str(exc) or type(exc).__name__


_UNKNOWN_FILTER = re.compile(r"No filter named '([^']+)'")


def _issue(exc: TemplateSyntaxError) -> TemplateIssue:
    message = _message(exc).rstrip(".")
    unknown = _UNKNOWN_FILTER.match(message)
    if unknown:
        message = f"unknown filter '{unknown.group(1)}'"
        close = difflib.get_close_matches(unknown.group(1), list(ENVIRONMENT.filters), n=1)
        message += f" (did you mean '{close[0]}'?)" if close else ""
    return TemplateIssue(message, max(exc.lineno, 1))


def template_issue(template_text: str) -> TemplateIssue | None:
    """Why the template does not compile (unknown filters included) or could never
    render, or None."""
    try:
        _template(template_text)
        ast = ENVIRONMENT.parse(template_text)
        return _never_renders(ast) or _called_value(ast, meta.find_undeclared_variables(ast))
    except TemplateSyntaxError as exc:
        return _issue(exc)
    except RecursionError:
        return TemplateIssue(_TOO_DEEP, 1)


def expression_issue(expression: str) -> TemplateIssue | None:
    """Why the expression does not compile or could never be evaluated, or None."""
    if not expression.strip():
        return TemplateIssue("the expression is empty", 1)
    try:
        _expression(expression)
        ast = Parser(ENVIRONMENT, expression, state="variable").parse_expression()
        names = {n.name for n in _with_root(ast, nodes.Name)}
        return _never_renders(ast) or _called_value(ast, names)
    except TemplateSyntaxError as exc:
        return _issue(exc)
    except RecursionError:
        return TemplateIssue(_TOO_DEEP, 1)


_TOO_DEEP = "nested too deeply to read (hundreds of brackets or 'not's)"
_NO_FILES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def _never_renders(ast: nodes.Node) -> TemplateIssue | None:
    """What the sandbox refuses on every call: other template files (a flow's
    templates are its own text) and private attributes (``x.__class__``)."""
    for found in _with_root(ast, nodes.Node):
        if isinstance(found, _NO_FILES):
            tag = type(found).__name__.lower().replace("fromimport", "from ... import")
            return TemplateIssue(f"'{{% {tag} %}}' is not available: a flow's template is "
                                 "its own text, with no other template files", found.lineno)
        private = _private_name(found)
        if private is not None:
            return TemplateIssue(f"'{private}' is private: names starting with '_' are not "
                                 "readable in templates", found.lineno)
    return None


def _called_value(ast: nodes.Node, context_names: Collection[str]) -> TemplateIssue | None:
    """A variable called as if it were a function (``open()``): a flow's variables
    are values (text, numbers, true or false, a backend's answer), and the call fails
    with the caller on the line."""
    made = {n.name for n in ast.find_all(nodes.Name) if n.ctx == "store"}  # set, for
    made |= {m.name for m in ast.find_all(nodes.Macro)}  # in one branch of an if only
    for call in _with_root(ast, nodes.Call):
        callee = call.node
        if (
            isinstance(callee, nodes.Name)
            and callee.name in context_names
            and callee.name not in GLOBAL_NAMES
            and callee.name not in made
        ):
            return TemplateIssue(f"'{callee.name}' is a value, not a function: write "
                                 f"'{callee.name}' without '()'", call.lineno)
    return None


def _private_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
        and node.arg.value.startswith("_")
    ):
        return node.arg.value
    return None


def referenced_names(template_text: str) -> set[str]:
    """Variables the template reads (not those it sets itself, nor Jinja's globals).
    Empty for a template that does not compile."""
    try:
        ast = ENVIRONMENT.parse(template_text)
    except _PARSE_ERRORS:
        return set()
    return set(meta.find_undeclared_variables(ast)) - GLOBAL_NAMES


def expression_names(expression: str) -> set[str]:
    """Variables an expression reads. Empty for one that does not compile."""
    try:
        parser = Parser(ENVIRONMENT, expression, state="variable")
        ast = parser.parse_expression()
    except _PARSE_ERRORS:
        return set()
    names = {n.name for n in _with_root(ast, nodes.Name) if n.ctx == "load"}
    return names - GLOBAL_NAMES


_GUARD_TESTS = frozenset({"defined", "undefined"})
_GUARD_FILTERS = frozenset({"default", "d"})


def _guarded(ast: nodes.Node) -> set[str]:
    """Names a template tests with ``is defined`` or gives a ``default``: it renders
    whether or not they are set. Only a bare name is guarded (``x.y | default`` still
    fails when ``x`` is undefined)."""
    guarded: set[str] = set()
    for test in _with_root(ast, nodes.Test):  # "x is defined" alone is its own root
        if test.name in _GUARD_TESTS and isinstance(test.node, nodes.Name):
            guarded.add(test.node.name)
    for filter_ in _with_root(ast, nodes.Filter):
        if filter_.name in _GUARD_FILTERS and isinstance(filter_.node, nodes.Name):
            guarded.add(filter_.node.name)
    return guarded


def _with_root(ast: nodes.Node, kind: type[_N]) -> list[_N]:
    """``ast.find_all(kind)``, and ``ast`` itself when it is one (find_all skips it)."""
    found = list(ast.find_all(kind))
    return [ast, *found] if isinstance(ast, kind) else found


def _facts(node: nodes.Node) -> tuple[frozenset[str], frozenset[str]]:
    """Names sure to be defined when the expression is true, and when it is false
    (it could not have been evaluated otherwise, or it tests them)."""
    if (
        isinstance(node, nodes.Test)
        and isinstance(node.node, nodes.Name)
        and node.name in _GUARD_TESTS
    ):
        name = frozenset({node.node.name})
        return (name, frozenset()) if node.name == "defined" else (frozenset(), name)
    if isinstance(node, nodes.Not):
        true, false = _facts(node.node)
        return false, true
    if isinstance(node, nodes.And | nodes.Or):
        left_true, left_false = _facts(node.left)
        right_true, right_false = _facts(node.right)
        if isinstance(node, nodes.And):
            return left_true | right_true, left_false & (left_true | right_false)
        return left_true & (left_false | right_true), left_false | right_false
    lazy = (nodes.And, nodes.Or, nodes.CondExpr, nodes.Test, nodes.Filter)
    if isinstance(node, lazy) or any(True for _ in node.find_all(lazy)):
        return frozenset(), frozenset()
    names = frozenset(n.name for n in node.find_all(nodes.Name) if n.ctx == "load") - GLOBAL_NAMES
    if isinstance(node, nodes.Name) and node.ctx == "load":
        names |= {node.name} - GLOBAL_NAMES
    return names, names


def defined_when(expression: str) -> tuple[frozenset[str], frozenset[str]]:
    """Variables sure to be defined after a ``when`` is found true, and false:
    ``customer is not defined`` false means ``customer`` is set; ``customer.ok``
    either way means it is (evaluating it would have failed otherwise)."""
    try:
        ast = Parser(ENVIRONMENT, expression, state="variable").parse_expression()
    except _PARSE_ERRORS:
        return frozenset(), frozenset()
    return _facts(ast)


def required_names(template_text: str, expression: bool = False) -> set[str]:
    """Variables the template (or ``when`` expression) cannot render without: those
    it reads, less those it guards with ``is defined`` or ``default``."""
    try:
        if expression:
            parser = Parser(ENVIRONMENT, template_text, state="variable")
            ast: nodes.Node = parser.parse_expression()
        else:
            ast = ENVIRONMENT.parse(template_text)
        used = expression_names(template_text) if expression else referenced_names(template_text)
    except _PARSE_ERRORS:  # reported by check_templates
        return set()
    return used - _guarded(ast)
