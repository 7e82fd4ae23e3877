"""Grammars from phrases, the early-decision rule, and spoken digits."""

from __future__ import annotations

import pytest

from engine.speech.digits import spoken_digits
from engine.speech.grammar import Grammar, jsgf, normalise, word_list


def test_phrases_are_normalised_once() -> None:
    assert normalise("  Check my BALANCE, please! ") == "check my balance please"
    assert normalise("That's right.") == "that's right"
    assert normalise("查询余额。") == "查询余额"
    grammar = Grammar.build("en", ["Balance", "balance", "Pay my bill!", ""])
    assert grammar.phrases == ("balance", "pay my bill")


def test_jsgf_of_phrases_and_digits() -> None:
    grammar = Grammar.build("en", ["agent", "check my balance"], digits=(4, 6))
    assert jsgf(grammar) == (
        "#JSGF V1.0;\n"
        "grammar ivr;\n"
        "<digit> = zero | oh | one | two | three | four | five | six | seven | eight | nine;\n"
        "public <say> = ( agent ) | ( check my balance )"
        " | ( <digit> <digit> <digit> <digit> [ <digit> [ <digit> ] ] );\n"
    )


def test_long_inputs_get_a_run_of_digits() -> None:
    assert Grammar.build("en", [], digits=(1, 20)).digit_rule() == "<digit>+"


def test_jsgf_leaves_out_words_the_dictionary_lacks() -> None:
    grammar = Grammar.build("en", ["agent", "zorblax now"])
    assert "zorblax" not in jsgf(grammar, {"agent", "now"})
    assert jsgf(Grammar.build("en", ["zorblax"]), {"agent"}) == ""


def test_vosk_word_list() -> None:
    grammar = Grammar.build("ko", ["계좌 이체", "상담원"], digits=(1, 4))
    assert word_list(grammar)[:2] == ["계좌 이체", "상담원"]
    assert "삼" in word_list(grammar)


@pytest.mark.parametrize(
    ("text", "decisive"),
    [
        ("agent", True),
        ("balance", True),  # no longer phrase begins with it
        ("check my balance", True),
        ("talk", False),  # "talk to a person" could follow
        ("talk to a person", True),
        ("pay", False),  # not a phrase at all
    ],
)
def test_the_early_decision(text: str, decisive: bool) -> None:
    grammar = Grammar.build(
        "en", ["agent", "balance", "check my balance", "talk", "talk to a person"]
    )
    assert grammar.decisive(text) is decisive


def test_digits_decide_when_the_input_is_full() -> None:
    grammar = Grammar.build("en", [], digits=(4, 4))
    assert not grammar.decisive("one two three")
    assert grammar.decisive("one two three four")


@pytest.mark.parametrize(
    ("text", "lang", "digits"),
    [
        ("one two three", "en", "123"),
        ("oh four five", "en", "045"),
        ("zero 7 nine", "en-US", "079"),
        ("一二三", "zh", "123"),
        ("幺 两 零", "zh", "120"),
        ("일 이 삼", "ko", "123"),
        ("공 칠", "ko", "07"),
        ("one two buckle my shoe", "en", None),
        ("", "en", None),
        ("一二三四五六七八九零", "zh-CN", "1234567890"),
    ],
)
def test_spoken_digits(text: str, lang: str, digits: str | None) -> None:
    assert spoken_digits(text, lang) == digits
