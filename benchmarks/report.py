"""The benchmark's tables, summary and target checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmarks.measure import percentile

if TYPE_CHECKING:
    from benchmarks.bench_calls import RunResult

# The answer-to-hangup the targets are judged on: the caller leg's own clock.
# ("answer_to_hangup" is the same span as AMI told it; loadgen.py says why they differ.)
A2H = "caller_answer_to_hangup"
P99_MARGIN = 0.05  # the engine's p99 answer-to-hangup may be this much above native's
STEP_LEVEL = 100  # concurrency where the step latency target applies
STEP_P99_S = 0.005


def summary(result: RunResult) -> dict[str, Any]:
    """The numbers of one run (seconds, fractions), as in the JSON output."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(1000 * value, 2)

    return {
        "level": result.level,
        "mode": result.mode,
        "calls": result.calls,
        "failed": result.failed,
        "failures": dict(result.failures),
        "calls_per_s": round(result.calls / result.duration_s, 1),
        "setup_p99_ms": ms(result.p("setup", 0.99)),
        "answer_to_hangup_p50_ms": ms(result.p(A2H, 0.5)),
        "answer_to_hangup_p99_ms": ms(result.p(A2H, 0.99)),
        "ami_answer_to_hangup_p99_ms": ms(result.p("answer_to_hangup", 0.99)),
        "key_to_hangup_p50_ms": ms(result.p("key_to_hangup", 0.5)),
        "key_to_hangup_p99_ms": ms(result.p("key_to_hangup", 0.99)),
        "asterisk_cpu_ms_per_call": _round(result.per_call_ms(result.asterisk_cpu_s)),
        "engine_cpu_ms_per_call": _round(result.per_call_ms(result.engine_cpu_s)),
        "generator_cpu_ms_per_call": _round(result.per_call_ms(result.generator_cpu_s)),
        "machine_busy_pct": round(100 * result.machine_busy, 1),
        "step_samples": len(result.steps),
        "step_p50_ms": ms(percentile(result.steps, 0.5)),
        "step_p99_ms": ms(percentile(result.steps, 0.99)),
        "step_max_ms": ms(max(result.steps, default=None)),
        "loop_lag_p99_ms": ms(percentile(result.lag, 0.99)),
        "loop_lag_max_ms": ms(max(result.lag, default=None)),
        "generator_lag_p99_ms": ms(percentile(result.generator_lag, 0.99)),
        "leftover_channels": result.leftovers,
        "native_saturated": result.saturated if result.mode == "native" else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def print_report(results: list[RunResult], engine_nice: int) -> bool:
    """Print the tables and the summary; True when every target checked was met."""
    if not results:
        print("no results")
        return False
    rows = [summary(r) for r in results]
    print("\nCalls (times in ms; a2h = answer to hang-up on the caller leg's clock, AMI a2h ="
          " as AMI told it; CPU per call = CPU time during the run / calls placed;"
          " Asterisk CPU covers both legs of each call)")
    _table(
        ["N", "mode", "calls", "failed", "calls/s", "setup p99", "a2h p50", "a2h p99",
         "AMI a2h p99", "key2hup p50", "Ast ms/call", "eng ms/call", "gen ms/call", "busy %"],
        [
            [str(s["level"]), s["mode"], str(s["calls"]), str(s["failed"]),
             _cell(s["calls_per_s"]), _cell(s["setup_p99_ms"], 0),
             _cell(s["answer_to_hangup_p50_ms"], 0), _cell(s["answer_to_hangup_p99_ms"], 0),
             _cell(s["ami_answer_to_hangup_p99_ms"], 0), _cell(s["key_to_hangup_p50_ms"], 0),
             _cell(s["asterisk_cpu_ms_per_call"]),
             _cell(s["engine_cpu_ms_per_call"], 2), _cell(s["generator_cpu_ms_per_call"], 2),
             _cell(s["machine_busy_pct"], 0)]
            for s in rows
        ],
    )
    engine_rows = [s for s in rows if s["mode"] == "engine"]
    print(f"\nEngine internals (engine process at nice {engine_nice:+d}; step = AGI response"
          " to next command sent; loop lag sampled every 100 ms; gen lag = the load"
          " generator's own loop)")
    _table(
        ["N", "steps", "step p50", "step p99", "step max", "lag p99", "lag max", "gen lag p99"],
        [
            [str(s["level"]), str(s["step_samples"]), _cell(s["step_p50_ms"], 2),
             _cell(s["step_p99_ms"], 2), _cell(s["step_max_ms"], 2),
             _cell(s["loop_lag_p99_ms"], 2), _cell(s["loop_lag_max_ms"], 2),
             _cell(s["generator_lag_p99_ms"], 2)]
            for s in engine_rows
        ],
    )
    for result in results:
        if result.failures or result.leftovers:
            top = ", ".join(f"{n} x {why}" for why, n in result.failures.most_common(3))
            extra = f"; {result.leftovers} channels left, hung up" if result.leftovers else ""
            print(f"  N={result.level} {result.mode}: {top or 'no failures'}{extra}")
    return _summary(results)


def _summary(results: list[RunResult]) -> bool:
    by_level: dict[int, dict[str, RunResult]] = {}
    for result in results:
        by_level.setdefault(result.level, {})[result.mode] = result
    levels = sorted(by_level)
    print("\nSummary")
    for mode in ("native", "engine"):
        clean = None
        for level in levels:
            run = by_level[level].get(mode)
            if run is None or run.failed:
                break
            clean = level
        print(f"  highest concurrency with no failures (and none below it), {mode}: "
              f"{clean if clean is not None else 'none'}")
    saturated = [lv for lv in levels if (n := by_level[lv].get("native")) and n.saturated]
    compared = [lv for lv in levels if not saturated or lv < saturated[0]]
    print(f"  native saturates at: {saturated[0] if saturated else 'not within the levels run'}")
    met = True
    for level in compared:
        native, engine = by_level[level].get("native"), by_level[level].get("engine")
        if native is None or engine is None:
            continue
        n99, e99 = native.p(A2H, 0.99), engine.p(A2H, 0.99)
        fails_ok = engine.failed <= native.failed
        p99_ok = n99 is not None and e99 is not None and e99 <= n99 * (1 + P99_MARGIN)
        ratio = f"{100 * (e99 / n99 - 1):+.1f}%" if n99 and e99 else "-"
        met = met and fails_ok and p99_ok
        print(f"  N={level}: failures engine {engine.failed} vs native {native.failed}"
              f" [{'met' if fails_ok else 'NOT met'}]; p99 answer-to-hangup engine vs native"
              f" {ratio} (target <= +{100 * P99_MARGIN:.0f}%) [{'met' if p99_ok else 'NOT met'}]")
    step_run = by_level.get(STEP_LEVEL, {}).get("engine")
    if step_run is None:
        print(f"  step latency at N={STEP_LEVEL}: not measured (level not run)")
        met = False
    else:
        p99 = percentile(step_run.steps, 0.99)
        ok = p99 is not None and p99 <= STEP_P99_S
        met = met and ok
        shown = f"{1000 * p99:.2f} ms" if p99 is not None else "-"
        print(f"  engine step latency p99 at N={STEP_LEVEL}: {shown} (target <= "
              f"{1000 * STEP_P99_S:.0f} ms) [{'met' if ok else 'NOT met'}]")
    print(f"  targets: {'all met' if met else 'NOT all met'}")
    return met
