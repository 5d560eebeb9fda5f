"""Updates landing while a step or another update awaits an activity: both effects survive.

The real activities run, except that one of them is held inside its call (an event the test
releases), so the conflicting update lands exactly in that await.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.client import WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import promptly.worker
from promptly.activities.records import RecordsActivities
from promptly.activities.tasks import TaskActivities
from promptly.config import Settings
from promptly.domain.appointments.models import (
    AppointmentStatus,
    BillingOutcome,
    BillingRecord,
    CancelInput,
    ConfirmInput,
    ReportDelayInput,
    RescheduleInput,
    WaiveFeeInput,
)
from promptly.domain.read_outs import ReadOutClosedInput, ReadOutOutcome
from promptly.domain.tasks import AddToTaskRequest, CreateTaskRequest, TaskKind, TaskRef
from promptly.services.appointments import book
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.appointment_state import PREPAY_FLAG
from tests.helpers import (
    CLIENT,
    PROVIDER,
    STAFF,
    Hold,
    appointment,
    billing,
    end_workflows,
    messages,
    next_local,
    settled,
    sleep_until,
    tasks,
    until,
)
from tests.test_appointment_outage import always_open

H = timedelta(hours=1)


@pytest.fixture
def hold() -> Hold:
    return Hold()


@pytest_asyncio.fixture(loop_scope="session")
async def holding_worker(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    hold: Hold,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Worker]:
    class HeldTasks(TaskActivities):
        @activity.defn(name="create_task")
        async def create_task(self, request: CreateTaskRequest) -> TaskRef:
            await hold.wait_if_held(request)
            return await super().create_task(request)

        @activity.defn(name="add_to_task")
        async def add_to_task(self, request: AddToTaskRequest) -> bool:
            await hold.wait_if_held(request)
            return await super().add_to_task(request)

    class HeldRecords(RecordsActivities):
        @activity.defn(name="record_billing")
        async def record_billing(self, record: BillingRecord) -> None:
            await hold.wait_if_held(record)
            await super().record_billing(record)

    monkeypatch.setattr(promptly.worker, "TaskActivities", HeldTasks)
    monkeypatch.setattr(promptly.worker, "RecordsActivities", HeldRecords)
    always_open(settings)
    async with create_worker(env.client, settings, pool=pool) as running:
        yield running
    hold.release.set()


async def test_confirm_during_call_task_creation_leaves_confirmed_and_the_task_closed(
    env: WorkflowEnvironment,
    holding_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    hold: Hold,
) -> None:
    hold.matches = lambda r: isinstance(r, CreateTaskRequest) and r.kind is TaskKind.CALL_CLIENT
    booked_at = await env.get_current_time()
    start = booked_at + 3 * 24 * H
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    # The first call is planned before the free-cancellation line (follow_up.plan_follow_up).
    first_call = (await handle.query(AppointmentWorkflow.status)).next_call_at
    assert first_call is not None and first_call < start - 24 * H
    # Just past the step: once the held activity runs, the test server stops skipping time
    # and every second still to sleep is a real one (hold.reached() waits for the step).
    await env.sleep(first_call + timedelta(seconds=1) - booked_at)
    await hold.reached()  # the call step is inside create_task

    view = await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    assert view.status is AppointmentStatus.CONFIRMED
    hold.release.set()
    await env.sleep(timedelta(minutes=1))

    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.CONFIRMED and view.next_call_at is None
    [call] = [t for t in await tasks(pool, request.workflow_id) if t["kind"] == "call_client"]
    assert call["status"] == "done" and call["outcome"] == "confirmed"
    await end_workflows(env, handle.id)


async def test_fee_waived_during_the_no_show_billing_stays_waived(
    env: WorkflowEnvironment,
    holding_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    hold: Hold,
) -> None:
    hold.matches = lambda r: isinstance(r, BillingRecord) and r.outcome is BillingOutcome.NO_SHOW
    booked_at = await env.get_current_time()
    start = booked_at + 3 * 24 * H
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    await settled(env.client, handle.id)  # the confirm would cancel the booking's sends in flight
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    await env.sleep(start + timedelta(minutes=15, seconds=1) - booked_at)  # just past the step
    await hold.reached()  # the no-show step is writing its billing

    view = await handle.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="storm", actor=PROVIDER)
    )
    hold.release.set()
    await env.sleep(timedelta(minutes=1))

    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.NO_SHOW
    assert view.billing is BillingOutcome.WAIVED
    assert PREPAY_FLAG not in view.needs_attention
    assert sorted(row[0] for row in await billing(pool, request.workflow_id)) == [
        "no_show",
        "waived",
    ]
    await end_workflows(env, handle.id)


async def test_cancel_during_the_reschedule_billing_is_not_undone(
    env: WorkflowEnvironment,
    holding_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    hold: Hold,
) -> None:
    hold.matches = lambda r: (
        isinstance(r, BillingRecord) and r.outcome is BillingOutcome.LATE_CANCEL
    )
    booked_at = await env.get_current_time()
    start = booked_at + 3 * 24 * H
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(start - 12 * H - booked_at)

    new_start = start + 7 * 24 * H
    reschedule = asyncio.create_task(
        handle.execute_update(
            AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=CLIENT)
        )
    )
    await hold.reached()  # the late reschedule is writing its fee
    # Accepted: the cancel's handler has started inside the workflow, the fee still held.
    cancel = await handle.start_update(
        AppointmentWorkflow.cancel,
        CancelInput(reason="found another", actor=CLIENT),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    await _new_time_announced(pool, request.workflow_id)
    await settled(env.client, handle.id, held="record_billing")
    hold.release.set()
    await reschedule
    cancelled = await cancel.result()

    assert cancelled.status is AppointmentStatus.CANCELLED
    assert cancelled.start == new_start
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.CANCELLED and view.start == new_start
    assert [row[0] for row in await billing(pool, request.workflow_id)] == [
        "late_cancel",
        "cancelled_free",
    ]
    await end_workflows(env, handle.id)


async def _new_time_announced(pool: AsyncConnectionPool, case_id: str) -> None:
    """The plan announces a moved visit beside the update that moved it: the client's
    confirmation and the provider's notice of the new time. Waiting until both are sent keeps
    the cancel that follows from crossing their completion (`helpers.settled` says why)."""

    async def both_sent_twice() -> bool:
        sent = [m["template"] for m in await messages(pool, case_id) if m["status"] != "pending"]
        return sent.count("confirmation") == sent.count("provider_booking") == 2

    await until(both_sent_twice, "the new time's confirmation and provider notice", tries=600)


async def test_a_cancel_while_a_delay_joins_the_open_call_tells_the_client_of_no_delay(
    env: WorkflowEnvironment,
    holding_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    hold: Hold,
) -> None:
    """A phone client's confirmation call carries the provider's 30 min delay. While the newer
    estimate (40 min) is being added to that call, the client cancels and the desk records the
    call unanswered: the visit is cancelled and no delay notice goes for it, and the call's
    script holds one delay line, the newest."""
    # Booked at 09:00 for 14:00: a delay is reported on the day of the visit.
    booked_at = next_local(await env.get_current_time() + 24 * H, 0, 9, "Europe/Warsaw")
    await sleep_until(env, booked_at)
    request = appointment(booked_at + 5 * H, channel="phone", locale="en")
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=10))
    await settled(env.client, handle.id)
    delay = ReportDelayInput(minutes=30, reason="running over", actor=PROVIDER)
    await handle.execute_update(AppointmentWorkflow.report_delay, delay)
    await settled(env.client, handle.id)

    hold.matches = lambda r: isinstance(r, AddToTaskRequest) and "40 min late" in r.addition
    newer = await handle.start_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=10, reason="running over", actor=PROVIDER),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    await hold.reached()  # the 40 min line is being added to the open call
    [call] = [t for t in await tasks(pool, handle.id) if t["kind"] == "call_client"]
    assert "runs 30 min late" in call["details"]
    cancel = await handle.start_update(
        AppointmentWorkflow.cancel,
        CancelInput(reason="cannot wait", actor=CLIENT),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    unanswered = await handle.start_update(
        AppointmentWorkflow.read_out_closed,
        ReadOutClosedInput(
            message_key=f"{handle.id}/confirmation/r0",
            outcome=ReadOutOutcome.NO_ANSWER,
            actor=STAFF,
        ),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    hold.release.set()
    await newer.result()
    assert (await cancel.result()).status is AppointmentStatus.CANCELLED
    await unanswered.result()
    await settled(env.client, handle.id)

    sent = [m["template"] for m in await messages(pool, handle.id)]
    assert "delay_notice" not in sent, sent
    confirmation = f"{handle.id}/confirmation/r0"
    [call] = [t for t in await tasks(pool, handle.id) if t["idempotency_key"] == confirmation]
    assert "runs 40 min late" in call["details"], call["details"]
    assert "runs 30 min late" not in call["details"], call["details"]
    await end_workflows(env, handle.id)
