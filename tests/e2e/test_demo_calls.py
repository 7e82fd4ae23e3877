"""Real calls through the sandbox Asterisk walk the demo flows by DTMF."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.caller import CallError, parse_steps, place_call
from engine.cli import main
from engine.serve import Stack
from tests.conftest import caller_ami, caller_number

pytestmark = pytest.mark.asterisk


async def call(stack: Stack, dtmf: str, flow: str = "service_line") -> dict[str, Any]:
    async with caller_ami() as ami:
        report = await place_call(
            ami, stack.engine, flow, parse_steps(dtmf), caller_number(), timeout=90
        )
    return report.as_dict()


def said(result: dict[str, Any], fragment: str) -> bool:
    return any(fragment in str(p) for p in result["prompts"])


async def test_balance_in_english(demo_stack: Stack) -> None:
    r = await call(demo_stack, "1 1 123456# 1234# 9")
    assert r["nodes"][:3] == ["welcome", "main", "balance_identify"]
    assert "say_balance" in r["nodes"]
    assert said(r, "your balance is 1520 dollars and 75 cents")
    assert r["outcome"] == "hangup"
    pins = [i for i in r["inputs"] if i.get("var") == "pin"]
    assert pins == [
        {
            "node": "pin",
            "source": "key",
            "value": "****",
            "var": "pin",
            "valid": True,
            "sensitive": True,
        }
    ]
    for entry in r["trail"]:  # the PIN appears nowhere in the trail
        assert entry.get("value") != "1234" and "1234" not in str(entry.get("text", ""))


async def test_balance_in_chinese(demo_stack: Stack) -> None:
    r = await call(demo_stack, "2 1 123456# 1234# 9")
    # The language menu is said in both languages: a Chinese caller hears their key.
    assert said(r, "For English, press 1.") and said(r, "中文服务请按2。")
    assert said(r, "您的账户余额为 1520.75 元")
    assert r["outcome"] == "hangup"


async def test_wrong_pin_reaches_a_person(demo_stack: Stack) -> None:
    r = await call(demo_stack, "1 1 123456# 0000")
    assert "wrong" in r["nodes"]
    assert r["outcome"] == "transfer:support"


async def test_slow_backend_plays_the_hold_prompt(demo_stack: Stack) -> None:
    r = await call(demo_stack, "1 1 999999# 9999# 9")
    assert said(r, "One moment while I check that.")
    assert said(r, "your balance is 300 dollars")
    http = [e for e in r["trail"] if e["kind"] == "http"]
    assert http[0]["ok"] and http[0]["elapsed_ms"] >= 2900


async def test_failing_backend_takes_the_error_exit(
    demo_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    r = await call(demo_stack, "1 1 000000# 1111#")
    http = [e for e in r["trail"] if e["kind"] == "http"]
    assert http[0]["ok"] is False and http[0]["status"] == 503
    assert "down_say" in r["nodes"]
    assert r["outcome"] == "transfer:support"
    # An outage shows in the metrics and the log, not only as more transfers.
    registry = demo_stack.engine.metrics.registry
    sample = registry.get_sample_value
    assert sample("ivr_http_requests_total", {"flow": "identify", "result": "5xx"}) == 1
    assert sample("ivr_http_requests_total", {"flow": "identify", "result": "ok"}) is None
    failed = [r for r in caplog.records if r.getMessage().startswith("http: flow identify node ")]
    assert len(failed) == 1
    assert f"status 503 after {http[0]['elapsed_ms']} ms" in failed[0].getMessage()
    assert failed[0].call == r["journey_id"]  # type: ignore[attr-defined]  # (engine/logs.py)


async def test_bill_payment(demo_stack: Stack) -> None:
    r = await call(demo_stack, "1 2 123456# 1234# 1 9")
    assert "bill_pay" in r["nodes"] and "bill_done" in r["nodes"]
    assert said(r, "We paid 89 dollars and 90 cents")
    assert r["outcome"] == "hangup"


async def test_lost_card_subflow_within_subflow(demo_stack: Stack) -> None:
    r = await call(demo_stack, "1 3 654321# 4321# 1 9")
    assert r["nodes"][:4] == ["welcome", "main", "lost_card", "intro"]
    assert "blocked_say" in r["nodes"] and "anything_else" in r["nodes"]
    assert said(r, "Your card is blocked")
    assert r["outcome"] == "hangup"


async def test_a_person_from_the_main_menu(demo_stack: Stack) -> None:
    """A transfer; the caller leaves once the engine has let go of the call (as `ivr
    call` does), so the dialplan knows the call's way on and never takes it for a
    failed engine."""
    number = caller_number()
    fallbacks: list[dict[str, str]] = []

    def on_user_event(fields: dict[str, str]) -> None:
        if fields.get("UserEvent") == "IvrFallback" and fields.get("CallerIDNum") == number:
            fallbacks.append(fields)

    async with caller_ami() as ami:
        ami.on("UserEvent", on_user_event)
        report = await place_call(
            ami, demo_stack.engine, "service_line", parse_steps("1 0"), number, timeout=90
        )
        await asyncio.sleep(1.0)  # a fallback would have said so by now
    r = report.as_dict()
    assert r["nodes"] == ["welcome", "main", "agent"]
    assert r["outcome"] == "transfer:support"
    assert fallbacks == []


async def test_no_match_then_a_valid_key(demo_stack: Stack) -> None:
    r = await call(demo_stack, "1 7 0")
    retries = [e for e in r["trail"] if e["kind"] == "retry"]
    assert [(e["retry"], e["count"]) for e in retries] == [("no_match", 1)]
    assert retries[0]["node"] == "main"
    assert r["outcome"] == "transfer:support"


async def test_type_ahead_loses_no_key(demo_stack: Stack) -> None:
    """Every key of a whole journey pressed at once during the first prompt: keys
    arrive during prompts that stop (menus), prompts that must be heard (the
    balance), and a backend request; none is lost."""
    r = await call(demo_stack, "!11123456#1234#9")
    assert r["nodes"][:3] == ["welcome", "main", "balance_identify"]
    assert "say_balance" in r["nodes"] and said(r, "your balance is 1520 dollars and 75 cents")
    assert r["outcome"] == "hangup"
    keys = [(i["node"], i["value"]) for i in r["inputs"]]
    assert keys == [("welcome", "1"), ("main", "1"), ("account", "123456"), ("pin", "****"),
                    ("anything_else", "9")]


async def test_type_ahead_through_a_prompt_that_must_be_heard(demo_stack: Stack) -> None:
    """The lost-card path's introduction must be heard, so all the keys wait for it:
    the "#" after the full account and PIN are theirs, not empty entries, and the
    "1" that blocks the card is kept for the question it answers."""
    r = await call(demo_stack, "!13123456#1234#1 9")
    assert not [e for e in r["trail"] if e["kind"] == "retry"]
    keys = [(i["node"], i["value"]) for i in r["inputs"]]
    assert keys == [("welcome", "1"), ("main", "3"), ("account", "123456"), ("pin", "****"),
                    ("confirm", "1"), ("anything_else", "9")]
    assert "blocked_say" in r["nodes"] and r["outcome"] == "hangup"


async def test_a_call_that_runs_out_of_time_still_reports_what_happened(
    demo_stack: Stack,
) -> None:
    async with caller_ami() as ami:
        with pytest.raises(CallError) as raised:
            await place_call(
                ami, demo_stack.engine, "service_line", parse_steps("w60"), caller_number(),
                timeout=5,
            )
    report = raised.value.report
    assert report is not None and report.outcome == "timeout"
    assert report.as_dict()["nodes"][0] == "welcome"
    assert "Welcome to Demo Bank. For English, press 1." in report.as_dict()["prompts"]


def test_ivr_call_beside_a_served_engine_takes_ports_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In the shell of an `ivr serve` (IVR_MEDIA_PORT set and taken), `ivr call`
    died with "address already in use": its engine took the served one's port."""
    import socket

    from tests.conftest import FIXTURE_FLOWS

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("IVR_MEDIA_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("IVR_TRAIL_DB", str(tmp_path / "trail.db"))
        flow = os.path.join(FIXTURE_FLOWS, "quick.yaml")
        assert main(["call", flow, "--dtmf", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "transfer:support"


def test_ivr_call_out_of_time_keeps_the_journey_as_a_caller_s_hang_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ivr call` gives up, hangs the caller up, and stops its engine: the journey is
    stored as the caller's hang-up, not as a call the engine dropped (its stop hands
    calls in progress to the fallback, and the report counted them so)."""
    monkeypatch.setenv("IVR_TRAIL_DB", str(tmp_path / "trail.db"))
    status = main(["call", "service_line", "--dtmf", "w60", "--timeout", "5", "--json"])
    assert status == 1
    journey = json.loads(capsys.readouterr().out)["journey_id"]
    row = sqlite3.connect(tmp_path / "trail.db").execute(
        "SELECT outcome FROM journeys WHERE id = ?", (journey,)
    ).fetchone()
    assert row == ("caller_hangup",)
    start = sqlite3.connect(tmp_path / "trail.db").execute(
        "SELECT data FROM trail WHERE journey = ? AND kind = 'start'", (journey,)
    ).fetchone()
    assert json.loads(start[0])["test"] is True  # left out of the report's figures
