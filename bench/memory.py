"""`memory`: worker RSS with 1k / 5k / 10k open appointments parked on their timers, against a
trivial-workflow worker holding the same number of open timers.

Both workers run with the same settings (sticky cache size included). Each step books the
extra cases, waits until the worker has stored every case after its confirmation and provider
notice and its CPU is quiet, then reads VmRSS. `cached_case_kib` is the RSS the first step
added per case the sticky cache can hold (the figure the cache size is chosen from);
`extra_case_kib` is the slope from the first to the last step.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from bench import common
from bench.floor import TimerFloor
from bench.stack import FLOOR_QUEUE, Workers, connect, floor_workers, promptly_workers, stack


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


async def wait_quiet(running: Workers, timeout: float = 600) -> None:
    """Until the workers use under 5% of a CPU for two seconds in a row."""
    began = time.perf_counter()
    quiet = 0
    last = _cpu_seconds(running.pids)
    while time.perf_counter() - began < timeout and quiet < 2:
        await asyncio.sleep(1)
        now = _cpu_seconds(running.pids)
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now


def _per_case(first: tuple[int, float], last: tuple[int, float]) -> float:
    (n1, rss1), (n2, rss2) = first, last
    return round((rss2 - rss1) * 1024 / (n2 - n1), 1) if n2 > n1 else 0.0


async def _promptly(sizes: list[int], workers: int) -> dict[str, object]:
    points: list[tuple[int, float]] = []
    with stack("memory") as bench_stack:
        settings = bench_stack.settings()
        with promptly_workers(bench_stack, settings, workers) as running:
            client = await connect(bench_stack)
            await wait_quiet(running)
            points.append((0, running.rss_mib()))
            start = datetime.now(UTC) + timedelta(days=10)
            for size in sizes:
                await common.book_all(client, settings, [start] * (size - points[-1][0]))
                await common.wait_settled(bench_stack.database_url, size, timeout=300 + 5 * size)
                await wait_quiet(running)
                points.append((size, running.rss_mib()))
                common.note(f"memory: {size} open appointments, {points[-1][1]:.0f} MiB")
            running.check_alive()
    cached = min(sizes[0], settings.max_cached_workflows)
    return {
        "max_cached_workflows": settings.max_cached_workflows,
        "rss_idle_mib": round(points[0][1], 1),
        **{f"rss_{n}_mib": round(rss, 1) for n, rss in points[1:]},
        "cached_case_kib": _per_case(points[0], (cached, points[1][1])) if cached else 0.0,
        "extra_case_kib": _per_case(points[1], points[-1]),
    }


async def _floor(sizes: list[int], workers: int) -> dict[str, object]:
    points: list[tuple[int, float]] = []
    with stack("memory-floor") as bench_stack:
        settings = bench_stack.settings()
        with floor_workers(bench_stack, settings, workers) as running:
            client: Client = await connect(bench_stack)
            await wait_quiet(running)
            points.append((0, running.rss_mib()))
            for size in sizes:
                await common.bounded(
                    [
                        common.starter(client, TimerFloor.run, 864_000.0, f"floor-{i}", FLOOR_QUEUE)
                        for i in range(points[-1][0], size)
                    ]
                )
                await asyncio.sleep(2)
                await wait_quiet(running)
                points.append((size, running.rss_mib()))
    return {
        "floor_rss_idle_mib": round(points[0][1], 1),
        **{f"floor_rss_{n}_mib": round(rss, 1) for n, rss in points[1:]},
        "floor_extra_case_kib": _per_case(points[1], points[-1]),
    }


async def run(sizes: list[int], workers: int) -> dict[str, object]:
    return {
        "bench": "memory",
        "workers": workers,
        **await _promptly(sizes, workers),
        **await _floor(sizes, workers),
    }
