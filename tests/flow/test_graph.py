"""Drawing flows: DOT text (no Graphviz needed) and SVG through ``dot``."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.flow import load_flow_file, parse_flow_file
from engine.flow.commands import run_graph
from engine.flow.graph import GraphError, quote, render_svg, to_dot
from engine.flow.model import Flow

GOOD = Path(__file__).parent / "fixtures" / "good"


def _flow(name: str) -> Flow:
    flow, problems = load_flow_file(str(GOOD / f"{name}.yaml"))
    assert flow is not None, problems
    return flow


def test_dot_has_shapes_by_type_and_labelled_edges() -> None:
    dot = to_dot(_flow("bank"))
    assert dot.startswith('digraph "bank" {') and dot.rstrip().endswith("}")
    assert '"__start" -> "welcome";' in dot
    assert '"main" [shape=box, style="rounded,filled"' in dot
    assert '"account" [shape=parallelogram' in dot
    assert '"check" [shape=diamond' in dot
    assert '"agent" [shape=doubleoctagon' in dot and "penwidth=2" in dot
    assert '"main" -> "account" [label="1 Check balance"];' in dot
    assert '"lookup" -> "backend_down" [label="error", color="#dc2626"];' in dot
    assert '"check" -> "say_balance" [label="balance.ok"];' in dot
    assert '"main" -> "agent" [label="no input / no match"' in dot


def test_retries_to_the_human_by_default_are_not_drawn() -> None:
    dot = to_dot(_flow("bank"))
    assert '"account" -> "agent"' not in dot
    assert "retries not drawn end at 'agent'" in dot


def test_endings_are_drawn_to_an_end_mark() -> None:
    dot = to_dot(_flow("recorded"))
    assert '"hours" -> "__end";' in dot
    assert '"hello" -> "__end" [style=dashed, color="#6b7280", label="no input"];' in dot


def test_quote_escapes() -> None:
    assert quote('say "hi"\\\n') == '"say \\"hi\\"\\\\\\n"'


def test_svg(tmp_path: Path) -> None:
    svg = render_svg(_flow("bank"))
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "Check balance" in svg
    out = tmp_path / "bank.svg"
    assert run_graph(str(GOOD / "bank.yaml"), str(out)) == 0
    assert "<svg" in out.read_text(encoding="utf-8")


def test_an_output_not_named_svg_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SVG written into bank.png opens nowhere: say so instead."""
    assert run_graph(str(GOOD / "bank.yaml"), str(tmp_path / "bank.png")) == 2
    assert "name the output .svg" in capsys.readouterr().err
    assert not (tmp_path / "bank.png").exists()


def test_missing_graphviz_is_an_error_not_a_traceback() -> None:
    with pytest.raises(GraphError, match="not found"):
        render_svg(_flow("bank"), dot="no-such-dot-program")


def test_graph_of_an_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("[", encoding="utf-8")
    assert run_graph(str(bad), None) == 1
    assert "cannot be drawn" in capsys.readouterr().err


def test_a_target_that_is_no_node_is_drawn_in_red(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        "start: main\nhuman: agent\nnodes:\n"
        "  main: {type: menu, prompt: Hi, options: [{key: 1, label: Bill, goto: bil},"
        " {key: 0, label: Person, goto: agent}]}\n"
        "  agent: {type: transfer, queue: support}\n",
        encoding="utf-8",
    )
    flow, _ = parse_flow_file(str(path))
    assert flow is not None
    dot = to_dot(flow)
    assert '"?bil" [shape=box, style=dashed, color="#dc2626"' in dot
    assert '"main" -> "?bil" [label="1 Bill", color="#dc2626"' in dot
    assert "<svg" in render_svg(flow)


def test_a_big_flow_draws_in_bounded_time(tmp_path: Path) -> None:
    """80 menus that each lead on, back and to the one person: unbounded, dot took
    over 30 s; with its limits, about a second."""
    nodes = "".join(
        f"  m{i}: {{type: menu, prompt: Menu {i}, options: ["
        f"{{key: 1, label: Next, goto: m{min(i + 1, 79)}}}, "
        f"{{key: 2, label: Back, goto: m{max(i - 1, 0)}}}, "
        "{key: 0, label: Person, goto: agent}]}\n"
        for i in range(80)
    )
    path = tmp_path / "big.yaml"
    path.write_text(
        f"start: m0\nhuman: agent\nnodes:\n{nodes}  agent: {{type: transfer, queue: q}}\n",
        encoding="utf-8",
    )
    flow, _ = parse_flow_file(str(path))
    assert flow is not None
    assert "nslimit=2, mclimit=0.5" in to_dot(flow)
    assert "<svg" in render_svg(flow, timeout_s=20.0)


def test_goals_and_surveys_are_drawn_in_their_nodes(tmp_path: Path) -> None:
    text = (GOOD / "bank.yaml").read_text(encoding="utf-8")
    text = text.replace("queue: support", "queue: support\n    survey: rating", 1)
    (tmp_path / "bank.yaml").write_text(text.replace("type: say", "type: say\n    goal: told", 1))
    flow, _ = load_flow_file(str(tmp_path / "bank.yaml"))
    assert flow is not None
    dot = to_dot(flow)
    assert "transfer: queue support, then survey rating" in dot
    assert "\\ngoal: told" in dot
