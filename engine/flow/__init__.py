"""Call flows: YAML files read into :mod:`engine.flow.model` objects and checked.

:func:`load_flow_file` and :func:`load_flow_dir` are the entry points; a flow with
any error is not returned (warnings do not block), and every problem comes back as
a :class:`~engine.flow.problems.Problem` pointing at ``file:line:col``.

Flows in one directory know each other: a subflow must name one of them, and the
variables a subflow sets are known to the flows that call it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterator, Mapping

from engine.flow.model import Flow, Subflow, Where
from engine.flow.parse import flow_name, parse_flow
from engine.flow.problems import Problem, error, has_errors, sorted_problems, warning
from engine.flow.subflows import check_subflow_files
from engine.flow.validate import validate
from engine.flow.yamlsource import read_source

FLOW_SUFFIXES = (".yaml", ".yml")

log = logging.getLogger(__name__)


def _unexpected(path: str, exc: Exception) -> Problem:
    """A file the checks themselves failed on (a bug): it is left out like a broken
    one, and the other files load, so the flows already serving keep serving."""
    log.debug("flow file %s: the checks failed", path, exc_info=exc)
    return error(
        Where(path, 1, 1),
        f"this file could not be checked ({type(exc).__name__}: {exc}) and is left out; "
        "this is a bug in ivr: please report it with the file",
    )


def flow_files(directory: str) -> list[str]:
    """The flow files in a directory, sorted (an unreadable directory has none).
    Only regular files: reading a FIFO named ``x.yaml`` would wait for ever."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    paths = (os.path.join(directory, e) for e in entries if e.endswith(FLOW_SUFFIXES))
    return [path for path in paths if os.path.isfile(path)]


def parse_flow_file(path: str) -> tuple[Flow | None, list[Problem]]:
    """Read and parse one file, without the checks of :func:`validate`."""
    try:
        text, problems = read_source(path)
        if text is None:
            return None, problems
        return parse_flow(text, path, flow_name(path))
    except Exception as exc:  # a bug: one file must never stop the others loading
        return None, [_unexpected(path, exc)]


def _checked(
    flow: Flow, known_flows: Collection[str] | None, called: bool = False
) -> list[Problem]:
    """:func:`validate`; with ``called``, also an error for each subflow whose file
    does not load (``known_flows`` mapping names to flows, None for those)."""
    try:
        problems = list(validate(flow, known_flows))
        if called and isinstance(known_flows, Mapping):
            problems.extend(check_subflow_files(flow, known_flows))
        return problems
    except Exception as exc:  # as in parse_flow_file
        return [_unexpected(flow.path, exc)]


class FlowDir(Mapping[str, Flow | None]):
    """The flows of a directory by name (None: it does not parse), each parsed the first time
    it is asked for: what :func:`validate` takes as ``known_flows``. Checking a file
    needs every name (a subflow's "did you mean") but only the flows it calls, so a
    directory of many flows is not read whole for each of them."""

    def __init__(self, directory: str) -> None:
        self._paths: dict[str, str] = {}
        self.shadowed: dict[str, str] = {}  # a file whose name another file took first
        for path in flow_files(directory):
            first = self._paths.setdefault(flow_name(path), path)
            if first != path:
                self.shadowed[path] = first
        self._parsed: dict[str, Flow | None] = {}
        self._broken: dict[str, bool] = {}

    def __getitem__(self, name: str) -> Flow | None:
        if name not in self._parsed:
            flow, problems = parse_flow_file(self._paths[name])
            self._parsed[name] = None if has_errors(problems) else flow
        return self._parsed[name]

    def broken(self, name: str) -> bool:
        """Whether the flow has errors, its validation's included: the engine does
        not load such a flow, so a call into it as a subflow would fail."""
        if name not in self._broken:
            self._broken[name] = False  # while its own check runs (flows calling back)
            flow = self[name]
            self._broken[name] = flow is None or has_errors(_checked(flow, self))
        return self._broken[name]

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


def parse_flow_dir(directory: str) -> FlowDir:
    """The flow files of a directory, by name, parsed as they are asked for."""
    return FlowDir(directory)


def load_flow_file(
    path: str, known_flows: Collection[str] | None = None
) -> tuple[Flow | None, list[Problem]]:
    """Read, parse and validate one flow file. The flow is None if there is any error."""
    flow, problems = parse_flow_file(path)
    if flow is None:
        return None, sorted_problems(problems)
    problems = sorted_problems([*problems, *_checked(flow, known_flows, called=True)])
    return (None if has_errors(problems) else flow), problems


def _subflow_problems(flows: Mapping[str, Flow], known: Collection[str]) -> list[Problem]:
    """Subflows calling a flow that did not load (its own errors are reported)."""
    problems: list[Problem] = []
    for flow in flows.values():
        for node in flow.nodes.values():
            if not isinstance(node, Subflow) or node.flow not in known:
                continue
            where = flow.locations.get(("nodes", node.id, "flow"), node.where)
            if node.flow not in flows:
                message = f"flow '{node.flow}' has errors (see its own messages)"
                problems.append(warning(where, f"subflow '{node.id}': {message}"))
    return problems


def shadowed_file(path: str, first: str) -> Problem:
    name = flow_name(path)
    return error(
        Where(path, 1, 1),
        f"another file already defines the flow '{name}' ({first}); this one is ignored",
    )


def load_flow_dir(directory: str) -> tuple[dict[str, Flow], list[Problem]]:
    """Every flow file in a directory, by name. A broken file is left out (its problems
    say why); the others load."""
    parsed = {path: parse_flow_file(path) for path in flow_files(directory)}
    known: dict[str, Flow | None] = {}
    for path, (flow, found) in parsed.items():  # x.yaml before x.yml, as served
        known.setdefault(flow_name(path), None if has_errors(found) else flow)
    flows: dict[str, Flow] = {}
    problems: list[Problem] = []
    for path, (flow, found) in parsed.items():
        found = found if flow is None else [*found, *_checked(flow, known)]
        problems.extend(found)
        if flow is None or has_errors(found):
            continue
        if flow.name in flows:
            problems.append(shadowed_file(path, flows[flow.name].path))
            continue
        flows[flow.name] = flow
    problems.extend(_subflow_problems(flows, known))
    return flows, sorted_problems(problems)


__all__ = [
    "Flow",
    "FlowDir",
    "Problem",
    "flow_files",
    "load_flow_dir",
    "load_flow_file",
    "parse_flow_dir",
    "parse_flow_file",
    "validate",
]
