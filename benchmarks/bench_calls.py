"""Engine vs native dialplan under concurrent real calls (see benchmarks/README.md).

The same one-level menu runs twice: in plain dialplan (``[ivr-native-menu]``) and as
the flow ``benchmarks/flows/bench_menu.yaml`` on the engine, which runs in a child
process (``engine_child.py``). At each concurrency level N the generator keeps N
real SIP loopback calls up for a fixed time, for the native menu and for the engine
in turn (the order alternates between levels), and the table compares the two:
failed calls, answer-to-hangup, CPU per call, and the engine's own step latency and
event-loop lag. Levels stop after the first one where the native menu saturates.

Run from the project root, with the sandbox up::

    .venv/bin/python -m benchmarks.bench_calls            # full run, ~8-10 minutes
    .venv/bin/python -m benchmarks.bench_calls --quick    # one small level, ~30 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from benchmarks.loadgen import CallGenerator, CallRecord, Target
from benchmarks.measure import LagProbe, machine_cpu, percentile, process_cpu_s
from benchmarks.report import A2H, print_report, summary
from engine.ami import AmiError
from engine.caller import tools_ami
from engine.config import load_settings
from engine.sandbox import running_pid
from engine.sandbox_layout import Layout

HERE = os.path.dirname(os.path.abspath(__file__))
FLOWS = os.path.join(HERE, "flows")
FLOW = "bench_menu"
NATIVE_PLACE = "ivr-native-menu,1"  # where a native call that took key 1 hangs up
CHILD_START_S = 30.0
CHILD_ANSWER_S = 10.0
REPORT_MAX = 32 * 1024 * 1024  # bytes in one line from the engine (its samples)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------ the engine


class EngineProcess:
    """The engine under test in a child process (``engine_child.py``)."""

    def __init__(self, process: asyncio.subprocess.Process, agi_port: int) -> None:
        self._process = process
        self.pid = process.pid
        self.agi_port = agi_port

    @classmethod
    async def start(cls, nice: int, log: BinaryIO) -> EngineProcess:
        def lower_nice() -> None:  # runs in the child before exec
            if nice:
                os.nice(nice)
                # With autogroup scheduling (most desktop and VM kernels) a process's
                # nice counts only against its own session: the engine gets a session
                # of its own and the same nice for it, as a systemd unit's Nice= or
                # CPUWeight= would give it against the Asterisk unit.
                os.setsid()
                with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as group:
                    group.write(str(nice))

        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.engine_child", FLOWS,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            preexec_fn=lower_nice, cwd=os.path.dirname(HERE), limit=REPORT_MAX,
        )
        try:
            hello = await cls._read(process, CHILD_START_S)
        except BenchError:
            await cls._end(process)
            raise
        return cls(process, int(hello["agi_port"]))

    async def ask(self, command: str) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(command.encode() + b"\n")
        await self._process.stdin.drain()
        return await self._read(self._process, CHILD_ANSWER_S)

    async def stop(self) -> None:
        await self._end(self._process)

    @staticmethod
    async def _read(process: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout)
        except TimeoutError as exc:
            raise BenchError(f"the engine did not answer within {timeout:.0f} s") from exc
        except ValueError as exc:  # a line over the limit
            raise BenchError(f"the engine's answer is too long: {exc}") from exc
        if not line:
            raise BenchError("the engine process exited (see its log)")
        message: dict[str, Any] = json.loads(line)
        return message

    @staticmethod
    async def _end(process: asyncio.subprocess.Process) -> None:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10.0)
        except TimeoutError:
            process.kill()
            await process.wait()


# ------------------------------------------------------------------ one run


@dataclass
class RunResult:
    """One mode at one level."""

    level: int
    mode: str
    duration_s: float  # of the load; calls started in it, and all were let finish
    records: list[CallRecord]
    passed: list[CallRecord]  # the calls that took the menu's whole path
    failures: Counter[str]  # reason -> calls
    asterisk_cpu_s: float
    engine_cpu_s: float | None
    generator_cpu_s: float
    machine_busy: float  # fraction of all cores
    leftovers: int  # channels still up after the run, hung up by us
    saturated: bool = False  # native only: failures, or p99 risen past the threshold
    steps: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    generator_lag: list[float] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.records)

    @property
    def failed(self) -> int:
        return self.calls - len(self.passed)

    def p(self, name: str, fraction: float) -> float | None:
        """A percentile of a CallRecord timing property over the passed calls."""
        values = [v for r in self.passed if (v := getattr(r, name)) is not None]
        return percentile(values, fraction)

    def per_call_ms(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None or not self.calls else 1000 * cpu_s / self.calls


def pooled(runs: list[RunResult]) -> RunResult:
    """Runs of one mode at one level as one: their calls, CPU and samples together."""
    first = runs[0]
    total_s = sum(run.duration_s for run in runs)
    engine_cpu = [run.engine_cpu_s for run in runs if run.engine_cpu_s is not None]
    return RunResult(
        level=first.level,
        mode=first.mode,
        duration_s=total_s,
        records=[record for run in runs for record in run.records],
        passed=[record for run in runs for record in run.passed],
        failures=sum((run.failures for run in runs), Counter()),
        asterisk_cpu_s=sum(run.asterisk_cpu_s for run in runs),
        engine_cpu_s=sum(engine_cpu) if engine_cpu else None,
        generator_cpu_s=sum(run.generator_cpu_s for run in runs),
        machine_busy=sum(run.machine_busy * run.duration_s for run in runs) / total_s,
        leftovers=sum(run.leftovers for run in runs),
        steps=[s for run in runs for s in run.steps],
        lag=[s for run in runs for s in run.lag],
        generator_lag=[s for run in runs for s in run.generator_lag],
    )


def classify(record: CallRecord, outcomes: dict[str, str] | None) -> str:
    """Why the call failed, or "" if it took the menu's path: key 1, beep, hang-up."""
    if record.error:
        return record.error
    if record.answered is None:
        return f"not answered (cause {record.cause or '?'})"
    if not record.ivr_uid:
        return "no IVR leg"
    if record.key_heard is None:
        return "the IVR never got the key"
    if record.caller_answer_to_hangup is None:
        return "no BenchCall times from the caller leg"
    if outcomes is None:
        if record.ivr_place != NATIVE_PLACE:
            return f"IVR leg hung up in {record.ivr_place or '?'}"
        return ""
    outcome = outcomes.get(record.caller_id, "no session")
    if outcome != "hangup":
        return f"engine outcome: {outcome}"
    if record.ivr_place != "ivr-result,hangup":
        return f"IVR leg hung up in {record.ivr_place or '?'}"
    return ""


