"""Who may connect to the engine's Asterisk-facing ports (FastAGI, AudioSocket).

Both speak for a caller: a FastAGI connection says whose call it is (its caller ID
is taken as given) and what to run; a peer that is not the Asterisk could start
"calls" that text links to any number, run backend lookups, or answer another
call's survey. So a connection from an address outside ``asterisk_networks``
(loopback by default: the sandbox, docker-compose, an Asterisk on the same host) is
closed before a byte is read, counted (``ivr_agi_refused_total{reason="not
allowed"}``), and logged once per address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.0/8", "::1/128")
_WARNED_AT_MOST = 1000  # addresses logged; a scan from many is counted, not all logged

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Peers:
    """An allow-list of networks, checked for each new connection."""

    def __init__(self, networks: Iterable[str] = LOOPBACK) -> None:
        self.networks: tuple[Network, ...] = ()
        self.allow_only(networks)
        self._warned: set[str] = set()

    def allow_only(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n) for n in networks)

    def allows(self, writer: asyncio.StreamWriter, port_name: str) -> bool:
        """Whether the connection's peer is in the networks; logs one that is not
        (once per address)."""
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if self.allows_address(host):
            return True
        if host not in self._warned and len(self._warned) < _WARNED_AT_MOST:
            self._warned.add(host)
            log.warning(
                "%s: refused a connection from %s, which is not in asterisk_networks "
                "(IVR_ASTERISK_NETWORKS: the addresses Asterisk connects from)",
                port_name, host or "an unknown address",
            )
        return False

    def allows_address(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])  # no IPv6 zone
        except ValueError:
            return False  # a Unix socket or no address: not a network peer we know
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's IPv4 peer
        return any(address in network for network in self.networks)
