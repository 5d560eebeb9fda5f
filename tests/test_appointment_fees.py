"""Fees that match what the messages say, the client running late, phone outcomes that act.

Time-skipping server, real activities, real PostgreSQL; billing asserted on the stored rows,
messages on what the SendGrid fake received.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments import fees as appointment_fees
from promptly.domain.appointments.models import (
    AppointmentStatus,
    AppointmentView,
    BillingOutcome,
    CallOutcome,
    CancelInput,
    RecordCallOutcomeInput,
    ReportDelayInput,
    RescheduleInput,
    WaiveFeeInput,
)
from promptly.services.appointments import book
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import (
    CLIENT,
    PROVIDER,
    STAFF,
    appointment,
    billing,
    close_to,
    end_workflows,
    message_of,
    messages,
    next_local,
    settled,
    sleep_until,
    tasks,
    until,
)

Handle = WorkflowHandle[AppointmentWorkflow, AppointmentView]


async def _booked_30h_ahead(
    env: WorkflowEnvironment, settings: Settings
) -> tuple[Handle, str, datetime]:
    """A case and its start, taken from the booking: a status query sent at once could reach
    the case before its first workflow task on a starved machine."""
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(hours=30), locale="en", timezone="UTC")
    handle = await book(env.client, request, settings, booked_at)
    return handle, request.workflow_id, request.start


async def test_after_a_provider_delay_the_client_may_cancel_free_of_charge(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, start = await _booked_30h_ahead(env, settings)
    await sleep_until(env, start - timedelta(hours=2))
    await handle.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=40, reason="previous visit overran", actor=PROVIDER),
    )
    # The delay notice offers a free change; a cancellation 2h before is therefore not late.
    # The cancel must not cross the delay notice's completion (docs/testing.md: a stall on the
    # time-skipping server); every second update below waits the same way.
    await settled(env.client, handle.id)
    view = await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="cannot wait", actor=CLIENT)
    )
    assert view.status is AppointmentStatus.CANCELLED
    assert view.billing is BillingOutcome.CANCELLED_FREE
    assert await billing(pool, case_id) == [("cancelled_free", "client", "cannot wait")]
    notice = await message_of(pool, case_id, "cancellation")
    assert "free of charge" in notice["body"]
    await end_workflows(env, handle.id)


async def test_after_a_provider_cancellation_the_client_may_reschedule_free_of_charge(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, start = await _booked_30h_ahead(env, settings)
    await sleep_until(env, start - timedelta(hours=2))
    await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="provider ill", actor=PROVIDER)
    )
    notice = await message_of(pool, case_id, "cancellation")
    assert "You will not be charged" in notice["body"]
    await settled(env.client, handle.id)
    view = await handle.execute_update(
        AppointmentWorkflow.reschedule,
        RescheduleInput(new_start=start + timedelta(hours=20), actor=CLIENT),
    )
    assert view.status is AppointmentStatus.BOOKED and view.billing is None
    assert await billing(pool, case_id) == [("provider_cancelled", "provider", "provider ill")]
    await end_workflows(env, handle.id)


async def test_a_reschedule_asked_for_by_the_provider_is_never_charged(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, start = await _booked_30h_ahead(env, settings)
    await sleep_until(env, start - timedelta(hours=2))
    view = await handle.execute_update(
        AppointmentWorkflow.reschedule,
        RescheduleInput(new_start=start + timedelta(hours=4), actor=PROVIDER),
    )
    assert view.start == start + timedelta(hours=4) and view.reschedules == 1
    # The same change asked for by the client an hour later is late and charged.
    await env.sleep(timedelta(hours=1))
    await settled(env.client, handle.id)
    await handle.execute_update(
        AppointmentWorkflow.reschedule,
        RescheduleInput(new_start=start + timedelta(hours=6), actor=CLIENT),
    )
    assert await billing(pool, case_id) == [("late_cancel", "client", "late reschedule")]
    # Only the confirmation of the client's late move tells them of the fee.
    await settled(env.client, handle.id)

    async def confirmations() -> list[str]:
        sent = [m for m in await messages(pool, case_id) if m["template"] == "confirmation"]
        return [m["body"] for m in sent] if len(sent) == 3 else []

    booked, moved_by_provider, moved_late = await until(confirmations, "three confirmations")
    charged = "You moved it less than 24 hours before the earlier time, so that visit is charged"
    assert charged not in booked and charged not in moved_by_provider
    assert charged in moved_late and "your provider may waive the fee" in moved_late
    await end_workflows(env, handle.id)


async def test_a_late_reschedule_fee_can_be_waived(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, start = await _booked_30h_ahead(env, settings)
    await sleep_until(env, start - timedelta(hours=2))
    new_start = start + timedelta(days=2)
    await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=CLIENT)
    )
    assert await billing(pool, case_id) == [("late_cancel", "client", "late reschedule")]

    await settled(env.client, handle.id)
    view = await handle.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="storm warning", actor=PROVIDER)
    )
    # The fee is lifted; the visit at its new time stands.
    assert view.status is AppointmentStatus.BOOKED and view.start == new_start
    assert await billing(pool, case_id) == [
        ("late_cancel", "client", "late reschedule"),
        ("waived", "provider", "storm warning"),
    ]
    waived = await message_of(pool, case_id, "fee_waived")
    assert "storm warning" in waived["body"]
    # It was the move's fee: the visit keeps its new time, and the notice says so.
    assert "waived the fee for moving your" in waived["body"]
    assert "Your visit stays on" in waived["body"]
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="again", actor=PROVIDER)
        )
    assert "expected one of LateCancelled, NoShow" in str(caught.value.cause)
    # The reminder of the new time says what the waiver granted, not the usual late-change
    # fee; and a cancellation under 24h is indeed free.
    await sleep_until(env, new_start - timedelta(hours=23))

    async def second_reminder() -> dict[str, Any] | None:
        reminders = [m for m in await messages(pool, case_id) if m["template"] == "reminder"]
        return reminders[1] if len(reminders) > 1 else None

    reminder = await until(second_reminder, "the reminder of the new time")
    assert "Cancelling or rescheduling this visit is free of charge." in reminder["body"]
    assert "charged" not in reminder["body"]
    await sleep_until(env, new_start - timedelta(hours=3))
    view = await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="flu", actor=CLIENT)
    )
    assert view.status is AppointmentStatus.CANCELLED
    assert (await billing(pool, case_id))[-1] == ("cancelled_free", "client", "flu")
    await end_workflows(env, handle.id)


async def test_a_second_delay_is_accepted_while_the_moved_no_show_time_has_not_passed(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, start = await _booked_30h_ahead(env, settings)
    await sleep_until(env, start - timedelta(minutes=10))
    await handle.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=30, reason="previous visit overran", actor=PROVIDER),
    )
    # Past start + 15 min, before the moved no-show time (start + 45 min).
    await sleep_until(env, start + timedelta(minutes=20))
    await settled(env.client, handle.id)
    view = await handle.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=20, reason="still with a patient", actor=PROVIDER),
    )
    assert view.delay_minutes == 50 and view.status is not AppointmentStatus.NO_SHOW
    await sleep_until(env, start + timedelta(minutes=66))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.NO_SHOW
    no_show_at = next(e.at for e in view.timeline if e.data.get("status") == "NoShow")
    assert close_to(no_show_at, start + timedelta(minutes=65))
    notices = [m for m in await messages(pool, case_id) if m["template"] == "delay_notice"]
    assert len(notices) == 2 and "50 minutes" in notices[-1]["body"]
    # The no-show notice names the moment that applied, not "15 minutes after the start".
    missed = await message_of(pool, case_id, "no_show_notice")
    assert "You were not checked in by " in missed["body"]
    # The client reads UTC, the office Warsaw time: the time names the client's zone.
    moment = f"{(start + timedelta(minutes=65)):%H:%M} (Coordinated Universal Time)"
    assert f", {moment} for your " in missed["body"]
    await end_workflows(env, handle.id)


async def test_a_client_running_late_moves_the_no_show_moment_up_to_the_limit(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, start = await _booked_30h_ahead(env, settings)
    await sleep_until(env, start - timedelta(minutes=5))
    view = await handle.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=40, reason="stuck in traffic", actor=CLIENT),
    )
    # Counted up to the 15-minute limit; the provider did not run late.
    assert view.delay_minutes == 0 and not view.free_reschedule
    await sleep_until(env, start + timedelta(minutes=25))
    assert (await handle.query(AppointmentWorkflow.status)).status is not (
        AppointmentStatus.NO_SHOW
    )
    await sleep_until(env, start + timedelta(minutes=31))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.NO_SHOW
    no_show_at = next(e.at for e in view.timeline if e.data.get("status") == "NoShow")
    assert close_to(no_show_at, start + timedelta(minutes=30))
    assert await billing(pool, case_id) == [("no_show", "system", "not checked in")]
    # Nobody tells the client that the provider runs late.
    assert "delay_notice" not in [m["template"] for m in await messages(pool, case_id)]
    await end_workflows(env, handle.id)


async def test_a_client_running_late_changes_no_fee_rule(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, start = await _booked_30h_ahead(env, settings)
    await sleep_until(env, start - timedelta(minutes=30))
    await handle.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=10, reason="bus late", actor=CLIENT),
    )
    await settled(env.client, handle.id)
    view = await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="will not make it", actor=CLIENT)
    )
    assert view.status is AppointmentStatus.LATE_CANCELLED
    assert await billing(pool, case_id) == [("late_cancel", "client", "will not make it")]
    await end_workflows(env, handle.id)


async def _at_the_first_call(
    env: WorkflowEnvironment, settings: Settings
) -> tuple[Handle, str, AppointmentView]:
    """A visit the client never confirmed, at its first follow-up call task."""
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(hours=72), 2, 10, "Europe/Warsaw")
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    first_call = (await handle.query(AppointmentWorkflow.status)).next_call_at
    assert first_call is not None
    await sleep_until(env, first_call + timedelta(minutes=1))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.call_attempts == 1
    return handle, request.workflow_id, view


async def test_a_phone_cancellation_applies_the_cancellation_with_its_fee_rule(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, before = await _at_the_first_call(env, settings)
    now = await env.get_current_time()
    late = appointment_fees.is_late_change(before.start, now, settings.appointment_policy())
    view = await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(
            outcome=CallOutcome.REACHED_CANCELLED, note="moving abroad", actor=STAFF
        ),
    )
    expected = "late_cancel" if late else "cancelled_free"
    assert view.status is (
        AppointmentStatus.LATE_CANCELLED if late else AppointmentStatus.CANCELLED
    )
    assert await billing(pool, case_id) == [(expected, "staff", "moving abroad")]
    assert "client asked by phone to cancel" not in view.needs_attention
    assert [t["status"] for t in await tasks(pool, case_id)] == ["done"]
    notice = await message_of(pool, case_id, "cancellation")
    assert notice["template"] == "cancellation"
    await end_workflows(env, handle.id)


async def test_a_phone_reschedule_moves_the_visit_to_the_agreed_time(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    handle, case_id, before = await _at_the_first_call(env, settings)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            AppointmentWorkflow.record_call_outcome,
            RecordCallOutcomeInput(outcome=CallOutcome.REACHED_RESCHEDULED, actor=STAFF),
        )
    assert "reached_rescheduled needs new_start" in str(caught.value.cause)

    now = await env.get_current_time()
    charged = appointment_fees.is_late_change(before.start, now, settings.appointment_policy())
    agreed = before.start + timedelta(days=7)
    view = await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(
            outcome=CallOutcome.REACHED_RESCHEDULED, new_start=agreed, actor=STAFF
        ),
    )
    # Agreed with the desk on the call: the new time is confirmed.
    assert view.start == agreed and view.status is AppointmentStatus.CONFIRMED
    assert view.reschedules == 1 and view.call_attempts == 0
    expected = [("late_cancel", "staff", "late reschedule")] if charged else []
    assert await billing(pool, case_id) == expected
    assert [t["status"] for t in await tasks(pool, case_id)] == ["done"]
    await end_workflows(env, handle.id)


async def test_the_messages_state_the_terms_the_office_set(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    office = settings.model_copy(
        update={
            "late_change_within": timedelta(hours=12),
            "no_show_after": timedelta(minutes=10),
            "task_queue": f"terms-{uuid.uuid4().hex[:6]}",
        }
    )
    async with create_worker(env.client, office, pool=pool):
        booked_at = await env.get_current_time()
        request = appointment(booked_at + timedelta(days=5), locale="en")
        handle = await book(env.client, request, office, booked_at)
        confirmation = (await message_of(pool, request.workflow_id, "confirmation"))["body"]
        await end_workflows(env, handle.id)
    assert "cancelling or rescheduling at least 12 hours ahead is free" in confirmation
    assert "arrived within 10 minutes of the start" in confirmation
    assert "24 hours" not in confirmation and "15 minutes" not in confirmation
