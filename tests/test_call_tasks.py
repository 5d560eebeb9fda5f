"""The front desk's follow-up calls as the desk and the client see them: what a call task says,
and what follows a call that moved the visit or reached a wrong number (time-skipping server,
real PostgreSQL and activities)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.commands import ReportDelayInput
from promptly.domain.appointments.models import (
    AppointmentRequest,
    AppointmentStatus,
    CallOutcome,
    RecordCallOutcomeInput,
)
from promptly.domain.readable_time import readable
from promptly.services.appointments import book
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import (
    PROVIDER,
    STAFF,
    appointment,
    end_workflows,
    messages,
    next_local,
    settled,
    sleep_until,
    tasks,
    until,
)

OFFICE = "Europe/Warsaw"  # the test settings' office zone


async def _first_call(
    env: WorkflowEnvironment,
    settings: Settings,
    *,
    timezone: str = OFFICE,
    channel: str = "email",
) -> tuple[AppointmentRequest, WorkflowHandle[Any, Any], datetime]:
    """A Monday 09:00 visit booked a week ahead, its client silent: the clock is moved past
    its first follow-up call (Friday 13:45 office time), whose task is open. Returns the
    booking, its workflow and the visit's start as the case stores it."""
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(days=7), 0, 9, OFFICE)
    first_call = (start - timedelta(days=3)).replace(hour=13, minute=45)
    request = appointment(start, timezone=timezone, channel=channel)
    handle = await book(env.client, request, settings, booked_at)
    await sleep_until(env, first_call + timedelta(minutes=5))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.call_attempts == 1
    return request, handle, view.start


