"""After an outage: a case never sends a message or opens a call whose moment has passed.

The worker is stopped for a while (nothing polls the task queue while the case's timers fire),
then a new one starts and works through the backlog, as after a deploy gone wrong or a host
lost overnight (docs/ops.md, "After an outage"). On a dev server in real time, with the policy
compressed (`time_scale`): the time-skipping server does not skip while a workflow task waits
for a worker, so it cannot leave a case unattended across its timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.surveys.models import SurveyRequest, SurveyStatus
from promptly.services.appointments import book
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.survey import SurveyWorkflow
from tests.helpers import appointment, messages, settled, tasks, until
from tests.sendgrid_fake import SendGridFake
from tests.test_appointment_outage import always_open

H = timedelta(hours=1)
# 60 policy hours in 32 s: the reminder is due 6.5 s after booking, its window ends at 19.4 s.
SCALE = 0.00015


def scaled(span: timedelta) -> timedelta:
    return span * SCALE


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


@asynccontextmanager
async def running_worker(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[None]:
    async with create_worker(env.client, settings, pool=pool):
        yield


def email_settings(settings: Settings, sendgrid: SendGridFake) -> Settings:
    always_open(settings)  # no quiet or office hours: the test reads the same at any hour
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    settings.time_scale = SCALE
    return settings


def templates(sendgrid: SendGridFake) -> list[str]:
    return [request.template for request in sendgrid.accepted]


async def test_a_worker_down_across_the_reminder_window_and_the_start_sends_no_reminder(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    env = dev_env
    email_settings(settings, sendgrid)
    booked_at = datetime.now(UTC)
    request = appointment(booked_at + scaled(60 * H), locale="en")
    async with running_worker(env, settings, pool):
        handle = await book(env.client, request, settings, booked_at)
        await until(lambda: _has(sendgrid, "confirmation"), "the confirmation")
        await settled(env.client, request.workflow_id)
        calls_before = await call_tasks(pool, request.workflow_id)
    # The worker is down from here: the reminder (due 48h before), the follow-up calls and
    # the visit's start (60h) all pass unattended.
    await sleep_until(request.start + timedelta(seconds=1))
    async with running_worker(env, settings, pool):
        # The backlog is worked through: the no-show rule still applies (15 policy minutes
        # after the start), and it is the last thing the case does.
        await until(lambda: _has(sendgrid, "no_show"), "the no-show notice")
        await settled(env.client, request.workflow_id)
        assert "reminder" not in templates(sendgrid)
        # Nor a supervisor alert that the client did not confirm a visit already under way.
        assert "alert:unconfirmed" not in templates(sendgrid)
        # No call asking the client to confirm a visit under way: the desk got no new task.
        assert await call_tasks(pool, request.workflow_id) == calls_before
        view = await handle.query(AppointmentWorkflow.status)
        skipped = [e.detail for e in view.timeline if e.data.get("skipped")]
        assert skipped[0].startswith("Follow-up call not made: the visit had begun")
        assert skipped[1].startswith("Reminder not sent: the visit had begun")
        assert all("when the case resumed at" in detail for detail in skipped)
        assert "reminder not sent" in view.needs_attention
        # The promise ledger says the reminder promise was broken, and why.
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT verdict, cause FROM promises WHERE case_id = %s AND promise = %s",
                (request.workflow_id, "reminder_24_48h_before"),
            )
            verdict, cause = await cursor.fetchone() or ("", "")
        assert verdict == "broken" and cause.startswith("Reminder not sent: the visit had begun")
        await handle.terminate("test over")


async def test_a_worker_down_briefly_still_sends_the_reminder_late_within_its_window(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    env = dev_env
    email_settings(settings, sendgrid)
    booked_at = datetime.now(UTC)
    request = appointment(booked_at + scaled(60 * H), locale="en")
    async with running_worker(env, settings, pool):
        handle = await book(env.client, request, settings, booked_at)
        await until(lambda: _has(sendgrid, "confirmation"), "the confirmation")
        await settled(env.client, request.workflow_id)
    reminder_at = request.start - scaled(48 * H)
    back_at = reminder_at + scaled(10 * H)  # late, still 14 policy hours before the window ends
    await sleep_until(back_at)
    async with running_worker(env, settings, pool):
        await until(lambda: _has(sendgrid, "reminder"), "the late reminder")
        await settled(env.client, request.workflow_id)
        view = await handle.query(AppointmentWorkflow.status)
        sent = next(e for e in view.timeline if e.data.get("template") == "reminder")
        assert sent.at > back_at  # sent late, when the worker was back
        assert sent.at < request.start - scaled(24 * H)
        assert not any("not sent" in e.detail for e in view.timeline)
        assert view.reminder_sent
        await handle.terminate("test over")


async def _has(sendgrid: SendGridFake, template: str) -> bool:
    return template in templates(sendgrid)


async def call_tasks(pool: AsyncConnectionPool, case_id: str) -> list[str]:
    return [t["idempotency_key"] for t in await tasks(pool, case_id) if t["kind"] == "call_client"]


async def test_a_survey_the_case_comes_to_after_its_48h_is_not_sent(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """A visit that ended 50h before its survey workflow got to run (the backlog of an outage
    that held the appointment's completion): the survey's 48h are over, so it is not sent."""
    now = await env.get_current_time()
    visit = appointment(now + H)
    request = SurveyRequest(
        appointment_case_id=visit.workflow_id,
        appointment_id=visit.appointment_id,
        client=visit.client,
        service=visit.service,
        visit_ended_at=now - 50 * H,
    )
    result = await env.client.execute_workflow(
        SurveyWorkflow.run,
        request,
        id=f"survey-{visit.workflow_id}",
        task_queue=settings.task_queue,
    )
    assert await messages(pool, f"survey-{visit.workflow_id}") == []
    assert result.status is SurveyStatus.CLOSED and result.answer is None
    [skipped] = [e.detail for e in result.timeline if e.data.get("skipped")]
    assert skipped.startswith("Survey not sent: its 48h after the visit had ended")
