"""How long a flow reload holds up the event loop that serves the calls.

A ticker on the loop sleeps 5 ms at a time and notes how late it wakes; meanwhile
the flows directory is reloaded R times, first compiled on the loop itself
(``FlowStore.load``, as the watcher did until 5b33210), then in a thread
(``FlowStore.reload``, as it does now). Printed per mode: the worst lateness of
the ticker during each reload, and the reload's own time. Every call in progress
waits at least that long for its next key, prompt or page step.

Run from the project root::

    .venv/bin/python -m benchmarks.bench_reload                # the demo's flows/
    .venv/bin/python -m benchmarks.bench_reload --flows DIR --reloads 10
"""

from __future__ import annotations

import argparse
import asyncio
import time

from engine.flowstore import FlowStore

TICK_S = 0.005


async def measure(directory: str, reloads: int) -> None:
    store = FlowStore(directory)
    late: list[float] = []

    async def tick() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            late.append(time.perf_counter() - started - TICK_S)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.1)
    for mode in ("on the loop (load)", "in a thread (reload)"):
        worst: list[float] = []
        took: list[float] = []
        for _ in range(reloads):
            late.clear()
            started = time.perf_counter()
            if mode.startswith("on the loop"):
                store.load()
            else:
                await store.reload()
            took.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)  # the ticker notes the lateness the reload caused
            worst.append(max(late, default=0.0))
        print(
            f"{mode:22} worst loop lag per reload: "
            + ", ".join(f"{w * 1000:.0f}" for w in worst)
            + " ms; the reload itself: "
            + ", ".join(f"{t * 1000:.0f}" for t in took)
            + " ms"
        )
    ticker.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", default="flows", help="the flows directory (default: flows)")
    parser.add_argument("--reloads", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(measure(args.flows, args.reloads))


if __name__ == "__main__":
    main()
