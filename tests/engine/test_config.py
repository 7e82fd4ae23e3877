"""Settings refuse what they cannot be, naming where each was given, all at once
(an operations engineer's trial of ``ivr serve``)."""

from __future__ import annotations

import argparse
import math
from dataclasses import fields, replace
from pathlib import Path

import pytest

from engine import serve
from engine.ami import Ami
from engine.config import _PARSERS, _SECTIONS, ConfigError, Secret, Settings, load_settings
from engine.flowstore import FlowStore
from engine.handoff.settings import PARSERS as HANDOFF_PARSERS
from engine.handoff.settings import HandoffConfigError, HandoffSettings
from engine.prompts import PromptCache
from engine.runtime import Engine
from tests.conftest import FLOWS, local_settings
from visual_ivr.agent import HANDOFF_HUB


def problems(path: str | None = None, **environ: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    return list(caught.value.problems)


def toml(tmp_path: Path, text: str) -> str:
    config = tmp_path / "ivr.toml"
    config.write_text(text, encoding="utf-8")
    return str(config)


def test_every_setting_has_a_parser_and_a_place_in_the_file() -> None:
    own = {f.name for f in fields(Settings)} - {"handoff", "secrets"}
    assert set(_PARSERS) == own
    assert {name for section in _SECTIONS.values() for name in section.values()} == (
        own | set(HANDOFF_PARSERS)
    )
    assert set(HANDOFF_PARSERS) == {f.name for f in fields(HandoffSettings)}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IVR_AGI_PORT", "99999"),  # was served on 34463
        ("IVR_WEB_PORT", "70000"),  # was served on 4464
        ("IVR_AGI_PORT", "-1"),  # was "[Errno -8] Servname not supported"
        ("IVR_WEB_PORT", "45751.9"),
    ],
)
def test_a_port_out_of_range_is_refused_not_wrapped(variable: str, value: str) -> None:
    assert problems(**{variable: value}) == [
        f"{variable}: expected a port number from 0 to 65535 (0: any free port), got '{value}'"
    ]


def test_ports_in_the_file_are_whole_numbers_not_booleans_or_floats(tmp_path: Path) -> None:
    path = toml(tmp_path, "[engine]\nagi_port = true\n[web]\nport = 45751.9\n")
    assert problems(path) == [
        f"{path}: [engine] agi_port: expected a port number from 0 to 65535 (0: any free "
        "port), got true",
        f"{path}: [web] port: expected a port number from 0 to 65535 (0: any free port), "
        "got 45751.9",
    ]
    assert problems(IVR_AMI_PORT="0") == [
        "IVR_AMI_PORT: expected a port number from 1 to 65535, got '0'"  # it connects there
    ]
    settings = load_settings(toml(tmp_path, "[engine]\nagi_port = 0\n"), {"IVR_WEB_PORT": "0"})
    assert settings.agi_port == 0 and settings.web_port == 0  # any free port: the tests


def test_an_unknown_section_or_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    path = toml(tmp_path, 'agi_port = 5\n[engien]\nflows = "/srv/flows"\n[web]\nprot = 1\n')
    assert problems(path) == [
        f"{path}: 'agi_port' is outside any section: it belongs in [engine]",
        f"{path}: no section [engien] (did you mean 'engine'?); the sections are "
        "[asterisk], [engine], [web], [speech], [visual], [handoff], [secrets]",
        f"{path}: [web] has no setting 'prot' (did you mean 'port'?)",
    ]
    path = toml(tmp_path, "engine = 5\n")
    assert problems(path) == [
        f"{path}: 'engine' must be a section: [engine] on a line of its own, its settings "
        "under it"
    ]


