"""Headless Chromium (Debian's, driven by Playwright) as the phone's browser, beside
a real call that a test presses keys on (``LiveCall``, from ``tests/live_call.py``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from playwright.async_api import Browser, BrowserContext, ViewportSize, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 360, "height": 740}
ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "..", "test-artifacts")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def phone(browser: Browser, **options: Any) -> BrowserContext:
    """A fresh phone: its own cookies, a 360 px wide screen, touch."""
    return await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, **options
    )


def artifact(name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.abspath(os.path.join(ARTIFACTS, name))
