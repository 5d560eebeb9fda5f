"""The post-visit survey on its own: timing, reminder, closing, answers (SLA 10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.calendar import HourRange, to_local
from promptly.domain.common import TimelineKind
from promptly.domain.readable_time import readable
from promptly.domain.surveys.models import SurveyAnswer, SurveyRequest, SurveyStatus, SurveyView
from promptly.workflows.survey import SurveyWorkflow
from tests.helpers import appointment, close_to, end_workflows, messages, survey_answers


async def _start_survey(
    env: WorkflowEnvironment,
    settings: Settings,
    client_timezone: str = "Europe/Warsaw",
    office_timezone: str | None = None,
    quiet_hours: HourRange | None = None,
) -> tuple[SurveyRequest, str]:
    """A survey for a visit that ended now, as the appointment starts it."""
    now = await env.get_current_time()
    visit = appointment(now + timedelta(hours=1), timezone=client_timezone)
    request = SurveyRequest(
        appointment_case_id=visit.workflow_id,
        appointment_id=visit.appointment_id,
        client=visit.client,
        service=visit.service,
        visit_ended_at=now,
        office_timezone=office_timezone,
        quiet_hours=quiet_hours,
    )
    handle = await env.client.start_workflow(
        SurveyWorkflow.run,
        request,
        id=f"survey-{visit.workflow_id}",
        task_queue=settings.task_queue,
    )
    return request, handle.id


def _status_changes(view: SurveyView) -> list[tuple[str | None, str]]:
    """(previous, status) of each status entry: what webhooks and the history export show."""
    return [
        (e.data.get("previous"), e.data["status"])
        for e in view.timeline
        if e.kind is TimelineKind.STATUS
    ]


async def test_unanswered_survey_is_reminded_once_then_closed(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request, survey_id = await _start_survey(env, settings)
    handle = env.client.get_workflow_handle(survey_id, result_type=SurveyView)
    await env.sleep(timedelta(days=8))
    result = await handle.result()

    assert result.status is SurveyStatus.CLOSED and result.answer is None
    sent = await messages(pool, survey_id)
    assert [m["template"] for m in sent] == ["survey", "survey_reminder"]
    send_at = request.visit_ended_at + timedelta(hours=2)
    assert close_to(sent[0]["requested_at"], send_at)
    assert close_to(sent[1]["requested_at"], send_at + timedelta(hours=24))
    closed = result.timeline[-1]
    assert closed.detail == "Survey closed without an answer"
    assert _status_changes(result) == [
        (None, "Scheduled"),
        ("Scheduled", "Sent"),
        ("Sent", "Closed"),
    ]
    assert close_to(closed.at, send_at + timedelta(days=7))
    assert await survey_answers(pool, request.appointment_case_id) == []


async def test_a_survey_due_in_the_clients_quiet_hours_waits_for_their_morning(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """Due 2h after the visit, in the client's quiet hours (here the two hours that begin
    then, whatever the test server's clock reads): it goes when they end, and so does the
    reminder's day after."""
    now = await env.get_current_time()
    due = to_local(now + timedelta(hours=2), "America/New_York")
    quiet = HourRange(start_hour=due.hour, end_hour=(due.hour + 2) % 24)
    awake = due.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    request, survey_id = await _start_survey(
        env, settings, client_timezone="America/New_York", quiet_hours=quiet
    )

    await env.sleep(timedelta(hours=1, minutes=50))
    assert await messages(pool, survey_id) == []
    await env.sleep(timedelta(hours=28))

    sent = await messages(pool, survey_id)
    assert [m["template"] for m in sent] == ["survey", "survey_reminder"]
    assert close_to(sent[0]["requested_at"], awake)
    assert close_to(sent[1]["requested_at"], awake + timedelta(hours=24))
    await end_workflows(env, survey_id)


async def test_answer_is_recorded_once_and_an_out_of_range_score_is_refused(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request, survey_id = await _start_survey(env, settings)
    handle = env.client.get_workflow_handle(survey_id, result_type=SurveyView)
    await env.sleep(timedelta(hours=3))

    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("answer", {"nps": 11, "comment": ""})
    with pytest.raises(ValueError):
        SurveyAnswer(nps=11)
    view = await handle.execute_update(SurveyWorkflow.answer, SurveyAnswer(nps=8, comment="ok"))
    assert view.status is SurveyStatus.ANSWERED
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(SurveyWorkflow.answer, SurveyAnswer(nps=10))
    assert "already answered" in str(caught.value.cause)

    result = await handle.result()
    assert result.answer == SurveyAnswer(nps=8, comment="ok")
    assert _status_changes(result) == [
        (None, "Scheduled"),
        ("Scheduled", "Sent"),
        ("Sent", "Answered"),
    ]
    assert [m["template"] for m in await messages(pool, survey_id)] == ["survey"]
    assert await survey_answers(pool, request.appointment_case_id) == [(8, "ok")]
    history = await handle.fetch_history()
    accepted = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert len(accepted) == 1
    await end_workflows(env)


async def test_staff_read_a_survey_in_office_time_whatever_the_clients_zone(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    """The timeline and the Temporal UI's details are for staff: office time, zone named."""
    request, survey_id = await _start_survey(env, settings, "America/New_York", "Europe/Warsaw")
    handle = env.client.get_workflow_handle(survey_id, result_type=SurveyView)
    await env.sleep(timedelta(minutes=1))
    view = await handle.query(SurveyWorkflow.status)
    send_at = readable(request.visit_ended_at + timedelta(hours=2), "Europe/Warsaw")
    assert view.timeline[0].detail == f"Survey scheduled for {send_at}"
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert f"next: send the survey at {send_at}" in metadata.current_details
    await end_workflows(env, handle.id)
