"""After a no-show the client's next visit is prepaid, until that no-show is waived."""

from __future__ import annotations

import uuid
from datetime import timedelta

from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AppointmentRequest,
    AppointmentStatus,
    AppointmentView,
    WaiveFeeInput,
)
from promptly.services.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import PROVIDER, appointment, end_workflows, message_of, sleep_until


def for_client(request: AppointmentRequest, client_id: str) -> AppointmentRequest:
    client = request.client.model_copy(update={"id": client_id})
    return request.model_copy(update={"client": client})


async def client_flag(pool: AsyncConnectionPool, client_id: str) -> bool:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT prepayment_required FROM clients WHERE client_id = %s", (client_id,)
        )
        row = await cursor.fetchone()
    return bool(row and row[0])


async def test_next_visit_after_a_no_show_is_prepaid_until_the_no_show_is_waived(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    client_id = f"C-{uuid.uuid4().hex[:8]}"
    now = await env.get_current_time()
    missed = for_client(appointment(now + timedelta(days=3), locale="en"), client_id)
    missed_handle = await book(env.client, missed, settings, now)
    body = (await message_of(pool, missed.workflow_id, "confirmation"))["body"]
    assert "Prepayment required" not in body
    assert f"Reference: {missed.appointment_id}" in body
    first = await missed_handle.query(AppointmentWorkflow.status)
    assert first.prepayment_required is False

    await sleep_until(env, missed.start + timedelta(minutes=20))
    assert (await missed_handle.query(AppointmentWorkflow.status)).status is (
        AppointmentStatus.NO_SHOW
    )
    assert await client_flag(pool, client_id)

    now = await env.get_current_time()
    prepaid = for_client(appointment(now + timedelta(days=3), locale="en"), client_id)
    prepaid_handle = await book(env.client, prepaid, settings, now)
    body = (await message_of(pool, prepaid.workflow_id, "confirmation"))["body"]
    view: AppointmentView = await prepaid_handle.query(AppointmentWorkflow.status)
    assert view.prepayment_required is True
    assert "Prepayment required: because a previous visit was missed, this visit" in body

    polish = for_client(appointment(now + timedelta(days=4), locale="pl"), client_id)
    await book(env.client, polish, settings, now)
    body = (await message_of(pool, polish.workflow_id, "confirmation"))["body"]
    assert "Wymagana przedpłata" in body

    await missed_handle.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="force majeure", actor=PROVIDER)
    )
    assert not await client_flag(pool, client_id)
    now = await env.get_current_time()
    after_waiver = for_client(appointment(now + timedelta(days=5), locale="en"), client_id)
    after_handle = await book(env.client, after_waiver, settings, now)
    body = (await message_of(pool, after_waiver.workflow_id, "confirmation"))["body"]
    assert (await after_handle.query(AppointmentWorkflow.status)).prepayment_required is False
    assert "Prepayment required" not in body
    await end_workflows(
        env,
        missed.workflow_id,
        prepaid.workflow_id,
        polish.workflow_id,
        after_waiver.workflow_id,
    )