def test_the_handoff_section_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        '[handoff]\nagent_queues = ["support", "sales"]\nagent_grace_s = 4\n'
        'offer_on_ring = false\ncallback_caller_id = "+15550100"\n',
    )
    handoff = load_settings(path, {"IVR_HANDOFF_AGENT_GRACE_S": "2.5"}).handoff
    assert handoff.agent_queues == ("support", "sales") and handoff.offer_on_ring is False
    assert handoff.agent_grace_s == 2.5 and handoff.callback_caller_id == "+15550100"
    assert load_settings(None, {}).handoff == HandoffSettings()


def test_handoff_mistakes_come_with_the_others_in_one_report(tmp_path: Path) -> None:
    path = toml(tmp_path, '[handoff]\nagent_networks = ["10.1.2.3/24"]\nprot = 1\n')
    assert problems(path, IVR_HANDOFF_WRAPUP_MAX_S="abc", IVR_WEB_IDLE_S="-5") == [
        f"{path}: [handoff] has no setting 'prot'",
        "IVR_WEB_IDLE_S: expected a whole number of seconds, 1 or more, got '-5'",
        f"{path}: [handoff] agent_networks: '10.1.2.3/24' has host bits set (did you mean "
        "10.1.2.0/24?)",
        "IVR_HANDOFF_WRAPUP_MAX_S: expected a number of seconds, 0 or more, got 'abc'",
    ]


def test_the_loaded_handoff_settings_reach_the_desktop(tmp_path: Path) -> None:
    settings = load_settings(None, {"IVR_HANDOFF_AGENT_QUEUES": "sales"})
    engine = Engine(FlowStore(FLOWS), PromptCache(str(tmp_path)))
    app = serve.build_web_app(engine, Ami("127.0.0.1", 9, "ivr", Secret("x")), settings)
    assert app[HANDOFF_HUB].settings is settings.handoff


async def test_the_demo_backend_is_off_when_told_and_the_media_port_is_kept(
    tmp_path: Path,
) -> None:
    """Production serves no demo accounts; a firewall needs the AudioSocket port
    known before the engine starts."""
    from aiohttp.test_utils import TestClient, TestServer

    settings = load_settings(None, {"IVR_DEMO_BACKEND": "no", "IVR_MEDIA_PORT": "40100"})
    assert (settings.demo_backend, settings.media_port) == (False, 40100)
    assert problems(IVR_MEDIA_PORT="70000")[0].startswith("IVR_MEDIA_PORT: expected a port")
    verify = {"account": "123456", "pin": "1234"}
    for on, status in ((True, 200), (False, 404)):
        engine = Engine(FlowStore(FLOWS), PromptCache(str(tmp_path)))
        app = serve.build_web_app(
            engine, Ami("127.0.0.1", 9, "ivr", Secret("x")), replace(settings, demo_backend=on)
        )
        async with TestClient(TestServer(app)) as client:
            answer = await client.post("/demo/api/verify", json=verify)
            assert answer.status == status


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("IVR_TRAIL_DURABILITY", "maybe", "expected one of normal, full, got 'maybe'"),
        ("IVR_LOG_FORMAT", "xml", "expected one of text, json, got 'xml'"),
        ("IVR_LOG_LEVEL", "loud", "expected one of debug, info, warning, error, got 'loud'"),
        ("IVR_SPEECH", "maybe", "expected one of auto, off, got 'maybe'"),
        ("IVR_WEB_IDLE_S", "0", "expected a whole number of seconds, 1 or more, got '0'"),
        ("IVR_LINK_TTL_S", "-600", "expected a whole number of seconds, 1 or more, got '-600'"),
        ("IVR_LINK_RESEND_S", "-1", "expected a whole number of seconds, 0 or more, got '-1'"),
        ("IVR_SPEECH_WORKERS", "-2", "expected a whole number, 0 or more, got '-2'"),
        (
            "IVR_MOBILE_PATTERN",
            "(",
            "'(' is not a regular expression: missing ), unterminated subpattern at position 0",
        ),
        (
            "IVR_HANDOFF_AGENT_NETWORKS",
            "127.0.0.0/8, 10.1.2.3/24",
            "'10.1.2.3/24' has host bits set (did you mean 10.1.2.0/24?)",
        ),
        (
            "IVR_HANDOFF_AGENT_NETWORKS",
            "office",
            "'office' is not an IP network (such as 10.1.2.0/24 or ::1/128)",
        ),
        (
            "IVR_HANDOFF_EXTENSION_PATTERN",
            "[0-9",
            "'[0-9' is not a regular expression: unterminated character set at position 0",
        ),
        (
            "IVR_HANDOFF_CALLBACK_PATTERN",
            "+1[0-9]{10}",
            "'+1[0-9]{10}' is not a regular expression: nothing to repeat at position 0",
        ),
        (
            "IVR_HANDOFF_AGENT_INTERFACE",
            "PJSIP/{extension}",
            "expected text with {ext} in it (and no other braces), such as 'PJSIP/{ext}', "
            "got 'PJSIP/{extension}'",
        ),
        ("IVR_HANDOFF_CALLBACK_RING_S", "0", "expected a whole number of seconds, 1 or more, "
         "got '0'"),
        ("IVR_HANDOFF_CALLBACK_PER_JOURNEY", "0", "expected a whole number, 1 or more, got '0'"),
        ("IVR_HANDOFF_AGENT_GRACE_S", "-1", "expected a number of seconds, 0 or more, got '-1'"),
        ("IVR_HANDOFF_CALLBACK_NUMBER_GAP_S", "nan", "expected a number of seconds, 0 or "
         "more, got 'nan'"),
        ("IVR_HANDOFF_OFFER_ON_RING", "maybe", "expected yes or no, got 'maybe'"),
    ],
)
def test_a_value_the_setting_cannot_be_is_refused(variable: str, value: str, problem: str) -> None:
    assert problems(**{variable: value}) == [f"{variable}: {problem}"]


