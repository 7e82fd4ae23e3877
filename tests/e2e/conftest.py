"""The real-call tests' engine with speech: the fixture flows, prompts and models warm."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.serve import Stack, start_stack
from tests.conftest import FIXTURE_FLOWS, local_settings


@pytest.fixture
async def speech_stack() -> AsyncIterator[Stack]:
    stack = await start_stack(local_settings(FIXTURE_FLOWS), watch=False)
    await stack.ami.wait_ready(10.0)
    await stack.engine.warm_prompts()
    await stack.engine.warm_speech()
    yield stack
    await stack.stop()
