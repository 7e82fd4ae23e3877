"""The visual IVR: page throughput against a bare page, page weight, and how fast
each channel follows the other during a real call.

1. **Throughput.** ``wrk`` (64 connections, one thread, loopback) asks for the page
   of a journey at the demo's main menu, served by the whole stack (engine, AMI,
   web server) in this process; then for a bare aiohttp + jinja2 page of the same
   size, served in this process too: the ceiling. The rounds alternate.
2. **Weight.** The menu page's bytes: HTML with its CSS and JS inline, everything
   a phone fetches before it can draw the page.
3. **Key press -> page.** A real call in the sandbox Asterisk, its page open in
   headless Chromium (Debian's). The caller's leg presses keys (RFC 4733 over
   RTP, each held ``KEY_MS``); the clock runs from the AMI ``PlayDTMF`` to the
   first animation frame after the page applied the update (the page's own
   ``ivr:update`` event, reported through a Playwright binding).
4. **Tap -> voice.** A tap on the page (Playwright's click) to the session entering
   the tapped node on the call, with the new prompt queued: the moment the call's
   driver sends that prompt to Asterisk.

Run from the project root, with the sandbox up::

    .venv/bin/python -m benchmarks.bench_visual            # ~1.5 minutes
    .venv/bin/python -m benchmarks.bench_visual --quick    # ~40 s
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass, replace

import aiohttp
import jinja2
from aiohttp import web

from benchmarks.measure import percentile
from engine.serve import Stack, start_stack
from engine.session import events as ev
from engine.session.machine import Session
from tests.conftest import FLOWS, caller_number, local_settings
from tests.live_call import KEY_MS, LiveCall
from tests.visual.live import chromium, phone
from visual_ivr.app import VISUAL_KEY

FLOW = "service_line"
TARGET_RATIO = 0.5
TARGET_KEY_P95_MS = 200.0
TARGET_TAP_P95_MS = 300.0
CRITICAL_PATH_LIMIT = 20 * 1024

# The page tells the benchmark when an update is on screen (the frame after it).
MARKER_SCRIPT = """
document.addEventListener("ivr:update", function (e) {
  var node = e.detail.node;
  requestAnimationFrame(function () { window.ivrLanded(node); });
});
"""


class BenchError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: str


# ------------------------------------------------------------------ throughput


async def wrk(url: str, seconds: int, cookie: str = "") -> WrkResult:
    args = ["-t1", "-c64", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    process = await asyncio.create_subprocess_exec(
        "wrk", *args, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(seconds + 30):
        out, _ = await process.communicate()
    text = out.decode()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if process.returncode != 0 or rate is None:
        raise BenchError(f"wrk failed:\n{text}")
    errors = re.findall(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", text)
    return WrkResult(
        float(rate.group(1)), _latency(text, "50%"), _latency(text, "99%"), "; ".join(errors)
    )


def _latency(text: str, which: str) -> float:
    found = re.search(rf"^\s*{re.escape(which)}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if found is None:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * scale


BARE_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ filler }}</style></head><body><main><h1>{{ title }}</h1>
<ul>{% for item in items %}<li><button>{{ item }}</button></li>{% endfor %}</ul>
</main></body></html>"""


async def bare_page(size: int) -> tuple[web.AppRunner, str]:
    """A bare aiohttp + jinja2 page of ``size`` bytes: the ceiling."""
    template = jinja2.Environment(autoescape=True).from_string(BARE_TEMPLATE)
    items = ["Check my balance", "Pay my bill", "Report a lost card", "Talk to a person"]
    empty = template.render(title="Main menu", items=items, filler="")
    filler = "x" * max(0, size - len(empty.encode()))

    async def handle(request: web.Request) -> web.Response:
        body = template.render(title="Main menu", items=items, filler=filler)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/"


