"""The flows a running engine serves, and safe reloading when their files change.

A reload compiles the whole directory; a file with errors keeps its last good
version serving (its errors are logged, ``file:line:col: message``), a good edit
replaces it. A call takes a :class:`Snapshot` when it starts and keeps it: calls in
progress finish on the version they started with, new calls get the new one.
Changes are noticed by polling file stamps once a second (cheap, portable, and
works for editors that replace files instead of writing them).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from engine.flow import load_flow_dir
from engine.flow.model import Flow, Subflow, Transfer
from engine.flow.problems import Problem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The flows as they were at one moment; what one call runs on."""

    flows: Mapping[str, Flow]
    version: int

    def get(self, name: str) -> Flow | None:
        return self.flows.get(name)


@dataclass(slots=True)
class ReloadResult:
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # gone from disk, still called
    refused: list[str] = field(default_factory=list)  # broken: the last good one serves
    unserved: list[str] = field(default_factory=list)  # broken, and never good
    problems: list[Problem] = field(default_factory=list)
    fresh: list[Problem] = field(default_factory=list)  # not found by the reload before

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _stamps(directory: str) -> dict[str, tuple[float, int]]:
    stamps: dict[str, tuple[float, int]] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return stamps
    for name in names:
        if name.endswith((".yaml", ".yml")):
            try:
                info = os.stat(os.path.join(directory, name))
            except OSError:
                continue
            stamps[name] = (info.st_mtime, info.st_size)
    return stamps


def _called(flow: Flow) -> set[str]:
    """The flows a call into ``flow`` may go on to: its subflows and surveys."""
    names = {n.flow for n in flow.nodes.values() if isinstance(n, Subflow)}
    return names | {n.survey for n in flow.nodes.values() if isinstance(n, Transfer) and n.survey}


def _keep_called(new: dict[str, Flow], old: Mapping[str, Flow]) -> list[str]:
    """A flow deleted from disk while a served flow still calls it keeps serving (in
    ``new``): the caller's flow is kept at its last good version, which names it, so
    without it that version would fail mid-call. It goes once nothing calls it."""
    kept: list[str] = []
    wanted = [name for flow in new.values() for name in _called(flow)]
    while wanted:
        name = wanted.pop()
        if name not in new and name in old:
            new[name] = old[name]
            kept.append(name)
            wanted.extend(_called(old[name]))
    return sorted(kept)


class FlowStore:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._snapshot = Snapshot({}, 0)
        self._stamps: dict[str, tuple[float, int]] = {}
        self._problems: set[Problem] = set()  # the last reload's
        self.listeners: list[Callable[[ReloadResult], None]] = []
        self.reloads = 0
        self.failed_reloads = 0

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def load(self) -> ReloadResult:
        """(Re)compile the directory; keep the last good version of broken files."""
        stamps = _stamps(self.directory)
        return self._apply(stamps, *load_flow_dir(self.directory))

    async def reload(self) -> ReloadResult:
        """:meth:`load`, compiling in a thread: the demo's four flows take 120-140 ms
        to read and check, a big one seconds, and every call in progress waits while
        the event loop does it. Only the swap runs on the loop."""
        stamps = _stamps(self.directory)
        return self._apply(stamps, *await asyncio.to_thread(load_flow_dir, self.directory))

    def _apply(
        self, stamps: dict[str, tuple[float, int]], compiled: dict[str, Flow],
        problems: list[Problem],
    ) -> ReloadResult:
        self._stamps = stamps
        old = dict(self._snapshot.flows)
        new: dict[str, Flow] = {}
        result = ReloadResult(problems=list(problems))
        result.fresh = [p for p in problems if p not in self._problems]
        self._problems = set(problems)
        broken = {os.path.splitext(os.path.basename(p.where.file))[0] for p in result.errors}
        present = {os.path.splitext(name)[0] for name in self._stamps}
        for name in present:
            if name in compiled:
                new[name] = compiled[name]
                if old.get(name) != compiled[name]:
                    result.changed.append(name)
            elif name in old and name in broken:
                new[name] = old[name]  # the last good version keeps serving
                result.refused.append(name)
            elif name in broken:
                result.unserved.append(name)
        result.kept = _keep_called(new, old)
        result.removed = sorted(set(old) - set(new))
        self._snapshot = Snapshot(new, self._snapshot.version + 1)
        self.reloads += 1
        if result.errors:
            self.failed_reloads += 1
        for listener in self.listeners:
            listener(result)
        return result

    def changed_on_disk(self) -> bool:
        return _stamps(self.directory) != self._stamps

    async def watch(self, interval: float = 1.0) -> None:
        """Reload whenever the directory changes; runs until cancelled."""
        while True:
            await asyncio.sleep(interval)
            if self.changed_on_disk():
                log_reload(await self.reload())


def log_reload(result: ReloadResult, everything: bool = False) -> None:
    """What a designer who just saved a file needs to read: what is wrong, and what
    callers get meanwhile. The problems the reload before logged already are not
    logged again (``everything``: they are), so the log shows what the edit did."""
    problems = result.problems if everything else result.fresh
    for problem in problems:
        (log.error if problem.severity == "error" else log.warning)("flow reload: %s", problem)
    named = {os.path.splitext(os.path.basename(p.where.file))[0] for p in problems}
    for name in sorted(n for n in result.refused if everything or n in named):
        log.error(
            "flow reload: %s.yaml has errors, so this edit is refused: the last good "
            "version keeps serving new calls", name
        )
    for name in sorted(n for n in result.unserved if everything or n in named):
        log.error("flow reload: %s.yaml has errors and is not served", name)
    for name in result.kept:
        log.warning(
            "flow reload: %s.yaml is gone, but a flow served calls it: its "
            "last version keeps serving until no flow does", name
        )
    log.info(
        "flows reloaded: changed=%s removed=%s refused=%s errors=%d (%d new), warnings=%d",
        result.changed,
        result.removed,
        sorted(result.refused + result.unserved),
        len(result.errors),
        sum(p.is_error for p in result.fresh),
        len(result.problems) - len(result.errors),
    )