def test_choices_are_taken_in_any_case() -> None:
    settings = load_settings(None, {"IVR_TRAIL_DURABILITY": "FULL", "IVR_LOG_FORMAT": "JSON"})
    assert settings.trail_durability == "full" and settings.log_format == "json"


def test_text_settings_in_the_file_are_text(tmp_path: Path) -> None:
    path = toml(tmp_path, "[asterisk]\nami_host = true\nami_secret = 1234\n")
    assert problems(path) == [
        f"{path}: [asterisk] ami_host: expected text (in quotes), got true",
        f"{path}: [asterisk] ami_secret: expected text (in quotes), got 1234",
    ]


def test_handoff_settings_from_the_environment_alone_say_every_mistake() -> None:
    with pytest.raises(HandoffConfigError) as caught:
        HandoffSettings.from_env(
            {"IVR_HANDOFF_WRAPUP_MAX_S": "abc", "IVR_HANDOFF_CALLBACK_RING_S": "30.5"}
        )
    assert str(caught.value).splitlines() == [
        "IVR_HANDOFF_CALLBACK_RING_S: expected a whole number of seconds, 1 or more, "
        "got '30.5'",
        "IVR_HANDOFF_WRAPUP_MAX_S: expected a number of seconds, 0 or more, got 'abc'",
    ]
    assert math.isclose(HandoffSettings.from_env({"IVR_HANDOFF_WRAPUP_MAX_S": "1e2"})
                        .wrapup_max_s, 100.0)


# ------------------------------------------------------------------ ivr serve


def run_serve(capsys: pytest.CaptureFixture[str], flows: str | None = None) -> tuple[int, str]:
    code = serve.run_serve(argparse.Namespace(config=None, flows=flows))
    return code, capsys.readouterr().err


def test_serve_prints_each_problem_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVR_AGI_PORT", "99999")
    monkeypatch.setenv("IVR_SPEECH", "maybe")
    assert run_serve(capsys) == (
        1,
        "ivr serve: IVR_AGI_PORT: expected a port number from 0 to 65535 (0: any free port), "
        "got '99999'\nivr serve: IVR_SPEECH: expected one of auto, off, got 'maybe'\n",
    )


