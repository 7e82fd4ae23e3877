"""The page's "talk to a person" takes the flow's way to a person, hours included:
at night the visitor reads when the people answer, not a reference for a queue
nobody staffs (tests/e2e/flows/hours.yaml, whose human is the branch on 'open'), and
reads when they are back before asking for one."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.flow.parse import parse_flow
from engine.runtime import Engine
from engine.session.machine import CallInfo, Session
from tests.conftest import FIXTURE_FLOWS
from tests.visual.helpers import PageClient
from tests.visual.test_visual_pages import h1, start
from visual_ivr.pages import Where, page_model, when_text
from visual_ivr.texts import TEXTS

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


async def test_at_night_the_page_says_when_people_answer_again(
    page: PageClient, engine: Engine
) -> None:
    engine.now = lambda: datetime(2026, 12, 5, 21, 0, tzinfo=SHANGHAI).timestamp()  # Sat
    menu = await start(page, "hours")
    assert "No one is answering now. We open again on Monday at 09:00." in menu.text
    engine.now = lambda: datetime(2026, 12, 2, 12, 30, tzinfo=SHANGHAI).timestamp()  # lunch
    menu = await start(PageClient(page.client), "hours")  # another visitor
    assert "We open again today at 13:30." in menu.text


async def test_in_hours_the_page_says_nothing_of_them(page: PageClient, engine: Engine) -> None:
    engine.now = lambda: datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI).timestamp()
    menu = await start(page, "hours")
    assert "No one is answering" not in menu.text


def test_when_the_people_are_back_in_each_language() -> None:
    now = datetime(2026, 12, 5, 21, 0, tzinfo=SHANGHAI)  # a Saturday

    def when(lang: str, day: int, hour: int) -> str:
        return when_text(datetime(2026, 12, day, hour, 0, tzinfo=SHANGHAI), now, TEXTS[lang])

    assert when("en", 5, 22) == "today at 22:00"
    assert when("en", 6, 9) == "tomorrow at 09:00"
    assert when("zh", 7, 9) == "周一09:00"
    assert when("es", 7, 9) == "el lunes a las 09:00"
    assert when("ko", 7, 9) == "월요일 09:00"
    assert when("en", 14, 9) == "on Monday 14 December at 09:00"
    assert when("zh", 14, 9) == "12月14日周一09:00"
    assert when("es", 14, 9) == "el lunes 14 de diciembre a las 09:00"
    assert when("ko", 14, 9) == "12월 14일 월요일 09:00"
    assert when("es", 6, 1) == "mañana a la 01:00"


DEPARTMENTS = """
start: main
human: person
hours: {timezone: Europe/London, open: {mon-fri: "08:00-20:00"}}
nodes:
  main:
    type: menu
    prompt: "Press 1 for cards."
    options: [{key: 1, label: Cards, goto: bye}]
  person:
    type: branch
    cases: [{when: open, goto: which}]
    default: closed
  which:
    type: menu
    prompt: "Press 1 for sales, 2 for support."
    options: [{key: 1, label: Sales, goto: sales}, {key: 2, label: Support, goto: support}]
  sales: {type: transfer, queue: sales}
  support: {type: transfer, queue: support}
  closed: {type: hangup, prompt: "We are closed."}
  bye: {type: hangup, prompt: Bye}
"""


@pytest.mark.parametrize(
    ("moment", "note"),
    [
        (datetime(2026, 12, 2, 10, 0), ""),  # a Wednesday morning: open
        (datetime(2026, 12, 5, 21, 0), "No one is answering now. We open again on Monday "
         "at 08:00."),
    ],
)
def test_a_person_behind_a_menu_of_departments(moment: datetime, note: str) -> None:
    """The way to a person asks which department while open: no "no one is answering"
    then (the review found it said), and the closed message's way at night."""
    flow, problems = parse_flow(DEPARTMENTS, "departments.yaml", "departments")
    assert flow is not None, [str(p) for p in problems]
    at = moment.replace(tzinfo=ZoneInfo("Europe/London")).timestamp()
    session = Session(flow, CallInfo("66" * 16), now=lambda: at)
    session.start()
    model = page_model(session, Where(call=False, brand="", human_phone="", restart=""))
    assert model["closed_note"] == note
