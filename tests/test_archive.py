"""The history archive and the retention purge (DESIGN.md §5).

The archive lists closed workflows through Temporal visibility, which the time-skipping
server lacks, so this module runs a dev server of its own (and a database of its own, so
the purge's counts are exact).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from psycopg.errors import InsufficientPrivilege
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner, Result

from promptly.activities.archive import CASE_WORKFLOW_TYPES, ArchiveActivities
from promptly.cli.main import app
from promptly.config import Settings
from promptly.domain.complaints.models import CloseComplaintInput, ComplaintStatus
from promptly.domain.maintenance import ArchiveRequest, PurgeInput, PurgeRequest
from promptly.domain.ui_views import runs_query
from promptly.services.complaints import file_complaint
from promptly.services.history import load_case
from promptly.services.history_models import Format
from promptly.services.history_render import render_case
from promptly.services.history_replay import replay_archived
from promptly.services.setup import (
    ARCHIVE_SCHEDULE_ID,
    PURGE_SCHEDULE_ID,
    ensure_schedules,
    schedules,
)
from promptly.worker import create_worker, data_converter
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.maintenance import ArchiveWorkflow, PurgeWorkflow
from tests.complaint_helpers import SUPERVISOR, complaint
from tests.conftest import migrated_database, start_dev_server

RETENTION = timedelta(days=200)


@pytest.fixture(scope="module")
def archive_db(database_url: str) -> Iterator[str]:
    with migrated_database(database_url, "promptly_archive") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def archive_pool(archive_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(archive_db, min_size=1, max_size=4) as opened:
        yield opened


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_dev_server() as environment:
        yield environment


@pytest.fixture
def fast(archive_db: str) -> Settings:
    """Real time on the dev server: every policy duration × 1e-5 (48h ≈ 1.7s)."""
    return Settings(
        database_url=archive_db,
        task_queue=f"promptly-archive-{uuid.uuid4().hex[:8]}",
        time_scale=0.00001,
        complaint_survey_after=timedelta(0),
        retention=RETENTION,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def dev_worker(
    dev: WorkflowEnvironment, fast: Settings, archive_pool: AsyncConnectionPool
) -> AsyncIterator[Worker]:
    async with create_worker(dev.client, fast, pool=archive_pool) as running:
        yield running


async def _archived(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT case_id, run_id, workflow_type, status, closed_at, history::text AS history"
            " FROM history_archive WHERE case_id = %s",
            (case_id,),
        )
        return await cur.fetchall()


async def _closed_complaint(client: Client, settings: Settings) -> str:
    handle = await file_complaint(client, complaint(), settings)
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    final = await handle.result()
    assert final.status is ComplaintStatus.CLOSED and final.survey_sent
    return handle.id


async def _archive_until_found(
    client: Client, settings: Settings, pool: AsyncConnectionPool, case_id: str
) -> list[int]:
    """Run ArchiveWorkflow until visibility has shown it the case; the `archived` counts."""
    counts = []
    for attempt in range(20):
        result = await client.execute_workflow(
            ArchiveWorkflow.run,
            ArchiveRequest(),
            id=f"archive-test-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
        counts.append(result.archived)
        if await _archived(pool, case_id):
            return counts
        await asyncio.sleep(0.25 * attempt)
    raise AssertionError(f"{case_id} was never archived: {counts}")


async def test_closed_case_is_archived_once_and_replays_and_exports_the_same(
    dev: WorkflowEnvironment, dev_worker: Worker, fast: Settings, archive_pool: AsyncConnectionPool
) -> None:
    case_id = await _closed_complaint(dev.client, fast)
    async with archive_pool.connection() as conn:
        live_export = render_case(
            await load_case(conn, case_id, "Europe/Warsaw", dev.client), Format.JSON
        )

    await _archive_until_found(dev.client, fast, archive_pool, case_id)
    [row] = await _archived(archive_pool, case_id)
    history = await dev.client.get_workflow_handle(case_id).fetch_history()
    assert row["workflow_type"] == "ComplaintWorkflow" and row["status"] == "COMPLETED"
    # The same events (protobuf map fields serialize in no fixed order, so compare parsed).
    assert json.loads(row["history"]) == json.loads(history.to_json())
    assert row["run_id"] == history.run_id

    # Idempotent: a second run finds it archived and copies nothing.
    again = await dev.client.execute_workflow(
        ArchiveWorkflow.run, ArchiveRequest(), id="archive-again", task_queue=fast.task_queue
    )
    assert again.archived == 0 and again.already_archived >= 1
    assert len(await _archived(archive_pool, case_id)) == 1

    # The archived histories replay on the current code (`promptly history replay`).
    async with archive_pool.connection() as conn:
        replayed = await replay_archived(conn, data_converter())
    assert case_id in {outcome.case_id for outcome in replayed}
    assert [o for o in replayed if o.failure] == []

    # The same case exported from PostgreSQL alone (as once Temporal has forgotten it).
    async with archive_pool.connection() as conn:
        archived_export = render_case(await load_case(conn, case_id, "Europe/Warsaw"), Format.JSON)
    assert archived_export == live_export


def test_the_archive_lists_closed_case_runs_after_the_watermark() -> None:
    since = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert runs_query(CASE_WORKFLOW_TYPES, running=False, since=since) == (
        "WorkflowType IN ('AppointmentWorkflow', 'ComplaintWorkflow', 'SurveyWorkflow', "
        "'InquiryWorkflow') AND ExecutionStatus != 'Running'"
        " AND CloseTime > '2026-03-01T12:30:00.000000Z'"
    )
    assert "CloseTime" not in runs_query(CASE_WORKFLOW_TYPES, running=False)


async def test_setup_creates_the_schedules_once_and_they_run(
    dev: WorkflowEnvironment, dev_worker: Worker, fast: Settings, archive_pool: AsyncConnectionPool
) -> None:
    assert await ensure_schedules(dev.client, fast) == list(schedules(fast))
    assert {ARCHIVE_SCHEDULE_ID, PURGE_SCHEDULE_ID} <= set(schedules(fast))
    archive = dev.client.get_schedule_handle(ARCHIVE_SCHEDULE_ID)
    await archive.pause(note="ops paused it")
    assert await ensure_schedules(dev.client, fast) == []  # idempotent, keeps the pause
    described = await archive.describe()
    assert described.schedule.state.paused
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "ArchiveWorkflow" and action.task_queue == fast.task_queue
    purge = await dev.client.get_schedule_handle(PURGE_SCHEDULE_ID).describe()
    assert isinstance(purge.schedule.action, ScheduleActionStartWorkflow)
    assert purge.schedule.action.workflow == "PurgeWorkflow"
    assert purge.schedule.spec.intervals[0].every == timedelta(days=1)

    # A scheduled run archives what closed.
    case_id = await _closed_complaint(dev.client, fast)
    for _ in range(40):
        await archive.trigger()
        await asyncio.sleep(0.5)
        if await _archived(archive_pool, case_id):
            break
    assert await _archived(archive_pool, case_id)
    for schedule_id in schedules(fast):
        await dev.client.get_schedule_handle(schedule_id).delete()


# --- the purge ------------------------------------------------------------------------------


async def _seed(
    pool: AsyncConnectionPool,
    case_id: str,
    status: str,
    updated_at: datetime,
    archive: tuple[str, datetime] | None = None,
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id, created_at,
                                  updated_at)
               VALUES (%s, 'appointment', %s, %s, 'C-9', %s, %s)""",
            (case_id, case_id, status, updated_at - timedelta(days=3), updated_at),
        )
        await conn.execute(
            """INSERT INTO timeline_events (case_id, seq, at, kind, actor_kind, actor_id, detail)
               VALUES (%s, 0, %s, 'status', 'system', 'promptly', 'Booked')""",
            (case_id, updated_at),
        )
        await conn.execute(
            """INSERT INTO messages (idempotency_key, case_id, template, channel, recipient_role,
                                     recipient, locale, subject, body, status, requested_at)
               VALUES (%s, %s, 'confirmation', 'email', 'client', 'a@example.com', 'en', 's',
                       'b', 'sent', %s)""",
            (f"{case_id}/confirmation/0", case_id, updated_at),
        )
        await conn.execute(
            """INSERT INTO staff_tasks (idempotency_key, case_id, kind, assignee, title, due_at)
               VALUES (%s, %s, 'call_client', 'front_desk', 'Call', %s)""",
            (f"{case_id}/call/1", case_id, updated_at),
        )
        await conn.execute(
            """INSERT INTO promises (case_id, promise, case_kind, business_id, client_id,
                                     verdict, promised_at, due_at, revision)
               VALUES (%s, 'confirmation_within_24h', 'appointment', %s, 'C-9', 'kept',
                       %s, %s, 1)""",
            (case_id, case_id, updated_at - timedelta(days=3), updated_at - timedelta(days=2)),
        )
        if archive is not None:
            status_of_run, closed_at = archive
            await conn.execute(
                """INSERT INTO history_archive (case_id, run_id, workflow_type, status,
                                                started_at, closed_at, history)
                   VALUES (%s, %s, 'AppointmentWorkflow', %s, %s, %s, %s)""",
                (
                    case_id,
                    uuid.uuid4().hex,
                    status_of_run,
                    closed_at - timedelta(days=3),
                    closed_at,
                    Jsonb({"events": []}),
                ),
            )


