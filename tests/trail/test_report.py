"""``ivr report`` over a trail store written by the store itself: each ending, the
per-node figures, queue waits, wrap-ups, the period, and what a user can get wrong."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.report.command import when
from engine.report.figures import percentile
from engine.report.reading import ReportError
from engine.session.events import TrailEntry
from engine.trail.store import SqliteTrailStore, new_journey_id
from tests.conftest import ROOT

NOW = 1_790_000_000.0  # 2026-09-21
FLOW = "service_line"


class Writer:
    """Journeys written through the engine's own store, steps a second apart."""

    def __init__(self, store: SqliteTrailStore) -> None:
        self.store = store

    async def journey(
        self,
        steps: list[tuple[str, str, dict[str, Any]]],
        *,
        flow: str = FLOW,
        started: float = NOW - 3600,
        web: bool = False,
    ) -> str:
        jid = new_journey_id(started)
        await self.store.begin(jid, flow, "+15550001", "" if web else "PJSIP/x", started)
        entries = [
            TrailEntry(i, started + i, kind, node, data)  # type: ignore[arg-type]
            for i, (kind, node, data) in enumerate(steps, 1)
        ]
        await self.store.append(jid, entries)
        return jid


def node(
    name: str, type_: str, flow: str = FLOW, goal: str = ""
) -> tuple[str, str, dict[str, Any]]:
    return ("node", name, {"type": type_, "flow": flow, **({"goal": goal} if goal else {})})


def key(at: str, value: str, **more: Any) -> tuple[str, str, dict[str, Any]]:
    return ("input", at, {"source": "key", "value": value, **more})


def retry(at: str, kind: str, count: int, most: int = 2) -> tuple[str, str, dict[str, Any]]:
    return ("retry", at, {"retry": kind, "count": count, "max": most})


def end(at: str, outcome: str) -> tuple[str, str, dict[str, Any]]:
    return ("end", at, {"outcome": outcome})