async def run_mode(
    generator: CallGenerator,
    target: Target,
    level: int,
    duration_s: float,
    asterisk_pid: int,
    engine: EngineProcess,
) -> RunResult:
    """``level`` calls at a time for ``duration_s``; CPU counted until all are over."""
    is_engine = target.mode == "engine"
    await engine.ask("reset")
    probe = LagProbe()
    probe.start()
    own = os.getpid()
    ast0, gen0, eng0 = (process_cpu_s(p) for p in (asterisk_pid, own, engine.pid))
    mach0 = machine_cpu()
    records = await generator.run(target, level, duration_s)
    leftovers = await generator.drain()
    ast1, gen1, eng1 = (process_cpu_s(p) for p in (asterisk_pid, own, engine.pid))
    mach1 = machine_cpu()
    await probe.stop()
    report = await engine.ask("report")
    outcomes: dict[str, str] | None = report.get("outcomes", {}) if is_engine else None
    failures: Counter[str] = Counter()
    passed: list[CallRecord] = []
    for record in records:
        reason = classify(record, outcomes)
        if reason:
            failures[reason] += 1
        else:
            passed.append(record)
    return RunResult(
        level=level,
        mode=target.mode,
        duration_s=duration_s,
        records=records,
        passed=passed,
        failures=failures,
        asterisk_cpu_s=ast1 - ast0,
        engine_cpu_s=(eng1 - eng0) if is_engine else None,
        generator_cpu_s=gen1 - gen0,
        machine_busy=(mach1.busy_s - mach0.busy_s) / max(1e-9, mach1.total_s - mach0.total_s),
        leftovers=leftovers,
        steps=[float(s) for s in report.get("steps", [])] if is_engine else [],
        lag=[float(s) for s in report.get("lag", [])] if is_engine else [],
        generator_lag=probe.samples,
    )


# ------------------------------------------------------------------ the whole run


@dataclass(frozen=True, slots=True)
class Plan:
    levels: list[int]
    duration_s: float
    settle_s: float
    deadline_s: float
    engine_nice: int
    budget_s: float
    rounds: int  # runs of each mode per level, in the order of run_order
    saturation_rise: float  # native p99 above its first level's by this fraction: saturated


def run_order(pair: tuple[str, str], rounds: int) -> list[str]:
    """The two modes' runs at one level, ``rounds`` each, in Thue-Morse order: A B B A,
    then B A A B, and so on. A steady drift of the machine's speed during the level
    then weighs on both modes alike (with 4 rounds a curving one too), and no mode runs
    more than two rounds in a row, so a spell of a slower machine (a busy neighbour on
    the host, which on this VM comes and goes within a minute) falls on both."""
    return [pair[bin(i).count("1") % 2] for i in range(2 * rounds)]


def is_saturated(native: RunResult, baseline_p99: float | None, rise: float) -> bool:
    p99 = native.p(A2H, 0.99)
    if native.failed or p99 is None:
        return True
    return baseline_p99 is not None and p99 > baseline_p99 * (1 + rise)


