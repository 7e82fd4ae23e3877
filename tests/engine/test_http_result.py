"""The label an http node's result is counted under (ivr_http_requests_total)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.runtime import http_result


@pytest.mark.parametrize(
    ("data", "label"),
    [
        ({"ok": True, "status": 200, "error": ""}, "ok"),
        ({"ok": False, "status": 0, "error": "timeout"}, "timeout"),
        ({"ok": False, "status": 404, "error": "status 404"}, "4xx"),
        ({"ok": False, "status": 503, "error": "status 503"}, "5xx"),
        ({"ok": False, "status": 0, "error": "connection refused"}, "failed"),
        ({"ok": False, "status": 200, "error": "response is not JSON"}, "failed"),
        ({"ok": False, "status": 302, "error": "redirected to another host (302)"}, "failed"),
    ],
)
def test_a_bounded_label_per_result(data: dict[str, object], label: str) -> None:
    assert http_result(data) == label


def test_a_404_is_logged_as_information_and_a_503_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """"No such account" is a backend's answer: at WARNING, every caller who mistyped
    an account number looked like an outage in the log."""
    from engine.flowstore import FlowStore
    from engine.prompts import PromptCache
    from engine.runtime import Engine, _Observer
    from engine.session.events import TrailEntry
    from engine.session.machine import CallInfo, Session
    from tests.conftest import FLOWS

    engine = Engine(FlowStore(FLOWS), PromptCache(str(tmp_path)))
    engine.flows.load()
    flow = engine.flows.snapshot.get("identify")
    assert flow is not None
    session = Session(flow, CallInfo("c" * 32))
    observer = _Observer(engine)
    caplog.set_level(logging.INFO, logger="engine.runtime")
    for status in (404, 503):
        data = {"ok": False, "status": status, "error": f"status {status}", "elapsed_ms": 3}
        observer._http_done(session, TrailEntry(1, 0.0, "http", "verify", data))
    assert [(r.levelno, r.getMessage().split(": ")[-1]) for r in caplog.records] == [
        (logging.INFO, "status 404 after 3 ms (call " + "c" * 32 + ")"),
        (logging.WARNING, "status 503 after 3 ms (call " + "c" * 32 + ")"),
    ]
