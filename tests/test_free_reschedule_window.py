"""A free reschedule granted by a waiver or a provider cancellation stays usable for the life
of the client link that offers it (setting `link_ttl`), not only a day after the visit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AppointmentStatus,
    CancelInput,
    RescheduleInput,
    WaiveFeeInput,
)
from promptly.services.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow
from tests.complaint_helpers import advance_to
from tests.helpers import CLIENT, PROVIDER, appointment, end_workflows, message_of, settled


async def status_becomes(handle: Any, wanted: AppointmentStatus, within: float = 30.0) -> None:
    """The status once the workflow has processed what the skipped time made due (a busy
    worker may still be on it when the test server's sleep returns)."""
    for _ in range(int(within * 10)):
        if (await handle.query(AppointmentWorkflow.status)).status is wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not {wanted} within {within}s")


async def test_free_reschedule_after_a_waiver_stays_usable_for_the_life_of_the_link(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=3))
    handle = await book(env.client, request, settings, booked_at)
    await advance_to(env, request.start + timedelta(minutes=20))
    await status_becomes(handle, AppointmentStatus.NO_SHOW)
    waived_at = await env.get_current_time()
    await handle.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="flooded road", actor=PROVIDER)
    )
    notice = await message_of(pool, request.workflow_id, "fee_waived")
    assert "/c/" in notice["body"]  # the reschedule link the client holds

    # Well past a day after the visit (when the case used to close), the link still works.
    await advance_to(env, waived_at + settings.link_ttl - timedelta(days=1))
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    new_start = await env.get_current_time() + timedelta(days=4)
    view = await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=CLIENT)
    )
    assert view.status is AppointmentStatus.BOOKED and view.start == new_start
    await end_workflows(env, request.workflow_id, f"survey-{request.workflow_id}")


async def test_free_reschedule_after_a_provider_cancellation_lasts_as_long_as_the_link(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=3))
    handle = await book(env.client, request, settings, booked_at)
    await settled(env.client, handle.id)  # the booking's sends, before a cancel makes them moot
    cancelled_at = await env.get_current_time()
    view = await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="provider ill", actor=PROVIDER)
    )
    assert view.status is AppointmentStatus.CANCELLED and view.free_reschedule
    await message_of(pool, request.workflow_id, "cancellation")

    await advance_to(env, cancelled_at + timedelta(days=5))
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    # Once the link has expired nothing can use it: the case ends.
    await advance_to(env, cancelled_at + settings.link_ttl + timedelta(hours=1))
    final = await handle.result()
    assert final.status is AppointmentStatus.CANCELLED
