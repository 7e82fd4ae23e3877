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


async def test_metrics_answer_only_the_networks_given(
    aiohttp_client: object, tmp_path: Path
) -> None:
    """/metrics names the flows and their figures: by default this machine reads them
    (a Prometheus on it, or beside a proxy in trusted_proxies), others get a 403."""
    from engine.config import load_settings

    engine = Engine(FlowStore(FLOWS), PromptCache(str(tmp_path)))
    ami = Ami("127.0.0.1", 9, "ivr", Secret("x"))
    default = load_settings(None, {})
    client: TestClient = await aiohttp_client(build_web_app(engine, ami, default))  # type: ignore[operator]
    assert (await client.get("/metrics")).status == 200  # from 127.0.0.1
    elsewhere = load_settings(
        None, {"IVR_METRICS_NETWORKS": "10.9.0.0/16", "IVR_TRUSTED_PROXIES": "127.0.0.1/32"}
    )
    client = await aiohttp_client(build_web_app(engine, ami, elsewhere))  # type: ignore[operator]
    assert (await client.get("/metrics")).status == 403  # the proxy itself is not let in
    for client_ip, status in (("10.9.8.7", 200), ("203.0.113.5", 403)):
        answer = await client.get("/metrics", headers={"X-Forwarded-For": client_ip})
        assert answer.status == status, client_ip
    assert "metrics_networks" in await answer.text()
    assert (await client.get("/livez")).status == 200  # liveness stays open to all
