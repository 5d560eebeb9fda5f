"""A floor worker process: bare workflows on the floor task queue, with the same concurrency
and cache settings as the Promptly worker it is compared with. Runs until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench.floor import FLOOR_ACTIVITIES, FLOOR_WORKFLOWS
from promptly.config import Settings


async def run() -> None:
    settings = Settings()
    client = await Client.connect(settings.temporal_address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=FLOOR_WORKFLOWS,
        activities=FLOOR_ACTIVITIES,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
    ):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(run())
    sys.stdout.flush()
    os._exit(0)  # the SDK's native threads can abort at interpreter exit
