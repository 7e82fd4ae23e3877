"""The page's "talk to a person" takes the flow's way to a person, hours included:
at night the visitor reads when the people answer, not a reference for a queue
nobody staffs (tests/e2e/flows/hours.yaml, whose human is the branch on 'open')."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.runtime import Engine
from tests.conftest import FIXTURE_FLOWS
from tests.visual.helpers import PageClient
from tests.visual.test_visual_pages import h1, start

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def flows_dir() -> str:
    return FIXTURE_FLOWS


async def test_a_person_at_night_is_told_the_hours(page: PageClient, engine: Engine) -> None:
    engine.now = lambda: datetime(2026, 12, 5, 21, 0, tzinfo=SHANGHAI).timestamp()
    await start(page, "hours")
    closed = await page.follow(await page.post("/v/s/human"))
    assert "Our people answer weekdays from nine to six" in closed.text
    assert "reference" not in closed.text


async def test_a_person_in_hours_gets_the_reference(page: PageClient, engine: Engine) -> None:
    engine.now = lambda: datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI).timestamp()
    await start(page, "hours")
    person = await page.follow(await page.post("/v/s/human"))
    assert h1(person) == "Talk to a person"
    assert "reference" in person.text
