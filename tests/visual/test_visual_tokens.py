"""Link tokens and page cookies: unguessable, single use, expiring, tamper-proof."""

from __future__ import annotations

import base64

from tests.visual.helpers import Clock
from visual_ivr.tokens import LinkTokens, PageCookies, well_formed


def test_a_token_has_at_least_128_random_bits_and_is_unique() -> None:
    tokens = LinkTokens(600)
    issued = {tokens.issue("j1") for _ in range(500)}
    assert len(issued) == 500
    for token in list(issued)[:20]:
        assert well_formed(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 128


def test_a_token_opens_once() -> None:
    tokens = LinkTokens(600)
    token = tokens.issue("journey-1")
    assert tokens.check(token).journey == "journey-1"  # looking does not use it
    assert tokens.check(token).ok
    first = tokens.redeem(token)
    assert first.ok and first.journey == "journey-1"
    again = tokens.redeem(token)
    # Refused; its journey is said so that the browser that used it (its cookie for
    # that journey) can be taken back to its page.
    assert again.status == "used" and not again.ok and again.journey == "journey-1"
    assert tokens.check(token).status == "used"


def test_a_token_expires() -> None:
    clock = Clock()
    tokens = LinkTokens(600, clock)
    token = tokens.issue("j")
    clock.now += 599.9
    assert tokens.check(token).ok
    clock.now += 0.1
    assert tokens.redeem(token).status == "expired"
    assert tokens.redeem(token).status == "expired"  # and is not used by trying


def test_a_tampered_or_made_up_token_is_invalid() -> None:
    tokens = LinkTokens(600)
    token = tokens.issue("j")
    flipped = ("A" if token[5] != "A" else "B").join((token[:5], token[6:]))
    for bad in (flipped, token[:-1], token + "x", "", "../../etc/passwd", token.upper()):
        if bad == token:
            continue
        assert tokens.redeem(bad).status == "invalid", bad
    assert tokens.redeem(token).ok  # the real one still works, once


def test_tokens_are_stored_hashed() -> None:
    tokens = LinkTokens(600)
    token = tokens.issue("j")
    assert token not in repr(tokens._links)
    assert all(isinstance(key, bytes) and len(key) == 32 for key in tokens._links)


def test_old_tokens_are_forgotten_after_a_second_lifetime() -> None:
    clock = Clock()
    tokens = LinkTokens(10, clock)
    old = tokens.issue("a")
    clock.now += 15
    tokens.issue("b")
    assert tokens.check(old).status == "expired"  # still explains itself
    clock.now += 10
    tokens.issue("c")
    assert tokens.check(old).status == "invalid"
    assert len(tokens) == 2


def test_a_revoked_token_never_opens() -> None:
    tokens = LinkTokens(600)
    token = tokens.issue("j")
    tokens.revoke(token)
    assert tokens.redeem(token).status == "invalid"


def test_page_cookies_stand_for_a_journey_while_used() -> None:
    clock = Clock()
    cookies = PageCookies(ttl_s=100, clock=clock)
    value = cookies.open("journey", "service_line")
    assert well_formed(value)
    visit = cookies.get(value)
    assert visit is not None and visit.journey == "journey" and visit.flow == "service_line"
    clock.now += 90
    assert cookies.get(value) is not None  # used: the clock starts again
    clock.now += 90
    assert cookies.get(value) is not None
    clock.now += 101
    assert cookies.get(value) is None
    assert cookies.get(None) is None and cookies.get("nonsense") is None
    other = cookies.open("j2", "f")
    cookies.close(other)
    assert cookies.get(other) is None
