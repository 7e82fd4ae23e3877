"""The caller's page in view, as the voice side sees it.

A caller who has the visual IVR open is reading it, filling in a form on it, or
deciding, and the phone is silent meanwhile. Counting that silence as no input
would re-prompt them ("Sorry, I didn't hear you") and, after the retries, end or
transfer the call under them. So while a page is in view, a menu or input waiting
for its first key *holds* instead: a short line ("Take your time on your screen")
every ``HOLD_S`` seconds, no retry counted, keys on the phone taken as ever. An
input half typed on the keypad is first asked to go on, as without a page; then it
holds too, keeping the digits typed. After
``MAX_HOLDS`` at one node (ten minutes) the ordinary no-input handling resumes, for
a page left open on a table. A page that goes out of view (closed, hidden behind
the dialler, its connection lost) ends the hold at once: the node's own timeout
runs again.

A page says it is in view by keeping its event stream open while it is visible
(``visual_ivr/static/page.js``); the web front end turns the stream's opening and
closing into ``PageSeen`` events.
"""

from __future__ import annotations

from dataclasses import dataclass

HOLD_S = 30.0  # between two "take your time" lines while a page is in view
MAX_HOLDS = 20  # at one node; then silence counts as no input again


@dataclass(slots=True)
class PagePresence:
    open: int = 0  # pages of this journey in view now
    seen: bool = False  # whether one has been in view at all
    holds: int = 0  # at the node the session is at
    holding: bool = False  # the voice's wait now is a hold (after the hold line)

    def update(self, opened: bool) -> bool:
        """Count a page into or out of view; True when it is the journey's first."""
        self.open = max(0, self.open + (1 if opened else -1))
        first = opened and not self.seen
        self.seen = self.seen or opened
        return first

    def new_node(self) -> None:
        """Holds are counted per node: a new one starts from none."""
        self.holds, self.holding = 0, False

    def may_hold(self) -> bool:
        return self.open > 0 and self.holds < MAX_HOLDS

    def hold(self) -> int:
        self.holds += 1
        self.holding = True
        return self.holds

    def wait_s(self, seconds: float) -> float:
        """The wait for the caller's next key: the node's, or the hold's."""
        return max(seconds, HOLD_S) if self.holding and self.open else seconds
