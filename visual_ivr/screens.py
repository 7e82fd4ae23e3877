"""A journey's screen, rendered once per state and shared.

Every open page of a journey, every reload and every pushed update shows the same
thing until the session moves, so the rendering (the page, and the update pushed
to open pages) is kept per journey with the state it was drawn from: the trail's
length, the node, the language, the notice, the cards, the keys typed on the call
into an input, the outcome and, after
"Talk to a person", the handoff's status version and the page's own handoff forms
(:class:`Handoff`). Anything that changes what the page shows changes one of these.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from engine.flow.model import Flow
from engine.runtime import SessionHandle
from visual_ivr.pages import Pages, Where, digest, page_model
from visual_ivr.tokens import PageVisit

StateKey = tuple[int, str, str, str | None, int, str, str | None, bool, str, Hashable]


@dataclass(frozen=True, slots=True)
class Handoff:
    """The handoff's part of a page, and what it was drawn from."""

    key: Hashable
    part: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Screen:
    digest: str  # of the fragment: what a page compares to skip an update it has
    node: str
    done: bool
    page: bytes  # the whole page (HTML, CSS, JS)
    update: bytes  # the JSON pushed to an open page, or answered to its script


class Screens:
    def __init__(
        self,
        pages: Pages,
        flows: Callable[[str], Flow | None],
        human_phone: str,
        base: str,
        keep: int = 2_000,  # pages in view at once; a miss only renders the page again
    ) -> None:
        self._pages = pages
        self._flows = flows
        self._human_phone = human_phone
        self._base = base
        self._keep = keep
        self._drawn: OrderedDict[str, tuple[StateKey, Screen]] = OrderedDict()

    def of(self, handle: SessionHandle, visit: PageVisit, handoff: Handoff | None = None) -> Screen:
        session = handle.session
        key: StateKey = (
            len(session.trail),
            session.node.id,
            session.lang,
            session.notice,
            len(session.cards),
            session.typed,
            session.outcome,
            handle.voice,
            visit.flow,
            handoff.key if handoff is not None else None,
        )
        journey = visit.journey
        drawn = self._drawn.get(journey)
        if drawn is not None and drawn[0] == key:
            return drawn[1]
        screen = self.draw(handle, visit, handoff)
        self._drawn[journey] = (key, screen)
        self._drawn.move_to_end(journey)
        while len(self._drawn) > self._keep:
            self._drawn.popitem(last=False)
        return screen

    def draw(
        self, handle: SessionHandle, visit: PageVisit, handoff: Handoff | None = None
    ) -> Screen:
        """Render the journey as it is now (no cache)."""
        root = self._flows(visit.flow)
        where = Where(
            call=handle.voice,
            brand=root.title.get(handle.session.lang) if root is not None else "",
            human_phone=self._human_phone,
            restart=f"{self._base}/{visit.flow}",
        )
        model = page_model(handle.session, where, handoff.part if handoff is not None else None)
        html = self._pages.fragment(model)
        h = digest(html)
        update = {
            "v": model["version"],
            "h": h,
            "node": model["node_id"],
            "lang": model["lang_tag"],
            "dir": model["dir"],
            "title": model["title"],
            "done": model["final"],
            "html": html,
        }
        return Screen(
            digest=h,
            node=model["node_id"],
            done=model["final"],
            page=self._pages.page(model, html, h).encode("utf-8"),
            update=json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode(),
        )
