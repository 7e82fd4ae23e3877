from __future__ import annotations

from pathlib import Path

import pytest

from engine.caller import CallError, Step, parse_steps
from engine.config import ConfigError, load_settings


def test_defaults_environment_and_file(tmp_path: Path) -> None:
    config = tmp_path / "ivr.toml"
    config.write_text(
        '[asterisk]\nami_host = "10.0.0.5"\nami_secret = "s3cret"\n[web]\nport = 9000\n'
    )
    settings = load_settings(str(config), environ={"IVR_AMI_SECRET": "from-env"})
    assert settings.ami_host == "10.0.0.5" and settings.web_port == 9000
    assert settings.ami_secret.value == "from-env"  # the environment wins
    assert "from-env" not in repr(settings) and "from-env" not in str(settings.ami_secret)


def test_config_errors_are_clear(tmp_path: Path) -> None:
    config = tmp_path / "ivr.toml"
    config.write_text("[web]\nprot = 1\n")
    with pytest.raises(ConfigError, match="has no setting 'prot'"):
        load_settings(str(config), environ={})
    with pytest.raises(ConfigError, match="IVR_AGI_PORT: expected a port number"):
        load_settings(None, environ={"IVR_AGI_PORT": "many"})
    with pytest.raises(ConfigError, match="IVR_EVENT_LOOP: expected one of uvloop, asyncio"):
        load_settings(None, environ={"IVR_EVENT_LOOP": "trio"})


def test_call_steps() -> None:
    assert parse_steps("1 _ !12# w1.5 123#") == [
        Step("keys", "1"),
        Step("pass"),
        Step("now", "12#"),
        Step("wait", seconds=1.5),
        Step("keys", "123#"),
    ]
    with pytest.raises(CallError, match="not a step"):
        parse_steps("1 x")
