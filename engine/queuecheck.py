"""The queues flows transfer to, checked against the Asterisk that serves them.

A transfer names a queue. When Asterisk has no queue of that name, the dialplan
(``[ivr-queue]``) puts the caller in the fallback queue rather than drop them: the
call is answered, but by people who were never meant to take it, and nothing in
the flow says so. ``ivr validate`` cannot know Asterisk's queues; a running engine
can. It asks (``Getvar QUEUE_EXISTS(name)``, which the engine's AMI user may do)
when it first reaches Asterisk, again after every reconnect (Asterisk restarted,
maybe with another queues.conf) and after every flow reload, and logs each transfer
to a missing queue at the line that names it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from engine.ami import Ami, AmiError
from engine.flow.model import Flow, Transfer, Where

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0  # how often the watch looks for a reload or a reconnect (no AMI traffic)


@dataclass(frozen=True, slots=True)
class QueueUse:
    """A transfer to ``queue``, at ``where`` in flow ``flow``'s node ``node``."""

    queue: str
    flow: str
    node: str
    where: Where


def queue_uses(flows: Iterable[Flow]) -> list[QueueUse]:
    uses: list[QueueUse] = []
    for flow in flows:
        for node in flow.nodes.values():
            if isinstance(node, Transfer):
                where = flow.locations.get(("nodes", node.id, "queue"), node.where)
                uses.append(QueueUse(node.queue, flow.name, node.id, where))
    return uses


async def missing_queues(ami: Ami, names: Iterable[str]) -> set[str]:
    """The ``names`` Asterisk has no queue for. A name it cannot answer for (no
    app_queue loaded: the function is unknown, the value empty) is not counted."""
    missing: set[str] = set()
    for name in sorted(set(names)):
        answer = await ami.action({"Action": "Getvar", "Variable": f"QUEUE_EXISTS({name})"})
        if answer.get("Value") == "0":
            missing.add(name)
    return missing


async def fallback_queue(ami: Ami) -> str:
    """Where the dialplan sends a call for a missing queue (its global)."""
    answer = await ami.action({"Action": "Getvar", "Variable": "IVR_FALLBACK_QUEUE"})
    return answer.get("Value", "")


def missing_message(use: QueueUse, fallback: str) -> str:
    instead = f"the fallback queue '{fallback}'" if fallback else "the fallback queue"
    return (
        f"{use.where}: flow '{use.flow}' node '{use.node}': Asterisk has no queue "
        f"'{use.queue}', so its callers wait in {instead}; define the queue in "
        "queues.conf, or correct the name"
    )


async def check(ami: Ami, flows: Mapping[str, Flow], agent_queues: Iterable[str] = ()) -> int:
    """Log every transfer (and agent desktop queue) Asterisk has no queue for;
    return how many queues are missing."""
    uses = queue_uses(flows.values())
    agent_queues = tuple(agent_queues)
    missing = await missing_queues(ami, [u.queue for u in uses] + list(agent_queues))
    if not missing:
        return 0
    fallback = await fallback_queue(ami)
    for use in uses:
        if use.queue in missing:
            log.warning("queues: %s", missing_message(use, fallback))
    for name in agent_queues:
        if name in missing:
            log.warning(
                "queues: the agent desktop offers queue '%s', which Asterisk does not have "
                "(IVR_HANDOFF_AGENT_QUEUES)", name,
            )
    return len(missing)


async def watch(
    ami: Ami,
    current: Callable[[], tuple[int, Mapping[str, Flow]]],
    agent_queues: Iterable[str] = (),
    report: Callable[[int], None] | None = None,
) -> None:
    """Check whenever the flows' version (``current()``: the version and its flows)
    or the AMI connection changes; ``report`` the number missing after each check."""
    agent_queues = tuple(agent_queues)
    checked: tuple[int, int] | None = None
    while True:
        version, flows = current()
        if ami.connected and checked != (version, ami.connects):
            seen = (version, ami.connects)
            try:
                found = await check(ami, flows, agent_queues)
            except AmiError as exc:  # the connection dropped meanwhile: next time
                log.debug("queues: not checked: %s", exc)
            else:
                checked = seen
                if report is not None:
                    report(found)
        await asyncio.sleep(CHECK_EVERY_S)
