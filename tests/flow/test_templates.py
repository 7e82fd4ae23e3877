"""The shared template environment: rendering, expressions, speech filters, checks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.flow.templates import (
    TemplateFailure,
    TemplateIssue,
    evaluate,
    expression_issue,
    expression_names,
    mask,
    referenced_names,
    render,
    say_digits,
    say_number,
    template_issue,
    value,
)


def test_render_fills_variables_without_escaping() -> None:
    assert render("Hi {{ name }} & <co>", {"name": "O'Brien"}) == "Hi O'Brien & <co>"
    assert render("no braces", {}) == "no braces"


def test_render_fails_loudly_on_undefined_names() -> None:
    with pytest.raises(TemplateFailure, match="'who' is undefined"):
        render("Hi {{ who }}", {})


def test_render_is_sandboxed() -> None:
    with pytest.raises(TemplateFailure, match="unsafe"):
        render("{{ x.__class__.__mro__ }}", {"x": 1})


def test_a_template_cannot_change_the_call_s_values() -> None:
    result = {"name": "Alex", "items": [1, 2]}
    with pytest.raises(TemplateFailure, match="unsafe"):
        render("{{ r.pop('name') }}", {"r": result})
    with pytest.raises(TemplateFailure, match="unsafe"):
        render("{{ r['items'].append(3) }}", {"r": result})
    assert result == {"name": "Alex", "items": [1, 2]}


def test_a_backend_s_field_named_like_a_dict_method_is_the_field() -> None:
    result = {"items": [1, 2, 3], "keys": "K", "values": ["a"], "get": 7}
    assert render("{{ r.items | length }} {{ r.keys }} {{ r.get }}", {"r": result}) == "3 K 7"
    assert render("{% for v in r.values %}{{ v }}{% endfor %}", {"r": result}) == "a"
    assert evaluate("r.items[0] == 1", {"r": result}) is True
    assert render("{{ r.get('x', 'none') }}", {"r": {"a": 1}}) == "none"  # no such field


def test_render_wraps_runtime_errors() -> None:
    with pytest.raises(TemplateFailure):
        render("{{ 1 / n }}", {"n": 0})


def test_evaluate_returns_values() -> None:
    variables = {"balance": {"ok": True, "amount": 12}, "tries": "2"}
    assert evaluate("balance.ok and tries | int < 3", variables) is True
    assert evaluate("balance.amount * 2", variables) == 24
    with pytest.raises(TemplateFailure):
        evaluate("missing.ok", variables)


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        (1234, "1234"),
        (1234.5, "1234.50"),
        ("1,234.567", "1234.57"),
        (Decimal("0.005"), "0.01"),
        (-3, "-3"),
        (2.0, "2"),
        ("n/a", "n/a"),
        (True, "True"),
        (float("inf"), "inf"),
    ],
)
def test_say_number(value: object, spoken: str) -> None:
    assert say_number(value) == spoken


def test_say_digits_and_mask() -> None:
    assert say_digits("1234") == "1 2 3 4"
    assert say_digits("12 34") == "1 2 3 4"
    assert mask("12345678") == "****5678"
    assert mask("1234") == "****"
    assert mask(12345, keep=2) == "***45"
    assert render("{{ pin | mask }} {{ n | say_digits }}", {"pin": "987654", "n": 42}) == (
        "**7654 4 2"
    )


def test_issues_name_the_line_inside_the_template() -> None:
    assert template_issue("fine {{ x }}") is None
    assert template_issue("one\ntwo {{ x }") == TemplateIssue("unexpected '}'", 2)
    assert template_issue("{{ x | say_numbr }}") == TemplateIssue(
        "unknown filter 'say_numbr' (did you mean 'say_number'?)", 1
    )
    assert expression_issue("a ==") is not None
    assert expression_issue("") == TemplateIssue("the expression is empty", 1)
    assert expression_issue("a == 1") is None


def test_a_variable_called_as_a_function_is_an_issue() -> None:
    called = TemplateIssue("'open' is a value, not a function: write 'open' without '()'", 1)
    assert expression_issue("open()") == called
    assert expression_issue("x and not open()") == called
    assert template_issue("{{ open() }}") == called
    # Jinja's own functions, a value's methods and a template's macros are called
    assert expression_issue("x.upper() in range(3) | list") is None
    assert template_issue("{% macro m() %}{{ caller() }}{% endmacro %}"
                          "{% call m() %}hi{% endcall %}") is None
    assert template_issue("{% if x %}{% set j = joiner(', ') %}{% else %}"
                          "{% set j = joiner('; ') %}{% endif %}{{ j() }}") is None
    assert template_issue("{% if x %}{% macro m() %}a{% endmacro %}{% endif %}{{ m() }}") is None


def test_referenced_names() -> None:
    text = "{% set local = 1 %}{{ a.b }} {{ c | default(d) }} {{ local }} {{ range(2) }}"
    assert referenced_names(text) == {"a", "c", "d"}
    assert referenced_names("{{ broken") == set()
    assert expression_names("x.ok and y[z] > 3") == {"x", "y", "z"}
    assert expression_names("x ==") == set()
    # A bare name is the whole expression ('when: verified'): it was not seen, so a
    # misspelt one passed validation and failed the call.
    assert expression_names("verified") == {"verified"}
    assert expression_names("range") == set()


def test_a_guard_that_is_the_whole_expression_guards() -> None:
    """'account is defined' alone (a branch's when) reads nothing it needs; jinja's
    find_all does not look at the root node itself."""
    from engine.flow.templates import required_names

    assert required_names("account is defined", expression=True) == set()
    assert required_names("account is not defined", expression=True) == set()
    assert required_names("account | default('x')", expression=True) == set()
    assert required_names("account is defined and pin == '1'", expression=True) == {"pin"}
    assert required_names("account == '1'", expression=True) == {"account"}


def test_an_operator_may_not_build_something_huge() -> None:
    """'a' * 10**9 would hold the event loop and gigabytes while every call waits:
    refused at run time (and not folded into a constant while the template compiles)."""
    assert render("{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ [0] * 2 }} {{ 3 * 4 }}", {}) == (
        "ababab 1024 [0, 0] 12"
    )
    with pytest.raises(TemplateFailure, match="would make 1,000,000,000 items"):
        render("{{ 'a' * 1000000000 }}", {})
    with pytest.raises(TemplateFailure, match="would make 400,000 items"):
        render("{{ code * 200000 }}", {"code": "12"})
    with pytest.raises(TemplateFailure, match="'\\*\\*' would make a number"):
        render("{{ 10 ** 10000000 }}", {})
    assert template_issue("{{ 'a' * 1000000000 }}") is None  # compiles, and quickly


@pytest.mark.parametrize(
    ("value", "lang", "currency", "spoken", "shown"),
    [
        (1520.75, "en", "USD", "1520 dollars and 75 cents", "$1,520.75"),
        ("89.9", "en", "USD", "89 dollars and 90 cents", "$89.90"),
        (1, "en", "USD", "1 dollar", "$1.00"),
        (0.01, "en", "USD", "1 cent", "$0.01"),
        (0, "en", "USD", "0 dollars", "$0.00"),
        (-3.25, "en", "GBP", "minus 3 pounds and 25 pence", "-£3.25"),
        (49.99, "es", "USD", "49 dólares con 99 centavos", "$49.99"),
        (2.5, "es", "EUR", "2 euros con 50 céntimos", "€2.50"),
        (1520.75, "zh", "CNY", "1520.75元", "¥1,520.75"),
        (15000, "ko", "KRW", "15000원", "₩15,000"),
        ("n/a", "en", "USD", "n/a USD", "n/a USD"),  # not a number: as it is
    ],
)
def test_say_money(value: object, lang: str, currency: str, spoken: str, shown: str) -> None:
    variables = {"v": value, "lang": lang}
    template = f'{{{{ v | say_money("{currency}") }}}}'
    assert render(template, variables) == spoken
    assert render(template, variables, screen=True) == shown
    if currency == "USD":
        assert render("{{ v | say_money }}", variables) == spoken


def test_a_json_null_is_not_spoken_as_none() -> None:
    """A backend's "eta": null was said "None", even through ``| default('unknown')``."""
    r = {"eta": None, "crew": 0}
    assert render("ETA {{ r.eta | default('unknown') }}.", {"r": r}) == "ETA unknown."
    assert render("ETA {{ r.eta }}.", {"r": r}) == "ETA ."
    assert render("{{ r.crew | default(3) }} {{ r.crew | d(3, true) }}", {"r": r}) == "0 3"
    assert value("{{ r.eta }}", {"r": r}) is None  # kept as null where a type is kept
    with pytest.raises(TemplateFailure):
        render("{{ nobody }}", {})  # still undefined
