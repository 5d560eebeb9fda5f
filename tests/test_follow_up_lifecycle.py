"""Follow-up calls before the free-cancellation line, on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta

from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AppointmentStatus,
    CallOutcome,
    RecordCallOutcomeInput,
    RescheduleInput,
)
from promptly.services.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import (
    CLIENT,
    STAFF,
    appointment,
    close_to,
    end_workflows,
    messages,
    next_local,
    settled,
    sleep_until,
    tasks,
    timeline_rows,
    until,
)


async def test_monday_0900_visit_is_called_on_friday_before_the_free_cancellation_line(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(days=7), 0, 9, "Europe/Warsaw")
    friday = start - timedelta(days=3)
    call_times = [friday.replace(hour=h, minute=45) for h in (13, 15, 17)]
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)

    view = await handle.query(AppointmentWorkflow.status)
    assert view.follow_up_rule == "before_free_cancellation"
    assert view.response_deadline == call_times[0]
    assert view.max_call_attempts == 3

    for attempt, due in enumerate(call_times, start=1):
        await sleep_until(env, due + timedelta(minutes=5))
        assert (await handle.query(AppointmentWorkflow.status)).call_attempts == attempt
        await handle.execute_update(
            AppointmentWorkflow.record_call_outcome,
            RecordCallOutcomeInput(outcome=CallOutcome.NO_ANSWER, note="voicemail", actor=STAFF),
        )

    calls = await tasks(pool, request.workflow_id)
    assert [t["kind"] for t in calls] == ["call_client"] * 3
    # Each call is due before the next one, the last 2h after it (the calls give up then).
    dues = [*call_times[1:], call_times[-1] + timedelta(hours=2)]
    for task, due in zip(calls, dues, strict=True):
        assert close_to(task["due_at"], due)
        # Every call is before Sunday 09:00: a cancellation taken on it is still free.
        assert task["due_at"] < start - timedelta(hours=24)

    decisions = [
        row
        for row in await timeline_rows(pool, request.workflow_id)
        if row["kind"] == "decision" and "follow-up call" in row["detail"]
    ]
    assert len(decisions) == 1
    assert "before the free-cancellation line" in decisions[0]["detail"]
    await end_workflows(env, request.workflow_id)


async def test_booking_with_no_office_hour_before_the_line_says_so_in_the_case(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    now = await env.get_current_time()
    saturday = next_local(now + timedelta(days=1), 5, 10, "Europe/Warsaw")
    await env.sleep(saturday - now)
    start = saturday + timedelta(days=2) - timedelta(hours=1)  # Monday 09:00
    request = appointment(start)
    handle = await book(env.client, request, settings, await env.get_current_time())

    view = await handle.query(AppointmentWorkflow.status)
    assert view.follow_up_rule == "no_room_before_free_cancellation"
    assert view.next_call_at == start.replace(hour=8)

    # Stored by the booking's first save, which may still be running when the query answers.
    async def decision_stored() -> bool:
        rows = await timeline_rows(pool, request.workflow_id)
        return any("No office hour before the free-cancellation line" in r["detail"] for r in rows)

    await until(decision_stored, "the booking's follow-up decision in PostgreSQL")
    assert view.status is AppointmentStatus.BOOKED
    await end_workflows(env, request.workflow_id)


async def test_a_reschedule_notes_the_calls_planned_for_the_new_time(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """The calls are planned afresh for the new time, and the case says by which rule: a
    visit moved on Saturday to Monday 09:00 has no office hour before its free-cancellation
    line, where the booking's visit a week later had three calls on the Friday before."""
    now = await env.get_current_time()
    saturday = next_local(now + timedelta(days=1), 5, 10, "Europe/Warsaw")
    await env.sleep(saturday - now)
    monday = saturday + timedelta(days=2) - timedelta(hours=1)  # 09:00
    request = appointment(monday + timedelta(days=7))
    handle = await book(env.client, request, settings, await env.get_current_time())
    assert (await handle.query(AppointmentWorkflow.status)).follow_up_rule == (
        "before_free_cancellation"
    )
    # The booking's messages out first: the reschedule would cancel them in flight (settled).
    await settled(env.client, handle.id)

    moved = await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=monday, actor=CLIENT)
    )
    await env.sleep(timedelta(seconds=1))
    assert moved.follow_up_rule == "no_room_before_free_cancellation"
    assert moved.next_call_at == monday.replace(hour=8)

    async def call_plans() -> list[str]:
        rows = await timeline_rows(pool, request.workflow_id)
        plans = [r["detail"] for r in rows if r["kind"] == "decision" and "call(s)" in r["detail"]]
        return plans if len(plans) == 2 else []

    booked_plan, moved_plan = await until(call_plans, "the reschedule's call plan in PostgreSQL")
    assert "all in office hours before the free-cancellation line" in booked_plan
    # The line (Sunday 09:00) and the one call (Monday 08:00), in the visit's zone.
    line, call = monday - timedelta(hours=24), monday.replace(hour=8)
    assert moved_plan == (
        f"No office hour before the free-cancellation line {line.isoformat()}: 1 follow-up "
        f"call(s) from {call.isoformat()} before the visit; a cancellation on such a call is late"
    )
    await end_workflows(env, request.workflow_id)


async def test_phone_reminder_call_is_in_office_hours_not_on_a_closed_saturday(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(days=7), 0, 9, "Europe/Warsaw")
    request = appointment(start, channel="phone")
    handle = await book(env.client, request, settings, booked_at)
    reminder_at = (start - timedelta(days=3)).replace(hour=17, minute=45)  # Friday
    assert (await handle.query(AppointmentWorkflow.status)).reminder_at == reminder_at

    await sleep_until(env, reminder_at + timedelta(minutes=5))
    reminders = [
        m for m in await messages(pool, request.workflow_id) if m["template"] == "reminder"
    ]
    assert len(reminders) == 1
    assert reminders[0]["channel"] == "phone"
    assert close_to(reminders[0]["requested_at"], reminder_at)
    # The front desk reads it out: no client link, which would act as the client if clicked.
    [call] = [t for t in await tasks(pool, request.workflow_id) if "read out: Przyp" in t["title"]]
    assert "/c/" not in call["details"] and "(ask the client)" in call["details"]
    await end_workflows(env, request.workflow_id)


async def test_a_call_task_inside_24h_warns_of_the_fee_and_says_when_there_is_no_phone(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    # Booked on a Tuesday 14:00 for Wednesday 10:00: the calls fall in Tuesday's office hours.
    start = next_local(await env.get_current_time() + timedelta(days=3), 2, 10, "Europe/Warsaw")
    await sleep_until(env, start - timedelta(hours=20))
    booked_at = await env.get_current_time()
    request = appointment(start, channel="email")
    request = request.model_copy(
        update={"client": request.client.model_copy(update={"phone": None})}
    )
    await book(env.client, request, settings, booked_at)
    for _ in range(20):  # the calls come before the visit, in office hours
        calls = [t for t in await tasks(pool, request.workflow_id) if t["kind"] == "call_client"]
        if calls:
            break
        await env.sleep(timedelta(hours=1))
    details = calls[0]["details"]
    assert "No phone on file: write to anna@example.com or find a number." in details
    assert (
        "Cancelling or moving the visit now is late: it counts as held and is charged." in details
    )
    await end_workflows(env, request.workflow_id)