async def bench(plan: Plan, log: BinaryIO) -> list[RunResult]:
    started = time.monotonic()
    asterisk_pid = running_pid(Layout.from_env())
    if asterisk_pid is None:
        raise BenchError("the sandbox Asterisk is not running (sudo .venv/bin/ivr sandbox up)")
    settings = load_settings()
    engine = await EngineProcess.start(plan.engine_nice, log)
    ami = tools_ami(settings)  # the callers' side: the engine's user is spared its events
    ami.start()
    generator = CallGenerator(ami, plan.deadline_s)
    results: list[RunResult] = []
    try:
        await ami.wait_ready(10.0)
        targets = {
            "native": Target("native", "native"),
            "engine": Target("engine", f"{FLOW}+{engine.agi_port}"),
        }
        for target in targets.values():  # one call each: caches warm, the path works
            warm = await run_mode(generator, target, 1, 0.1, asterisk_pid, engine)
            if warm.failed:
                raise BenchError(f"{target.mode}: a first call failed: {dict(warm.failures)}"
                                 " (is the dialplan current? sudo .venv/bin/ivr sandbox up)")
        baseline: float | None = None
        for index, level in enumerate(plan.levels):
            needed = 2 * plan.rounds * (plan.duration_s + plan.settle_s + plan.deadline_s)
            if time.monotonic() - started + needed > plan.budget_s:
                _progress(f"level {level} skipped: the time budget would run out")
                break
            pair = ("native", "engine") if index % 2 == 0 else ("engine", "native")
            runs: dict[str, list[RunResult]] = {"native": [], "engine": []}
            for mode in run_order(pair, plan.rounds):
                result = await run_mode(
                    generator, targets[mode], level, plan.duration_s, asterisk_pid, engine
                )
                runs[mode].append(result)
                _progress(_line(result))
                await asyncio.sleep(plan.settle_s)
            level_results = {mode: pooled(runs[mode]) for mode in pair}
            native = level_results["native"]
            native.saturated = is_saturated(native, baseline, plan.saturation_rise)
            if baseline is None:
                baseline = native.p(A2H, 0.99)
            results.extend(level_results.values())
            if native.saturated:
                _progress(f"native dialplan saturated at {level} concurrent calls: stopping")
                break
    finally:
        with contextlib.suppress(AmiError):
            await generator.drain()
        await ami.stop()
        await engine.stop()
    return results


def _line(result: RunResult) -> str:
    def shown(p99: float | None) -> str:
        return f"{p99:.3f} s" if p99 is not None else "-"

    return (f"N={result.level:<4} {result.mode:<6} {result.calls} calls, {result.failed} failed,"
            f" answer-to-hangup p99 {shown(result.p(A2H, 0.99))}"
            f" (through AMI {shown(result.p('answer_to_hangup', 0.99))}),"
            f" machine {100 * result.machine_busy:.0f}% busy,"
            f" Asterisk {result.per_call_ms(result.asterisk_cpu_s) or 0:.1f} ms/call")


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ command line


def _levels(text: str) -> list[int]:
    try:
        levels = sorted({int(word) for word in text.split(",") if word.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc
    if not levels or levels[0] < 1 or levels[-1] > 400:
        raise argparse.ArgumentTypeError("levels are between 1 and 400 calls")
    return levels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_calls",
        description="Engine vs native dialplan under concurrent real calls.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="one level of 10 calls for 10 s per mode: does it work?")
    parser.add_argument("--levels", type=_levels, default=_levels("25,50,100,125,150,175,200"),
                        help="concurrency levels, comma-separated (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of load per run (at most 60; default 10)")
    parser.add_argument("--rounds", type=int, default=4, choices=range(1, 9),
                        metavar="{1..8}",
                        help="runs of each mode per level, pooled; the modes alternate"
                             " A B B A B A A B so a drift weighs on both alike (default 4)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="pause after each run, seconds (default 3)")
    parser.add_argument("--deadline", type=float, default=15.0,
                        help="a call not over after this many seconds fails (default 15)")
    parser.add_argument("--engine-nice", type=int, default=-10,
                        help="nice increment of the engine process (default -10; 0 = as"
                             " the benchmark; below 0 needs root)")
    parser.add_argument("--budget", type=float, default=22.0,
                        help="minutes the whole run may take; later levels are skipped"
                             " (default 22)")
    parser.add_argument("--saturation-rise", type=float, default=0.10,
                        help="native p99 this much above its first level's counts as"
                             " saturated (default 0.10)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 60:
        parser.error("--duration is between 1 and 60 seconds")
    if args.quick:
        args.levels, args.duration, args.rounds = [10], 10.0, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(
        levels=args.levels, duration_s=args.duration, settle_s=args.settle,
        deadline_s=args.deadline, engine_nice=args.engine_nice, budget_s=60 * args.budget,
        saturation_rise=args.saturation_rise, rounds=args.rounds,
    )
    log_path = os.path.join(tempfile.gettempdir(), "ivr-bench-engine.log")
    _progress(f"engine log: {log_path}; levels {plan.levels},"
              f" {plan.rounds} x {plan.duration_s:.0f} s per mode")
    try:
        with open(log_path, "wb") as log:  # a fresh log per run
            results = asyncio.run(bench(plan, log))
    except (BenchError, AmiError) as exc:
        print(f"bench_calls: {exc}", file=sys.stderr)
        return 1
    met = print_report(results, plan.engine_nice)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump([summary(r) for r in results], handle, indent=1)
    return 0 if met else 2


if __name__ == "__main__":
    sys.exit(main())
