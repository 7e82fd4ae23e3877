"""A picture of a flow: the menu tree as Graphviz DOT, and as SVG through ``dot``.

Node shapes say what a node does (a menu is a rounded box, an input a
parallelogram, a branch a diamond, a transfer a double octagon...); edges carry the
key and label of an option, "no input", "no match", "error", a case's condition.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

from engine.flow.model import AnyNode, Branch, Flow, Http, Input, Menu, Say, Subflow, Transfer
from engine.flow.walk import Edge, edges

END = "__end"
START = "__start"
_SNIPPET = 40

_STYLES: dict[str, str] = {
    "menu": 'shape=box, style="rounded,filled", fillcolor="#dbeafe"',
    "language": 'shape=box, style="rounded,filled", fillcolor="#ede9fe"',
    "input": 'shape=parallelogram, style=filled, fillcolor="#fef9c3"',
    "say": 'shape=note, style=filled, fillcolor="#f8fafc"',
    "http": 'shape=component, style=filled, fillcolor="#e5e7eb"',
    "branch": 'shape=diamond, style=filled, fillcolor="#fde68a"',
    "set": "shape=box, style=dashed",
    "subflow": 'shape=box3d, style=filled, fillcolor="#e0f2fe"',
    "return": "shape=invhouse",
    "transfer": 'shape=doubleoctagon, style=filled, fillcolor="#bbf7d0"',
    "hangup": 'shape=octagon, style=filled, fillcolor="#fecaca"',
}


class GraphError(Exception):
    """The SVG could not be drawn (Graphviz missing or failing)."""


def quote(text: str) -> str:
    """A DOT string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def _detail(flow: Flow, node: AnyNode) -> str:
    """A line saying what the node does, e.g. the start of what it says."""
    lang = flow.default_language
    if isinstance(node, Input):
        return f"-> {node.var}"
    if isinstance(node, Http):
        return f"{node.method} {node.url}"
    if isinstance(node, Subflow):
        return f"flow {node.flow}"
    if isinstance(node, Transfer):
        return f"queue {node.queue}" + (f", then survey {node.survey}" if node.survey else "")
    if isinstance(node, Say):
        return " ".join(p.text or f"[{p.file}]" for p in node.prompt.parts(lang))
    return ""


def _node_label(flow: Flow, node: AnyNode) -> str:
    lines = [node.id]
    title = node.title.get(flow.default_language)
    if title and title != node.id:
        lines.append(title)
    detail = _detail(flow, node)
    lines.append(f"{node.type}: {_short(detail)}" if detail else node.type)
    if node.goal:
        lines.append(f"goal: {_short(node.goal)}")
    return "\n".join(lines)


def _edge_label(flow: Flow, node: AnyNode, what: str, index: int) -> tuple[str, str]:
    """The label and extra attributes for one of the node's edges."""
    if what.startswith("option") and isinstance(node, Menu | Input):
        option = node.options[index]
        return f"{option.key} {option.label.get(flow.default_language)}".strip(), ""
    if what in ("no_input", "no_match"):
        return what.replace("_", " "), 'style=dashed, color="#6b7280"'
    if what == "on_error":
        return "error", 'color="#dc2626"'
    if what.startswith("case") and isinstance(node, Branch):
        return _short(node.cases[index].when), ""
    return ("" if what == "next" else what), ""


def _implicit(flow: Flow, edge: Edge) -> bool:
    """A retry that ends at the flow's human without saying so: not drawn (the
    human's box is bold; the graph's caption says where such retries go)."""
    retry = edge.what in ("no_input", "no_match")
    return retry and edge.target == flow.human and edge.path not in flow.locations


