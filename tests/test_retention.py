"""Retention in calendar months: "kept at least six months" means six calendar months after
close (1 July → 1 January), whatever the month lengths."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.maintenance import PurgeRequest
from promptly.domain.retention import months_before, purge_cutoff
from promptly.worker import create_worker
from promptly.workflows.maintenance import PurgeWorkflow
from tests.conftest import migrated_database

WARSAW = ZoneInfo("Europe/Warsaw")
SECOND = timedelta(seconds=1)


def test_six_calendar_months_before_1_january_is_1_july_local() -> None:
    new_year = datetime(2027, 1, 1, tzinfo=WARSAW)
    assert months_before(new_year, 6, "Europe/Warsaw") == datetime(2026, 7, 1, tzinfo=WARSAW)
    # 184 days, more than the 183-day minimum of the setting.
    elapsed = new_year.astimezone(UTC) - datetime(2026, 7, 1, tzinfo=WARSAW).astimezone(UTC)
    assert elapsed == timedelta(days=184, hours=1)


def test_a_day_the_earlier_month_lacks_becomes_its_last_day() -> None:
    assert months_before(datetime(2027, 8, 31, 12, tzinfo=UTC), 6, "UTC") == datetime(
        2027, 2, 28, 12, tzinfo=UTC
    )
    assert months_before(datetime(2028, 8, 31, tzinfo=UTC), 6, "UTC") == datetime(
        2028, 2, 29, tzinfo=UTC
    )


def test_the_cutoff_is_the_older_of_the_setting_and_six_calendar_months() -> None:
    new_year = datetime(2027, 1, 1, tzinfo=WARSAW)
    # 183 days would reach back only to 2 July: six calendar months win.
    assert purge_cutoff(new_year, timedelta(days=183), "Europe/Warsaw") == datetime(
        2026, 7, 1, tzinfo=WARSAW
    )
    # A longer setting wins over the minimum.
    assert purge_cutoff(new_year, timedelta(days=395), "Europe/Warsaw") == new_year - timedelta(
        days=395
    )


@pytest.fixture(scope="module")
def retention_db(database_url: str) -> Iterator[str]:
    with migrated_database(database_url, "promptly_retention") as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def retention_pool(retention_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(retention_db, min_size=1, max_size=4) as opened:
        yield opened


async def _seed_closed(pool: AsyncConnectionPool, case_id: str, closed_at: datetime) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id, created_at,
                                  updated_at)
               VALUES (%s, 'complaint', %s, 'Closed', 'C-9', %s, %s)""",
            (case_id, case_id, closed_at - timedelta(days=2), closed_at),
        )


async def test_retention_in_calendar_months_keeps_a_case_closed_1_july_until_1_january(
    env: WorkflowEnvironment, settings: Settings, retention_pool: AsyncConnectionPool
) -> None:
    settings.retention = timedelta(days=183)  # the smallest retention the settings accept
    settings.office_timezone = "Europe/Warsaw"
    p = f"complaint-R{uuid.uuid4().hex[:6]}-"
    first_of_july = datetime(2026, 7, 1, tzinfo=WARSAW)
    await _seed_closed(retention_pool, f"{p}1-july", first_of_july)
    await _seed_closed(retention_pool, f"{p}30-june", first_of_july - 2 * SECOND)

    async with create_worker(env.client, settings, pool=retention_pool):
        result = await env.client.execute_workflow(
            PurgeWorkflow.run,
            PurgeRequest(now=datetime(2027, 1, 1, tzinfo=WARSAW) - SECOND),
            id=f"purge-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
        )
        # Not a second before 1 January: the case closed on 1 July is still there.
        assert result.cutoff == datetime(2026, 6, 30, 23, 59, 59, tzinfo=WARSAW)
        assert result.cases == 1
        result = await env.client.execute_workflow(
            PurgeWorkflow.run,
            PurgeRequest(now=datetime(2027, 1, 1, tzinfo=WARSAW) + SECOND),
            id=f"purge-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
        )
        assert result.cases == 1  # on 1 January it goes
    async with retention_pool.connection() as conn:
        cursor = await conn.execute("SELECT count(*) FROM cases WHERE case_id LIKE %s", (f"{p}%",))
        assert (await cursor.fetchone()) == (0,)
