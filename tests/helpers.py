"""Builders and PostgreSQL readers shared by the workflow and API tests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from promptly.activities.tasks import insert_task
from promptly.domain.appointments.models import AppointmentRequest
from promptly.domain.common import Actor, ActorKind, RecipientRole
from promptly.domain.tasks import CreateTaskRequest, TaskKind

CLIENT = Actor(kind=ActorKind.CLIENT, id="C-17")
STAFF = Actor(kind=ActorKind.STAFF, id="desk-1")
PROVIDER = Actor(kind=ActorKind.PROVIDER, id="P-3")


def appointment(
    start: datetime,
    *,
    channel: str = "email",
    email: str | None = "anna@example.com",
    timezone: str = "Europe/Warsaw",
    locale: str = "pl",
    provider_email: str | None = "jan@example.com",
) -> AppointmentRequest:
    return AppointmentRequest.model_validate(
        {
            "appointment_id": f"A-{uuid.uuid4().hex[:10]}",
            "client": {
                "id": "C-17",
                "name": "Anna Nowak",
                "email": email,
                "phone": "+48600100200",
                "preferred_channel": channel,
                "locale": locale,
                "timezone": timezone,
            },
            "provider": {"id": "P-3", "name": "Jan Kowalski", "email": provider_email},
            "service": "Physiotherapy consultation",
            "location": "ul. Prosta 1, Warszawa",
            "start": start.isoformat(),
            "duration_minutes": 50,
            "instructions": "Bring previous test results",
        }
    )


def sendgrid_checks(address: str) -> dict[str, str]:
    """The fields SendGrid's Inbound Parse posts beside an email from `address` that passed
    SPF and DKIM for its own domain: without them a reply vouches for nothing."""
    domain = address.rpartition("@")[2].rstrip(">")
    return {
        "SPF": "pass",
        "dkim": f"{{@{domain} : pass}}",
        "envelope": json.dumps({"to": ["reply@promptly.example"], "from": address}),
    }


def next_local(
    after: datetime,
    weekday: int,
    hour: int,
    timezone: str,
    *,
    steady_for: timedelta = timedelta(days=7),
) -> datetime:
    """The first `weekday` (0 = Monday) at `hour`:00 local that is later than `after`, with
    the same UTC offset `steady_for` before and after. Lifecycle tests read local times days apart
    and must not straddle a DST change wherever the shared time-skipping server's clock
    happens to be (the spring DST test leaves it at the end of March); DST itself has tests
    of its own with explicit dates."""
    tz = ZoneInfo(timezone)
    day = after.astimezone(tz).date()
    while True:
        candidate = datetime.combine(day, time(hour), tz)
        offsets = {
            (candidate.astimezone(UTC) + shift).astimezone(tz).utcoffset()
            for shift in (-steady_for, timedelta(0), steady_for)
        }
        if candidate.weekday() == weekday and candidate > after and len(offsets) == 1:
            return candidate
        day += timedelta(days=1)


async def messages(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            # What the channel received: the outbox keeps the live body, the ledger a redacted one.
            # Messages go beside the plan, so two asked for at once (a complaint's acknowledgement
            # and department notice, a booking's confirmation and provider notice) reach the
            # ledger in either order: within a second, the workflow's own order decides (a key
            # ending in a message number; else the client first, as its step comes first).
            r"""SELECT m.*, COALESCE(o.body, m.body) AS body, m.body AS stored_body
                  FROM messages m LEFT JOIN outbox o ON o.message_id = m.id
                 WHERE m.case_id = %s
                 ORDER BY date_trunc('second', m.requested_at),
                          substring(m.idempotency_key from '/(\d+)$')::int NULLS LAST,
                          m.recipient_role <> 'client',
                          m.requested_at, m.id""",
            (case_id,),
        )
        return await cur.fetchall()


SETTLE_SECONDS = 5.0


async def message_of(
    pool: AsyncConnectionPool, case_id: str, template: str, *, within: float = 60.0
) -> dict[str, Any]:
    """The case's `template` message once it is in the ledger: messages follow an update
    beside the plan, so a test waits for them (real seconds, no skipped time).

    A message the ledger holds as `pending` is being sent: it is given a few seconds to
    settle, so that what the channel received (the outbox's live body) is what is compared.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    settle_by: float | None = None
    while True:
        found = [m for m in await messages(pool, case_id) if m["template"] == template]
        if found:
            settle_by = settle_by or loop.time() + SETTLE_SECONDS
            if found[0]["status"] != "pending" or loop.time() > settle_by:
                return found[0]
        elif loop.time() > deadline:
            raise AssertionError(f"no {template} message for {case_id} within {within}s")
        await asyncio.sleep(0.1)


async def tasks(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM staff_tasks WHERE case_id = %s ORDER BY id", (case_id,))
        return await cur.fetchall()


async def provider_decisions(pool: AsyncConnectionPool, *providers: str) -> dict[str, int]:
    """One open no-show excuse decision per provider, each on its own visit, filed as
    `excuse_no_show` files it (assignee `provider`, the provider only in the data): provider →
    task id."""
    filed: dict[str, int] = {}
    async with pool.connection() as conn:
        for provider in providers:
            case_id = f"appointment-A-{uuid.uuid4().hex[:10]}"
            request = CreateTaskRequest(
                idempotency_key=f"{case_id}/excuse/0",
                case_id=case_id,
                kind=TaskKind.PROVIDER_DECISION,
                assignee=RecipientRole.PROVIDER,
                title="Decide on Anna Nowak's no-show excuse",
                due_at=datetime.now(UTC) + timedelta(days=1),
                data={"provider_id": provider},
            )
            filed[provider] = (await insert_task(conn, request)).task_id
    return filed


async def stored_attention(pool: AsyncConnectionPool, case_id: str) -> list[str]:
    """The case's flags as the stored row the API reads has them."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT details -> 'needs_attention' FROM cases WHERE case_id = %s", (case_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return list(row[0])


async def timeline_rows(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM timeline_events WHERE case_id = %s ORDER BY seq", (case_id,)
        )
        return await cur.fetchall()


def close_to(
    actual: datetime, expected: datetime, tolerance: timedelta = timedelta(seconds=5)
) -> bool:
    return abs(actual - expected) <= tolerance


def task_timeout(description: WorkflowExecutionDescription) -> timedelta:
    """The workflow task timeout a run was started with."""
    config = description.raw_description.execution_config
    return config.default_workflow_task_timeout.ToTimedelta()


async def end_workflows(env: WorkflowEnvironment, *workflow_ids: str) -> None:
    """Terminate what a test leaves running: on the shared time-skipping server a workflow
    whose worker has gone, or an activity cut off by termination, stops time from skipping
    for every later test. A minute first lets in-flight activities finish."""
    await env.sleep(timedelta(minutes=1))
    client = env.client
    for workflow_id in workflow_ids:
        try:
            await client.get_workflow_handle(workflow_id).terminate("test over")
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND and "already completed" not in str(err):
                raise


async def until(check: Callable[[], Awaitable[Any]], what: str, tries: int = 150) -> Any:
    """What `check()` returns once it is truthy, asked every 0.1 s (`tries` times at most):
    for something that follows a change beside the plan, in real seconds."""
    for _ in range(tries):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def settled(
    client: Client, workflow_id: str, *, within: float = 30.0, held: str | None = None
) -> None:
    """Wait until the workflow has nothing in flight: no workflow task to run, no activity
    pending, no child running. What it was going to do about what it has been told (a message
    to send, a row to write) is done by then, so a test that checks something did NOT happen
    waits for this instead of for a fixed time.

    `held` names an activity type a test holds on purpose: its attempts do not count. Before
    releasing it into an update that cancels sends, a test waits for everything else: the
    time-skipping server stalls the case for good when a cancellation crosses the completion
    of the send it cancels (ACTIVITY_UNKNOWN), where a real server retries the task."""
    # The raw call: the SDK's `describe()` also decodes the search attributes, and the
    # time-skipping server's datetime values (a complaint's SLA deadline) do not decode.
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        described = await client.workflow_service.describe_workflow_execution(request)
        busy = [a for a in described.pending_activities if a.activity_type.name != held]
        if not (described.HasField("pending_workflow_task") or busy or described.pending_children):
            return
        if loop.time() > deadline:
            raise AssertionError(f"{workflow_id} still busy after {within}s: {described}")
        await asyncio.sleep(0.05)


async def survey_answers(pool: AsyncConnectionPool, case_id: str) -> list[tuple[int, str]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT nps, comment FROM survey_responses WHERE case_id = %s", (case_id,)
        )
        return [(row[0], row[1]) for row in await cursor.fetchall()]


async def billing(pool: AsyncConnectionPool, case_id: str) -> list[tuple[str, str, str]]:
    """(outcome, decided by kind, reason) of each billing decision, oldest first."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT outcome, decided_by_kind, reason FROM billing_outcomes"
            " WHERE case_id = %s ORDER BY id",
            (case_id,),
        )
        return [(row[0], row[1], row[2]) for row in await cursor.fetchall()]


async def sleep_until(env: WorkflowEnvironment, moment: datetime) -> None:
    """Skip the time-skipping server's clock to `moment`."""
    await env.sleep(moment - await env.get_current_time())


def promptly_process(*command: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`promptly <command>` as a process of its own with `env`, as an operator starts it."""
    return subprocess.run(
        [sys.executable, "-m", "promptly.cli.main", *command],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Hold:
    """Holds the first call that `matches` until `release` is set."""

    matches: Callable[[object], bool] = lambda _: False
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_if_held(self, argument: object) -> None:
        if not self.started.is_set() and self.matches(argument):
            self.started.set()
            await self.release.wait()

    async def reached(self) -> None:
        await asyncio.wait_for(self.started.wait(), timeout=30)
