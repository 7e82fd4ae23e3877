"""``ivr serve``: the engine, its web server and AMI, in one event loop.

Prints the addresses it listens on. SIGTERM (or Ctrl-C) stops it cleanly: no new
calls are taken, and the calls in progress are handed back to the dialplan, whose
fallback apologises and queues them for a person. SIGHUP reads the flows again;
SIGUSR1 prints where every thread is (Python's faulthandler) to stderr, for an engine
that seems stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import html
import io
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from aiohttp import web

from engine import eventloop, queuecheck, webedge
from engine.ami import Ami
from engine.config import ConfigError, Settings, load_settings
from engine.demo_backend import demo_backend_app
from engine.flow.model import Flow, Return, Transfer
from engine.flowstore import FlowStore, log_reload
from engine.logs import setup_logging
from engine.prompts import PromptCache
from engine.runtime import Engine
from engine.sandbox import unseen_prompt_dir
from engine.speech.recognizer import SpeechError
from engine.speech.service import speech_service
from engine.trail.store import SqliteTrailStore
from visual_ivr.agent import HANDOFF_HUB, install_handoff
from visual_ivr.app import VISUAL_KEY, VisualIvr

log = logging.getLogger(__name__)

SLOW_STOP_S = 1.0  # a part of the engine taking longer to stop is logged

LOOPBACK = ("127.0.0.1", "localhost", "::1")  # an Asterisk here may be the sandbox

# The AMI event classes the engine reads (queues and agents, hang-ups, FullyBooted).
# Not "dtmf": the engine hears keys over AGI, and each call's keys would otherwise
# cost it two events. Not "user": no UserEvent is for the engine (IvrFallback is for
# people and tools), and each one woke it: on a busy machine a wake-up, not the
# parsing, is most of what an event costs.
ENGINE_EVENTS = "call,agent,system"

ENGINE_KEY = web.AppKey("engine", Engine)
AMI_KEY = web.AppKey("ami", Ami)
# Who may read /metrics, and the reverse proxies whose X-Forwarded-For names the client.
METRICS_NETWORKS_KEY = web.AppKey(
    "metrics_networks", tuple[tuple[webedge.Network, ...], tuple[webedge.Network, ...]]
)


async def _metrics(request: web.Request) -> web.Response:
    allowed, proxies = request.app[METRICS_NETWORKS_KEY]
    if not webedge.client_within(request, allowed, proxies):
        raise web.HTTPForbidden(text="metrics are for the networks in metrics_networks")
    engine = request.app[ENGINE_KEY]
    return web.Response(
        body=engine.metrics.exposition(), content_type="text/plain", charset="utf-8"
    )


async def _health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    ami = request.app[AMI_KEY]
    body = {
        "flows": sorted(engine.flows.snapshot.flows),
        "calls_in_progress": len(engine.calls),
        "ami_connected": ami.connected,
    }
    return web.json_response(body, status=200 if ami.connected else 503)


async def _live(request: web.Request) -> web.Response:
    """Liveness: the engine's loop answers. Calls keep being served while AMI is
    down (only agents and queues wait for it), so a restart would not help then."""
    return web.json_response({"live": True})


async def _index(request: web.Request) -> web.Response:
    """The front page: where each part of the web front end is."""
    engine = request.app[ENGINE_KEY]
    every = engine.flows.snapshot.flows
    surveys = {  # asked after an agent's call, not a journey to start
        node.survey
        for flow in every.values()
        for node in flow.nodes.values()
        if isinstance(node, Transfer) and node.survey
    }
    parts = {  # made to be called (they return to the flow that called them)
        name for name, flow in every.items()
        if any(isinstance(node, Return) for node in flow.nodes.values())
    }
    flows = sorted((name, flow) for name, flow in every.items() if name not in surveys | parts)
    items = "".join(
        f'<li><a href="/v/{html.escape(name)}">{html.escape(flow.title.get("en") or name)}</a>'
        f" <small>({html.escape(name)})</small></li>"
        for name, flow in flows
    )
    body = (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>IVR engine</title><style>body{font:16px/1.5 system-ui,sans-serif;"
        "max-width:40rem;margin:2rem auto;padding:0 1rem}</style>"
        f"<h1>IVR engine</h1><h2>Start a journey on the web</h2><ul>{items}</ul>"
        '<h2>People</h2><ul><li><a href="/agent/">Agent desktop</a></li>'
        '<li><a href="/agent/report">Report (supervisors)</a></li></ul>'
        '<h2>Operations</h2><ul><li><a href="/metrics">Metrics</a></li>'
        '<li><a href="/healthz">Health</a></li></ul></html>'
    )
    return web.Response(text=body, content_type="text/html")


async def _no_icon(request: web.Request) -> web.Response:
    """Browsers ask every page's site for an icon; a 404 is an error in their console."""
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})


