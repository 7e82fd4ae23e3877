"""The agent side of the handoff: the desktop at ``/agent`` and the page's JSON at
``/handoff`` (see :mod:`engine.handoff.api`), sharing one :class:`HandoffHub`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from engine.ami import Ami
from engine.handoff.api import handoff_api
from engine.handoff.facts import SqliteFactStore
from engine.handoff.hub import HandoffHub
from engine.handoff.settings import HandoffSettings
from engine.runtime import Engine
from engine.trail.store import SqliteTrailStore
from visual_ivr.agent.desktop import desktop_app
from visual_ivr.agent.report_page import install_report

HANDOFF_HUB = web.AppKey("handoff", HandoffHub)


def handoff_hub_of(request: web.Request) -> HandoffHub | None:
    """The handoff's hub, when ``install_handoff`` mounted it (on the parent app)."""
    return request.config_dict.get(HANDOFF_HUB)


def install_handoff(
    app: web.Application,
    engine: Engine,
    ami: Ami,
    settings: HandoffSettings | None = None,
    proxies: tuple[str, ...] = (),
) -> HandoffHub:
    """Mount ``/agent`` and ``/handoff`` on ``app``; the hub runs while the app does."""
    store = engine.trail
    facts = SqliteFactStore(store.path) if isinstance(store, SqliteTrailStore) else None
    hub = HandoffHub(engine, ami, settings or HandoffSettings.from_env(), facts)
    app[HANDOFF_HUB] = hub

    async def running(_: web.Application) -> AsyncIterator[None]:
        hub.start()
        yield
        await hub.stop()

    app.cleanup_ctx.append(running)
    desktop = desktop_app(hub, proxies)
    install_report(desktop)
    app.add_subapp("/agent", desktop)
    app.add_subapp("/handoff", handoff_api(hub))
    return hub


__all__ = ["HANDOFF_HUB", "handoff_hub_of", "install_handoff"]
