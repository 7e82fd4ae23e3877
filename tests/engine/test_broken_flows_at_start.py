"""A flow that cannot be served when the engine starts is an error in its log and a
gauge, not a warning among warnings: its calls go to the dialplan's fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.flowstore import FlowStore
from engine.prompts import PromptCache
from engine.runtime import Engine

GOOD = """\
start: bye
nodes:
  bye: {type: hangup, prompt: Goodbye.}
"""


async def test_a_broken_flow_at_start_is_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "good.yaml").write_text(GOOD, encoding="utf-8")
    (flows / "broken.yaml").write_text(GOOD.replace("hangup", "hangpu"), encoding="utf-8")
    engine = Engine(FlowStore(str(flows)), PromptCache(str(tmp_path / "prompts")))
    with caplog.at_level(logging.WARNING, "engine.runtime"):
        await engine.start("127.0.0.1", 0, watch=False)
    try:
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("broken.yaml:3:" in m and "unknown type 'hangpu'" in m for m in errors)
        assert "flows: broken.yaml has errors and is not served: its calls go to the " \
            "dialplan's fallback (the apology, then a person)" in errors
        gauge = engine.metrics.registry.get_sample_value
        assert gauge("ivr_flows_broken") == 1
        (flows / "broken.yaml").write_text(GOOD, encoding="utf-8")
        await engine.flows.reload()
        assert gauge("ivr_flows_broken") == 0
        assert sorted(engine.flows.snapshot.flows) == ["broken", "good"]
    finally:
        await engine.stop()