def report(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["report", "--json", *args]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


async def test_endings_nodes_waits_and_wrapups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "trail.sqlite3")
    store = SqliteTrailStore(path)
    w = Writer(store)
    start = ("start", "main", {"flow": FLOW})
    # Self-served: balance, then goodbye; balance, then the caller hangs up (served too).
    told = node("balance", "say", goal="balance told")
    await w.journey(
        [
            start,
            node("main", "menu"),
            key("main", "1", option="1"),
            told,
            node("bye", "hangup"),
            end("bye", "hangup"),
        ]
    )
    await w.journey(
        [
            start,
            node("main", "menu"),
            key("main", "1", option="1"),
            told,
            end("balance", "caller_hangup"),
        ]
    )
    # No input three times: the flow says goodbye.
    await w.journey(
        [
            start,
            node("main", "menu"),
            retry("main", "no_input", 1),
            retry("main", "no_input", 2),
            retry("main", "no_input", 3),
            node("bye", "hangup"),
            end("bye", "hangup"),
        ]
    )
    # A wrong key, then a person (answered after 12 s, wrapped up as resolved).
    asked = await w.journey(
        [
            start,
            node("main", "menu"),
            key("main", "7", matched=False),
            retry("main", "no_match", 1),
            key("main", "0", option="0"),
            node("agent", "transfer"),
            end("agent", "transfer:support"),
        ]
    )
    # Hung up while typing the PIN (in the subflow "identify").
    await w.journey(
        [
            start,
            node("main", "menu"),
            key("main", "1", option="1"),
            node("pin", "input", "identify"),
            end("pin", "caller_hangup"),
        ]
    )
    # Retries ran out into a transfer: the person is charged to the menu; nobody answered.
    gave_up = await w.journey(
        [
            start,
            node("main", "menu"),
            retry("main", "no_match", 1),
            retry("main", "no_match", 2),
            retry("main", "no_match", 3),
            node("agent", "transfer"),
            end("agent", "transfer:support"),
        ]
    )
    # On the page only, still open; and a call the engine failed.
    await w.journey(
        [
            start,
            node("main", "menu"),
            ("input", "main", {"source": "web", "value": "1", "option": "1"}),
            node("balance", "say"),
        ],
        web=True,
    )
    await w.journey(
        [start, node("main", "menu"), ("error", "main", {"reason": "x"}), end("main", "error")]
    )
    # Another flow, and a journey before the period: neither in this flow's figures.
    other = await w.journey(
        [start, node("main", "menu"), node("agent", "transfer"), end("agent", "transfer:x")],
        flow="other",
    )
    answered = {"queue": "x", "joined": NOW - 3000, "answered": True, "waited_s": 5}
    await store.save_queued(other, answered)  # and never wrapped up
    await w.journey(
        [start, node("main", "menu"), end("main", "caller_hangup")], started=NOW - 30 * 86400
    )
    await store.save_queued(
        asked,
        {
            "queue": "support",
            "joined": NOW - 3590,
            "answered": True,
            "agent": "101",
            "waited_s": 12,
            "talk_s": 95,
        },
    )
    await store.save_queued(
        gave_up,
        {
            "queue": "support",
            "joined": NOW - 3590,
            "answered": False,
            "waited_s": 40,
            "talk_s": None,
        },
    )
    await store.save_wrapup(asked, {"disposition": "resolved", "resolved_first_contact": True})
    # The caller the agent answered rates the call when the agent hangs up.
    rated = ("input", "rating", {"source": "key", "value": "4", "var": "rating", "valid": True})
    survey_start = ("start", "rating", {"flow": "csat_survey", "survey_of": asked})
    await w.journey(
        [survey_start, node("rating", "input", "csat_survey"), rated, end("rating", "hangup")],
        flow="csat_survey",
        started=NOW - 3000,
    )
    await store.close()

    out = report(capsys, "--store", path, "--since", str(NOW - 86400), "--until", str(NOW))
    flows = {f["flow"]: f for f in out["flows"]}
    assert set(flows) == {FLOW, "other", "csat_survey"}
    four = {"rating": {"answers": 1, "mean": 4.0, "values": {"4": 1}}}
    assert flows[FLOW]["after_call_survey"] == four and flows[FLOW]["survey_answers"] == {}
    assert flows["csat_survey"]["survey_answers"] == four
    assert flows["other"]["wrapups"]["answered_without"] == 1
    f = flows[FLOW]
    assert (f["journeys"], f["calls"], f["web_only"]) == (8, 7, 1)
    assert f["endings"] == {
        "self_served": 2,
        "retries_ran_out": 1,
        "caller_hung_up": 1,
        "to_person": 2,
        "no_person": 0,
        "failed": 1,
        "not_ended": 1,
    }
    assert f["containment"] == round(4 / 7, 4)
    assert f["goals"] == {"balance told": {"reached": 2, "then_to_person": 0}}
    assert f["queue"]["waits"] == 2 and f["queue"]["answered"] == 1
    assert f["queue"]["abandon_rate"] == 0.5
    assert f["queue"]["wait_answered_s"]["p50"] == 12 and f["queue"]["talk_s_p50"] == 95
    assert f["queue"]["wait_unanswered_s_p50"] == 40
    assert f["queue"]["by_queue"] == {"support": {"waits": 2, "answered": 1}}
    assert f["wrapups"] == {
        "answered_without": 0,
        "count": 1,
        "first_contact_resolution": 1.0,
        "dispositions": {"resolved": 1},
    }

    nodes = {(n["flow"], n["node"]): n for n in f["nodes"]}
    main_menu = nodes[(FLOW, "main")]
    assert main_menu["visits"] == 8 and main_menu["journeys"] == 8
    # Visits with a retry, not retries per visit: one caller's three no-inputs are 1 of 8.
    assert main_menu["no_input_rate"] == round(1 / 8, 4)
    assert main_menu["no_match_rate"] == round(2 / 8, 4)
    assert (main_menu["no_input_retries"], main_menu["no_match_retries"]) == (3, 4)
    assert main_menu["retries_ran_out"] == 2
    assert main_menu["to_person"] == 2  # one chose 0, one ran out of retries
    assert main_menu["inputs"] == {"key": 4, "web": 1}  # the unmatched 7 is not taken
    assert nodes[("identify", "pin")]["caller_hung_up"] == 1
    assert nodes[(FLOW, "balance")]["no_input_rate"] is None  # a say node takes no input
    assert nodes[(FLOW, "balance")]["caller_hung_up"] == 1

    text_run = main(["report", "--store", path, "--since", "all", "--until", str(NOW)])
    text = capsys.readouterr().out
    assert text_run == 0
    assert "Flow service_line: 9 journeys (8 calls, 1 web only" in text  # all: the old one too
    assert "identify/pin" in text
    assert "resolved on first contact 100.0 %; Resolved 1" in text  # a label, not "resolved"
    assert "goals reached: balance told 2" in text
    assert "after-call survey, rating: 1 answer, mean 4.00 (4: 1)" in text
    assert "Flow csat_survey: 1 survey after agents' calls\n  answers, rating: 1 answer" in text


