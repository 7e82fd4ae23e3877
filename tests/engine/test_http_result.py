"""The label an http node's result is counted under (ivr_http_requests_total)."""

from __future__ import annotations

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