async def menu_journey(stack: Stack) -> tuple[str, bytes]:
    """A web-first journey at the main menu: its cookie and its page."""
    visual = stack.runner.app[VISUAL_KEY]
    handle = stack.engine.start_web_session(FLOW, "en")
    if handle is None:
        raise BenchError(f"no flow {FLOW}")
    handle.submit(ev.WebChoose("welcome", "1"))
    if handle.session.node.id != "main":
        raise BenchError(f"the journey is at {handle.session.node.id}, not main")
    cookie = f"ivr_page={visual.cookies.open(handle.session.call.call_id, FLOW)}"
    jar = aiohttp.DummyCookieJar()
    async with (
        aiohttp.ClientSession(cookie_jar=jar) as client,
        client.get(f"{stack.web_url}/v/s", headers={"Cookie": cookie}) as response,
    ):
        body = await response.read()
        if response.status != 200 or b"Main menu" not in body:
            raise BenchError(f"menu page: {response.status}")
    return cookie, body


async def throughput(stack: Stack, seconds: int, rounds: int) -> None:
    cookie, body = await menu_journey(stack)
    size = len(body)
    print(f"page weight: menu page {size:,} bytes (HTML + CSS + JS inline, one request; ", end="")
    print(f"{len(gzip.compress(body)):,} gzipped); critical-path limit {CRITICAL_PATH_LIMIT:,}")
    if size >= CRITICAL_PATH_LIMIT:
        print("  !! over the limit")
    visual = stack.runner.app[VISUAL_KEY]
    visit = visual.cookies.get(cookie.split("=", 1)[1])
    handle = stack.engine.sessions[visit.journey] if visit else None
    if visit is None or handle is None:
        raise BenchError("the benchmark's journey is gone")
    count = 2000
    started = time.perf_counter()
    for _ in range(count):
        visual.screens.draw(handle, visit)
    render_us = (time.perf_counter() - started) / count * 1e6
    print(
        f"rendering a screen when the journey moves: {render_us:.0f} us (page, fragment "
        "and update, drawn once per change and shared by reloads and open pages)"
    )
    runner, bare_url = await bare_page(size)
    menu_url = f"{stack.web_url}/v/s"
    menu: list[WrkResult] = []
    bare: list[WrkResult] = []
    try:
        for index in range(rounds):
            order = [("bare", bare_url, ""), ("menu", menu_url, cookie)]
            if index % 2:
                order.reverse()
            for name, url, header in order:
                result = await wrk(url, seconds, header)
                (bare if name == "bare" else menu).append(result)
                print(
                    f"  round {index + 1} {name:4}: {result.requests_per_s:9,.0f} req/s"
                    f"  p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms"
                    + (f"  ({result.errors})" if result.errors else "")
                )
    finally:
        await runner.cleanup()
    menu_rate = sum(r.requests_per_s for r in menu) / len(menu)
    bare_rate = sum(r.requests_per_s for r in bare) / len(bare)
    ratio = menu_rate / bare_rate
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(
        f"menu page: {menu_rate:,.0f} req/s vs bare aiohttp + jinja2 page of the same size "
        f"{bare_rate:,.0f} req/s: {ratio:.0%} of the ceiling (target >= "
        f"{TARGET_RATIO:.0%}: {verdict}); wrk -t1 -c64 -d{seconds}s, loopback, "
        f"mean of {rounds} rounds"
    )


# ------------------------------------------------------------------ the two channels