async def _call_tasks(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    return [t for t in await tasks(pool, case_id) if t["kind"] == "call_client"]


async def test_a_call_task_gives_the_visit_in_the_clients_time_and_language(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """A client abroad: the title says the visit in office time with the zone named, so two
    cases' calls read apart; the details say it as the desk will on the phone."""
    request, handle, start = await _first_call(env, settings, timezone="America/New_York")
    (call,) = await _call_tasks(pool, request.workflow_id)
    attempts = (await handle.query(AppointmentWorkflow.status)).max_call_attempts
    assert call["title"] == (
        f"Call Anna Nowak about the visit on {readable(start, OFFICE)} (attempt 1 of {attempts})"
    )
    assert (
        f"on {readable(start, 'America/New_York')} (the client's time; "
        f"{readable(start, OFFICE)} office time)" in call["details"]
    )
    assert "Client's language: Polish." in call["details"]
    assert "Phone: +48600100200." in call["details"]
    await end_workflows(env, request.workflow_id)


async def test_a_new_time_agreed_on_the_phone_is_confirmed_and_not_called_about(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request, handle, start = await _first_call(env, settings)
    new_start = start + timedelta(days=1)
    view = await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(
            outcome=CallOutcome.REACHED_RESCHEDULED,
            new_start=new_start,
            note="agreed on the phone",
            actor=STAFF,
        ),
    )
    assert view.status is AppointmentStatus.CONFIRMED
    assert view.next_call_at is None

    # Past every call the new time could have had before its free-cancellation line.
    await sleep_until(env, new_start - timedelta(hours=25))
    await settled(env.client, handle.id)
    assert len(await _call_tasks(pool, request.workflow_id)) == 1
    assert (await handle.query(AppointmentWorkflow.status)).status is AppointmentStatus.CONFIRMED
    # The client is told the new time (in Polish), and not asked to confirm it again.
    moved = [
        m for m in await messages(pool, request.workflow_id) if m["template"] == "confirmation"
    ]
    assert moved[-1]["subject"].startswith("Nowy termin wizyty")
    assert "Prosimy o potwierdzenie przybycia" not in moved[-1]["body"]
    assert "Prosimy o potwierdzenie przybycia" in moved[0]["body"]  # the booking's asked
    await end_workflows(env, request.workflow_id)


async def test_a_phone_client_who_agreed_a_new_time_on_the_call_is_not_called_again(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """The desk and a phone client agree a new time on the confirmation call: the desk said
    the new time there and then, so no second call is opened to read it out or confirm it."""
    request, handle, start = await _first_call(env, settings, channel="phone")
    before = {t["id"] for t in await _call_tasks(pool, request.workflow_id)}
    new_start = start + timedelta(days=1)
    view = await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(
            outcome=CallOutcome.REACHED_RESCHEDULED,
            new_start=new_start,
            note="agreed on the phone",
            actor=STAFF,
        ),
    )
    assert view.status is AppointmentStatus.CONFIRMED
    await sleep_until(env, await env.get_current_time() + timedelta(minutes=30))
    await settled(env.client, handle.id)
    calls = await _call_tasks(pool, request.workflow_id)
    assert [t["title"] for t in calls if t["id"] not in before] == []
    assert [t["title"] for t in calls if t["status"] == "open"] == []
    timeline = (await handle.query(AppointmentWorkflow.status)).timeline
    assert any("agreed on the call" in e.detail for e in timeline)
    await end_workflows(env, request.workflow_id)


async def test_a_wrong_number_asks_the_desk_for_the_right_one_and_emails_the_client(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request, handle, start = await _first_call(env, settings)
    view = await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(
            outcome=CallOutcome.WRONG_NUMBER, note="a bakery answered", actor=STAFF
        ),
    )
    assert view.status is AppointmentStatus.UNCONFIRMED

    async def desk_task() -> list[dict[str, Any]]:
        return [t for t in await tasks(pool, request.workflow_id) if t["kind"] == "client_reply"]

    (task,) = await until(desk_task, "the desk's task to find the right number")
    assert task["status"] == "open"
    assert task["title"] == "Wrong number for Anna Nowak: +48600100200"
    assert f"on {readable(start, OFFICE)}: +48600100200 is a wrong number." in task["details"]
    assert "The message went by email to anna@example.com" in task["details"]

    async def emailed() -> list[dict[str, Any]]:
        return [
            m
            for m in await messages(pool, request.workflow_id)
            if m["template"] == "confirmation" and "+48600100200" in m["body"]
        ]

    (email,) = await until(emailed, "the visit emailed to the client")
    assert email["channel"] == "email" and email["recipient"] == "anna@example.com"
    assert "ale to nie jest Państwa numer" in email["body"]
    assert "Prosimy o potwierdzenie przybycia" in email["body"]

    async def alerted() -> list[dict[str, Any]]:
        return [
            m
            for m in await messages(pool, request.workflow_id)
            if m["template"] == "supervisor_alert" and "is not Anna Nowak's" in m["body"]
        ]

    (alert,) = await until(alerted, "the supervisor's wrong-number alert")
    assert "Email: anna@example.com." in alert["body"]
    await end_workflows(env, request.workflow_id)


async def _read_outs(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    """The desk's open calls to read the client a message (not follow-up call attempts)."""
    return [
        t
        for t in await _call_tasks(pool, case_id)
        if t["status"] == "open" and "attempt" not in t["data"]
    ]


async def test_a_phone_clients_reminder_call_waits_for_the_confirmation_call(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """Three phone clients booked on Monday 10:00 for Thursday 15:00; the desk has not made
    their confirmation calls when the reminders fall due (Tuesday 15:00, before any follow-up
    call): each still has one call in the desk's list. A client the confirmation call then
    reaches was reminded by it; one it did not reach gets the reminder as a call of its own
    when the desk would ring them back, not at once (the next section), and one whose call
    nobody recorded gets it before the window ends."""
    booked_at = next_local(await env.get_current_time(), 0, 10, OFFICE)
    start = next_local(booked_at + timedelta(days=3), 3, 15, OFFICE)
    await sleep_until(env, booked_at)
    reached, missed, unrecorded = (appointment(start, channel="phone") for _ in range(3))
    handles = [
        await book(env.client, request, settings, await env.get_current_time())
        for request in (reached, missed, unrecorded)
    ]
    reminder_at = start - timedelta(hours=48)
    assert (await handles[0].query(AppointmentWorkflow.status)).reminder_at == reminder_at

    await sleep_until(env, reminder_at + timedelta(minutes=5))
    for handle in handles:
        await settled(env.client, handle.id)
    for request in (reached, missed, unrecorded):
        [call] = await _read_outs(pool, request.workflow_id)
        assert call["title"].startswith("Call Anna Nowak to confirm"), call["title"]

    async def desk_says(request: AppointmentRequest, outcome: str) -> None:
        [call] = await _read_outs(pool, request.workflow_id)
        done = TaskCompletion(outcome=outcome)
        await complete_task(env.client, pool, settings, call["id"], done, STAFF)

    await desk_says(reached, "reached")
    await desk_says(missed, "no_answer")
    missed_at = await env.get_current_time()
    for handle in handles:
        await settled(env.client, handle.id)

    assert await _read_outs(pool, reached.workflow_id) == []
    view = await handles[0].query(AppointmentWorkflow.status)
    assert view.reminder_sent
    assert any("reminded them" in e.detail for e in view.timeline)
    assert "reminder" not in [m["template"] for m in await messages(pool, reached.workflow_id)]

    # Rung back at the next follow-up attempt's time (2h on, Tuesday 17:05): checked there.
    await _rung_back(env, pool, handles[1], missed, missed_at)

    # A call nobody recorded holds the reminder back until the last office hour 2h before
    # its window ends (Wednesday 12:45): the client is still reminded.
    await sleep_until(env, start - timedelta(hours=26))
    await settled(env.client, handles[2].id)
    confirm, remind = [t["title"] for t in await _read_outs(pool, unrecorded.workflow_id)]
    assert confirm.startswith("Call Anna Nowak to confirm"), confirm
    assert remind.startswith("Call Anna Nowak and read out: Przyp"), remind
    await end_workflows(env, *(h.id for h in handles))


async def _open_calls(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    return [t for t in await _call_tasks(pool, case_id) if t["status"] == "open"]


async def _rung_back(
    env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    handle: WorkflowHandle[Any, Any],
    request: AppointmentRequest,
    missed_at: datetime,
) -> None:
    """The desk recorded the confirmation call `no_answer` at `missed_at` (Tuesday 15:05), the
    reminder waiting for it: the desk is not asked to ring the client straight back. Nothing is
    in its list for them, nor read out, until the next follow-up attempt's time (17:05); then
    one call carries the reminder and asks the client to confirm, due by the reminder's end."""
    await settled(env.client, handle.id)
    assert await _open_calls(pool, request.workflow_id) == []
    view = await handle.query(AppointmentWorkflow.status)
    assert any(
        "not answered: the reminder is read out at the next call" in e.detail for e in view.timeline
    ), [e.detail for e in view.timeline]
    await sleep_until(env, missed_at + timedelta(hours=1, minutes=50))
    await settled(env.client, handle.id)
    assert await _open_calls(pool, request.workflow_id) == []
    assert "reminder" not in [m["template"] for m in await messages(pool, request.workflow_id)]

    await sleep_until(env, missed_at + timedelta(hours=2, minutes=10))
    await settled(env.client, handle.id)
    [reminder] = await _open_calls(pool, request.workflow_id)
    assert reminder["title"].startswith("Call Anna Nowak and read out: Przyp"), reminder["title"]
    # By the end of the reminder's window (24h before the visit), asking for the confirmation.
    assert reminder["due_at"] == request.start - timedelta(hours=24)
    assert "(ask the client)" in reminder["details"], reminder["details"]
    read = [m for m in await messages(pool, request.workflow_id) if m["template"] == "reminder"]
    assert [m["channel"] for m in read] == ["phone"]


async def test_a_reminder_due_soon_after_an_unanswered_confirmation_call_waits_for_the_ring_back(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """A phone client booked on Monday 10:00 for Thursday 15:00: the desk records the
    confirmation call unanswered on Tuesday 14:00, an hour before the reminder is due. The
    reminder's call comes when the desk would ring the client back (16:00), not at 15:00."""
    booked_at = next_local(await env.get_current_time(), 0, 10, OFFICE)
    start = next_local(booked_at + timedelta(days=3), 3, 15, OFFICE)
    await sleep_until(env, booked_at)
    request = appointment(start, channel="phone")
    handle = await book(env.client, request, settings, await env.get_current_time())
    reminder_at = start - timedelta(hours=48)
    await sleep_until(env, reminder_at - timedelta(hours=1))
    await settled(env.client, handle.id)
    [call] = await _read_outs(pool, request.workflow_id)
    assert call["title"].startswith("Call Anna Nowak to confirm"), call["title"]
    done = TaskCompletion(outcome="no_answer")
    await complete_task(env.client, pool, settings, call["id"], done, STAFF)
    missed_at = await env.get_current_time()

    await sleep_until(env, reminder_at + timedelta(minutes=30))
    await settled(env.client, handle.id)
    assert await _open_calls(pool, request.workflow_id) == []
    await sleep_until(env, missed_at + timedelta(hours=2, minutes=10))
    await settled(env.client, handle.id)
    [reminder] = await _open_calls(pool, request.workflow_id)
    assert reminder["title"].startswith("Call Anna Nowak and read out: Przyp"), reminder["title"]
    assert reminder["due_at"] == start - timedelta(hours=24)
    await end_workflows(env, handle.id)


async def test_a_delay_reported_while_the_confirmation_call_is_open_is_read_out_on_that_call(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """Two phone clients booked on Monday 09:00 for 14:00; the provider reports running 30 min
    late at 09:10, the desk's confirmation calls still open: each client still has one call in
    the desk's list, whose script now says the delay. A call that reaches the client told
    them; after one that did not, the delay notice is read out as a call of its own."""
    booked_at = next_local(await env.get_current_time(), 0, 9, OFFICE)
    await sleep_until(env, booked_at)
    start = booked_at + timedelta(hours=5)
    reached, missed = (appointment(start, channel="phone") for _ in range(2))
    handles = [
        await book(env.client, request, settings, booked_at) for request in (reached, missed)
    ]
    await sleep_until(env, booked_at + timedelta(minutes=10))
    for handle in handles:
        await settled(env.client, handle.id)
        await handle.execute_update(
            AppointmentWorkflow.report_delay,
            ReportDelayInput(minutes=30, reason="running over", actor=PROVIDER),
        )
        await settled(env.client, handle.id)
    later = readable(start + timedelta(minutes=30), OFFICE)
    for request in (reached, missed):
        [call] = await _open_calls(pool, request.workflow_id)
        assert call["title"].startswith("Call Anna Nowak to confirm"), call["title"]
        assert "the provider runs 30 min late" in call["details"], call["details"]
        assert f"starts at about {later}" in call["details"], call["details"]
        sent = [m["template"] for m in await messages(pool, request.workflow_id)]
        assert "delay_notice" not in sent, sent

    for request, outcome in ((reached, "reached"), (missed, "no_answer")):
        [call] = await _open_calls(pool, request.workflow_id)
        done = TaskCompletion(outcome=outcome)
        await complete_task(env.client, pool, settings, call["id"], done, STAFF)
    for handle in handles:
        await settled(env.client, handle.id)

    assert await _open_calls(pool, reached.workflow_id) == []
    sent = [m["template"] for m in await messages(pool, reached.workflow_id)]
    assert "delay_notice" not in sent, sent
    [notice] = await _open_calls(pool, missed.workflow_id)
    assert "Opóźnienie ok. 30 min" in notice["title"], notice["title"]
    await end_workflows(env, *(h.id for h in handles))
