"""``ivr call`` refuses a flow it cannot call before it places a call (no Asterisk
needed), with that flow's own problems, not its neighbours'."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

GOOD = Path(__file__).parents[1] / "flow" / "fixtures" / "good"


def _call(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["call", *args])
    return status, capsys.readouterr().err


def test_a_missing_file_or_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _call([str(tmp_path / "nope.yaml")], capsys)
    assert status == 1 and err == f"ivr call: {tmp_path / 'nope.yaml'}: no such flow file\n"
    status, err = _call(["bank", "--flows", str(tmp_path / "none")], capsys)
    assert status == 1 and "no flows directory" in err


def test_a_name_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bank.yaml").write_text((GOOD / "bank.yaml").read_text(), encoding="utf-8")
    status, err = _call(["bnak", "--flows", str(tmp_path)], capsys)
    assert status == 1
    assert err == f"ivr call: no flow named 'bnak' in {tmp_path} (did you mean 'bank'?)\n"


def test_only_the_called_flows_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.yaml").write_text("start: x\nnodes: {x: {type: meun}}\n", "utf-8")
    (tmp_path / "other.yaml").write_text("start: [\n", "utf-8")
    status, err = _call([str(tmp_path / "broken.yaml")], capsys)
    assert status == 1
    lines = err.splitlines()
    assert lines[0] == "ivr call: 'broken' has errors, so it cannot be called:"
    assert all("broken.yaml" in line for line in lines[1:]) and len(lines) >= 2


def test_a_codec_or_a_timeout_it_cannot_use(capsys: pytest.CaptureFixture[str]) -> None:
    """Refused at once, by name (an unknown codec used to fail the call 120 s later as
    'did not finish')."""
    status, err = _call(["bank", "--flows", str(GOOD), "--codec", "mp3"], capsys)
    assert status == 1
    assert err == "ivr call: unknown codec 'mp3' (one of: ulaw, alaw, g722, opus)\n"
    status, err = _call(["bank", "--flows", str(GOOD), "--codec", "g722", "--inband-keys"], capsys)
    assert status == 1 and "keys as tones are heard on ulaw and alaw calls only" in err
    with pytest.raises(SystemExit) as exited:
        main(["call", "bank", "--timeout", "-1"])
    assert exited.value.code == 2
    assert "--timeout: -1 s: give a number of seconds above 0" in capsys.readouterr().err
