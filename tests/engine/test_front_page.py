from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient
from yarl import URL

from engine.ami import Ami
from engine.config import Secret
from engine.flowstore import FlowStore
from engine.prompts import PromptCache
from engine.runtime import Engine
from engine.serve import build_web_app
from tests.conftest import FLOWS


async def test_front_page_lists_the_flows_and_the_desktop(
    aiohttp_client: object, tmp_path: Path
) -> None:
    engine = Engine(FlowStore(FLOWS), PromptCache(str(tmp_path)))
    engine.flows.load()
    ami = Ami("127.0.0.1", 9, "ivr", Secret("x"))
    client: TestClient = await aiohttp_client(build_web_app(engine, ami))  # type: ignore[operator]
    response = await client.get("/")
    assert response.status == 200
    slash = await client.get("/v/service_line/", allow_redirects=False)
    assert slash.status == 308 and slash.headers["Location"] == "/v/service_line"
    desktop = await client.get("/agent", allow_redirects=False)  # typed without the "/"
    assert desktop.status == 308 and desktop.headers["Location"] == "/agent/"
    text = await response.text()
    assert '<a href="/v/service_line">Demo Bank</a>' in text
    assert 'href="/agent/"' in text and 'href="/agent/report"' in text
    assert "/v/csat_survey" not in text  # a survey after an agent's call, not a journey
    assert "/v/identify" not in text and "/v/lost_card" not in text  # parts of the line
    icon = await client.get("/favicon.ico")  # every page's browser asks: not a 404
    assert icon.status == 204
    health = await client.get("/healthz")
    assert health.status == 503  # no AMI: the health check says so
    flows = ["csat_survey", "identify", "lost_card", "service_line"]
    assert (await health.json())["flows"] == flows


async def test_a_path_that_encodes_plain_letters_is_no_page(
    aiohttp_client: object, tmp_path: Path
) -> None:
    """aiohttp decodes a path before routing: "/%61gent/" would be the desktop, past a
    proxy's rule for "/agent/". No browser encodes a letter, a digit or "-._~"."""
    engine = Engine(FlowStore(FLOWS), PromptCache(str(tmp_path)))
    engine.flows.load()
    ami = Ami("127.0.0.1", 9, "ivr", Secret("x"))
    client: TestClient = await aiohttp_client(build_web_app(engine, ami))  # type: ignore[operator]
    base = str(client.make_url(""))

    async def status(path: str) -> int:
        # encoded=True: sent as written (yarl would decode "%61" to "a" itself)
        url = URL(base + path, encoded=True)
        async with client.session.get(url, allow_redirects=False) as response:
            return response.status

    assert await status("/agent/") == 200  # this machine is in the agents' networks
    for path in ("/%61gent/", "/%61gent/report", "/agen%74/", "/v/servic%65_line", "/metric%73"):
        assert await status(path) == 404, path
    assert await status("/v/service_line?lang=%65s") == 303  # a query's are its own
