"""The call benchmark's order of runs at one level (benchmarks/bench_calls.py)."""

from __future__ import annotations

import itertools

import pytest

from benchmarks.bench_calls import run_order


@pytest.mark.parametrize("rounds", range(1, 9))
def test_each_mode_runs_its_rounds_never_more_than_two_in_a_row(rounds: int) -> None:
    order = run_order(("native", "engine"), rounds)
    assert order.count("native") == order.count("engine") == rounds
    assert max(len(list(run)) for _, run in itertools.groupby(order)) <= 2


def test_the_order_is_thue_morse_and_balances_a_steady_drift() -> None:
    assert run_order(("a", "b"), 4) == list("abbabaab")
    order = run_order(("a", "b"), 4)
    # A drift linear in time adds the same to both modes' mean position.
    positions = {mode: [i for i, m in enumerate(order) if m == mode] for mode in "ab"}
    assert sum(positions["a"]) == sum(positions["b"])
    # With 4 rounds a quadratic one does too (Thue-Morse, Prouhet).
    assert sum(i * i for i in positions["a"]) == sum(i * i for i in positions["b"])
