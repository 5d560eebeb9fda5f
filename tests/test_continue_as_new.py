"""What a case carries into its next run when its history grows long (continue-as-new).

A dev server suggests continue-as-new after 40 events, so a case continues within its first
few steps; what the desk does afterwards must act on what the first run opened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import AcknowledgeInput
from promptly.services.appointments import book
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.conftest import start_dev_server
from tests.helpers import PROVIDER, STAFF, appointment, settled, stored_attention, tasks, until

SUGGEST_AFTER_40 = ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]
NOTICE_FLAG = "provider notice not sent"


@pytest_asyncio.fixture(loop_scope="session")
async def short_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that suggests continue-as-new early."""
    async with await start_dev_server(*SUGGEST_AFTER_40) as environment:
        yield environment


async def _continued_with_notice_task(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> tuple[WorkflowHandle[Any, Any], dict[str, Any]]:
    """A booking whose provider has no email: the provider notice becomes a desk task in the
    first run, and the case has continued as new since."""
    booked_at = await env.get_current_time()
    request = appointment(
        booked_at + timedelta(days=5), provider_email=None, locale="en", timezone="UTC"
    )
    handle = await book(env.client, request, settings, booked_at)
    first_run = (await handle.describe()).run_id
    latest = env.client.get_workflow_handle(handle.id)

    async def continued_with_task() -> dict[str, Any] | None:
        if (await latest.describe()).run_id == first_run:
            return None
        return next(
            (
                task
                for task in await tasks(pool, handle.id)
                if task["status"] == "open" and task["data"].get("template") == "provider_booking"
            ),
            None,
        )

    notice = await until(continued_with_task, "continue-as-new with the notice task", 300)
    await settled(env.client, handle.id)
    assert NOTICE_FLAG in await stored_attention(pool, handle.id)
    return latest, notice


async def test_acknowledge_after_continue_as_new_closes_the_notice_task(
    short_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    async with create_worker(short_env.client, settings, pool=pool):
        handle, notice = await _continued_with_notice_task(short_env, settings, pool)
        await handle.execute_update(
            AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER)
        )
        await settled(short_env.client, handle.id)
        [closed] = [task for task in await tasks(pool, handle.id) if task["id"] == notice["id"]]
        assert closed["status"] != "open"
        assert NOTICE_FLAG not in await stored_attention(pool, handle.id)
        await handle.terminate("test over")


async def test_passed_on_after_continue_as_new_clears_the_flag(
    short_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    async with create_worker(short_env.client, settings, pool=pool):
        handle, notice = await _continued_with_notice_task(short_env, settings, pool)
        passed_on = TaskCompletion(outcome="passed_on", note="phoned the provider")
        await complete_task(short_env.client, pool, settings, notice["id"], passed_on, STAFF)
        await settled(short_env.client, handle.id)
        assert NOTICE_FLAG not in await stored_attention(pool, handle.id)
        await handle.terminate("test over")
