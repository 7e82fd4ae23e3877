"""A web-only journey's failure is logged, as a call's is: the designer's to mend."""

from __future__ import annotations

import logging
import textwrap

import pytest

from engine.agi.call import _NullObserver
from engine.flow.parse import parse_flow
from engine.httpnode import client
from engine.session.machine import CallInfo, Session
from engine.webcall import WebOnlyCall

FAILING = """
start: hello
languages: [en]
variables:
  zero: "{{ 0 }}"
nodes:
  hello:
    type: say
    prompt: "You owe {{ 10 / zero }} dollars."
    next: bye
  bye: {type: hangup}
"""


async def test_a_web_journey_that_fails_says_why_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow, problems = parse_flow(textwrap.dedent(FAILING), "owe.yaml", "owe")
    assert flow is not None, [str(p) for p in problems]
    session = Session(flow, CallInfo("0e6b" * 8))
    async with client() as http:
        with caplog.at_level(logging.ERROR, logger="engine.webcall"):
            WebOnlyCall(session, http, _NullObserver()).start()
    assert session.done
    failed = [r.getMessage() for r in caplog.records if "session failed" in r.getMessage()]
    assert failed and "division by zero" in failed[0] and "0e6b" in failed[0]
