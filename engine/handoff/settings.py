"""Settings of the handoff: agents' devices, their queues, and call-backs.

Defaults suit the sandbox; ``IVR_HANDOFF_*`` environment variables override them
(``IVR_HANDOFF_AGENT_QUEUES=support,billing``). PRODUCTION: point
``callback_channel`` at your carrier (``PJSIP/{number}@carrier``), set
``callback_caller_id`` to your service number, and ``callback_pattern`` to the
numbers you are willing to call (your country's mobiles, say).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace


class HandoffConfigError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class HandoffSettings:
    # The device a signed-in agent's calls ring: {ext} is the extension they sign in with.
    agent_interface: str = "PJSIP/{ext}"
    agent_queues: tuple[str, ...] = ("support", "billing", "cards")
    extension_pattern: str = r"[A-Za-z0-9_-]{1,32}"
    # Seconds a desktop may be gone (a reload, a network blip) before its agent leaves
    # the queues.
    agent_grace_s: float = 10.0
    # Who may open the desktop (it shows callers' data). PRODUCTION: the contact
    # centre's networks; behind a reverse proxy, the proxy must pass the client address.
    agent_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # The names the desktop is reached by, besides IP addresses and localhost. A page
    # elsewhere that makes its own name resolve to this engine (DNS rebinding) is
    # refused: the agent's browser would otherwise fetch callers' data for it.
    agent_hosts: tuple[str, ...] = ()
    # Call-backs. The sandbox has no phones: a Local channel answers as the caller.
    callback_pattern: str = r"\+?[1-9][0-9]{6,14}"  # E.164, with or without "+"
    callback_channel: str = "Local/{number}@ivr-handoff-callee/n"
    callback_context: str = "ivr-callback"
    callback_caller_id: str = ""
    callback_ring_s: int = 30
    callback_per_journey: int = 2
    callback_journey_gap_s: float = 120.0
    callback_number_gap_s: float = 600.0
    # Offer the call to the agent's desktop when it rings (not only once it connects).
    offer_on_ring: bool = True
    # After-call work: once a call ends, the agent's phone rings no more until its
    # wrap-up is saved, or for at most this many seconds.
    wrapup_max_s: float = 120.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HandoffSettings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"IVR_HANDOFF_{f.name.upper()}")
            if raw is None:
                continue
            try:
                values[f.name] = _coerce(str(f.type), raw)
            except ValueError as exc:
                raise HandoffConfigError(f"IVR_HANDOFF_{f.name.upper()}: {exc}") from exc
        return replace(cls(), **values)  # type: ignore[arg-type]


def _coerce(kind: str, raw: str) -> object:
    if kind == "tuple[str, ...]":
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected yes or no, got {raw!r}")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw
