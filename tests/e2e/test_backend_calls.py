"""http nodes on real calls, against a backend of the test's own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from engine.ami import Ami
from engine.caller import parse_steps, place_call
from engine.config import Secret
from engine.serve import start_stack
from tests.conftest import caller_number, local_settings

pytestmark = pytest.mark.asterisk

FLOW = """\
start: look
human: agent
nodes:
  look:
    type: http
    method: POST
    url: "{backend}/outages"
    headers: {{Authorization: "Bearer {{{{ secrets.outage_token }}}}"}}
    body: {{caller: "{{{{ caller_id }}}}", urgent: true, tries: 2}}
    save_as: outage
    next: tell
  tell:
    type: say
    prompt: "{{{{ outage.homes }}}} homes are without power. Crews arrive at {{{{ outage.eta }}}}."
  agent: {{type: transfer, queue: support}}
"""


async def test_a_backend_s_token_comes_from_the_engine_s_secrets(
    tmp_path: Path, tools: Ami
) -> None:
    """A token for the backend is in the engine's settings, not the flow's YAML; the
    body's number and boolean arrive as such."""
    seen: list[tuple[str, object]] = []

    async def outages(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization", ""), await request.json()))
        if request.headers.get("Authorization") != "Bearer t0ken":
            return web.json_response({"error": "who are you"}, status=401)
        return web.json_response({"homes": 12, "eta": None})

    app = web.Application()
    app.router.add_post("/outages", outages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    (tmp_path / "outage.yaml").write_text(FLOW.format(backend=f"http://{host}:{port}"))
    settings = replace(local_settings(str(tmp_path)), secrets={"outage_token": Secret("t0ken")})
    stack = await start_stack(settings, watch=False)
    try:
        await stack.ami.wait_ready(10.0)
        caller = caller_number()
        report = await place_call(tools, stack.engine, "outage", parse_steps(""), caller)
    finally:
        await stack.stop()
        await runner.cleanup()
    r = report.as_dict()
    assert r["outcome"] == "hangup", r
    assert "12 homes are without power. Crews arrive at ." in r["prompts"]
    assert seen == [("Bearer t0ken", {"caller": caller, "urgent": True, "tries": 2})]
    assert "t0ken" not in str(r)