async def _to_desktop(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/agent/")


def build_web_app(engine: Engine, ami: Ami, settings: Settings | None = None) -> web.Application:
    # "/v/service_line/" (a slash typed or pasted after it) goes where it was meant.
    slash = web.normalize_path_middleware(append_slash=False, remove_slash=True)
    # "/%61gent/" is not "/agent/": a proxy's rule for the one would miss the other.
    app = web.Application(middlewares=[webedge.plain_paths, slash])
    app[ENGINE_KEY] = engine
    app[AMI_KEY] = ami
    settings = settings or Settings()
    app[METRICS_NETWORKS_KEY] = (
        webedge.networks(settings.metrics_networks),
        webedge.networks(settings.trusted_proxies),
    )
    app.router.add_get("/", _index)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/livez", _live)
    app.router.add_get("/favicon.ico", _no_icon)
    app.router.add_get("/agent", _to_desktop)  # the desktop's address, typed without "/"
    if settings.demo_backend:
        app.add_subapp("/demo/api", demo_backend_app())
    visual = VisualIvr(engine, settings)
    app[VISUAL_KEY] = visual
    app.add_subapp("/v", visual.app())
    # /agent: the agent desktop; /handoff: the page's JSON
    install_handoff(app, engine, ami, settings.handoff, settings.trusted_proxies)
    return app


@dataclass
class Stack:
    """A running engine with its AMI connection and web server."""

    engine: Engine
    ami: Ami
    runner: web.AppRunner
    agi_address: tuple[str, int]
    web_url: str

    async def stop(self) -> None:
        """Stop each part in turn. A part slow to stop is named in the log: an init
        system that kills a slow stop leaves nothing else to say why."""
        parts: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("calls", self.engine.stop),
            ("web server", self.runner.cleanup),
            ("AMI connection", self.ami.stop),
        ]
        if self.engine.trail is not None:
            parts.append(("trail", self.engine.trail.close))
        for name, stop in parts:
            started = time.monotonic()
            await stop()
            if (took := time.monotonic() - started) > SLOW_STOP_S:
                log.warning("stopping: the %s took %.1f s to stop", name, took)


def web_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The web server's runner. Its keepalive_timeout also bounds a new connection's
    wait for a whole first request, so a client sending its headers a byte at a time
    (slowloris) is closed after ``web_idle_s``; aiohttp's default is an hour."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=settings.web_idle_s)


async def start_stack(settings: Settings, watch: bool = True, report_flows: bool = True) -> Stack:
    """Start the engine (FastAGI), AMI and the web server; port 0 picks a free one.
    ConfigError: the flows directory, the speech models or the trail are not usable."""
    _check_flows_dir(settings.flows)
    try:
        speech = speech_service(settings.speech, settings.speech_models, settings.speech_workers)
    except SpeechError as exc:
        raise ConfigError(str(exc)) from exc
    engine = Engine(
        FlowStore(settings.flows),
        PromptCache(settings.prompt_dir),
        trail=_open_trail(settings.trail_db, settings.trail_durability),
        speech=speech,
    )
    engine.media_address = settings.media_address or None
    engine.media_port = settings.media_port
    engine.peers.allow_only(settings.asterisk_networks)
    ami = Ami(
        settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
        events=ENGINE_EVENTS,
    )
    runner = web_runner(build_web_app(engine, ami, settings), settings)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    host, port = runner.addresses[0][:2]
    web_url = f"http://{host}:{port}"
    engine.constants["engine_url"] = web_url
    engine.secrets.update({name: secret.value for name, secret in settings.secrets.items()})
    engine.ami = ami
    agi_address = await engine.start(
        settings.agi_host, settings.agi_port, watch=watch, report_flows=report_flows
    )
    ami.start()
    return Stack(engine, ami, runner, agi_address, web_url)


