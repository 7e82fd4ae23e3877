"""A flow as a graph: nodes are vertices, targets are edges, with the searches the
checks run over it (reachability, strongly connected components, a shortest cycle).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from engine.flow.fields import Path
from engine.flow.model import AnyNode, Branch, Flow, Http, Input, Menu, Say, SetVars, Subflow
from engine.flow.textchecks import node_path

Graph = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Edge:
    target: str
    what: str  # "option '7'", "next", "no_input", "case 2", ...
    path: Path


def edges(node: AnyNode) -> Iterator[Edge]:
    """The node's targets, named as the designer wrote them."""
    if isinstance(node, Menu | Input):
        for i, option in enumerate(node.options):
            yield Edge(option.goto, f"option '{option.key}'", node_path(node, "options", i, "goto"))
        for kind, retry in (("no_input", node.no_input), ("no_match", node.no_match)):
            if retry.goto is not None:
                yield Edge(retry.goto, kind, node_path(node, kind, "goto"))
    if isinstance(node, Branch):
        for i, case in enumerate(node.cases):
            yield Edge(case.goto, f"case {i + 1}", node_path(node, "cases", i, "goto"))
        yield Edge(node.default, "default", node_path(node, "default"))
    if isinstance(node, Http):
        yield Edge(node.on_error, "on_error", node_path(node, "on_error"))
    if isinstance(node, Input | Http | SetVars | Subflow | Say) and node.next is not None:
        yield Edge(node.next, "next", node_path(node, "next"))


def graph(flow: Flow) -> dict[str, tuple[str, ...]]:
    """Node id -> the ids it can lead to (existing nodes only)."""
    return {
        node_id: tuple(dict.fromkeys(e.target for e in edges(node) if e.target in flow.nodes))
        for node_id, node in flow.nodes.items()
    }


def search(starts: Collection[str], step: Callable[[str], Collection[str]]) -> set[str]:
    seen = set(starts)
    queue = deque(starts)
    while queue:
        for nxt in step(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def components(nodes: list[str], succ: Graph) -> list[list[str]]:
    """Strongly connected components (iterative Tarjan), members in ``nodes`` order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    order = {n: i for i, n in enumerate(nodes)}
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in order), None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    result.append(sorted(component, key=order.__getitem__))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(succ.get(child, ()))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return result


def cycle(first: str, members: set[str], succ: Graph) -> list[str]:
    """A shortest way round from ``first`` back to it, inside ``members``."""
    previous: dict[str, str] = {}
    queue = deque([first])
    while queue:
        node = queue.popleft()
        for nxt in succ.get(node, ()):
            if nxt == first:
                path = [node]
                while path[-1] != first:
                    path.append(previous[path[-1]])
                return [*reversed(path), first]
            if nxt in members and nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return [first, first]
