"""Checks across flows: a subflow names a flow that exists and could be read, and
which flows can lead the caller to a person (their own transfer, or one in a flow
they call).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Mapping

from engine.flow import textchecks
from engine.flow.model import AnyNode, Flow, Input, Menu, Subflow, Transfer, Where
from engine.flow.problems import Problem, did_you_mean, error, warning
from engine.flow.textchecks import at, label, node_path
from engine.flow.walk import graph, search


def flows_with_a_person(flows: Mapping[str, Flow | None] | None) -> Callable[[str], bool]:
    """Whether a call into the named flow can reach a transfer, there or in a flow it
    calls. An unknown or unreadable flow cannot (as far as the validator knows)."""
    reached: dict[str, list[AnyNode]] = {}

    def from_start(name: str) -> list[AnyNode]:
        if name not in reached:
            called = flows.get(name) if flows is not None else None
            reached[name] = []
            if called is not None and called.start in called.nodes:
                succ = graph(called)
                found = search([called.start], lambda n: succ[n])
                reached[name] = [called.nodes[n] for n in found]
        return reached[name]

    def calls(name: str) -> list[str]:
        return [n.flow for n in from_start(name) if isinstance(n, Subflow)]

    def person(name: str) -> bool:
        return any(isinstance(n, Transfer) for f in search([name], calls) for n in from_start(f))

    return person


def check_subflows(flow: Flow, known_flows: Collection[str]) -> Iterator[Problem]:
    """A subflow names a known flow, and (when the flows are at hand) one that can
    come back: without a return node the call never reaches the subflow's next. A
    transfer's survey names a known flow."""
    flows = known_flows if isinstance(known_flows, Mapping) else {}
    for node in flow.nodes.values():
        if isinstance(node, Transfer) and node.survey:
            where = at(flow, node_path(node, "survey"), node.where)
            if node.survey not in known_flows:
                hint = did_you_mean(node.survey, known_flows)
                yield error(where, f"{label(node)}: survey: unknown flow '{node.survey}'{hint}")
            elif (survey := flows.get(node.survey)) is not None:
                yield from _languages_called(flow, f"{label(node)}: survey", survey, where)
        if not isinstance(node, Subflow) or not node.flow:
            continue
        where = at(flow, node_path(node, "flow"), node.where)
        if node.flow not in known_flows:
            yield error(
                where,
                f"{label(node)}: unknown flow '{node.flow}'{did_you_mean(node.flow, known_flows)}",
            )
            continue
        called = flows.get(node.flow)
        if called is not None:
            yield from _languages_called(flow, label(node), called, where)
        if called is not None and not any(n.type == "return" for n in called.nodes.values()):
            yield warning(
                where,
                f"{label(node)}: flow '{node.flow}' has no return node, so the call never "
                f"comes back to '{node.next}'",
            )


def _languages_called(flow: Flow, context: str, called: Flow, where: Where) -> Iterator[Problem]:
    """A flow called in a language it does not speak plays its own default language
    to that caller, beside the caller's flow and the page's words in theirs."""
    if not textchecks.has_texts(called):
        return
    for lang in flow.languages:
        if lang not in called.languages:
            yield error(
                where,
                f"{context}: flow '{called.name}' has no '{lang}' version (it speaks "
                f"{', '.join(called.languages)}; this flow speaks {', '.join(flow.languages)})",
            )


def unreadable_subflows(flow: Flow, flows: Mapping[str, Flow | None] | None) -> list[Subflow]:
    """Subflow nodes calling a flow that is not there or could not be read (a YAML
    error, an empty file), or one that calls such a flow: what they set is unknown
    (the node has its own error; the names it would set are not reported again)."""
    if flows is None:
        return []

    def unreadable(name: str) -> bool:
        return name not in flows or flows[name] is None

    def opaque(name: str) -> bool:
        called = flows.get(name)
        if called is None:
            return unreadable(name)
        return any(unreadable(n) for n in textchecks.called_flows(called, flows))

    return [n for n in flow.nodes.values() if isinstance(n, Subflow) and opaque(n.flow)]


def check_subflow_files(flow: Flow, known_flows: Mapping[str, Flow | None]) -> Iterator[Problem]:
    """A subflow whose file could not be read, or has errors (the engine would not
    load it): one error at the node (the unknown variables it would explain are not
    reported)."""
    for node in flow.nodes.values():
        if not isinstance(node, Subflow) or node.flow not in known_flows:
            continue
        # The flows of a directory (engine.flow.FlowDir) also know which ones fail
        # their checks; a flow calling itself has its errors here.
        broken = getattr(known_flows, "broken", lambda name: False)
        if known_flows[node.flow] is not None and (node.flow == flow.name or not broken(node.flow)):
            continue
        base = os.path.dirname(flow.path)
        files = [os.path.join(base, node.flow + ext) for ext in (".yaml", ".yml")]
        file = next((f for f in files if os.path.exists(f)), files[0])
        yield error(
            at(flow, node_path(node, "flow"), node.where),
            f"{label(node)}: flow '{node.flow}' has errors (see {file})",
        )


def check_recursion(flow: Flow, flows: Mapping[str, Flow | None] | None) -> Iterator[Problem]:
    """A subflow that calls back into the flow it is in (directly, or through the
    flows it calls). Each call adds a frame that only a return removes, so a caller
    going round it piles them up; one that takes no key on the way round cannot end
    (the engine stops it after 200 steps): an error. The way back is a return."""
    if flows is None:
        return
    for node in flow.nodes.values():
        if not isinstance(node, Subflow):
            continue
        way = _way_back(flow.name, node.flow, flows, quiet=False)
        if way is None:
            continue
        where = at(flow, node_path(node, "flow"), node.where)
        chain = " -> ".join([flow.name, *way])
        if _called_before_input(flow, node) and _way_back(
            flow.name, node.flow, flows, quiet=True
        ):
            yield error(
                where,
                f"{label(node)}: calls back into '{flow.name}' ({chain}) before the caller "
                "is asked anything, so the call goes round for ever: a called flow goes "
                "back with a return",
            )
        else:
            yield warning(
                where,
                f"{label(node)}: calls back into '{flow.name}' ({chain}): every time round "
                "adds a frame; go back with a return, or a goto in this flow",
            )


def _called_before_input(flow: Flow, target: Subflow) -> bool:
    """Whether the call reaches ``target`` from the flow's start without an input."""
    if flow.start not in flow.nodes:
        return False
    succ = graph(flow)
    quiet = search(
        [flow.start],
        lambda n: () if isinstance(flow.nodes[n], Menu | Input) else succ[n],
    )
    return target.id in quiet


def _way_back(
    home: str, start: str, flows: Mapping[str, Flow | None], quiet: bool
) -> list[str] | None:
    """The flows from ``start`` round to ``home`` through subflow calls (with
    ``quiet``: only calls made before the caller is asked anything), or None."""
    previous: dict[str, str] = {}
    queue = [start]
    seen = {start}
    while queue:
        name = queue.pop(0)
        if name == home:
            way = [name]
            while way[-1] != start:
                way.append(previous[way[-1]])
            return list(reversed(way))
        called = flows.get(name) if name in flows else None
        if called is None:
            continue
        for node in called.nodes.values():
            if not isinstance(node, Subflow) or node.flow in seen:
                continue
            if quiet and not _called_before_input(called, node):
                continue
            seen.add(node.flow)
            previous[node.flow] = name
            queue.append(node.flow)
    return None
