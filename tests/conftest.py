"""Shared fixtures. Tests marked ``asterisk`` use the real sandbox Asterisk, which
``make test`` brings up first; they fail (never skip) when it is not there."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
import uvloop

from engine.ami import Ami
from engine.caller import tools_ami
from engine.config import Settings, load_settings
from engine.serve import Stack, start_stack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOWS = os.path.join(ROOT, "flows")
FIXTURE_FLOWS = os.path.join(ROOT, "tests", "e2e", "flows")

_numbers = itertools.count(int.from_bytes(os.urandom(2), "big") * 1000)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests run on the loop the engine runs on (engine/eventloop.py)."""
    return {"uvloop": uvloop.new_event_loop}


def caller_number() -> str:
    """A distinct calling number per test call (calls are matched by caller ID)."""
    return f"+1555{next(_numbers) % 10_000_000:07d}"


def local_settings(flows: str = FLOWS) -> Settings:
    return replace(
        load_settings(environ={}),
        flows=flows,
        agi_host="127.0.0.1",
        agi_port=0,
        web_host="127.0.0.1",
        web_port=0,
    )


@pytest.fixture
async def demo_stack() -> AsyncIterator[Stack]:
    stack = await start_stack(local_settings(FLOWS), watch=False)
    await stack.ami.wait_ready(10.0)
    await stack.engine.warm_prompts()
    yield stack
    await stack.stop()


@pytest.fixture
async def fixture_stack() -> AsyncIterator[Stack]:
    stack = await start_stack(local_settings(FIXTURE_FLOWS), watch=False)
    await stack.ami.wait_ready(10.0)
    await stack.engine.warm_prompts()
    yield stack
    await stack.stop()



@contextlib.asynccontextmanager
async def caller_ami() -> AsyncIterator[Ami]:
    """The callers' side of AMI: the tools' user, which reads what the engine's does not
    (channels starting and ending, keys, UserEvents)."""
    ami = tools_ami(load_settings(environ={}))
    ami.start()
    try:
        await ami.wait_ready(10.0)
        yield ami
    finally:
        await ami.stop()


@pytest.fixture
async def tools() -> AsyncIterator[Ami]:
    async with caller_ami() as ami:
        yield ami
