"""The engine's own CPU per call, with Asterisk's side of FastAGI played by a script.

``bench_calls.py`` measures the engine beside a real Asterisk, where the machine's
other work makes the engine's share noisy. This script runs the same engine process
(``engine_child.py``: the stack of ``ivr serve``, AMI included) and opens FastAGI
sessions to it the way Asterisk does for ``[ivr-run]``, answering each command at
once as Asterisk would for the benchmark caller: ``ANSWER``, the
menu prompt interrupted by key 1, then whatever ends the call. It reports the
engine's CPU time per call (user + system, all threads, from /proc) and how many
calls per second one core of engine would carry. Nothing else is measured; run it to
see what a change to the engine's hot path costs or saves.

    .venv/bin/python -m benchmarks.bench_engine_cpu            # 3,000 calls, 50 at a time
    .venv/bin/python -m benchmarks.bench_engine_cpu --calls 5000 --concurrency 100

The sandbox's AMI must answer (``ivr sandbox up``): the engine logs in as it does in
production. ``--profile PATH`` also writes a py-spy flame graph (SVG) of the engine
while the calls run, when py-spy is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from typing import BinaryIO

from benchmarks.bench_calls import FLOW, BenchError, EngineProcess
from benchmarks.measure import process_cpu_s

KEY = b"200 result=49 endpos=4000\n"  # the prompt stopped by key 1


def environment(number: int) -> bytes:
    lines = {
        "agi_network": "yes",
        "agi_network_script": f"{FLOW}?answered=1",  # as [ivr-run] runs it
        "agi_request": f"agi://127.0.0.1/{FLOW}",
        "agi_channel": f"PJSIP/bench-{number:08x}",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": f"1700000000.{number}",
        "agi_version": "22.10.1",
        "agi_callerid": f"7700{number:07d}",
        "agi_calleridname": "bench",
        "agi_callingpres": "0",
        "agi_dnid": FLOW,
        "agi_context": "ivr-run",
        "agi_extension": "s",
        "agi_priority": "4",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000000",
    }
    return "".join(f"{key}: {value}\n" for key, value in lines.items()).encode() + b"\n"


async def one_call(port: int, number: int, hold: float = 0.0) -> str:
    """One FastAGI session; the commands the engine sent, for the first call's report."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent: list[str] = []
    try:
        writer.write(environment(number))
        while line := await reader.readline():
            command = line.decode().strip()
            sent.append(command.split(" ")[0] if command else "")
            if command.startswith("STREAM FILE") and sent.count("STREAM") == 1:
                await asyncio.sleep(hold)  # the caller listens, then presses 1
                writer.write(KEY)
            elif command.startswith("STREAM FILE"):
                writer.write(b"200 result=0 endpos=3520\n")  # played to the end
            else:
                writer.write(b"200 result=0\n")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return " ".join(sent)


async def run(
    calls: int, concurrency: int, hold: float, profile: str | None, log: BinaryIO
) -> int:
    engine = await EngineProcess.start(-10, log)
    try:
        await warm(engine.agi_port)
        await engine.ask("reset")
        spy = await start_profile(engine.pid, profile)
        numbers = iter(range(calls))
        commands: list[str] = []

        async def worker() -> None:
            for number in numbers:
                commands.append(await one_call(engine.agi_port, number, hold))

        before = process_cpu_s(engine.pid)
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
        elapsed = time.perf_counter() - started
        cpu = process_cpu_s(engine.pid) - before
        report = await engine.ask("report")
        if spy is not None:
            spy.terminate()
            await spy.wait()
    finally:
        await engine.stop()
    outcomes = report.get("outcomes", {})
    hung_up = sum(1 for outcome in outcomes.values() if outcome == "hangup")
    print(f"calls                {calls} ({concurrency} at a time), {hung_up} ended in hangup")
    print(f"a call's commands    {commands[0]}")
    print(f"wall time            {elapsed:.2f} s ({calls / elapsed:.0f} calls/s)")
    print(f"engine CPU per call  {1000 * cpu / calls:.3f} ms")
    print(f"one engine core      {calls / cpu:.0f} calls/s")
    return 0 if hung_up == calls else 1


async def warm(port: int) -> None:
    """A few calls first: prompt paths remembered, code paths warm."""
    for number in range(20):
        await one_call(port, 10_000_000 + number)


async def start_profile(pid: int, path: str | None) -> asyncio.subprocess.Process | None:
    if path is None:
        return None
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=sys.prefix + "/bin")
    if spy is None:
        raise BenchError("--profile needs py-spy (pip install py-spy)")
    return await asyncio.create_subprocess_exec(
        spy, "record", "-p", str(pid), "-o", path, "-r", "250", "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--hold", type=float, default=0.0,
                        help="seconds the caller listens to the menu before the key (default 0)")
    parser.add_argument("--profile", metavar="SVG", help="py-spy flame graph of the engine")
    args = parser.parse_args()
    path = os.path.join(tempfile.gettempdir(), "ivr-bench-engine-cpu.log")
    try:
        with open(path, "wb") as log:
            status = asyncio.run(run(args.calls, args.concurrency, args.hold, args.profile, log))
        sys.exit(status)
    except BenchError as exc:
        print(f"bench_engine_cpu: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
