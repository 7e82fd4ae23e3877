"""Fixtures for the visual IVR without Asterisk: a real engine (demo flows, no
calls), its visual IVR on the aiohttp test server, a clock the tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient

from engine.demo_backend import demo_backend_app
from engine.flowstore import FlowStore
from engine.prompts import PromptCache
from engine.runtime import Engine
from engine.session.machine import CallInfo, Session
from tests.conftest import FLOWS, local_settings
from tests.visual.helpers import Clock, FakeCall, PageClient
from visual_ivr.app import VisualIvr
from visual_ivr.sms import LogSender

ClientMaker = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def flows_dir() -> str:
    """The flows the engine serves (a test module may give others)."""
    return FLOWS


@pytest.fixture
async def engine(flows_dir: str) -> AsyncIterator[Engine]:
    settings = local_settings(flows_dir)
    engine = Engine(FlowStore(settings.flows), PromptCache(settings.prompt_dir))
    await engine.start("127.0.0.1", 0, watch=False)
    yield engine
    await engine.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def visual(engine: Engine, clock: Clock) -> VisualIvr:
    settings = replace(local_settings(FLOWS), human_phone="+1 555 0100", link_resend_s=180)
    return VisualIvr(engine, settings, sender=LogSender(), clock=clock)


@pytest.fixture
async def page(visual: VisualIvr, aiohttp_client: ClientMaker) -> PageClient:
    root = web.Application()
    root.add_subapp("/demo/api", demo_backend_app())
    root.add_subapp("/v", visual.app())
    # The page client keeps its cookie itself: clients made from it (a thief) share
    # this session, which must not hand them the cookie.
    client = await aiohttp_client(root, cookie_jar=DummyCookieJar())
    visual.engine.constants["engine_url"] = str(client.make_url("")).rstrip("/")
    return PageClient(client)


def fake_call(
    engine: Engine, caller_id: str = "+15550001234", flow: str = "service_line"
) -> FakeCall:
    """A 'call' into ``flow``, registered with the engine like a real one."""
    snapshot = engine.flows.snapshot
    found = snapshot.get(flow)
    assert found is not None
    info = CallInfo(call_id=f"ca11{len(engine.sessions):04d}" + "0" * 24, caller_id=caller_id)
    call = FakeCall(Session(found, info, flows=snapshot.get, constants=engine.constants))
    engine.sessions[info.call_id] = call
    call.start()
    return call
