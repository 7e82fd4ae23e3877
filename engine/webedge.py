"""Where a web request came from, read as the reverse proxy in front says it, and
the requests refused at the door.

``client_address``   the client's address. The engine sees its proxy's; from a
                     trusted proxy, X-Forwarded-For's right-most address that is not
                     itself a trusted proxy (addresses to its left, the client could
                     have written).
``client_within``    whether that address is in given networks (the agent desktop's,
                     the metrics').
``client_site``      that address as one client in a limit (an IPv6 address's /64).
``cross_site``       a state-changing request another site's page made the browser
                     send: ``Sec-Fetch-Site: cross-site``, or an ``Origin`` that is none
                     of the page's own (``own_origins``: as the request reached the
                     engine, as the proxy says it reached the proxy, the public URL).
                     A request with neither header (curl, an old browser) is let in.
                     ``Origin: null`` states no origin: a browser sends it for the
                     page's own forms when the page's Referrer-Policy is no-referrer
                     (as /v's are; Sec-Fetch-Site then says same-origin), and for a
                     sandboxed frame's or after a redirect from elsewhere (cross-site).
``same_origin_only`` middleware: a POST (or any method but GET, HEAD, OPTIONS) that
                     is ``cross_site`` is answered 403.
``plain_paths``      middleware: a path that percent-encodes a letter, a digit or one
                     of ``-._~`` is answered 404. No browser encodes those; aiohttp
                     decodes the path before routing, so ``/%61gent/`` would reach
                     ``/agent/`` past a proxy's rule written for ``/agent/``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import string
from collections.abc import Callable, Iterable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def networks(given: Iterable[str]) -> tuple[Network, ...]:
    """Networks as the settings give them (checked there: engine/setting_values.py)."""
    return tuple(ipaddress.ip_network(network) for network in given)


# ------------------------------------------------------------------ the client


def client_address(request: web.Request, trusted: Sequence[Network]) -> str:
    """The client's address: ``request.remote``, unless that is a trusted proxy."""
    remote = request.remote or ""
    client = _address(remote)
    if client is None or not _among(client, trusted):
        return remote
    hops = [
        hop for header in request.headers.getall("X-Forwarded-For", []) for hop in header.split(",")
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # no proxy of ours wrote it: the last one we can believe
            break
        client = address
        if not _among(address, trusted):
            break
    return str(client)


def client_within(
    request: web.Request, allowed: Sequence[Network], trusted: Sequence[Network]
) -> bool:
    """Whether the client (``client_address``: behind a trusted proxy, the one it
    names) is in one of the ``allowed`` networks."""
    client = _address(client_address(request, trusted))
    return client is not None and _among(client, allowed)


def client_site(address: str) -> str:
    """What counts as one client in a limit: an IPv4 address, or an IPv6 address's
    /64 (one home or phone is given a /64 and may take any address in it)."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


def _address(text: str) -> Address | None:
    """An address as a proxy may write it: ``192.0.2.1``, ``192.0.2.1:4711``,
    ``[2001:db8::1]:4711``, ``::ffff:192.0.2.1`` (IPv4 on a dual-stack socket)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _among(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)


# ------------------------------------------------------------------ the page's origin


def own_origins(request: web.Request, public_url: str = "") -> set[str]:
    """The origins (``scheme://host[:port]``) the page may be served from."""
    forwarded_scheme = _first(request.headers.get("X-Forwarded-Proto", "")) or request.scheme
    forwarded_host = _first(request.headers.get("X-Forwarded-Host", "")) or request.host
    origins = {_origin(request.scheme, request.host), _origin(forwarded_scheme, forwarded_host)}
    scheme, sep, rest = public_url.partition("://")
    if sep:
        origins.add(_origin(scheme, rest.partition("/")[0]))
    return origins


def cross_site(request: web.Request, public_url: str = "") -> bool:
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return True
    origin = request.headers.get("Origin", "null").strip()
    if origin == "null":
        return False
    scheme, sep, host = origin.partition("://")
    return not sep or _origin(scheme, host) not in own_origins(request, public_url)


def _first(header: str) -> str:
    """A forwarded header's first value: the one the first proxy (the client's) wrote."""
    return header.partition(",")[0].strip()


def _origin(scheme: str, host: str) -> str:
    scheme, host = scheme.strip().lower(), host.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}"


def same_origin_only(
    public_url: str = "", refuse: Callable[[web.Request], web.StreamResponse] | None = None
) -> Middleware:
    """Middleware refusing ``cross_site`` state-changing requests with ``refuse``'s
    answer (by default a 403 in plain words)."""

    @web.middleware
    async def same_origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in SAFE_METHODS or not cross_site(request, public_url):
            return await handler(request)
        log.warning(
            "refused a %s to %s from another site (Origin %r, Sec-Fetch-Site %r; this "
            "server's own: %s). Behind a proxy: pass Host or X-Forwarded-Host and "
            "X-Forwarded-Proto on, or set public_url",
            request.method,
            request.path,
            request.headers.get("Origin"),
            request.headers.get("Sec-Fetch-Site"),
            ", ".join(sorted(own_origins(request, public_url))),
        )
        if refuse is not None:
            return refuse(request)
        return web.Response(status=403, text="refused: this request came from another site")

    return same_origin_only


# ------------------------------------------------------------------ the path

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def encodes_unreserved(raw_path: str) -> bool:
    """``raw_path`` (before its query) percent-encodes what needs no encoding."""
    path = raw_path.partition("?")[0]
    return any(chr(int(code, 16)) in _UNRESERVED for code in _ESCAPE.findall(path))


@web.middleware
async def plain_paths(request: web.Request, handler: Handler) -> web.StreamResponse:
    if encodes_unreserved(request.raw_path):
        return web.Response(status=404, text="404: Not Found")
    return await handler(request)
