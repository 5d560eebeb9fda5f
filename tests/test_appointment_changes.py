"""Appointments that move: cancel, reschedule, delays, no-shows and waivers (SLAs 7–9).

Time-skipping server, real activities, real PostgreSQL; times asserted on stored rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AppointmentStatus,
    AppointmentView,
    BillingOutcome,
    CancelInput,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    ExcuseNoShowInput,
    ReportDelayInput,
    RescheduleInput,
    WaiveFeeInput,
)
from promptly.domain.workflow_timeouts import WORKFLOW_TASK_TIMEOUT
from promptly.services.appointments import book
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
    task_timeout,
    tasks,
)

WARSAW = ZoneInfo("Europe/Warsaw")


async def _templates(pool: AsyncConnectionPool, case_id: str) -> list[str]:
    return [m["template"] for m in await messages(pool, case_id)]


async def _accepted_updates(handle: WorkflowHandle[AppointmentWorkflow, AppointmentView]) -> int:
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def test_reschedule_twice_reminds_only_for_the_final_time(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    first = next_local(booked_at + timedelta(hours=72), 2, 10, "Europe/Warsaw")
    second = first + timedelta(days=2)
    final = first + timedelta(days=7)
    request = appointment(first)
    handle = await book(env.client, request, settings, booked_at)

    await env.sleep(timedelta(hours=1))
    await settled(env.client, handle.id)
    await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=second, actor=CLIENT)
    )
    await env.sleep(timedelta(hours=1))
    await settled(env.client, handle.id)
    view = await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=final, actor=STAFF)
    )
    assert view.start == final and view.status is AppointmentStatus.BOOKED
    assert view.reminder_at == final - timedelta(hours=48)
    await env.sleep(timedelta(minutes=5))
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))

    # Past the old times' reminders and deadlines, up to just after the final reminder.
    await sleep_until(env, final - timedelta(hours=47))
    sent = await messages(pool, request.workflow_id)
    confirmations = [m for m in sent if m["template"] == "confirmation"]
    assert len(confirmations) == 3  # one for each time the visit was at
    assert "10:00" in confirmations[-1]["body"]
    # The client reads a new time as a move, not as a second booking; so does the provider.
    subjects = [m["subject"] for m in confirmations]  # the client reads Polish
    assert subjects[0].startswith("Wizyta zarezerwowana:"), subjects
    assert all(s.startswith("Nowy termin wizyty:") for s in subjects[1:]), subjects
    notices = [m["subject"] for m in sent if m["template"] == "provider_booking"]
    assert len(notices) == 3 and notices[0].startswith(("New booking", "Nowa rezerwacja"))
    assert all(n.startswith(("Booking moved", "Zmiana terminu")) for n in notices[1:]), notices
    reminders = [m for m in sent if m["template"] == "reminder"]
    assert len(reminders) == 1
    assert close_to(reminders[0]["requested_at"], final - timedelta(hours=48))
    assert await tasks(pool, request.workflow_id) == []  # no calls for the old deadlines
    assert await billing(pool, request.workflow_id) == []  # both changes were free
    view = await handle.query(AppointmentWorkflow.status)
    assert view.reschedules == 2 and view.status is AppointmentStatus.CONFIRMED
    await end_workflows(env, handle.id)


@pytest.mark.parametrize(
    ("before_start", "status", "outcome"),
    [
        (timedelta(hours=24, minutes=1), AppointmentStatus.CANCELLED, "cancelled_free"),
        (timedelta(hours=23, minutes=59), AppointmentStatus.LATE_CANCELLED, "late_cancel"),
    ],
)
async def test_cancel_24h_ahead_is_free_and_later_is_late(
    env: WorkflowEnvironment,
    worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    before_start: timedelta,
    status: AppointmentStatus,
    outcome: str,
) -> None:
    booked_at = await env.get_current_time()
    start = booked_at + timedelta(days=3)
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    await sleep_until(env, start - before_start)

    view = await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT)
    )
    assert view.status is status and view.billing == outcome
    assert await billing(pool, request.workflow_id) == [(outcome, "client", "ill")]
    # The update returned at once; its message follows beside the plan.
    notice = await message_of(pool, request.workflow_id, "cancellation")
    assert close_to(notice["requested_at"], start - before_start)
    if status is AppointmentStatus.LATE_CANCELLED:
        assert "it is charged as if it had taken place" in notice["body"]
    else:
        assert "free of charge" in notice["body"]
    # The provider is told too, by email: which visit, and whether it is charged.
    told = await message_of(pool, request.workflow_id, "provider_cancellation")
    assert told["channel"] == "email" and told["recipient_role"] == "provider"
    assert told["subject"].startswith("Cancelled: Physiotherapy consultation with Anna Nowak")
    assert "Anna Nowak has cancelled Physiotherapy consultation" in told["body"]
    assert "Reason: ill\n" in told["body"]
    if status is AppointmentStatus.LATE_CANCELLED:
        assert "less than 24 hours before the visit" in told["body"]
        assert "the late-cancellation fee applies" in told["body"]
    else:
        assert "No fee applies" in told["body"] and "late-cancellation fee" not in told["body"]
    await end_workflows(env, handle.id)


async def test_reschedule_across_the_spring_dst_change_reminds_at_the_right_local_time(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    year = booked_at.year + 1
    # Europe/Warsaw moves to summer time on the last Sunday of March.
    change_day = max(
        day
        for day in (datetime(year, 3, d, tzinfo=WARSAW) for d in range(25, 32))
        if day.weekday() == 6
    )
    before_change = change_day - timedelta(days=4) + timedelta(hours=10)  # Wed 10:00 CET
    after_change = datetime.combine(
        (change_day + timedelta(days=1)).date(), datetime.min.time().replace(hour=10), WARSAW
    )  # Monday 10:00 CEST
    request = appointment(before_change)
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(hours=1))
    view = await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=after_change, actor=CLIENT)
    )
    # 48 real hours before Monday 10:00 CEST is Saturday 09:00 CET, outside quiet hours.
    expected = datetime.combine(
        (change_day - timedelta(days=1)).date(), datetime.min.time().replace(hour=9), WARSAW
    )
    assert view.reminder_at == expected

    await sleep_until(env, expected + timedelta(minutes=1))
    [reminder] = [
        m for m in await messages(pool, request.workflow_id) if m["template"] == "reminder"
    ]
    assert close_to(reminder["requested_at"], expected)
    assert reminder["requested_at"].astimezone(WARSAW).hour == 9
    assert "10:00" in reminder["body"]  # the visit shown in the client's local (summer) time
    await end_workflows(env, handle.id)


async def test_check_in_14_minutes_late_is_not_a_no_show(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    start = booked_at + timedelta(hours=30)
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)
    await sleep_until(env, start + timedelta(minutes=14))
    await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=STAFF))
    await env.sleep(timedelta(hours=1))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.CHECKED_IN
    assert "no_show_notice" not in await _templates(pool, request.workflow_id)
    await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))
    # The survey child would outlive this test's worker: end it before its parent closes.
    await end_workflows(env, f"survey-{handle.id}", handle.id)
    assert await billing(pool, request.workflow_id) == [("held", "provider", "Visit completed")]


async def test_no_show_excuse_and_waiver_give_a_free_reschedule(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    start = booked_at + timedelta(hours=30)
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    await sleep_until(env, start + timedelta(minutes=16))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.NO_SHOW
    no_show_at = next(e.at for e in view.timeline if e.data.get("status") == "NoShow")
    assert close_to(no_show_at, start + timedelta(minutes=15))

    await handle.execute_update(
        AppointmentWorkflow.excuse_no_show, ExcuseNoShowInput(reason="car accident")
    )
    [decision] = [
        t for t in await tasks(pool, request.workflow_id) if t["kind"] == "provider_decision"
    ]
    assert decision["assignee"] == "provider" and "car accident" in decision["details"]
    # The provider is emailed that the decision waits, and until when (in the office's time).
    told = await message_of(pool, request.workflow_id, "provider_decision")
    assert told["channel"] == "email" and told["recipient_role"] == "provider"
    assert "Anna Nowak's no-show excuse" in told["subject"]
    assert "car accident" in told["body"] and "The no-show fee applies" in told["body"]
    due = decision["due_at"].astimezone(WARSAW)
    assert f"Please decide by {due:%A}, {due.day} {due:%B %Y, %H:%M}:" in told["body"]
    view = await handle.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="force majeure", actor=PROVIDER)
    )
    assert view.billing is BillingOutcome.WAIVED and view.free_reschedule
    assert "next visit must be booked and paid anew" not in view.needs_attention

    new_start = start + timedelta(days=3)
    await settled(env.client, handle.id)
    view = await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=CLIENT)
    )
    assert view.status is AppointmentStatus.BOOKED and view.start == new_start
    await env.sleep(timedelta(minutes=5))
    assert await billing(pool, request.workflow_id) == [
        ("no_show", "system", "not checked in"),
        ("waived", "provider", "force majeure"),
    ]
    templates = await _templates(pool, request.workflow_id)
    assert templates.count("confirmation") == 2  # the new time is confirmed again
    assert "no_show_notice" in templates and "fee_waived" in templates
    waived = next(
        m for m in await messages(pool, request.workflow_id) if m["template"] == "fee_waived"
    )
    assert "/c/" in waived["body"]
    await end_workflows(env, handle.id)


async def test_provider_delay_tells_the_client_at_once_and_moves_the_no_show_rule(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    start = booked_at + timedelta(hours=30)
    request = appointment(start, locale="en", timezone="UTC")
    handle = await book(env.client, request, settings, booked_at)
    await sleep_until(env, start - timedelta(minutes=30))
    reported_at = await env.get_current_time()
    view = await handle.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=40, reason="previous visit overran"),
    )
    assert view.delay_minutes == 40 and view.free_reschedule
    notice = await message_of(pool, request.workflow_id, "delay_notice")
    assert close_to(notice["requested_at"], reported_at)
    estimate = (start + timedelta(minutes=40)).astimezone(UTC).strftime("%H:%M")
    assert estimate in notice["body"] and "40 minutes" in notice["body"]

    await env.sleep(timedelta(minutes=30 + 15 + 10))  # past start + 15 min, before start + 55
    assert (await handle.query(AppointmentWorkflow.status)).status is not (
        AppointmentStatus.NO_SHOW
    )
    await env.sleep(timedelta(minutes=45))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.NO_SHOW
    no_show_at = next(e.at for e in view.timeline if e.data.get("status") == "NoShow")
    assert close_to(no_show_at, start + timedelta(minutes=55))
    await end_workflows(env, handle.id)


async def test_provider_cancellation_is_free_and_offers_a_new_time(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    start = booked_at + timedelta(hours=30)
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    await sleep_until(env, start - timedelta(hours=2))
    view = await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="provider ill", actor=PROVIDER)
    )
    assert view.status is AppointmentStatus.CANCELLED
    assert view.billing is BillingOutcome.PROVIDER_CANCELLED and view.free_reschedule
    notice = await message_of(pool, request.workflow_id, "cancellation")
    assert "You will not be charged" in notice["body"] and "/c/" in notice["body"]
    # The provider cancelled: nobody tells them so.
    await settled(env.client, handle.id)
    assert "provider_cancellation" not in await _templates(pool, request.workflow_id)
    await end_workflows(env, handle.id)


async def test_continue_as_new_after_many_reschedules_keeps_the_whole_timeline(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    booked_at = await env.get_current_time()
    start = booked_at + timedelta(days=30)
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)
    first = await handle.describe()
    first_run = first.run_id
    # The short task timeout (quick retry of a task a crashed worker had started) is set at
    # the start and carried over by continue-as-new.
    assert task_timeout(first) == WORKFLOW_TASK_TIMEOUT == timedelta(seconds=5)
    for change in range(1, 13):
        await env.sleep(timedelta(minutes=10))
        await settled(env.client, handle.id)
        await handle.execute_update(
            AppointmentWorkflow.reschedule,
            RescheduleInput(new_start=start + timedelta(days=change), actor=CLIENT),
        )
    await env.sleep(timedelta(minutes=10))
    latest = env.client.get_workflow_handle(handle.id)  # the newest run
    continued = await latest.describe()
    assert continued.run_id != first_run
    assert task_timeout(continued) == WORKFLOW_TASK_TIMEOUT
    view = await latest.query(AppointmentWorkflow.status)
    assert view.reschedules == 12
    assert view.start == start + timedelta(days=12)
    reschedules = [e for e in view.timeline if e.detail.startswith("Rescheduled")]
    assert len(reschedules) == 12
    assert view.timeline[0].detail.startswith("Booked")
    # Updates keep working on the continued run.
    view = await latest.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    assert view.status is AppointmentStatus.CONFIRMED
    await end_workflows(env, handle.id)


async def test_impossible_changes_are_refused_without_a_trace(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    booked_at = await env.get_current_time()
    start = booked_at + timedelta(days=3)
    handle = await book(env.client, appointment(start), settings, booked_at)
    await env.sleep(timedelta(minutes=5))
    accepted = await _accepted_updates(handle)
    now = await env.get_current_time()

    refusals: list[tuple[Any, Any, str]] = [
        (
            AppointmentWorkflow.reschedule,
            RescheduleInput(new_start=now - timedelta(hours=1), actor=CLIENT),
            "not in the future",
        ),
        (
            AppointmentWorkflow.reschedule,
            RescheduleInput(new_start=start, actor=CLIENT),
            "is the current start",
        ),
        (AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER), "expected one of CheckedIn"),
        (
            AppointmentWorkflow.waive_fee,
            WaiveFeeInput(reason="x", actor=PROVIDER),
            "expected one of LateCancelled, NoShow",
        ),
    ]
    for update, argument, message in refusals:
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(update, argument)
        assert message in str(caught.value.cause)

    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="x", actor=CLIENT))
    accepted += 1
    after_cancel: list[tuple[Any, Any, str]] = [
        (
            AppointmentWorkflow.cancel,
            CancelInput(reason="again", actor=CLIENT),
            "already Cancelled",
        ),
        (AppointmentWorkflow.check_in, CheckInInput(actor=STAFF), "already Cancelled"),
    ]
    for update, argument, message in after_cancel:
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(update, argument)
        assert message in str(caught.value.cause)

    # A waiver without a reason never leaves an untyped client either: the payload is refused.
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("waive_fee", {"reason": "", "actor": PROVIDER.model_dump()})
    assert await _accepted_updates(handle) == accepted
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.CANCELLED and view.start == start
    await end_workflows(env, handle.id)
