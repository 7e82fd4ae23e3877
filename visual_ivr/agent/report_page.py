"""The supervisor's report page: ``ivr report`` as a web page, at ``/agent/report``.

    GET /agent/report   ?since=7d&until=now&flow=service_line

The figures are the command's own (engine/report/): the page runs ``ivr report
--json`` as a process of its own, at a lower priority, so a report over months of
journeys never holds up the engine's event loop, which is serving calls. One report
runs at a time; a second request waits for it. Who may open it: as the desktop
(callers' data: the contact centre's own network).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from typing import Any

from aiohttp import web

from engine.handoff.aftercall import DISPOSITION_LABELS
from engine.report.figures import ENDINGS, LISTENING
from engine.report.text import ENDING_LABELS, PASSING, percent, seconds
from engine.trail.store import SqliteTrailStore
from visual_ivr.agent.desktop import ENV, HUB

log = logging.getLogger(__name__)

REPORT_TIMEOUT_S = 300.0
PERIODS = (("1d", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("all", "All"))
LOCK = web.AppKey("report_lock", asyncio.Lock)


async def report_page(request: web.Request) -> web.Response:
    store = request.app[HUB].engine.trail
    since = request.query.get("since", "7d").strip() or "7d"
    until = request.query.get("until", "now").strip() or "now"
    flow = request.query.get("flow", "").strip()
    report: dict[str, Any] | None = None
    problem = ""
    if request.method == "HEAD":  # the headers alone: no report to run for them
        return web.Response(content_type="text/html", charset="utf-8")
    if not isinstance(store, SqliteTrailStore):
        problem = "This engine keeps no journey store: there is nothing to report."
    else:
        async with request.app[LOCK]:
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # gone while waiting: run nothing for it
            report, problem = await _run(store.path, since, until, flow)
    html = request.app[ENV].get_template("report.html").render(
        report=report,
        problem=problem,
        since=since,
        until=until,
        flow=flow,
        periods=PERIODS,
        endings=[(name, ENDING_LABELS[name]) for name in ENDINGS],
        dispositions=DISPOSITION_LABELS,
        listening=LISTENING,
        passing=PASSING,
        base=request.app.router["page"].url_for().path.rstrip("/"),
    )
    return web.Response(
        text=html, content_type="text/html", charset="utf-8", status=400 if problem else 200
    )


async def _run(store: str, since: str, until: str, flow: str) -> tuple[dict[str, Any] | None, str]:
    """The report's JSON, or why there is none (the command's own words)."""
    command = [sys.executable, "-m", "engine.cli", "report", "--json", "--store", store]
    # "--since=-5d", not "--since -5d", which argparse takes for an option of its own
    command += [f"--since={since}", f"--until={until}", *([f"--flow={flow}"] if flow else [])]
    nice = shutil.which("nice")
    if nice is not None:
        command = [nice, "-n", "10", *command]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), REPORT_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError) as exc:
        process.kill()
        await process.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return None, f"the report took over {REPORT_TIMEOUT_S:.0f} s: choose a shorter period"
    if process.returncode != 0:
        said = err.decode("utf-8", "replace").strip().removeprefix("ivr report: ")
        if process.returncode != 2:  # not the user's input: say so in the log too
            log.error("report: ivr report failed (%s): %s", process.returncode, said[-2000:])
        return None, said.splitlines()[-1] if said else "the report failed"
    return json.loads(out), ""


def install_report(app: web.Application) -> None:
    app[LOCK] = asyncio.Lock()
    app[ENV].filters.update(percent=percent, seconds=seconds)  # as ivr report prints them
    app.router.add_get("/report", report_page, name="report")