async def _remaining(pool: AsyncConnectionPool, prefix: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    async with pool.connection() as conn:
        for table in (
            "cases",
            "timeline_events",
            "messages",
            "staff_tasks",
            "promises",
            "history_archive",
        ):
            cursor = await conn.execute(
                f"SELECT DISTINCT case_id FROM {table} WHERE case_id LIKE %s", (f"{prefix}%",)
            )
            found[table] = {row[0].removeprefix(prefix) for row in await cursor.fetchall()}
    return found


async def test_purge_deletes_exactly_what_closed_before_the_retention(
    dev: WorkflowEnvironment, archive_pool: AsyncConnectionPool
) -> None:
    now = datetime(2027, 6, 1, 3, 0, tzinfo=UTC)
    cutoff = now - RETENTION
    second = timedelta(seconds=1)
    p = f"appointment-P{uuid.uuid4().hex[:6]}-"
    await _seed(archive_pool, f"{p}closed-before", "Completed", cutoff - second)
    await _seed(archive_pool, f"{p}closed-at-cutoff", "NoShow", cutoff)
    await _seed(archive_pool, f"{p}closed-after", "Cancelled", cutoff + second)
    # Never purged while running, however old its last record.
    await _seed(archive_pool, f"{p}running", "Booked", cutoff - timedelta(days=90))
    await _seed(
        archive_pool,
        f"{p}continued",
        "Booked",
        cutoff - timedelta(days=90),
        archive=("CONTINUED_AS_NEW", cutoff - timedelta(days=90)),
    )
    # Terminated by an operator: closed in Temporal though its status is not final.
    await _seed(
        archive_pool,
        f"{p}terminated",
        "Booked",
        cutoff - timedelta(days=90),
        archive=("TERMINATED", cutoff - second),
    )
    # Its last record is old, but Temporal closed it only after the cutoff.
    await _seed(
        archive_pool,
        f"{p}closed-late",
        "Completed",
        cutoff - timedelta(days=2),
        archive=("COMPLETED", cutoff + second),
    )

    acts = ArchiveActivities(dev.client, archive_pool, RETENTION)
    result = await ActivityEnvironment().run(acts.purge_expired, PurgeInput(now=now))

    assert result.cutoff == cutoff and result.retention == RETENTION
    assert (result.cases, result.timeline_events, result.messages, result.staff_tasks) == (
        2,
        2,
        2,
        2,
    )
    assert result.archived_histories == 1 and result.promises == 2
    kept = {"closed-at-cutoff", "closed-after", "running", "continued", "closed-late"}
    remaining = await _remaining(archive_pool, p)
    for table in ("cases", "timeline_events", "messages", "staff_tasks", "promises"):
        assert remaining[table] == kept, table
    assert remaining["history_archive"] == {"continued", "closed-late"}

    # Again, one second later: the case closed exactly at the old cutoff goes too.
    again = await ActivityEnvironment().run(acts.purge_expired, PurgeInput(now=now + second))
    assert again.cases == 1
    assert (await _remaining(archive_pool, p))["cases"] == kept - {"closed-at-cutoff"}


async def test_purge_workflow_uses_the_worker_retention(
    dev: WorkflowEnvironment, dev_worker: Worker, fast: Settings
) -> None:
    now = datetime.now(UTC)
    result = await dev.client.execute_workflow(
        PurgeWorkflow.run, PurgeRequest(now=now), id="purge-test", task_queue=fast.task_queue
    )
    assert result.retention == RETENTION and result.cutoff == now - RETENTION


async def test_timeline_rows_cannot_be_changed_or_deleted_outside_the_purge(
    archive_pool: AsyncConnectionPool,
) -> None:
    case_id = f"appointment-T{uuid.uuid4().hex[:6]}"
    await _seed(archive_pool, case_id, "Completed", datetime.now(UTC))
    for statement in (
        "UPDATE timeline_events SET detail = 'rewritten' WHERE case_id = %s",
        "DELETE FROM timeline_events WHERE case_id = %s",
    ):
        async with archive_pool.connection() as conn:
            with pytest.raises(InsufficientPrivilege, match="append-only"):
                await conn.execute(statement, (case_id,))
    async with archive_pool.connection() as conn:
        with pytest.raises(InsufficientPrivilege, match="append-only"):
            await conn.execute("TRUNCATE timeline_events CASCADE")
    async with archive_pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT detail FROM timeline_events WHERE case_id = %s", (case_id,)
        )
        assert await cursor.fetchall() == [("Booked",)]


