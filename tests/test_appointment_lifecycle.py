"""Whole appointment lifecycles on the time-skipping server with the real activities.

Times are asserted on the message and task rows the activities wrote to PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta

from psycopg_pool import AsyncConnectionPool
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentStatus,
    CallOutcome,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    RecordCallOutcomeInput,
)
from promptly.domain.readable_time import readable
from promptly.domain.surveys.models import SurveyAnswer, SurveyStatus, SurveyView
from promptly.domain.workflow_timeouts import WORKFLOW_TASK_TIMEOUT
from promptly.services.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.survey import SurveyWorkflow
from tests.helpers import (
    CLIENT,
    PROVIDER,
    STAFF,
    appointment,
    close_to,
    end_workflows,
    messages,
    next_local,
    sleep_until,
    stored_attention,
    survey_answers,
    task_timeout,
    tasks,
    timeline_rows,
)


async def test_client_confirms_and_still_gets_the_reminder_48h_before(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    # A Wednesday 10:00 visit: its 48h mark (Monday 10:00) is outside quiet hours.
    start = next_local(booked_at + timedelta(hours=72), 2, 10, "Europe/Warsaw")
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)

    await env.sleep(timedelta(minutes=5))
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER))
    view = await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    assert view.status is AppointmentStatus.CONFIRMED

    await env.sleep(start - await env.get_current_time() - timedelta(minutes=10))
    await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=STAFF))
    await env.sleep(timedelta(minutes=20))
    await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))

    # The survey goes 2h after the end of the visit; the client answers as a promoter.
    await sleep_until(env, request.end + timedelta(hours=3))
    survey = env.client.get_workflow_handle(f"survey-{handle.id}", result_type=SurveyView)
    assert task_timeout(await survey.describe()) == WORKFLOW_TASK_TIMEOUT  # not the 10 s default
    answered = await survey.execute_update(
        SurveyWorkflow.answer, SurveyAnswer(nps=9, comment="Great")
    )
    assert answered.status is SurveyStatus.ANSWERED
    assert (await survey.result()).answer == SurveyAnswer(nps=9, comment="Great")
    final = await handle.result()

    assert final.status is AppointmentStatus.COMPLETED
    sent = await messages(pool, request.workflow_id)
    # No provider configured: every message waits in the outbox, and the ledger says so.
    assert [(m["template"], m["recipient_role"], m["status"]) for m in sent] == [
        ("confirmation", "client", "queued_in_outbox"),
        ("provider_booking", "provider", "queued_in_outbox"),
        ("reminder", "client", "queued_in_outbox"),
    ]
    assert final.billing == "held"
    assert close_to(sent[0]["requested_at"], booked_at)
    assert close_to(sent[2]["requested_at"], start - timedelta(hours=48))
    # The client's language and timezone: Polish text, 10:00 Warsaw time.
    assert "Przypomnienie" in sent[2]["subject"] and "10:00" in sent[2]["body"]
    assert "/c/" in sent[0]["body"]
    assert await tasks(pool, request.workflow_id) == []
    statuses = [e.data.get("status") for e in final.timeline if e.kind == "status"]
    assert statuses == ["Booked", "Confirmed", "CheckedIn", "Completed"]
    confirmed = next(e for e in final.timeline if e.data.get("status") == "Confirmed")
    assert confirmed.actor == CLIENT
    stored = await timeline_rows(pool, request.workflow_id)
    assert [row["detail"] for row in stored] == [e.detail for e in final.timeline]

    [survey_message] = await messages(pool, survey.id)
    assert survey_message["template"] == "survey"
    assert close_to(survey_message["requested_at"], request.end + timedelta(hours=2))
    assert "/c/" in survey_message["body"]
    assert await survey_answers(pool, handle.id) == [(9, "Great")]


async def test_silent_client_gets_three_calls_then_is_unconfirmed_and_supervisor_told(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(hours=72), 2, 10, "Europe/Warsaw")
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)

    # The three calls fit in office hours before the free-cancellation line (Tuesday 10:00):
    # Monday 15:45 and 17:45, Tuesday 08:00.
    monday = start - timedelta(days=2)
    deadline = monday.replace(hour=15, minute=45)
    call_times = [
        deadline,
        monday.replace(hour=17, minute=45),
        start.replace(hour=8) - timedelta(days=1),
    ]
    line = start - timedelta(hours=24)
    await sleep_until(env, deadline + timedelta(minutes=5))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.call_attempts == 1 and view.status is AppointmentStatus.BOOKED
    await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(outcome=CallOutcome.NO_ANSWER, note="voicemail", actor=STAFF),
    )
    await sleep_until(env, line + timedelta(minutes=5))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.UNCONFIRMED
    # The last call, left without an outcome, counts as unanswered as the second did: the
    # desk's list has no call left for a client the supervisor now handles.
    details = [e.detail for e in view.timeline]
    assert "No outcome recorded for call attempt 3: treated as no answer" in details
    last = (await tasks(pool, request.workflow_id))[2]
    assert (last["status"], last["outcome"]) == ("done", "no_outcome")
    final = await handle.result()  # nobody checks in: no-show 15 minutes after the start
    assert final.status is AppointmentStatus.NO_SHOW

    calls = await tasks(pool, request.workflow_id)
    assert [t["kind"] for t in calls] == ["call_client"] * 3
    # Each call is due before the next one, the last before the free-cancellation line.
    for task, due in zip(calls, [*call_times[1:], line], strict=True):
        assert close_to(task["due_at"], due)
    assert calls[0]["status"] == "done" and calls[0]["outcome"] == "no_answer"

    sent = await messages(pool, request.workflow_id)
    alerts = [m for m in sent if m["template"] == "supervisor_alert"]
    assert [m["subject"] for m in alerts] == [
        f"[Promptly] Provider has not acknowledged: {request.workflow_id}",
        f"[Promptly] Client unconfirmed: {request.workflow_id}",
    ]
    assert close_to(alerts[0]["requested_at"], booked_at + timedelta(hours=24))
    assert close_to(alerts[1]["requested_at"], line)
    # The supervisor reads the visit in office time, and is told which.
    assert "10:00 (Europe/Warsaw) with Jan Kowalski" in alerts[1]["body"]
    reminder = next(m for m in sent if m["template"] == "reminder")
    assert close_to(reminder["requested_at"], start - timedelta(hours=48))
    no_show = [e for e in final.timeline if e.data.get("status") == "NoShow"]
    assert len(no_show) == 1 and close_to(no_show[0].at, start + timedelta(minutes=15))
    # The visit is over: the alert about confirming it asks nothing of anyone any more.
    assert "client unconfirmed" not in final.needs_attention
    assert final.billing == "no_show"
    assert "next visit must be booked and paid anew" in final.needs_attention
    notice = next(m for m in sent if m["template"] == "no_show_notice")
    assert close_to(notice["requested_at"], start + timedelta(minutes=15))


async def test_a_late_acknowledgement_clears_the_alert_it_answers(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """The supervisor was told the provider had not acknowledged; once they do, the case no
    longer says it needs attention for it (the view, the stored row the desk lists)."""
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5))
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(hours=24, minutes=5))
    view = await handle.query(AppointmentWorkflow.status)
    assert "provider has not acknowledged" in view.needs_attention
    view = await handle.execute_update(
        AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER)
    )
    assert "provider has not acknowledged" not in view.needs_attention
    assert "provider has not acknowledged" not in await stored_attention(pool, handle.id)
    await end_workflows(env, handle.id)


async def test_the_temporal_ui_shows_the_visit_and_the_next_step_in_readable_time(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    """Above the history the UI shows the static details (the visit as the client reads it)
    and the current details (the next step, in office time): never a UTC machine time."""
    booked_at = await env.get_current_time()
    request = appointment(booked_at + 5 * 24 * timedelta(hours=1), timezone="America/New_York")
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=1))
    details = await (await handle.describe()).static_details() or ""
    assert f"- start: {readable(request.start, 'America/New_York')}" in details
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    office = settings.office_timezone
    shown = metadata.current_details
    assert f"· visit {readable(request.start, office)} · next: " in shown
    assert re.search(rf"next: [a-z ]+ at \d{{4}}-\d\d-\d\d \d\d:\d\d {office}", shown), shown
    await end_workflows(env, handle.id)
