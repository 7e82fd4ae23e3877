"""Snapshot tests: each broken fixture's problems, exactly as ``ivr validate`` prints
them, next to it in ``*.expected``. Run with ``UPDATE_SNAPSHOTS=1`` to rewrite the
expected files after a deliberate change, then read the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.cli import main
from engine.flow import load_flow_dir, load_flow_file
from engine.flow.parse import parse_flow
from engine.flow.validate import validate

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))
GOOD_NAMES = sorted(p.stem for p in (FIXTURES / "good").glob("*.yaml"))


def _report(path: Path) -> str:
    relative = os.path.relpath(path, REPO)
    _, problems = load_flow_file(relative, GOOD_NAMES)
    return "".join(f"{p}\n" for p in problems)


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_fixture_matches_snapshot(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    expected_file = path.with_suffix(".expected")
    report = _report(path)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        expected_file.write_text(report, encoding="utf-8")
    assert report == expected_file.read_text(encoding="utf-8")
    assert any(" warning: " not in line for line in report.splitlines()), "no error"


def test_every_broken_fixture_has_a_snapshot() -> None:
    expected = {p.stem for p in (FIXTURES / "broken").glob("*.expected")}
    assert expected == {p.stem for p in BROKEN}


def test_good_fixtures_load_without_problems() -> None:
    flows, problems = load_flow_dir(str(FIXTURES / "good"))
    assert [str(p) for p in problems] == []
    assert sorted(flows) == GOOD_NAMES


def test_a_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    good = (FIXTURES / "good" / "lost_card.yaml").read_text(encoding="utf-8")
    (tmp_path / "lost_card.yaml").write_text(good, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("start: [\n", encoding="utf-8")
    flows, problems = load_flow_dir(str(tmp_path))
    assert list(flows) == ["lost_card"]
    assert [p.where.file for p in problems] == [str(tmp_path / "broken.yaml")]


def test_a_subflow_to_a_broken_flow_is_a_warning(tmp_path: Path) -> None:
    caller = (FIXTURES / "good" / "bank.yaml").read_text(encoding="utf-8")
    (tmp_path / "bank.yaml").write_text(caller, encoding="utf-8")
    (tmp_path / "lost_card.yaml").write_text("start: x\nnodes: {x: {type: meun}}\n", "utf-8")
    flows, problems = load_flow_dir(str(tmp_path))
    assert list(flows) == ["bank"]
    line = caller.splitlines().index("    flow: lost_card") + 1
    messages = [str(p) for p in problems if p.where.file.endswith("bank.yaml")]
    assert messages == [
        f"{tmp_path}/bank.yaml:{line}:11: warning: subflow 'lost': flow 'lost_card' has errors "
        "and is not loaded"
    ]


def test_a_subflow_without_return_is_a_warning(tmp_path: Path) -> None:
    caller = (FIXTURES / "good" / "bank.yaml").read_text(encoding="utf-8")
    (tmp_path / "bank.yaml").write_text(caller, encoding="utf-8")
    (tmp_path / "lost_card.yaml").write_text(
        "start: x\nhuman: x\nnodes: {x: {type: transfer, queue: q}}\n", "utf-8"
    )
    _, problems = load_flow_dir(str(tmp_path))
    assert [p.message for p in problems] == [
        "subflow 'lost': flow 'lost_card' has no return node, so the call never comes back "
        "to 'main'"
    ]


def test_subflow_names_are_unchecked_without_known_flows() -> None:
    text = (FIXTURES / "broken" / "subflow_unknown.yaml").read_text(encoding="utf-8")
    flow, problems = parse_flow(text, "subflow_unknown.yaml")
    assert flow is not None and problems == []
    assert validate(flow) == []
    assert [p.message for p in validate(flow, known_flows=["bank"])] == [
        "subflow 'lost': unknown flow 'lost_crad'"
    ]


def test_recordings_are_looked_for_in_base_dir() -> None:
    text = (FIXTURES / "broken" / "missing_file.yaml").read_text(encoding="utf-8")
    flow, _ = parse_flow(text, "missing_file.yaml")
    assert flow is not None
    problems = validate(flow, base_dir=str(FIXTURES / "good"))
    assert [p.message.split(" (")[0] for p in problems] == [
        "say 'hello' prompt: recorded file 'audio/missing.wav' not found",
        "transfer 'agent' prompt: recorded file 'audio/hold.wav' not found",
    ]
    assert str(FIXTURES / "good" / "audio" / "hold.wav") in problems[1].message


def test_ivr_validate_prints_problems_and_fails_on_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    broken = "tests/flow/fixtures/broken/unknown_target.yaml"
    assert main(["validate", broken]) == 1
    out, err = capsys.readouterr()
    assert out == (FIXTURES / "broken" / "unknown_target.expected").read_text(encoding="utf-8")
    assert err == "2 error(s), 1 warning(s) in 1 flow\n"


def test_ivr_validate_a_directory_of_good_flows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["validate", "tests/flow/fixtures/good"]) == 0
    assert capsys.readouterr() == ("", f"ok: {len(GOOD_NAMES)} flows\n")


def test_variables_set_by_a_subflow_are_known_to_its_caller(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text(
        "start: who\nhuman: agent\nnodes:\n"
        "  who: {type: subflow, flow: identify, next: hi}\n"
        "  hi: {type: say, prompt: 'Hello {{ customer.name }}', next: agent}\n"
        "  agent: {type: transfer, queue: q}\n",
        "utf-8",
    )
    (tmp_path / "identify.yaml").write_text(
        "start: look\nhuman: agent\nnodes:\n"
        "  look: {type: http, url: 'http://x', save_as: customer, next: done}\n"
        "  done: {type: return}\n"
        "  agent: {type: transfer, queue: q}\n",
        "utf-8",
    )
    flows, problems = load_flow_dir(str(tmp_path))
    assert problems == [] and sorted(flows) == ["identify", "main"]
    alone, problems = load_flow_file(str(tmp_path / "main.yaml"))
    assert alone is None
    assert [p.message for p in problems] == ["say 'hi' prompt: unknown variable 'customer'"]
