"""A caller's name in Chinese, through a real Asterisk's AMI: whole, in UTF-8."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest

from engine.caller import tools_ami
from tests.conftest import caller_number, local_settings

pytestmark = pytest.mark.asterisk

NAME = "王小明"


async def test_a_chinese_caller_name_arrives_whole() -> None:
    settings = local_settings()
    ami = tools_ami(settings)  # the engine's user hears neither leg: not its calls
    ami.start()
    await ami.wait_ready(10.0)
    number, caller_uid = caller_number(), uuid.uuid4().hex
    names: dict[str, str] = {}  # "caller" / "ivr" leg -> CallerIDName at its hang-up
    both_gone = asyncio.Event()

    def on_hangup(fields: dict[str, str]) -> None:
        if fields.get("Uniqueid") == caller_uid:
            names["caller"] = fields.get("CallerIDName", "")
        elif fields.get("CallerIDNum") == number:
            names["ivr"] = fields.get("CallerIDName", "")
        if len(names) == 2:
            both_gone.set()

    ami.on("Hangup", on_hangup)
    try:
        # The caller leg gets the name from Originate; the IVR leg from the SIP From
        # header the caller leg sends through the loopback.
        await ami.action(
            {
                "Action": "Originate",
                "Channel": "PJSIP/caller/sip:native@127.0.0.1:5060",
                "Context": "ivr-caller-leg",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"{NAME}" <{number}>',
                "Async": "true",
                "ChannelId": caller_uid,
                "Timeout": "10000",
            },
            timeout=15.0,
        )
        await ami.action({"Action": "Hangup", "Channel": caller_uid})
        async with asyncio.timeout(15):
            await both_gone.wait()
        assert names == {"caller": NAME, "ivr": NAME}
    finally:
        with contextlib.suppress(Exception):
            await ami.action({"Action": "Hangup", "Channel": caller_uid}, timeout=3.0)
        await ami.stop()
