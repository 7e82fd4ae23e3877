"""Which pages of a journey are in view, for the voice side's holds.

A page keeps its event stream open while it is visible, and names itself with an id
of its own (``?p=``, made by page.js for each loaded document). Streams are not
pages: a phone that changes networks leaves its old connection open on the server,
silent, until TCP gives up on it many minutes later, while the page has already
reconnected. So presence is kept per page id: a new stream with an id that has one
open replaces it (the old stream is told to end), and the session hears of a page
coming into view only for a new id, and of it going only when its current stream
ends. A page going out of view also says so at once (``away``, a beacon), so that a
stream the server cannot tell is dead does not keep the call holding. Streams of a
page are numbered (``&n=``) and the beacon names the one it closed: hidden and shown
again at once, the page's new stream may reach the server before the beacon of the
old one, which must then end nothing.
"""

from __future__ import annotations

import secrets

from visual_ivr.push import Watcher


class Presence:
    def __init__(self) -> None:
        self._pages: dict[str, dict[str, tuple[Watcher, int]]] = {}

    def arrive(
        self, journey: str, page: str, watcher: Watcher, number: int = 0
    ) -> tuple[str, bool]:
        """Stream ``number`` of ``page`` opened (a fresh id when it gave none): the id
        it is kept under, and whether the page is new in view (not a reconnection)."""
        page = page or "stream-" + secrets.token_hex(8)
        pages = self._pages.setdefault(journey, {})
        old = pages.get(page)
        pages[page] = (watcher, number)
        if old is not None:
            _end(old[0])
        return page, old is None

    def leave(self, journey: str, page: str, watcher: Watcher) -> bool:
        """The stream ``watcher`` ended: True when its page is now out of view (no
        newer stream of the page replaced it)."""
        pages = self._pages.get(journey, {})
        current = pages.get(page)
        if current is None or current[0] is not watcher:
            return False
        del pages[page]
        if not pages:
            self._pages.pop(journey, None)
        return True

    def away(self, journey: str, page: str, number: int = 0) -> None:
        """The page says it went out of view, closing stream ``number``: that stream
        ends now (a newer one, the page shown again, is left alone)."""
        current = self._pages.get(journey, {}).get(page)
        if current is not None and current[1] == number:
            _end(current[0])


def _end(watcher: Watcher) -> None:
    watcher.closed = True
    watcher.wake()
