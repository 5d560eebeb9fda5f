"""What a case carries into its next run when its history grows long (continue-as-new).

A dev server suggests continue-as-new after 40 events, so a case continues within its first
few steps; what the desk does afterwards must act on what the first run opened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import AcknowledgeInput
from promptly.domain.complaints.models import (
    AddNoteInput,
    ComplaintStatus,
    CustomerVerdictInput,
    ProposeResolutionInput,
)
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from tests.complaint_helpers import AGENT, CUSTOMER, complaint, complaint_payload
from tests.conftest import start_dev_server
from tests.helpers import (
    PROVIDER,
    STAFF,
    appointment,
    close_to,
    settled,
    stored_attention,
    tasks,
    timeline_rows,
    until,
)
from tests.sendgrid_fake import SendGridFake
from tests.test_appointment_outage import always_open

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


# A complaint's 24h escalation comes 26 s after filing.
SCALE = 0.0003
ACK_FLAG = "complaint ack not delivered"


async def _runs(env: WorkflowEnvironment, workflow_id: str) -> int:
    return len([run async for run in env.client.list_workflows(f"WorkflowId = '{workflow_id}'")])


async def test_a_long_complaint_continues_as_new_and_keeps_its_case(
    short_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    """Notes grow the history until Temporal suggests a new run: the complaint continues with
    its timeline, deadlines, flag and open task, and still escalates and closes on time."""
    env = short_env
    always_open(settings)
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    settings.time_scale = SCALE
    customer = complaint_payload()["customer"] | {"email": "anna-bounce@example.com"}
    request = complaint(customer=customer)
    async with create_worker(env.client, settings, pool=pool):
        handle = await file_complaint(env.client, request, settings)
        first = await until(
            lambda: _open_task(pool, handle.id), "the task to pass on the acknowledgement"
        )
        await settled(env.client, handle.id)
        before = await handle.query(ComplaintWorkflow.status)
        assert ACK_FLAG in before.needs_attention
        for number in range(8):
            await handle.execute_update(
                ComplaintWorkflow.add_note, AddNoteInput(text=f"note {number}", actor=AGENT)
            )
        await settled(env.client, handle.id)
        assert await _runs(env, handle.id) > 1

        view = await handle.query(ComplaintWorkflow.status)
        assert view.sla_deadline == before.sla_deadline
        assert view.next_escalation_at == before.next_escalation_at
        assert ACK_FLAG in view.needs_attention
        details = [entry.detail for entry in view.timeline]
        assert details[0].startswith("Complaint received")
        assert [d for d in details if d.startswith("Internal note")] == [
            f"Internal note: note {number}" for number in range(8)
        ]
        stored = await timeline_rows(pool, handle.id)
        assert [row["seq"] for row in stored] == list(range(len(details)))
        assert [row["detail"] for row in stored] == details

        # The task opened in the first run is still the case's: done, its flag goes.
        passed_on = TaskCompletion(outcome="passed_on", note="phoned the customer")
        await complete_task(env.client, pool, settings, first["id"], passed_on, STAFF)
        view = await handle.query(ComplaintWorkflow.status)
        assert ACK_FLAG not in view.needs_attention

        escalated = await until(
            lambda: _escalated(handle), "the 24h escalation", tries=int(60 / 0.1)
        )
        assert before.next_escalation_at is not None
        assert close_to(escalated, before.next_escalation_at, timedelta(seconds=5))

        await handle.execute_update(
            ComplaintWorkflow.propose_resolution,
            ProposeResolutionInput(resolution="A refund and an apology.", actor=AGENT),
        )
        view = await handle.execute_update(
            ComplaintWorkflow.customer_verdict,
            CustomerVerdictInput(satisfied=True, actor=CUSTOMER),
        )
        assert view.status is ComplaintStatus.CLOSED
        # Closed, it waits for its end without continuing again.
        await asyncio.sleep(3)
        await settled(env.client, handle.id)
        await handle.terminate("test over")


async def _open_task(pool: AsyncConnectionPool, case_id: str) -> dict[str, Any] | None:
    return next((task for task in await tasks(pool, case_id) if task["status"] == "open"), None)


async def _escalated(handle: WorkflowHandle[Any, Any]) -> Any:
    """When the complaint escalated to level 1 (its timeline's entry), once it has."""
    view = await handle.query(ComplaintWorkflow.status)
    if view.escalation_level < 1:
        await asyncio.sleep(0.5)
        return None
    return next(entry.at for entry in view.timeline if entry.data.get("level") == 1)
