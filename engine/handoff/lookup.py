"""An agent looks a journey up by the reference its caller read out (``3F2A-91BC``,
as the page gave it to a web-only caller who asked for a person).

The journeys with that reference come back as a call's offer does: in progress first,
then the stored ones, newest first, at most ``MAX_FOUND`` (a reference is 32 random
bits: over millions of journeys two can share one). Whoever reads out a reference can
give it, so what the journey found verified proves nothing about the caller on the
line. One found while the agent has a call is linked in that call's trail, so that
whoever reads the call later sees what the agent saw."""

from __future__ import annotations

from typing import Any

from engine.handoff.desks import Desk
from engine.handoff.hub import HandoffError, HandoffHub
from engine.trail.reference import reference, tail_of

MAX_FOUND = 5


async def find_by_reference(
    hub: HandoffHub, text: str, desk: Desk | None = None
) -> list[dict[str, Any]]:
    """The journeys ``text`` names, each as the agent sees a call's."""
    tail = tail_of(text)
    if tail is None:
        raise HandoffError(
            f"{text.strip()[:40]!r} is not a reference: 8 characters, digits and the "
            "letters A to F, like 3F2A-91BC"
        )
    found = [journey for journey in hub.engine.sessions if journey.endswith(tail)]
    store = hub.engine.trail
    if store is not None:
        stored = await store.journeys_with_tail(tail, MAX_FOUND)
        found += [journey for journey in stored if journey not in found]
    out = []
    for journey in found[:MAX_FOUND]:
        handoff = await hub.handoff(journey)
        if handoff is not None:
            out.append({**_as_found(handoff), "reference": reference(journey)})
    if desk is not None and len(out) == 1:
        await _link(hub, desk, out[0]["journey"])
    return out


async def _link(hub: HandoffHub, desk: Desk, found: str) -> None:
    """Note the journey found in the trail of each call the desk has (once)."""
    for journey, state in list(desk.journeys.items()):
        handle = hub.engine.sessions.get(journey)
        if state == "offered" or journey == found or handle is None:
            continue
        trail = handle.session.trail
        if not any(e.kind == "link" and e.data.get("linked") == found for e in trail):
            await hub.record(journey, "link", linked=found, reference=reference(found), by=desk.ext)


def _as_found(handoff: dict[str, Any]) -> dict[str, Any]:
    """Verified on that journey is not verified on this call: the badge says so, and
    the answers its check took are not 'don't ask again'."""
    verification = handoff["verification"]
    if verification["status"] != "verified":
        return handoff
    checked = {c["label"] for c in handoff["captured"] if c["name"] in verification["by"]}
    checked.add("Identity / security questions")
    return {
        **handoff,
        "verification": {
            **verification,
            "status": "elsewhere",
            "label": f"{verification['label']} on that journey, not on this call: "
            "verify the caller",
        },
        "dont_ask": [d for d in handoff["dont_ask"] if d["ask"] not in checked],
    }
