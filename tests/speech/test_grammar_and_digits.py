"""Grammars from phrases, the early-decision rule, and spoken digits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.speech.digits import spoken_digits
from engine.speech.grammar import Fsg, Grammar, fsg, normalise, word_list


def test_phrases_are_normalised_once() -> None:
    assert normalise("  Check my BALANCE, please! ") == "check my balance please"
    assert normalise("That's right.") == "that's right"
    assert normalise("查询余额。") == "查询余额"
    grammar = Grammar.build("en", ["Balance", "balance", "Pay my bill!", ""])
    assert grammar.phrases == ("balance", "pay my bill")


def _sentences(built: Fsg, limit: int = 8) -> set[str]:
    """Every word sequence the grammar accepts, up to ``limit`` words."""
    found: set[str] = set()
    paths: list[tuple[int, tuple[str, ...]]] = [(Fsg.START, ())]
    while paths:
        state, words = paths.pop()
        if state == Fsg.FINAL:
            found.add(" ".join(words))
        for source, target, word in built.arcs:
            if source == state and (word is None or len(words) < limit):
                paths.append((target, words if word is None else (*words, word)))
    return found


def test_fsg_of_phrases_and_digits() -> None:
    grammar = Grammar.build("en", ["agent", "check my balance"], digits=(2, 3))
    built = fsg(grammar)
    assert built is not None
    heard = _sentences(built)
    assert {"agent", "check my balance", "one two", "oh oh seven", "double five"} <= heard
    assert {"double five one", "triple seven"} <= heard
    # Exactly 2 or 3 digits, however they are said.
    assert all(2 <= len(grammar.spoken_digits(s) or "") <= 3 for s in heard - set(grammar.phrases))
    assert not {"one", "one two three four", "double five six seven", "triple", "check"} & heard
    assert not any("double double" in s or s.endswith(("double", "triple")) for s in heard)


def test_the_ways_out_of_a_state_weigh_the_same() -> None:
    built = fsg(Grammar.build("en", ["agent", "pay my bill"], digits=(4, 4)))
    assert built is not None
    first = [arc for arc in built.weighted() if arc[0] == Fsg.START]
    assert [arc[2] for arc in first] == [1 / 3] * 3


def test_a_long_input_stays_small() -> None:
    built = fsg(Grammar.build("en", [], digits=(16, 16)))  # a card number
    assert built is not None and len(built.arcs) < 1000
    assert len({s for _, s, _ in built.arcs}) < 60


def test_long_inputs_get_a_run_of_digits() -> None:
    built = fsg(Grammar.build("en", [], digits=(1, 40)))
    assert built is not None
    heard = _sentences(built, limit=4)
    assert {"one", "double two three four", "nine nine nine nine"} <= heard
    assert "double" not in heard


def test_fsg_leaves_out_words_the_dictionary_lacks() -> None:
    grammar = Grammar.build("en", ["agent", "zorblax now"])
    built = fsg(grammar, {"agent", "now"})
    assert built is not None and _sentences(built) == {"agent"}
    assert fsg(Grammar.build("en", ["zorblax"]), {"agent"}) is None


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
    assert not grammar.decisive("one double")
    assert grammar.decisive("one double two three")


@pytest.mark.parametrize(
    ("text", "lang", "digits"),
    [
        ("one two three", "en", "123"),
        ("oh four five", "en", "045"),
        ("zero 7 nine", "en-US", "079"),
        ("一二三", "zh", "123"),
        ("幺 两 零", "zh", "120"),
        ("일 이 삼", "ko", "123"),
        ("cinco cero uno", "es-MX", "501"),
        ("공 칠", "ko", "07"),
        ("one two buckle my shoe", "en", None),
        ("", "en", None),
        ("一二三四五六七八九零", "zh-CN", "1234567890"),
        ("double five seven one", "en", "5571"),
        ("one triple oh", "en-GB", "1000"),
        ("double 5", "en", "55"),
        ("double", "en", None),
        ("double double five", "en", None),
        ("five double", "en", None),
        ("double 五", "zh", None),
    ],
)
def test_spoken_digits(text: str, lang: str, digits: str | None) -> None:
    assert spoken_digits(text, lang) == digits


def test_the_garbage_loop_is_a_second_way_from_start_to_end() -> None:
    built = fsg(Grammar.build("en", ["agent", "pay my bill"], digits=(4, 4)))
    assert built is not None
    plain = built.weighted()
    with_loop = replace(built, garbage=("+gb_aa", "+gb_b")).weighted()
    assert with_loop[: len(plain)] == plain  # the grammar's own arcs weigh the same
    loop = with_loop[len(plain) :]
    states = {s for arc in plain for s in arc[:2]}
    assert loop[0] == (Fsg.START, max(states) + 1, Fsg.GARBAGE_ENTRY)
    assert {arc[3] for arc in loop if len(arc) == 4} == {"+gb_aa", "+gb_b"}
    assert {arc[2] for arc in loop if len(arc) == 4} == {Fsg.GARBAGE_WORD}
    assert (max(states) + 2, Fsg.FINAL, 1.0) in loop
