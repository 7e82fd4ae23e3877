"""The engine under test, in a process of its own.

``bench_calls.py`` runs this module as a child process, so the engine's CPU time is
its own (not the load generator's) and it can run at another priority. It is the
stack of ``ivr serve`` (FastAGI, AMI, web server, INFO logs to stderr) on an
ephemeral FastAGI port, serving the flows of one directory.

The parent talks to it with one JSON object per line:

- child → parent, once started: ``{"agi_port": 40123, "pid": 4242}``
- parent → child ``reset``: forget the samples and outcomes so far → ``{"ok": true}``
- parent → child ``report`` → ``{"steps": [s, ...], "lag": [s, ...],
  "outcomes": {caller_id: outcome}, "in_progress": n}``; ``steps`` are the engine's
  step latencies (an AGI response, e.g. a key, to the next command sent), ``lag`` the
  event-loop lag samples (one per 100 ms), both in seconds.
- end of input: the engine stops and the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import replace
from typing import Any

from engine import eventloop
from engine.config import load_settings
from engine.logs import setup_logging
from engine.serve import start_stack
from engine.session.events import TrailEntry
from engine.session.machine import Session

COMMAND_MAX = 64  # bytes in one command line


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _stdin() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=COMMAND_MAX * 4)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run(flows: str) -> None:
    settings = replace(
        load_settings(), flows=flows, agi_host="127.0.0.1", agi_port=0,
        web_host="127.0.0.1", web_port=0,
    )
    setup_logging(settings.log_format)
    stack = await start_stack(settings, watch=False)
    outcomes: dict[str, str] = {}

    def on_update(session: Session, entries: list[TrailEntry]) -> None:
        if session.done:
            outcomes[session.call.caller_id] = session.outcome or "unknown"

    stack.engine.listeners.append(on_update)
    metrics = stack.engine.metrics
    try:
        await stack.ami.wait_ready(10.0)
        await stack.engine.warm_prompts()
        commands = await _stdin()
        _send({"agi_port": stack.agi_address[1], "pid": os.getpid()})
        while line := await commands.readline():
            command = line.decode(errors="replace").strip()
            if command == "reset":
                metrics.step_samples.clear()
                metrics.lag_samples.clear()
                outcomes.clear()
                _send({"ok": True})
            elif command == "report":
                _send(
                    {
                        "steps": list(metrics.step_samples),
                        "lag": list(metrics.lag_samples),
                        "outcomes": outcomes,
                        "in_progress": len(stack.engine.calls),
                    }
                )
            else:
                _send({"error": f"unknown command {command[:COMMAND_MAX]!r}"})
    finally:
        await stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("flows", help="directory of flow files to serve")
    eventloop.run(run(parser.parse_args().flows), load_settings().event_loop)


if __name__ == "__main__":
    main()
