"""Opening hours on real calls: "a person" reaches the queue while the line's hours
say it is open, and the closed message after them, in the line's time zone
(tests/e2e/flows/hours.yaml: Shanghai, weekdays 09:00-12:00 and 13:30-18:00)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.cli import main
from tests.conftest import FIXTURE_FLOWS

pytestmark = pytest.mark.asterisk

FLOW = os.path.join(FIXTURE_FLOWS, "hours.yaml")


def _call(at: str, capsys: pytest.CaptureFixture[str], dtmf: str = "0") -> dict[str, object]:
    assert main(["call", FLOW, "--at", at, "--dtmf", dtmf, "--json"]) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


def _endings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    """How ivr report counts the journeys in the test's trail store."""
    store = str(tmp_path / "trail.db")
    assert main(["report", "--store", store, "--since", "all", "--with-tests", "--json"]) == 0
    (flow,) = json.loads(capsys.readouterr().out)["flows"]
    endings: dict[str, int] = flow["endings"]
    return endings


@pytest.mark.parametrize(
    ("at", "outcome"),
    [
        ("2026-12-02 10:00", "transfer:support"),  # a Wednesday morning
        ("2026-12-02 12:30", "hangup"),  # lunch
        ("2026-10-01 10:00", "hangup"),  # National Day, a Thursday
    ],
)
def test_a_person_in_hours_the_closed_message_out_of_them(
    at: str, outcome: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("IVR_TRAIL_DB", str(tmp_path / "trail.db"))
    report = _call(at, capsys)
    assert report["outcome"] == outcome
    assert report["at"] == f"{at}+08:00"
    if outcome == "hangup":
        assert report["nodes"] == ["menu", "person_if_open", "closed"]
        assert "Our people answer weekdays" in str(report["prompts"])
        # Asked for a person, none there: not counted as served.
        assert _endings(tmp_path, capsys)["no_person"] == 1


def test_retries_that_run_out_at_night_take_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flow's human is the branch on 'open': a caller who presses nothing is not
    queued for nobody at night either."""
    monkeypatch.setenv("IVR_TRAIL_DB", str(tmp_path / "trail.db"))
    report = _call("sat 20:00", capsys, dtmf="_ _")
    assert report["outcome"] == "hangup"
    assert report["nodes"] == ["menu", "person_if_open", "closed"]
    # They did not ask for one: their retries ran out.
    endings = _endings(tmp_path, capsys)
    assert endings["retries_ran_out"] == 1 and endings["no_person"] == 0


def test_a_time_it_cannot_read_is_said_before_any_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["call", FLOW, "--at", "tomorrow", "--dtmf", "0"]) == 1
    assert "--at 'tomorrow': write a time such as" in capsys.readouterr().err


MAIN = """\
start: hello
human: agent
nodes:
  hello: {type: subflow, flow: desk, next: bye}
  bye: {type: hangup, prompt: Goodbye.}
  agent: {type: transfer, queue: support}
"""
DESK = """\
start: check
hours: {timezone: Asia/Shanghai, open: {mon-fri: "09:00-18:00"}}
nodes:
  check:
    type: branch
    cases: [{when: open, goto: person}]
    default: back
  person: {type: transfer, queue: support}
  back: {type: return}
"""


def test_at_is_read_in_the_zone_of_the_subflow_that_gives_the_hours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """10:00 in Shanghai, where the desk is, not 10:00 where the engine runs (18:00
    there, closed, on a machine on UTC)."""
    monkeypatch.setenv("IVR_TRAIL_DB", str(tmp_path / "trail.db"))
    (tmp_path / "main.yaml").write_text(MAIN, encoding="utf-8")
    (tmp_path / "desk.yaml").write_text(DESK, encoding="utf-8")
    path = str(tmp_path / "main.yaml")
    assert main(["call", path, "--at", "2026-12-02 10:00", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["at"] == "2026-12-02 10:00+08:00"
    assert report["outcome"] == "transfer:support"