# --- promptly setup on a cluster ------------------------------------------------------------


async def test_setup_checks_the_namespace_and_creates_it_only_when_asked(
    dev: WorkflowEnvironment, archive_db: str
) -> None:
    namespace = f"promptly-{uuid.uuid4().hex[:8]}"
    env = {
        "PROMPTLY_TEMPORAL_ADDRESS": dev.client.service_client.config.target_host,
        "PROMPTLY_TEMPORAL_NAMESPACE": namespace,
        "PROMPTLY_DATABASE_URL": archive_db,
        "PROMPTLY_RETENTION": "P200D",
    }
    runner = CliRunner()

    async def promptly_setup(*flags: str) -> Result:
        return await asyncio.to_thread(lambda: runner.invoke(app, ["setup", *flags], env=env))

    missing = await promptly_setup()
    assert missing.exit_code == 1
    assert f"namespace '{namespace}' does not exist" in missing.output
    assert "--create-namespace" in missing.output

    first = await promptly_setup("--create-namespace")
    assert first.exit_code == 0, first.output
    assert f"namespace {namespace}: created, history retention 200d" in first.output
    assert "schedules created: promptly-archive, promptly-purge" in first.output

    again = await promptly_setup("--create-namespace")
    assert again.exit_code == 0, again.output
    assert f"namespace {namespace}: exists, history retention 200d" in again.output
    assert "search attributes added: none (all present)" in again.output
    assert "schedules created: none (all present, updated)" in again.output
    scheduled = [
        listed.id
        async for listed in await Client(
            dev.client.service_client, namespace=namespace
        ).list_schedules()
    ]
    assert sorted(scheduled) == sorted(schedules(Settings(retention=RETENTION)))
