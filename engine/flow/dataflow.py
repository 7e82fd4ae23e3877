"""Is every variable a node uses set by the time the call gets there?

Theory: a forward "definitely assigned" dataflow over the node graph. What is set on
entering a node is the intersection, over every way in, of what was set on leaving
the node before; it starts at the start node with the built-in and declared
variables and is iterated to a fixed point (sets only shrink, so it ends). Nodes
never reached keep "everything" and are not checked (``check_reachable`` says so).

What each way out of a node sets, as the session (``engine/session/machine.py``)
runs it:

- input: its ``var`` on ``next`` only (shortcut options and retries leave it unset);
- http: ``save_as`` on ``next`` and on ``on_error`` alike (a failure is saved as
  ``{ok: false, ...}``);
- set: its ``values``, in order (a value may use the ones before it);
- subflow: on ``next``, what the called flow sets on every way to its return nodes
  (itself found the same way); a flow that cannot be read, or calls itself, sets
  "everything" here, so nothing is reported that only it could explain;
- branch cases and default, menu options, retries: nothing.

The visual IVR's "talk to a person" leads from every menu and input to the flow's
``human``: that is a way in too. "Back" and "home" only return to nodes the call
has already been at, with every variable set meanwhile still set, so they add
nothing.

A use on a way in that passes no ``branch`` is an error: the caller can take it
(keys, silence, a failing backend). One whose every unset way in passes a branch is
a warning: the branch's conditions may well rule it out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from engine.flow import templates, textchecks
from engine.flow.model import (
    HOURS_VARIABLE,
    AnyNode,
    Branch,
    Flow,
    Http,
    Input,
    Menu,
    Return,
    Say,
    SetVars,
    Subflow,
    builtin_variables,
)
from engine.flow.problems import Problem, error, warning
from engine.flow.textchecks import (
    TemplateSite,
    label,
    node_sets,
    node_templates,
    template_sites,
)

Names = frozenset[str]
KnownFlows = Mapping[str, Flow | None]


@dataclass(frozen=True, slots=True)
class Step:
    target: str
    sets: Names | None  # None: anything (a subflow that cannot be looked into)
    branch: bool = False


Returns = Mapping[str, Names | None]
NOTHING: Names = frozenset()


class Analysis:
    """The dataflow of one flow; ``implied`` maps a variable to those sure to be set
    whenever it is (see :meth:`Subflows.implied`), which sharpens what a branch that
    tests it proves."""

    def __init__(self, flow: Flow, returns: Returns, implied: Mapping[str, Names]) -> None:
        self.flow = flow
        self.returns = returns
        self.implied = implied
        self.found = self._solve()

    def proven(self, names: Names) -> Names:
        return names.union(*(self.implied.get(n, NOTHING) for n in names))

    def branch_facts(self, node: Branch) -> Iterator[tuple[Names, Names]]:
        """Per case: what is set when it is evaluated, and when it leads to its goto;
        then (default) what is set when no case held."""
        fallen = NOTHING
        for case in node.cases:
            true, false = templates.defined_when(case.when)
            yield fallen, self.proven(fallen | true)
            fallen = self.proven(fallen | false)
        yield fallen, fallen

    def steps(self, node: AnyNode) -> Iterator[Step]:
        flow = self.flow
        if isinstance(node, Menu | Input):
            if isinstance(node, Input):
                yield Step(node.next, self.proven(frozenset({node.var})))
            for option in node.options:
                yield Step(option.goto, NOTHING)
            for retry in (node.no_input, node.no_match):
                if retry.goto is not None:
                    yield Step(retry.goto, NOTHING)
            if flow.human is not None:
                yield Step(flow.human, NOTHING)  # the page's "talk to a person"
        elif isinstance(node, Say) and node.next is not None:
            yield Step(node.next, NOTHING)
        elif isinstance(node, Http):
            saved = self.proven(frozenset({node.save_as} - {""}))
            yield Step(node.next, saved)
            yield Step(node.on_error, saved)
        elif isinstance(node, Branch):
            facts = list(self.branch_facts(node))
            for case, (_, sets) in zip(node.cases, facts, strict=False):
                yield Step(case.goto, sets, branch=True)
            yield Step(node.default, facts[-1][1], branch=True)
        elif isinstance(node, SetVars):
            yield Step(node.next, self.proven(frozenset(node.values)))
        elif isinstance(node, Subflow):
            returned = self.returns.get(node.flow)
            yield Step(node.next, None if returned is None else self.proven(returned))

    def _solve(self) -> dict[str, Names]:
        """Node id -> the variables set on every way from start to it (reached nodes)."""
        flow = self.flow
        if flow.start not in flow.nodes:
            return {}
        found = {flow.start: start_names(flow)}
        work = deque([flow.start])
        while work:
            node_id = work.popleft()
            for step in self.steps(flow.nodes[node_id]):
                if step.target not in flow.nodes or step.sets is None:
                    continue
                out = found[node_id] | step.sets
                before = found.get(step.target)
                now = out if before is None else before & out
                if now != before:
                    found[step.target] = now
                    work.append(step.target)
        return found

    def setters(self) -> Iterator[tuple[str, Names]]:
        """(variable, what is set once this node has set it), per reached setter."""
        for node_id, node in self.flow.nodes.items():
            if node_id in self.found:
                sets = node_sets(node)
                for name in sets:
                    yield name, self.found[node_id] | sets

    def way(self, to: str, name: str, branches: bool) -> list[str] | None:
        """A shortest way from start to ``to`` on which ``name`` is never set."""
        previous: dict[str, str] = {self.flow.start: ""}
        queue = deque([self.flow.start])
        while queue:
            node_id = queue.popleft()
            if node_id == to:
                way = [node_id]
                while previous[way[-1]]:
                    way.append(previous[way[-1]])
                return way[::-1]
            node = self.flow.nodes[node_id]
            if isinstance(node, Branch) and not branches:
                continue
            for step in self.steps(node):
                if step.sets is None or name in step.sets:
                    continue
                if step.target in self.flow.nodes and step.target not in previous:
                    previous[step.target] = node_id
                    queue.append(step.target)
        return None


def start_names(flow: Flow) -> Names:
    return frozenset(builtin_variables(flow) | set(flow.variables))


class Subflows:
    """What each flow sets on every way to its return (None: unknown), memoised."""

    def __init__(self, known: KnownFlows | None) -> None:
        self._known = known
        self._memo: dict[str, Names | None] = {}
        self.analysed: dict[str, Analysis] = {}

    def returns(self, flow: Flow) -> dict[str, Names | None]:
        called = {n.flow for n in flow.nodes.values() if isinstance(n, Subflow)}
        return {name: self.sets(name) for name in called}

    def sets(self, name: str) -> Names | None:
        if name in self._memo:
            return self._memo[name]
        called = self._known.get(name) if self._known is not None else None
        self._memo[name] = None  # while in progress: a subflow that calls itself
        if called is None:
            return None
        analysis = Analysis(called, self.returns(called), {})
        analysis = Analysis(called, analysis.returns, self.implied(called, analysis))
        self.analysed[name] = analysis
        ends = [
            analysis.found[n]
            for n, node in called.nodes.items()
            if isinstance(node, Return) and n in analysis.found
        ]
        result = frozenset.intersection(*ends) if ends else None
        if result is not None:  # 'open' is each flow's own, from its own hours
            result -= {HOURS_VARIABLE}
        self._memo[name] = result
        return result

    def implied(self, flow: Flow, first: Analysis) -> dict[str, Names]:
        """Variable -> those set on every way on which it gets set, in this flow and
        the subflows it calls: once ``customer`` is set, so are the ``account`` and
        ``pin`` it was looked up with. None for a variable the flow declares (it is
        always set), or when a called flow cannot be read."""
        called = textchecks.called_flows(flow, self._known or {})
        if any(name not in self.analysed for name in called):
            return {}
        analyses = [first, *(self.analysed[name] for name in called)]
        implied: dict[str, Names] = {}
        for analysis in analyses:
            for name, then in analysis.setters():
                implied[name] = implied[name] & then if name in implied else then
        return {n: s for n, s in implied.items() if n not in start_names(flow)}


def _setters(analysis: Analysis, name: str, known: KnownFlows | None) -> str:
    found: list[str] = []
    for node in analysis.flow.nodes.values():
        if isinstance(node, Subflow):
            called = known.get(node.flow) if known is not None else None
            sets = called is not None and name in textchecks.defined_variables(called)
        else:
            sets = name in node_sets(node)
        if sets:
            found.append(label(node))
    if len(found) > 3:
        return f"{', '.join(found[:3])} and {len(found) - 3} more"
    return " and ".join([", ".join(found[:-1]), found[-1]] if len(found) > 1 else found)


def _report(
    analysis: Analysis, site: TemplateSite, node_id: str, name: str, known: KnownFlows | None
) -> Problem:
    setters = _setters(analysis, name, known)
    set_by = f"; it is set by {setters}" if setters else ""
    way = analysis.way(node_id, name, branches=False)
    if way is not None:
        return error(
            textchecks.name_where(site, name),
            f"{site.context}: '{name}' may not be set yet on the way here "
            f"({' -> '.join(way)}){set_by}",
        )
    way = analysis.way(node_id, name, branches=True) or [node_id]
    return warning(
        textchecks.name_where(site, name),
        f"{site.context}: '{name}' may not be set yet on the way here "
        f"({' -> '.join(way)}, if the branch conditions allow it){set_by}",
    )


def check_use_before_set(
    flow: Flow, defined: Names, known: KnownFlows | None = None
) -> Iterator[Problem]:
    """Templates that use a variable (one set somewhere: ``defined``) on a way from
    start where nothing has set it yet. Names not in ``defined`` are reported by
    ``check_templates`` as unknown."""
    subflows = Subflows(known)
    first = Analysis(flow, subflows.returns(flow), {})
    analysis = Analysis(flow, first.returns, subflows.implied(flow, first))
    yield from _check_variables(flow, defined)
    for node_id, node in flow.nodes.items():
        if node_id not in analysis.found:
            continue
        have = analysis.found[node_id]
        extra: Iterator[Names] = iter(())
        if isinstance(node, SetVars):  # each value may use the ones before it
            extra = iter([frozenset(list(node.values)[:i]) for i in range(len(node.values))])
        elif isinstance(node, Branch):  # each case: what the cases before it proved
            extra = (before for before, _ in analysis.branch_facts(node))
        for site in node_templates(flow, node):
            now = have | next(extra, NOTHING)
            for name in sorted(_needs(site) & defined - now):
                yield _report(analysis, site, node_id, name, known)


def _check_variables(flow: Flow, defined: Names) -> Iterator[Problem]:
    """The flow's ``variables`` are rendered in order before the start node: each may
    use the built-ins and the ones declared before it."""
    earlier = set(builtin_variables(flow))
    sites = [s for s in template_sites(flow) if s.node is None]
    for declared, site in zip(flow.variables, sites, strict=False):
        for name in sorted(_needs(site) & defined - earlier):
            why = (
                "it is declared after this one; put it first"
                if name in flow.variables
                else "variables are set before the start node, before any node could set it"
            )
            where = textchecks.name_where(site, name)
            yield error(where, f"{site.context}: '{name}' is not set yet ({why})")
        earlier.add(declared)


def _needs(site: TemplateSite) -> set[str]:
    return templates.required_names(site.text, expression=site.expression)