class Landings:
    """When the page showed which node (Playwright binding), by this process's clock."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []
        self.changed = asyncio.Event()

    def __call__(self, source: object, node: str) -> None:
        self.seen.append((time.monotonic(), node))
        self.changed.set()

    async def wait_for(self, node: str, after: float, timeout: float = 10.0) -> float:
        async with asyncio.timeout(timeout):
            while True:
                for at, shown in self.seen:
                    if shown == node and at >= after:
                        return at
                self.changed.clear()
                await self.changed.wait()


class Entered:
    """When the session entered a node with its prompt queued, by the same clock."""

    def __init__(self, call: LiveCall) -> None:
        self.call = call
        self.at: list[tuple[float, str]] = []
        self.changed = asyncio.Event()

    def __call__(self, session: Session, entries: list[ev.TrailEntry]) -> None:
        if session is not self.call.session:
            return
        for entry in entries:
            if entry.kind == "prompt" and entry.node == session.node.id:
                self.at.append((time.monotonic(), entry.node))
                self.changed.set()
                return

    async def wait_for(self, node: str, after: float, timeout: float = 10.0) -> float:
        async with asyncio.timeout(timeout):
            while True:
                for at, entered in self.at:
                    if entered == node and at >= after:
                        return at
                self.changed.clear()
                await self.changed.wait()


def _line(name: str, samples: list[float], target: float, note: str) -> str:
    p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
    assert p50 is not None and p95 is not None
    verdict = "ok" if p95 <= target else "OVER TARGET"
    return (
        f"{name}: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(samples):.0f} ms over "
        f"{len(samples)} (target p95 <= {target:.0f} ms: {verdict}){note}"
    )


async def channels(stack: Stack, presses: int, taps: int) -> None:
    visual = stack.runner.app[VISUAL_KEY]
    outbox = visual.sender.outbox  # type: ignore[attr-defined]
    async with LiveCall(stack, FLOW, caller_number()) as call, chromium() as browser:
        await call.at("welcome")
        await call.press("1")
        await call.at("main")
        await call.press("9")
        await call.at("link_offer")
        await call.press("1")
        await call.until(lambda: bool(outbox) and outbox[-1].to == call.caller_id, 15)
        link = re.search(r"https?://\S+/v/l/\S+", outbox[-1].text)
        if link is None:
            raise BenchError("no link in the text")
        context = await phone(browser)
        landings = Landings()
        await context.expose_binding("ivrLanded", landings)
        await context.add_init_script(MARKER_SCRIPT)
        page = await context.new_page()
        await page.goto(link.group(0))
        await call.at("main", 15)
        await page.locator("h1", has_text="Main menu").wait_for()

        # Keys on the call move the page: 9 (to the consent menu) and 2 (back), in turn.
        key_ms: list[float] = []
        for index in range(presses):
            key, node = ("9", "link_offer") if index % 2 == 0 else ("2", "main")
            await asyncio.sleep(random.uniform(0.3, 0.9))  # at some point of the prompt
            pressed = time.monotonic()
            await call.press(key)
            shown = await landings.wait_for(node, pressed)
            await call.at(node, 5)
            key_ms.append((shown - pressed) * 1000)

        # Taps move the call: "Check my balance" (to the account input) and "Back".
        entered = Entered(call)
        stack.engine.listeners.append(entered)
        tap_ms: list[float] = []
        page_ms: list[float] = []
        try:
            for index in range(taps):
                if index % 2 == 0:
                    target, node = page.get_by_role("button", name="Check my balance"), "account"
                else:
                    target, node = page.get_by_role("button", name="Back"), "main"
                await target.wait_for()
                await asyncio.sleep(random.uniform(0.3, 0.9))
                tapped = time.monotonic()
                await target.click()
                moved = await entered.wait_for(node, tapped)
                shown = await landings.wait_for(node, tapped)
                tap_ms.append((moved - tapped) * 1000)
                page_ms.append((shown - tapped) * 1000)
        finally:
            stack.engine.listeners.remove(entered)
        await context.close()
    print(
        _line(
            "key press on the call -> page shows it",
            key_ms,
            TARGET_KEY_P95_MS,
            f"; includes the {KEY_MS} ms the key is held (DTMF ends before Asterisk reports it)",
        )
    )
    print(
        _line(
            "tap on the page -> voice prompt changes",
            tap_ms,
            TARGET_TAP_P95_MS,
            "; to the new node's prompt queued on the call",
        )
    )
    p95 = percentile(page_ms, 0.95)
    print(
        f"  (tap -> page shows the new node: p50 {percentile(page_ms, 0.5):.0f} ms, "
        f"p95 {p95:.0f} ms)"
    )


# ------------------------------------------------------------------ main


async def main(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("bench_visual: wrk is not installed (scripts/setup.sh installs it)", file=sys.stderr)
        return 1
    settings = replace(local_settings(FLOWS))
    stack = await start_stack(settings, watch=False)
    try:
        await stack.ami.wait_ready(10.0)
        await stack.engine.warm_prompts()
        print(f"visual IVR benchmark, {time.strftime('%Y-%m-%d %H:%M')}, loopback")
        if not args.skip_throughput:
            await throughput(stack, args.seconds, args.rounds)
        if not args.skip_calls:
            await channels(stack, args.presses, args.taps)
    finally:
        await stack.stop()
    return 0


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (about 40 s)")
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="bare/menu rounds")
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--taps", type=int, default=30)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-calls", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.presses, args.taps = 5, 1, 10, 10
    try:
        return asyncio.run(main(args))
    except BenchError as exc:
        print(f"bench_visual: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run())
