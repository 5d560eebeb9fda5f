"""The weekly QA report workflow mails last week's figures to the supervisors, once per week,
and `promptly setup` schedules it for Monday mornings office time."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.maintenance import QaReportRequest
from promptly.services.setup import QA_REPORT_SCHEDULE_ID, qa_report_schedule, schedules
from promptly.workflows.report import QaReportWorkflow
from tests.helpers import messages


async def test_weekly_report_is_mailed_to_the_supervisor_once(
    client: Client, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    as_of = datetime(2031, 6, 11, 6, 0, tzinfo=UTC)  # a Wednesday: the week of 2–8 June
    request = QaReportRequest(as_of=as_of)
    runs = []
    for _ in range(2):  # a repeated run (a schedule catching up, an operator) mails nothing new
        runs.append(
            await client.execute_workflow(
                QaReportWorkflow.run,
                request,
                id=f"qa-report-test-{uuid.uuid4().hex[:8]}",
                task_queue=settings.task_queue,
            )
        )
    summary = runs[0]
    assert (summary.first, summary.last) == (date(2031, 6, 2), date(2031, 6, 8))
    assert summary.timezone == "Europe/Warsaw"
    assert summary.appointments == 0  # nothing starts in 2031 in the test database
    assert "No-show rate" in summary.table and "Trend by week" in summary.table

    sent = await messages(pool, "qa-report-2031-06-02")
    assert len(sent) == 1
    mail = sent[0]
    assert (mail["template"], mail["recipient_role"], mail["status"]) == (
        "qa_report",
        "supervisor",
        "queued_in_outbox",  # no SendGrid key in tests: the outbox
    )
    assert mail["recipient"] == str(settings.supervisor_email)
    assert mail["subject"] == "[Promptly] QA report 2031-06-02 – 2031-06-08"
    assert summary.table in mail["body"]
    assert "--from 2031-06-02 --to 2031-06-08 --format html" in mail["body"]


def test_setup_schedules_the_report_for_monday_mornings_office_time(settings: Settings) -> None:
    schedule = qa_report_schedule(settings)
    assert QA_REPORT_SCHEDULE_ID in schedules(settings)
    [calendar] = schedule.spec.calendars
    assert [(r.start, r.end) for r in calendar.day_of_week] == [(1, 1)]  # Monday
    assert [r.start for r in calendar.hour] == [7]
    assert [r.start for r in calendar.minute] == [0]
    assert schedule.spec.time_zone_name == settings.office_timezone
    action = schedule.action
    assert action.workflow == "QaReportWorkflow"  # type: ignore[attr-defined]
    assert action.task_queue == settings.task_queue  # type: ignore[attr-defined]
