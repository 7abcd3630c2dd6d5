"""What running analyses in processes costs and what it buys (issue 19 item 10, issue 21).

Prints, in one run on this machine (loaded by others: the figures say how loaded):
- the same `metrics` analysis through `pipeline.run` in this process (libraries warm) and through the
  Runner (a warm spare process): the overhead of the process, its pipes and pickles;
- how long after its deadline a heavy `uplift` frees its slot (the process is killed), against how long it
  would have gone on (measured by letting one run to its end, capped at 120 s);
- a victim's small request queued behind two heavy ones stopped at a 5 s deadline: its wait and its total.
Usage: python -m bench.analysis_process
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import pandas as pd

from services.analytics import pipeline
from services.analytics.commands import METRICS, UPLIFT
from services.analytics.isolation import Limits, Runner


def predictions(n: int) -> bytes:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 4, n)
    return pd.DataFrame({"label": (rng.random(n) < p).astype(int), "p": p}).to_csv(index=False).encode()


def experiment(n: int) -> bytes:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 8))
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.2 + 0.1 * t * (x[:, 0] > 0)).astype(int)
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(8)]).assign(t=t, y=y).to_csv(index=False).encode()


def request(spec, data: bytes, text: str) -> dict:
    values, _ = spec.parse(text)
    return {"command": spec.name, "sources": [(data, "bench.csv")], "values": values, "max_chart_bytes": 48_000,
            "dpi": 80}  # fmt: skip


async def main() -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other developers share the machine)")
    small = predictions(20_000)
    values, _ = METRICS.parse("y_true=label y_score=p")
    pipeline.run(METRICS, [(small, "p.csv")], values, max_chart_bytes=48_000, dpi=80)  # warm the libraries
    started = time.perf_counter()
    pipeline.run(METRICS, [(small, "p.csv")], values, max_chart_bytes=48_000, dpi=80)
    inside = time.perf_counter() - started

    runner = Runner(Limits(memory_mb=4096, cpu_seconds=600, threads=1), processes=2)
    await runner.run(request(METRICS, small, "y_true=label y_score=p"))  # leaves a warm spare behind
    await asyncio.sleep(20)  # the spare imports its libraries
    started = time.perf_counter()
    await runner.run(request(METRICS, small, "y_true=label y_score=p"))
    isolated = time.perf_counter() - started
    print(f"metrics, 20,000 rows: in process {inside:.2f} s, in a warm spare process {isolated:.2f} s "
          f"(overhead {isolated - inside:+.2f} s, {isolated / inside:.1f}x)")  # fmt: skip

    heavy = experiment(200_000)
    await asyncio.sleep(20)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(120):
            await runner.run(request(UPLIFT, heavy, "treatment=t outcome=y"))
    except TimeoutError:
        pass
    natural = time.perf_counter() - started
    await asyncio.sleep(20)

    async def stopped_at(seconds: float) -> float:
        try:
            async with asyncio.timeout(seconds):
                await runner.run(request(UPLIFT, heavy, "treatment=t outcome=y"))
        except TimeoutError:
            pass
        return time.perf_counter()

    deadline = 5.0
    started = time.perf_counter()
    ends = await asyncio.gather(stopped_at(deadline), stopped_at(deadline))
    freed = max(ends) - started - deadline
    victim_started = time.perf_counter()
    await runner.run(request(METRICS, predictions(3_000), "y_true=label y_score=p"))
    victim = time.perf_counter() - victim_started
    print(f"uplift, 200,000 rows: runs {natural:.1f} s to its end (capped at 120 s); two stopped at {deadline:.0f} s "
          f"freed their slots {freed:.2f} s after the deadline; the victim's 3,000-row metrics then took "
          f"{victim:.2f} s (behind threads it would have waited up to {natural - deadline:.0f} s more)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