def _edge_lines(flow: Flow, node: AnyNode) -> Iterator[str]:
    counts: dict[str, int] = {}
    drawn: dict[tuple[str, str], int] = {}
    lines: list[str] = []
    for edge in edges(node):
        kind = edge.what.split(" ")[0]
        index = counts.get(kind, 0)
        counts[kind] = index + 1
        if _implicit(flow, edge):
            continue
        text, extra = _edge_label(flow, node, edge.what, index)
        if edge.target not in flow.nodes:
            if edge.target:  # a typo: drawn in red to a node of its own, to be seen
                missing = quote(f"?{edge.target}")
                lines.append(
                    f'  {missing} [shape=box, style=dashed, color="#dc2626", '
                    f'fontcolor="#dc2626", label={quote("no node " + repr(edge.target))}];'
                )
                lines.append(
                    f"  {quote(node.id)} -> {missing} "
                    f'[label={quote(text)}, color="#dc2626", fontcolor="#dc2626"];'
                )
            continue
        if edge.what == "no_match" and (edge.target, "no input") in drawn:
            text = "no input / no match"  # one edge for both retries
            lines[drawn[(edge.target, "no input")]] = ""
        drawn[(edge.target, text)] = len(lines)
        attrs = ", ".join(a for a in (f"label={quote(text)}" if text else "", extra) if a)
        lines.append(
            f"  {quote(node.id)} -> {quote(edge.target)}" + (f" [{attrs}]" if attrs else "") + ";"
        )
    yield from (line for line in lines if line)


def _ends_here(node: AnyNode) -> list[str]:
    """Edge labels to the implicit "goodbye" end: a say without next, retries to null."""
    if isinstance(node, Say) and node.next is None:
        return [""]
    if isinstance(node, Menu | Input):
        retries = (("no input", node.no_input), ("no match", node.no_match))
        return [name for name, retry in retries if retry.goto is None]
    return []


_BIG_FLOW_NODES = 40


def to_dot(flow: Flow) -> str:
    """The flow as Graphviz DOT text."""
    caption = flow.title.get(flow.default_language) or flow.name
    if flow.human in flow.nodes:
        caption += f"\n(retries not drawn end at '{flow.human}')"
    if flow.hours is not None:
        caption += f"\n{flow.hours.describe()}"
    # dot's network simplex and crossing minimisation grow fast with the edges (80
    # menus that each lead to the one person: over 30 s); bounded, a big flow draws
    # in about a second, a little less tidy.
    bounds = ", nslimit=2, mclimit=0.5" if len(flow.nodes) > _BIG_FLOW_NODES else ""
    lines = [
        f"digraph {quote(flow.name)} {{",
        f"  graph [rankdir=LR, labelloc=t, fontname=Helvetica, label={quote(caption)}{bounds}];",
        "  node [fontname=Helvetica, fontsize=11];",
        "  edge [fontname=Helvetica, fontsize=9];",
        f'  {quote(START)} [shape=circle, width=0.2, label="", style=filled, fillcolor=black];',
    ]
    if flow.start in flow.nodes:
        lines.append(f"  {quote(START)} -> {quote(flow.start)};")
    ends: list[str] = []
    for node in flow.nodes.values():
        bold = ", penwidth=2" if node.id == flow.human else ""
        lines.append(
            f"  {quote(node.id)} [{_STYLES[node.type]}{bold}, "
            f"label={quote(_node_label(flow, node))}];"
        )
        lines.extend(_edge_lines(flow, node))
        for text in _ends_here(node):
            style = ' [style=dashed, color="#6b7280", label=' + quote(text) + "]" if text else ""
            ends.append(f"  {quote(node.id)} -> {quote(END)}{style};")
    if ends:
        lines.append(
            f'  {quote(END)} [shape=doublecircle, width=0.2, label="", '
            "style=filled, fillcolor=black];"
        )
        lines.extend(ends)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(flow: Flow, dot: str = "dot", timeout_s: float = 30.0) -> str:
    """The flow drawn as SVG by Graphviz; :class:`GraphError` if that fails."""
    program = shutil.which(dot)
    if program is None:
        raise GraphError(f"'{dot}' not found: install Graphviz (Debian package graphviz)")
    try:
        result = subprocess.run(
            [program, "-Tsvg"],
            input=to_dot(flow).encode(),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GraphError(
            f"Graphviz could not lay out {len(flow.nodes)} nodes in {timeout_s:.0f} s: the flow "
            "is too big to draw whole (subflows draw one by one)"
        ) from exc
    except OSError as exc:
        raise GraphError(f"Graphviz failed: {exc}") from exc
    if result.returncode != 0:
        raise GraphError(f"Graphviz failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("utf-8", errors="replace")