async def test_only_one_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "trail.sqlite3")
    store = SqliteTrailStore(path)
    w = Writer(store)
    for flow in ("a", "b", "b"):
        await w.journey([node("main", "menu"), end("main", "hangup")], flow=flow)
    await store.close()
    out = report(capsys, "--store", path, "--since", "all", "--until", str(NOW), "--flow", "b")
    assert [(f["flow"], f["journeys"]) for f in out["flows"]] == [("b", 2)]
    # A name no journey has is a mistake, not an empty period.
    assert main(["report", "--store", path, "--since", "all", "--flow", "bb"]) == 2
    assert capsys.readouterr().err == (
        "ivr report: no journey of flow 'bb' in the store (flows there: a, b)"
        " (did you mean 'b'?)\n"
    )


def test_a_reader_that_stops_early(tmp_path: Path) -> None:
    """`ivr report --json | head -1`: no traceback when head has read what it wanted
    (the report is larger than a pipe holds, so the writer meets the closed pipe)."""
    path = str(tmp_path / "trail.sqlite3")
    asyncio.run(_journeys(path, 300))
    run = subprocess.run(
        f"{sys.executable} -m engine.cli report --json --store {path} --since all | head -1",
        shell=True, capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert run.stdout == "{\n" and run.stderr == ""


async def _journeys(path: str, flows: int) -> None:
    store = SqliteTrailStore(path)
    w = Writer(store)
    for i in range(flows):
        await w.journey([node("main", "menu"), end("main", "hangup")], flow=f"flow{i}")
    await store.close()


async def test_test_calls_are_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ivr call`'s journeys (a designer trying a flow, maybe in production's store)
    are said left out, and counted on demand."""
    path = str(tmp_path / "trail.sqlite3")
    store = SqliteTrailStore(path)
    w = Writer(store)
    test = ("start", "main", {"flow": FLOW, "test": True})
    await w.journey([test, node("main", "menu"), end("main", "hangup")])
    caller = ("start", "main", {"flow": FLOW})
    await w.journey([caller, node("main", "menu"), end("main", "hangup")])
    await store.close()
    span = ("--store", path, "--since", "all", "--until", str(NOW))
    out = report(capsys, *span)
    assert out["test_calls_left_out"] == 1 and out["flows"][0]["journeys"] == 1
    out = report(capsys, *span, "--with-tests")
    assert out["test_calls_left_out"] == 0 and out["flows"][0]["journeys"] == 2
    assert main(["report", *span]) == 0
    assert "(1 test call of `ivr call` left out: --with-tests counts them)" in (
        capsys.readouterr().out
    )


def test_a_call_its_engine_lost_is_not_in_progress_for_ever() -> None:
    """A call whose engine was killed has no ending stored: past an hour of quiet it
    counts as failed (the dialplan's fallback took it), not as in progress, which
    left it out of containment; a page left open stays 'not ended'."""
    from engine.report.figures import LOST_AFTER_S, ending
    from engine.report.reading import Journey, Step

    def journey(web: bool, last: float) -> Journey:
        steps = [Step(last, "node", "main", {"type": "menu"})]
        return Journey("j", FLOW, web, last - 5, None, None, None, steps)

    assert ending(journey(False, NOW - LOST_AFTER_S - 1), now=NOW) == "failed"
    assert ending(journey(False, NOW - 600), now=NOW) == "not_ended"
    assert ending(journey(True, NOW - 10 * LOST_AFTER_S), now=NOW) == "not_ended"
    assert ending(journey(False, NOW - 10 * LOST_AFTER_S)) == "not_ended"  # no clock


def test_a_caller_who_wanted_a_person_when_the_line_was_closed() -> None:
    """The flow's way to a person (its human: a branch on the hours) ended in its
    closed message: not self-service that worked, and not containment."""
    from engine.report.figures import CONTAINED, ending
    from engine.report.reading import Journey, Step

    def journey(*steps: Step) -> Journey:
        return Journey("j", FLOW, False, NOW - 60, NOW, "hangup", None, list(steps))

    menu = Step(NOW - 50, "node", "main", {"type": "menu"})
    closed = Step(NOW - 40, "node", "closed", {"type": "hangup"})
    human = Step(NOW - 45, "node", "person_if_open", {"type": "branch", "human": True})
    assert ending(journey(menu, human, closed)) == "no_person"
    assert ending(journey(menu, closed)) == "self_served"
    assert "no_person" not in CONTAINED


def test_periods() -> None:
    assert when("7d", NOW) == NOW - 7 * 86400
    assert when("90m", NOW) == NOW - 5400
    assert when("all", NOW) == 0.0
    assert when("now", NOW) == NOW
    assert when("2026-11-01", NOW) > 0
    with pytest.raises(ReportError, match="a span back from now"):
        when("last week", NOW)


def test_a_span_back_past_1970_is_from_the_beginning() -> None:
    assert when("100000d", 1.8e9) == 0.0


def test_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 90) == 3.0
    assert percentile([float(v) for v in range(1, 11)], 50) == 5.0
    assert percentile([float(v) for v in range(1, 11)], 90) == 9.0


@pytest.mark.parametrize(
    ("make", "args", "said"),
    [
        (None, [], "no trail store there"),
        ("not sqlite", [], "not a trail store"),
        ("empty db", [], "not a trail store"),
        (None, ["--since", "yesterday"], "a span back from now"),
        (None, ["--since", "1d", "--until", "2d"], "is not before"),
        (None, ["--since", "1" * 400 + "d"], "out of range"),
        (None, ["--since", "9" * 400], "out of range"),
    ],
)
def test_what_a_user_gets_wrong(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: str | None,
    args: list[str],
    said: str,
) -> None:
    path = tmp_path / "trail.sqlite3"
    if make == "not sqlite":
        path.write_text("hello")
    elif make == "empty db":
        sqlite3.connect(path).close()
    assert main(["report", "--store", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ivr report: ") and said in err
    assert "Traceback" not in err


async def test_the_period_s_edges(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ids begin with their second: a journey begun in the second of --until, before
    it, counts; one begun in the second of --since, before it, does not."""
    path = str(tmp_path / "trail.sqlite3")
    store = SqliteTrailStore(path)
    w = Writer(store)
    for started in (NOW + 0.1, NOW + 0.95, NOW - 99.9, NOW - 100.5):
        await w.journey([node("main", "menu"), end("main", "hangup")], started=started)
    await store.close()
    out = report(capsys, "--store", path, "--since", str(NOW - 100.2), "--until", str(NOW + 0.9))
    assert out["flows"][0]["journeys"] == 2  # NOW + 0.1 and NOW - 99.9


async def test_waits_by_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "trail.sqlite3")
    store = SqliteTrailStore(path)
    w = Writer(store)
    for queue, answered in (("support", True), ("cards", False), ("cards", True)):
        jid = await w.journey([node("agent", "transfer"), end("agent", f"transfer:{queue}")])
        wait = {"queue": queue, "joined": NOW - 3000, "answered": answered, "waited_s": 3}
        await store.save_queued(jid, wait)
    await store.close()
    assert main(["report", "--store", path, "--since", "all", "--until", str(NOW)]) == 0
    assert "answered by queue: cards 1 of 2, support 1 of 1" in capsys.readouterr().out


def test_a_column_counts_a_chinese_character_as_two_cells() -> None:
    """Node ids in Chinese pushed the report's columns out of line."""
    from engine.report.text import column

    assert column("main", 8) == "main    "
    assert column("账号输入", 10) == "账号输入  "  # 8 cells + 2
    assert column("主菜单选项很长的名字", 10) == "主菜单选 " + " "  # cut, one cell free
    for text in ("main", "账号输入", "主菜单选项很长的名字", "a账b"):
        cells = sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in column(text, 10))
        assert cells == 10, text
