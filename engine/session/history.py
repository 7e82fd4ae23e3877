"""Where a journey has been: the subflow call stack, and the menus and inputs it
went through, so the page's "back" and "home" lead somewhere sensible."""

from __future__ import annotations

from dataclasses import dataclass

from engine.flow import model as m

MAX_PLACES = 50


@dataclass(slots=True)
class Frame:
    """A subflow call: the flow that called it, and where that flow goes on."""

    flow: m.Flow
    return_to: str


Place = tuple[m.Flow, str, list[Frame]]  # a flow, a node of it, the call stack there


def _same(place: Place, flow: m.Flow, node_id: str) -> bool:
    """A place is a node *of a flow*: a subflow's "main" is not its caller's."""
    return place[1] == node_id and place[0].name == flow.name


class History:
    def __init__(self) -> None:
        self._places: list[Place] = []

    def remember(self, flow: m.Flow, node_id: str, stack: list[Frame]) -> None:
        """A menu or input entered. One visited before at the same depth (a loop back
        to the main menu, a subflow's "back" returning to it) takes the journey back
        to where it was then: Back goes on from there, not into what was left."""
        for i, place in enumerate(self._places):
            if _same(place, flow, node_id) and len(place[2]) == len(stack):
                self._places[i] = (flow, node_id, list(stack))
                del self._places[i + 1 :]
                return
        self._places.append((flow, node_id, list(stack)))
        del self._places[:-MAX_PLACES]

    def can_go_back(self, flow: m.Flow, current: str) -> bool:
        """Is there a place before ``current`` (without forgetting anything)?"""
        return any(not _same(p, flow, current) for p in self._places[:-1])

    def back(self, flow: m.Flow, current: str) -> Place | None:
        """The last place before ``current``; it and what followed it are forgotten."""
        earlier = [p for p in self._places[:-1] if not _same(p, flow, current)]
        if not earlier:
            return None
        target = earlier[-1]
        del self._places[self._places.index(target) :]
        return target

    def home(self, root: m.Flow, lang: str) -> Place:
        """The root flow's start; past a language menu, the menu of the chosen language."""
        self._places.clear()
        start = root.node(root.start)
        if isinstance(start, m.LanguageMenu):
            chosen = [o.goto for o in start.options if o.lang == lang]
            if chosen:
                return root, chosen[0], []
        return root, start.id, []
