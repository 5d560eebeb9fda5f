"""The worker's health: when it last reached Temporal (compose's health check of the worker).

The SDK serves /metrics whether or not its polls reach Temporal, so fetching it says only that
the process runs. Instead the worker asks Temporal for its system info every `CONTACT_EVERY`
on its own client (the connection its polls use) and, each time Temporal answers, writes the
time into `PROMPTLY_WORKER_HEALTH_FILE`; `python -m promptly.worker_health` (the check) exits 1
when that time is older than `STALE_AFTER` or the file is missing. A frozen event loop stops
the writes too.

Kept free of the worker's imports: the check runs every 15 s in the worker's container.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client

CONTACT_EVERY = timedelta(seconds=10)
ASK_TIMEOUT = timedelta(seconds=5)
# Three missed contacts: a Temporal restart (a few seconds) stays healthy.
STALE_AFTER = timedelta(seconds=45)
HEALTH_FILE_VARIABLE = "PROMPTLY_WORKER_HEALTH_FILE"

log = logging.getLogger("promptly.worker")


def record_contact(path: Path, at: float) -> None:
    """Write `at` (Unix time) into `path`, whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(f"{at:.3f}\n", encoding="utf-8")
    partial.replace(path)


def last_contact(path: Path) -> float | None:
    """The Unix time of the worker's last contact with Temporal; None: none recorded."""
    try:
        return float(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


async def keep_recording_contact(client: Client, path: Path) -> None:
    """Until cancelled: ask Temporal every `CONTACT_EVERY`, record each answer in `path`."""
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    reachable = True
    while True:
        try:
            await client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=ASK_TIMEOUT
            )
        except Exception as err:
            if reachable:  # once per outage, not every 10 s
                log.warning("worker health: Temporal does not answer (%s)", err)
            reachable = False
        else:
            record_contact(path, time.time())
            if not reachable:
                log.info("worker health: Temporal answers again")
            reachable = True
        await asyncio.sleep(CONTACT_EVERY.total_seconds())


def check(path: Path, now: float) -> str | None:
    """Why the worker is unhealthy, or None when it reached Temporal recently."""
    contact = last_contact(path)
    if contact is None:
        return f"no contact with Temporal recorded in {path}"
    age = now - contact
    if age > STALE_AFTER.total_seconds():
        return f"last contact with Temporal {age:.0f}s ago"
    return None


def main() -> None:
    """`python -m promptly.worker_health [PATH]`: exit 0 when the worker reached Temporal in
    the last `STALE_AFTER`, else 1 with the reason (PATH: PROMPTLY_WORKER_HEALTH_FILE)."""
    named = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(HEALTH_FILE_VARIABLE)
    if not named:
        print(f"worker health: {HEALTH_FILE_VARIABLE} is not set", file=sys.stderr)
        sys.exit(1)
    problem = check(Path(named), time.time())
    if problem is not None:
        print(f"worker health: {problem}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
