"""Settings of the handoff: agents' devices, their queues, and call-backs.

Defaults suit the sandbox; the config file's ``[handoff]`` section and
``IVR_HANDOFF_*`` environment variables override them, the environment winning
(``agent_queues = ["support", "billing"]``, ``IVR_HANDOFF_AGENT_QUEUES=support,billing``);
:func:`engine.config.load_settings` reads both. PRODUCTION: point
``callback_channel`` at your carrier (``PJSIP/{number}@carrier``), set
``callback_caller_id`` to your service number, ``callback_pattern`` to the
numbers you are willing to call (your country's mobiles, say), and
``callback_per_minute`` to what you are willing to pay for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine import setting_values as values
from engine.setting_values import Entry, Parser, from_environment, parse


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
    # Call-backs placed per minute across all journeys: each is a call the contact
    # centre pays for, and anyone with a browser can ask (PRODUCTION: what your agents
    # can take, and your carrier's bill can bear).
    callback_per_minute: int = 20
    # Offer the call to the agent's desktop when it rings (not only once it connects).
    offer_on_ring: bool = True
    # After-call work: once a call ends, the agent's phone rings no more until its
    # wrap-up is saved, or for at most this many seconds.
    wrapup_max_s: float = 120.0

    @classmethod
    def read(
        cls, environ: Mapping[str, str], given: Iterable[Entry], problems: list[str]
    ) -> HandoffSettings:
        """The settings ``given`` (a config file's ``[handoff]`` section), with the
        environment's over them; what is wrong with any is added to ``problems``."""
        entries = [*given, *from_environment(PARSERS, environ, ENV_PREFIX)]
        return cls(**parse(PARSERS, entries, problems))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HandoffSettings:
        """The environment's settings alone: for an app built without
        :class:`engine.config.Settings` (the ones loaded carry their own)."""
        problems: list[str] = []
        settings = cls.read(os.environ if environ is None else environ, (), problems)
        if problems:
            raise HandoffConfigError("\n".join(problems))
        return settings


ENV_PREFIX = "IVR_HANDOFF_"

PARSERS: dict[str, Parser] = {
    "agent_interface": values.template("ext", "PJSIP/{ext}"),
    "agent_queues": values.names,
    "extension_pattern": values.regex,
    "agent_grace_s": values.seconds(0),
    "agent_networks": values.networks,
    "agent_hosts": values.names,
    "callback_pattern": values.regex,
    "callback_channel": values.template("number", "PJSIP/{number}@carrier"),
    "callback_context": values.text,
    "callback_caller_id": values.text,
    "callback_ring_s": values.whole(1, "seconds"),
    # At least one: with none, every caller who asks is told "we have already called
    # you back", which is not true.
    "callback_per_journey": values.whole(1),
    "callback_journey_gap_s": values.seconds(0),
    "callback_number_gap_s": values.seconds(0),
    "callback_per_minute": values.whole(1),
    "offer_on_ring": values.yes_no,
    "wrapup_max_s": values.seconds(0),
}
