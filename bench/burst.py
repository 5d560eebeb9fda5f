"""`burst`: N appointments whose reminders fall due at one instant.

Lateness is the reminder's recorded send time (`messages.sent_at`, or the ledger row's
`created_at` for a message queued in the outbox: both set by the send activity) minus its
planned `reminder_at`; every one of the N counts (one not out when the bench stops waiting,
three budgets after the instant, counts as late as that moment and is reported in `unsent`; the
floor's likewise in `floor_unrun`). The floor: N bare workflows on their own worker process
that sleep to the same instant and run one activity that reads the clock, on the same server at
the same time. While the burst is served, the bench queries `status` of random cases and of
random floor workflows (5/s each), and GETs random cases through the HTTP API (a uvicorn
process, 5/s), and reports the latency of each (`status_get_*`; `status_get_sources` counts
which source answered: `record` = PostgreSQL, `workflow` = the query; `--set
status_reads=workflow` makes the API ask the workflow, as before docs/status-reads.md). With
`--profile`, py-spy records the (first) Promptly worker for the whole burst.

Policy durations are compressed so that the follow-up steps after the reminder (ack alert,
response deadline) fall well after the burst and do not blur it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import WorkflowHandle

from bench import common
from bench.api import HEADERS, api_process, wait_healthy
from bench.floor import SleepFloor
from bench.profile import recording, top_frames
from bench.stack import FLOOR_QUEUE, connect, floor_workers, promptly_workers, stack
from promptly.api.case_reads import SOURCE_HEADER
from promptly.workflows.appointment import AppointmentWorkflow

QUERY_RATE = 5.0  # status queries (and, apart, API GETs) per second while a burst is served
READ_TIMEOUT = timedelta(seconds=10)
# Concurrent long polls for the floor's results (the server caps them per namespace).
RESULT_POLLS = 200


@dataclass
class Queries:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0


async def sample_while(read: Callable[[], Awaitable[object]], done: asyncio.Event) -> Queries:
    """Start `read` at QUERY_RATE until `done` is set (each read times itself, in parallel)."""
    result = Queries()
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        began = time.perf_counter()
        try:
            await read()
            result.latencies.append(time.perf_counter() - began)
        except Exception:
            result.failures += 1

    while not done.is_set():
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        try:
            await asyncio.wait_for(done.wait(), 1 / QUERY_RATE)
        except TimeoutError:
            pass
    await asyncio.gather(*pending)
    return result


async def query_while(
    handles: list[WorkflowHandle[Any, Any]], query: Any, done: asyncio.Event
) -> Queries:
    """Query random handles at QUERY_RATE until `done` is set."""
    return await sample_while(
        lambda: random.choice(handles).query(query, rpc_timeout=READ_TIMEOUT), done
    )


async def get_while(
    http: httpx.AsyncClient,
    handles: list[WorkflowHandle[Any, Any]],
    sources: Counter[str],
    done: asyncio.Event,
) -> Queries:
    """GET random appointments through the API at QUERY_RATE until `done` is set."""

    async def read() -> None:
        appointment_id = random.choice(handles).id.removeprefix("appointment-")
        answer = await http.get(f"/appointments/{appointment_id}", headers=HEADERS)
        answer.raise_for_status()
        sources[answer.headers.get(SOURCE_HEADER, "unknown")] += 1

    return await sample_while(read, done)


async def run(n: int, workers: int, profile: Path | None = None) -> dict[str, object]:
    """Promptly's reminders and the floor's sleepers fall due at the same instant on the same
    server, so both meet the same neighbours on a shared machine."""
    with stack("burst") as bench_stack:
        # Time to book and settle N cases before the reminders fall due, from this run's own
        # booking speed (the policy, time scale included, is the worker's: it is started anew).
        settings = bench_stack.settings()
        with promptly_workers(bench_stack, settings, workers):
            client = await connect(bench_stack)
            per_booking = await common.booking_seconds(client, settings, bench_stack.database_url)
        lead = 30 + 2.5 * n * per_booking + 0.2 * n  # floors start first
        # The steps after the reminder (ack alert, response deadline) come after the burst.
        budget = 60 + n * 0.1
        scale = (lead + budget + 60) / timedelta(hours=24).total_seconds()
        settings = bench_stack.settings(time_scale=scale)
        reminder_before = settings.appointment_policy().reminder_before
        with (
            promptly_workers(bench_stack, settings, workers) as running,
            floor_workers(bench_stack, settings, workers),
            api_process(bench_stack, settings) as api_url,
        ):
            await wait_healthy(api_url)
            http = httpx.AsyncClient(base_url=api_url, timeout=READ_TIMEOUT.total_seconds())
            sources: Counter[str] = Counter()
            due = datetime.now(UTC) + timedelta(seconds=lead)
            floors = await common.bounded(
                [
                    common.starter(
                        client, SleepFloor.run, due.timestamp(), f"floor-{i}", FLOOR_QUEUE
                    )
                    for i in range(n)
                ]
            )
            began = time.perf_counter()
            handles = await common.book_all(client, settings, [due + reminder_before] * n)
            booked_s = time.perf_counter() - began
            try:
                settled_s: float | None = await common.wait_settled(
                    bench_stack.database_url,
                    n + common.CALIBRATION,
                    timeout=(due - datetime.now(UTC)).total_seconds(),
                )
            except TimeoutError:
                settled_s = None  # reported: the burst overlapped the end of the bookings
            common.note(f"burst: {n} booked in {booked_s:.0f}s, settled after {settled_s}s")
            await asyncio.sleep(max((due - datetime.now(UTC)).total_seconds() - 2, 0))
            spying: AbstractContextManager[None] = (
                recording(running.pids[0], profile) if profile else nullcontext()
            )
            with spying:
                done = asyncio.Event()
                queries = asyncio.create_task(
                    query_while(list(handles), AppointmentWorkflow.status, done)
                )
                gets = asyncio.create_task(get_while(http, list(handles), sources, done))
                floor_done = asyncio.Event()
                floor_queries = asyncio.create_task(
                    query_while(list(floors), SleepFloor.status, floor_done)
                )
                floor_results = asyncio.create_task(_results(floors, floor_done))
                await _all_sent(bench_stack.database_url, n, seconds=2 + budget)
                done.set()
                served = await queries
                got = await gets
                await http.aclose()
                # A floor still running after 3 budgets counts as missing, not as a lost line.
                await asyncio.wait([floor_results], timeout=3 * budget)
                floor_done.set()
                ran_at = floor_results.result() if floor_results.done() else []
                floor_results.cancel()
                floor_served = await floor_queries
                # Every reminder counts: a line of the early ones alone would flatter the p99.
                # The rest get as long as the floor had (3 budgets from the instant).
                cap = due + timedelta(seconds=3 * budget)
                await _all_sent(
                    bench_stack.database_url, n, seconds=(cap - datetime.now(UTC)).total_seconds()
                )
            running.check_alive()
            read_at = datetime.now(UTC)
            sent = await common.rows(
                bench_stack.database_url,
                f"SELECT {common.OUT_AT} FROM messages"
                f" WHERE template = 'reminder' AND {common.OUT}",
            )
    # One not out by the end counts as late as the end: a lower bound, and said (`unsent`).
    at_end = (read_at - due).total_seconds()
    lateness = [(at - due).total_seconds() for (at,) in sent]
    lateness += [at_end] * max(n - len(lateness), 0)
    floor_lateness = [at - due.timestamp() for at in ran_at]
    floor_lateness += [at_end] * max(n - len(floor_lateness), 0)
    line: dict[str, object] = {
        "bench": "burst",
        "n": n,
        "workers": workers,
        "sent": len(sent),
        "floor_ran": len(ran_at),
        "unsent": max(n - len(sent), 0),
        "floor_unrun": max(n - len(ran_at), 0),
        "booked_s": round(booked_s, 1),
        "settled_before_due": settled_s is not None,
        **common.summary("lateness", lateness),
        **common.prefixed("floor_", common.summary("lateness", floor_lateness)),
        "p50_ratio": common.ratio(
            common.percentile(lateness, 0.5), common.percentile(floor_lateness, 0.5)
        ),
        "p99_ratio": common.ratio(
            common.percentile(lateness, 0.99), common.percentile(floor_lateness, 0.99)
        ),
        **common.summary("status_query", served.latencies),
        "status_query_failed": served.failures,
        **common.summary("status_get", got.latencies),
        "status_get_failed": got.failures,
        "status_get_sources": dict(sources),
        **common.prefixed("floor_", common.summary("status_query", floor_served.latencies)),
        "floor_status_query_failed": floor_served.failures,
    }
    if profile:
        frames = top_frames(profile)
        profile.with_suffix(".top.json").write_text(json.dumps(frames, indent=1))
        line["profile_busy_share"] = frames["busy_share"]
        line["profile_groups"] = frames["groups"]
        line["profile_top_self"] = frames["self"][:6]
    return line


async def _all_sent(database_url: str, n: int, seconds: float) -> None:
    """Return once `n` reminders are out, or after `seconds`."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if await common.sent_count(database_url, "reminder") >= n:
            return
        await asyncio.sleep(0.5)


async def _results(handles: list[WorkflowHandle[Any, float]], done: asyncio.Event) -> list[float]:
    """The floor's run times; `done` is set when the last arrives. Each `result()` is a long
    poll: 2,000 at once exceed the server's concurrent-poller limit per namespace, so they go
    a bounded number at a time (the times are the floor's own, not when they were read)."""
    try:
        return await common.bounded([h.result for h in handles], limit=RESULT_POLLS)
    finally:
        done.set()