@pytest.mark.parametrize("kind", ["a directory", "not SQLite"])
def test_serve_says_when_the_trail_db_cannot_be_a_trail(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "trail"
    if kind == "a directory":
        path.mkdir()
        expected = f"is a directory; name a file, such as {path}/trail.sqlite3"
    else:
        path.write_text("journeys, one a line\n")
        expected = "file is not a database"
    for name, value in {"IVR_TRAIL_DB": str(path), "IVR_AGI_PORT": "0", "IVR_WEB_PORT": "0",
                        "IVR_FLOWS": FLOWS}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(serve, "setup_logging", lambda fmt, level: None)  # pytest's own stay
    assert run_serve(capsys) == (1, f"ivr serve: trail_db {path}: {expected}\n")


async def refused(settings: Settings) -> str:
    """Why the stack did not start ("started" if it did: stopped, not left running)."""
    try:
        stack = await serve.start_stack(settings, watch=False)
    except ConfigError as exc:
        return str(exc)
    await stack.stop()
    return "started"


async def test_a_flows_directory_that_is_not_there_is_a_config_error(tmp_path: Path) -> None:
    """Before, the engine started on no flow at all, and /healthz said it was fine."""
    settings = replace(local_settings(), trail_db=str(tmp_path / "t.sqlite3"))
    assert await refused(replace(settings, flows="/nonexistent")) == (
        "flows: directory '/nonexistent' does not exist"
    )
    assert await refused(replace(settings, speech_models="es=whisper")) == (
        "speech model 'es=whisper': expected lang=pocketsphinx or lang=vosk:DIR"
    )


def test_the_web_section_names_the_proxies_in_front_and_the_start_limit(tmp_path: Path) -> None:
    path = toml(tmp_path, '[web]\ntrusted_proxies = ["10.0.0.0/24"]\nstarts_per_minute = 10\n')
    settings = load_settings(path, {})
    assert settings.trusted_proxies == ("10.0.0.0/24",) and settings.web_starts_per_minute == 10
    settings = load_settings(None, {"IVR_TRUSTED_PROXIES": "10.0.0.7/32, ::1/128"})
    assert settings.trusted_proxies == ("10.0.0.7/32", "::1/128")
    assert load_settings(None, {}).trusted_proxies == ()  # no X-Forwarded-For believed
    assert load_settings(None, {}).web_starts_per_minute == 30
    assert problems(IVR_TRUSTED_PROXIES="10.0.0.7/24", IVR_WEB_STARTS_PER_MINUTE="0") == [
        "IVR_TRUSTED_PROXIES: '10.0.0.7/24' has host bits set (did you mean 10.0.0.0/24?)",
        "IVR_WEB_STARTS_PER_MINUTE: expected a whole number, 1 or more, got '0'",
    ]


def test_secrets_come_from_their_section_and_ivr_secret_variables(tmp_path: Path) -> None:
    """What flows' http headers may send ({{ secrets.NAME }}), kept out of the flows'
    YAML and never printed."""
    path = toml(tmp_path, '[secrets]\noutage_token = "from-file"\nbilling = "b-file"\n')
    settings = load_settings(path, {"IVR_SECRET_BILLING": "b-env", "IVR_SECRET_CRM_KEY": "k"})
    assert {k: v.value for k, v in settings.secrets.items()} == {
        "outage_token": "from-file",
        "billing": "b-env",  # the environment wins, as for every setting
        "crm_key": "k",
    }
    assert "b-env" not in repr(settings) and "from-file" not in repr(settings)
    wrong = toml(tmp_path, '[secrets]\n"my token" = "x"\nempty = ""\n')
    assert problems(wrong) == [
        f"{wrong}: [secrets] my token: a secret's name is letters, digits and _ (lower case)",
        f"{wrong}: [secrets] empty: expected the secret as text",
    ]
