"""A journey's reference, as the page shows it and as an agent types what they heard."""

from __future__ import annotations

import pytest

from engine.trail.reference import reference, tail_of
from engine.trail.store import new_journey_id


def test_the_reference_is_the_random_end_of_the_id() -> None:
    journey = new_journey_id(1764600000.0)
    assert reference(journey) == f"{journey[-8:-4].upper()}-{journey[-4:].upper()}"
    assert reference(journey) != reference(new_journey_id(1764600000.0))  # same second


@pytest.mark.parametrize(
    "typed",
    [
        "3F2A-91BC",
        "3f2a91bc",
        " 3F2A 91BC ",
        "3f2a.91bc",
        "3F2A_91BC",
        "ref 3F2A-91BC",
        "Reference number: 3F2A-91BC",
        "#3F2A-91BC",
        "\uff13\uff26\uff12\uff21\uff0d\uff19\uff11\uff22\uff23",  # full width (a Chinese IME)
        "参考号：3F2A-91BC",
    ],
)
def test_what_an_agent_types_names_the_tail(typed: str) -> None:
    assert tail_of(typed) == "3f2a91bc"


def test_letters_heard_for_digits() -> None:
    assert tail_of("3F2A-9IBO") == "3f2a91b0"  # an I for a one, an O for a zero


@pytest.mark.parametrize("typed", ["", "3F2A-91B", "3F2A-91BCD", "3G2A-91BC", "journey"])
def test_anything_else_is_not_a_reference(typed: str) -> None:
    assert tail_of(typed) is None