def _check_flows_dir(path: str) -> None:
    """An engine started on a directory that is not there serves no flow, yet looks
    healthy (/healthz says 200): every call would fail. A typo in IVR_FLOWS or
    --flows is said at start-up instead."""
    if not os.path.exists(path):
        where = "" if os.path.isabs(path) else f" (in {os.getcwd()})"
        raise ConfigError(f"flows: directory {path!r} does not exist{where}")
    if not os.path.isdir(path):
        raise ConfigError(f"flows: {path!r} is not a directory (of the flows' YAML files)")


def _open_trail(path: str, durability: str) -> SqliteTrailStore:
    """The journeys' trail; a path SQLite cannot use (a directory, a file that is not
    a database, a directory that cannot be made) is a ConfigError naming trail_db."""
    if os.path.isdir(path):
        suggestion = os.path.join(path, "trail.sqlite3")
        raise ConfigError(f"trail_db {path}: is a directory; name a file, such as {suggestion}")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return SqliteTrailStore(path, durability)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"trail_db {path}: {exc}") from exc


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    stack = await start_stack(settings)
    # Signals are ours before the addresses are printed: whoever reads them may send one.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[None]] = set()
    loop.add_signal_handler(signal.SIGHUP, _reload_on_signal, stack.engine.flows, reloads)
    agi_host, agi_port = stack.agi_address
    flows = ", ".join(sorted(stack.engine.flows.snapshot.flows)) or "none"
    print(f"ivr: FastAGI on agi://{agi_host}:{agi_port}/<flow>  (flows: {flows})", flush=True)
    print(f"ivr: web front end on {stack.web_url}", flush=True)
    print(f"ivr: visual IVR on {stack.web_url}/v/<flow>", flush=True)
    print(f"ivr: agent desktop on {stack.web_url}/agent/, report on {stack.web_url}/agent/report",
          flush=True)
    print(f"ivr: metrics on {stack.web_url}/metrics", flush=True)
    print(f"ivr: AMI {settings.ami_user}@{settings.ami_host}:{settings.ami_port}", flush=True)
    media_host, media_port = stack.engine.media.address
    if media_port:  # speech is on
        told = settings.media_address or media_host
        print(f"ivr: speech audio (AudioSocket) on {media_host}:{media_port}, Asterisk told "
              f"{told}", flush=True)
    if settings.demo_backend:
        print(f"ivr: demo backend on {stack.web_url}/demo/api (demo_backend = false in "
              "production)", flush=True)
    if settings.ami_host in LOOPBACK and (problem := unseen_prompt_dir(settings.prompt_dir)):
        log.warning("prompts: %s", problem)
    queues = loop.create_task(_watch_queues(stack), name="queue-check")
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        queues.cancel()
        calls = len(stack.engine.calls)
        log.info("stopping: %d calls in progress go to the dialplan fallback", calls)
        await stack.stop()
        print("ivr: stopped", flush=True)


def _reload_on_signal(flows: FlowStore, running: set[asyncio.Task[None]]) -> None:
    """SIGHUP, as daemons take it: read the flows again now (they are also read
    whenever their files change)."""
    log.info("SIGHUP: reloading the flows")

    async def reload() -> None:
        log_reload(await flows.reload(), everything=True)

    task = asyncio.get_running_loop().create_task(reload(), name="flow-reload")
    running.add(task)
    task.add_done_callback(running.discard)


async def _watch_queues(stack: Stack) -> None:
    """Say which transfers name a queue the Asterisk does not have (queuecheck.py)."""
    store = stack.engine.flows

    def current() -> tuple[int, Mapping[str, Flow]]:
        return store.snapshot.version, store.snapshot.flows

    agent_queues = stack.runner.app[HANDOFF_HUB].settings.agent_queues
    missing = stack.engine.metrics.queues_missing
    try:
        await queuecheck.watch(stack.ami, current, agent_queues, missing.set)
    except Exception:  # a check that cannot run must not take the engine down, nor hide
        log.exception("queues: the check of the flows' queues stopped")


def _dump_stacks_on_sigusr1() -> None:
    """SIGUSR1 prints every thread's stack to stderr: an engine that seems stuck says
    where it is. Not where stderr is no file (the tests' captured one) or none."""
    with contextlib.suppress(io.UnsupportedOperation, ValueError, RuntimeError):
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def run_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        if args.flows:
            settings = replace(settings, flows=args.flows)
        setup_logging(settings.log_format, settings.log_level.upper())
        _dump_stacks_on_sigusr1()
        eventloop.run(serve(settings), settings.event_loop)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"ivr serve: {problem}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ivr serve: {exc}", file=sys.stderr)
        return 1
    return 0
