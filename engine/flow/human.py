"""Checks of a flow's way to a person, its ``human``: a transfer, or a branch (on its
opening hours, say) that leads to one. Retries that run out, failed backends, the
page's "talk to a person" and the spoken ways to ask for one all go there."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from engine.flow.model import (
    AnyNode,
    Branch,
    Flow,
    Hangup,
    Http,
    Input,
    Menu,
    Say,
    SetVars,
    Subflow,
    Transfer,
)
from engine.flow.problems import Problem, did_you_mean, error, warning
from engine.flow.templates import evaluate
from engine.flow.textchecks import at, label, node_path
from engine.flow.walk import edges, search


def check_human(flow: Flow) -> Iterator[Problem]:
    if not flow.human:  # none, or empty (said where it is read)
        return
    where = at(flow, ("human",), flow.where)
    human = flow.nodes.get(flow.human)
    if human is None:
        yield error(
            where, f"human: unknown node '{flow.human}'{did_you_mean(flow.human, flow.nodes)}"
        )
    elif flow.locations and node_path(human, "type") not in flow.locations:
        return  # a stand-in for a node whose type could not be read: said there
    elif isinstance(human, Branch):
        passed = _before_any_input(flow, human)
        if not any(isinstance(node, Transfer | Subflow) for node in passed):
            yield error(where, f"human: branch '{flow.human}' leads to no transfer")
        yield from _backends_back_to(flow, human, passed)
        yield from _options_past(flow, human, passed)
    elif not isinstance(human, Transfer):
        yield error(
            where,
            f"human: '{flow.human}' is a {human.type}, not a transfer (or a branch, such as "
            "on the flow's hours, that leads to one)",
        )


def person_answers(flow: Flow, variables: Mapping[str, object]) -> bool | None:
    """Whether the flow's human, followed with ``variables`` as they are now, leads
    to a transfer (or a subflow, which may); False where its branches lead to the
    call's end (closed: its hours), None where only the caller or running it could
    tell (a menu of departments, a backend on the way, a condition that fails)."""
    node_id = flow.human
    seen: set[str] = set()
    while node_id is not None and node_id not in seen:
        seen.add(node_id)
        match flow.nodes.get(node_id):
            case Transfer() | Subflow():
                return True
            case Hangup():
                return False
            case Branch() as branch:
                try:
                    node_id = next(
                        (c.goto for c in branch.cases if evaluate(c.when, variables)),
                        branch.default,
                    )
                except Exception:  # as the call would: it says at run time
                    return None
            case Say() | SetVars() as node:
                node_id = node.next
            case _:
                return None
    return False if node_id is None else None  # a say that ends the call; a loop


def _before_any_input(flow: Flow, start: Branch) -> list[AnyNode]:
    """The nodes a call passes from ``start`` before the caller is asked anything:
    through branches, sets, says and backend requests, to where it stops."""

    def onward(node_id: str) -> list[str]:
        node = flow.nodes[node_id]
        if not isinstance(node, Branch | SetVars | Say | Http):
            return []
        return [e.target for e in edges(node) if e.target in flow.nodes]

    return [flow.nodes[n] for n in sorted(search([start.id], onward))]


def _backends_back_to(flow: Flow, human: Branch, passed: list[AnyNode]) -> Iterator[Problem]:
    """A backend on the way whose failure leads to the human (its ``on_error``, by
    default the human) comes back to itself: a request a turn, round and round."""
    for node in passed:
        if isinstance(node, Http) and node.on_error == human.id:
            yield error(
                at(flow, node_path(node, "on_error"), node.where),
                f"{label(node)}: on the way from the flow's human '{human.id}', and a "
                f"failure leads back to it ('on_error', '{human.id}' unless given): the "
                "call would go round, a request each turn; give it an 'on_error' that "
                "ends the call or transfers it",
            )


def _options_past(flow: Flow, human: Branch, passed: list[AnyNode]) -> Iterator[Problem]:
    """An option straight to a transfer the human's branch guards skips the branch
    (its hours): at night that caller waits in a queue nobody answers."""
    guarded = {node.id for node in passed if isinstance(node, Transfer)}
    for node in flow.nodes.values():
        if not isinstance(node, Menu | Input):
            continue
        for index, option in enumerate(node.options):
            if option.goto in guarded and option.when is None:  # (a 'when' checks)
                yield warning(
                    at(flow, node_path(node, "options", index, "goto"), node.where),
                    f"{label(node)} option '{option.key}': goes straight to "
                    f"'{option.goto}', past the flow's human '{human.id}' and what it "
                    f"checks (the hours): lead it to '{human.id}'",
                )
