"""engine/webedge.py: the client behind a proxy, another site's requests, and paths
no browser writes."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from engine.webedge import (
    client_address,
    client_site,
    cross_site,
    encodes_unreserved,
    networks,
)

PROXIES = networks(["10.0.0.0/24", "2001:db8::/32"])


def request(remote: str = "192.0.2.1", method: str = "GET", **headers: str) -> web.Request:
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    return make_mocked_request(method, "/v/s/choose", headers=sent).clone(remote=remote)


@pytest.mark.parametrize(
    ("remote", "forwarded_for", "client"),
    [
        ("192.0.2.1", "198.51.100.7", "192.0.2.1"),  # no proxy of ours: the header is anyone's
        ("10.0.0.7", "", "10.0.0.7"),  # a proxy that says nothing
        ("10.0.0.7", "198.51.100.7", "198.51.100.7"),
        ("10.0.0.7", "203.0.113.9, 198.51.100.7", "198.51.100.7"),  # the left: the client's
        ("10.0.0.7", "198.51.100.7, 10.0.0.8", "198.51.100.7"),  # two proxies of ours
        ("10.0.0.7", "10.0.0.9, 10.0.0.8", "10.0.0.9"),  # all ours: the farthest
        ("10.0.0.7", "198.51.100.7, unknown", "10.0.0.7"),  # not an address: the proxy's
        ("10.0.0.7", "198.51.100.7:4711", "198.51.100.7"),
        ("10.0.0.7", "[2001:db9::1]:4711", "2001:db9::1"),
        ("::ffff:10.0.0.7", "198.51.100.7", "198.51.100.7"),  # IPv4 on a dual-stack socket
        ("2001:db8::5", "198.51.100.7", "198.51.100.7"),
    ],
)
def test_the_client_is_the_address_the_nearest_untrusted_hop_has(
    remote: str, forwarded_for: str, client: str
) -> None:
    headers = {"X_Forwarded_For": forwarded_for} if forwarded_for else {}
    assert client_address(request(remote, **headers), PROXIES) == client


def test_several_x_forwarded_for_headers_are_one_list() -> None:
    sent = make_mocked_request(
        "GET",
        "/",
        headers=[("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "198.51.100.7")],
    ).clone(remote="10.0.0.7")
    assert client_address(sent, PROXIES) == "198.51.100.7"
    assert client_address(sent, ()) == "10.0.0.7"  # no trusted proxies: the default


def test_a_client_in_a_limit_is_an_ipv4_address_or_an_ipv6_slash_64() -> None:
    """A phone on IPv6 may take a fresh address of its /64 for each request: counted by
    address, it had a new allowance of journey starts (and PIN tries) each time."""
    assert client_site("198.51.100.7") == "198.51.100.7"
    assert client_site("2001:db8:1:2::1") == client_site("2001:db8:1:2:ffff::9")
    assert client_site("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_site("2001:db8:1:3::1") != client_site("2001:db8:1:2::1")
    assert client_site("unknown") == "unknown"


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),  # curl, an old browser: no word of where it comes from
        ({"Sec_Fetch_Site": "same-origin"}, False),
        ({"Sec_Fetch_Site": "none"}, False),  # typed by the person
        ({"Sec_Fetch_Site": "cross-site"}, True),
        ({"Origin": "http://ivr.test:8080"}, False),
        ({"Origin": "HTTP://IVR.test:8080"}, False),
        ({"Origin": "https://ivr.test:8080"}, True),  # another scheme, another origin
        ({"Origin": "http://ivr.test"}, True),  # another port
        ({"Origin": "http://attacker.example"}, True),
        ({"Origin": "null", "Sec_Fetch_Site": "cross-site"}, True),  # a sandboxed frame's
        # A form of the page's own, in a browser that keeps its origin from a page whose
        # Referrer-Policy is no-referrer (Chromium, without JavaScript).
        ({"Origin": "null", "Sec_Fetch_Site": "same-origin"}, False),
        ({"Origin": "null"}, False),  # an old browser's: it says no more than none
        ({"Origin": "attacker.example"}, True),  # not an origin
        # Behind a proxy: the origin it says the request reached it at.
        ({"Origin": "https://ivr.example.com", "X_Forwarded_Proto": "https",
          "X_Forwarded_Host": "ivr.example.com"}, False),
        ({"Origin": "https://ivr.example.com:443", "X_Forwarded_Proto": "https",
          "X_Forwarded_Host": "ivr.example.com"}, False),
        ({"Origin": "https://ivr.example.com", "X_Forwarded_Proto": "https, http",
          "X_Forwarded_Host": "ivr.example.com:443"}, False),
        ({"Origin": "https://ivr.example.com"}, False),  # the public URL's
        ({"Origin": "https://ivr.example.com.attacker.example"}, True),
    ],
)
def test_a_post_from_another_site_is_told_apart(headers: dict[str, str], refused: bool) -> None:
    sent = request(method="POST", Host="ivr.test:8080", **headers)
    assert cross_site(sent, "https://ivr.example.com/visual") is refused


@pytest.mark.parametrize(
    ("raw_path", "encoded"),
    [
        ("/agent/", False),
        ("/%61gent/", True),
        ("/%2e%2E/agent/", True),
        ("/x%7E", True),
        ("/x%5f%2D", True),
        ("/v/a%20b", False),  # a space: encoded by every browser
        ("/v/%2F", False),
        ("/v/%E4%B8%AD", False),  # 中
        ("/v/service_line?lang=%65s", False),  # the query is not the path
        ("/v/%6", False),
    ],
)
def test_paths_no_browser_writes(raw_path: str, encoded: bool) -> None:
    assert encodes_unreserved(raw_path) is encoded
