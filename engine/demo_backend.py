"""A small bank backend for the demo flows, served by the engine's own web server
under ``/demo/api`` so the demo runs with nothing else installed.

Test accounts (documented in the README):
  123456 / PIN 1234   balance 1520.75, bill due 89.90
  654321 / PIN 4321   balance 12.05, no bill due
  999999 / PIN 9999   the backend is slow: answers after ``SLOW_S`` seconds
  000000 / any PIN    the backend fails (HTTP 503)
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from aiohttp import web

from engine import webbody

SLOW_S = 3.0


@dataclass(frozen=True, slots=True)
class Account:
    pin: str
    name: str
    balance: float
    bill_due: float


ACCOUNTS = {
    "123456": Account("1234", "Alex", 1520.75, 89.90),
    "654321": Account("4321", "Sam", 12.05, 0.0),
    "999999": Account("9999", "Pat", 300.00, 25.00),
}
FAILING = "000000"


async def _fields(request: web.Request) -> dict[str, str]:
    data = await webbody.json_body(request)
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return {str(k): str(v) for k, v in data.items()}


async def _account(request: web.Request) -> tuple[dict[str, str], Account | None]:
    fields = await _fields(request)
    number = fields.get("account", "")
    if number == FAILING:
        raise web.HTTPServiceUnavailable(text="backend down (demo account 000000)")
    account = ACCOUNTS.get(number)
    if account is not None and number == "999999":
        await asyncio.sleep(SLOW_S)
    if account is None or not secrets.compare_digest(account.pin, fields.get("pin", "")):
        return fields, None
    return fields, account


async def verify(request: web.Request) -> web.Response:
    """POST {account, pin} -> {ok, name, balance, bill_due}."""
    _, account = await _account(request)
    if account is None:
        return web.json_response({"ok": False, "reason": "account or PIN not recognised"})
    return web.json_response(
        {
            "ok": True,
            "name": account.name,
            "balance": account.balance,
            "bill_due": account.bill_due,
        }
    )


async def pay_bill(request: web.Request) -> web.Response:
    """POST {account, pin} -> {ok, paid, reference}."""
    _, account = await _account(request)
    if account is None:
        return web.json_response({"ok": False, "reason": "account or PIN not recognised"})
    if account.bill_due <= 0:
        return web.json_response({"ok": False, "reason": "nothing to pay"})
    reference = str(secrets.randbelow(900000) + 100000)
    return web.json_response({"ok": True, "paid": account.bill_due, "reference": reference})


async def block_card(request: web.Request) -> web.Response:
    """POST {account, pin} -> {ok, reference}: the card is blocked."""
    _, account = await _account(request)
    if account is None:
        return web.json_response({"ok": False, "reason": "account or PIN not recognised"})
    return web.json_response({"ok": True, "reference": str(secrets.randbelow(900000) + 100000)})


def demo_backend_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/verify", verify)
    app.router.add_post("/pay", pay_bill)
    app.router.add_post("/block-card", block_card)
    return app
