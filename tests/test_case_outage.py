"""Complaint, survey and inquiry messages beside the plan, against SendGrid's fake answering 503.

A channel that is down delays no timer (escalation tiers, the 48h breach, the survey's close,
the inquiry's alerts), fails no workflow and leaves nobody uninformed: what cannot go out is
a flag and a task. A change cancels the sends it makes moot: after recovery the fake receives
nothing planned for the old state (asserted on the fake's log, by idempotency key).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind, TimelineKind
from promptly.domain.complaints.models import (
    CloseComplaintInput,
    ComplaintStatus,
    ProposeResolutionInput,
    Severity,
)
from promptly.domain.inquiries.models import AnswerInquiryInput, InquiryStatus, PromoteInquiryInput
from promptly.domain.surveys.models import SurveyAnswer, SurveyRequest, SurveyStatus, SurveyView
from promptly.domain.tasks import PassedOnInput
from promptly.services.complaints import complaint_handle, file_complaint
from promptly.services.inquiries import record_inquiry
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.inquiry import InquiryWorkflow
from promptly.workflows.survey import MESSAGE_BUDGET as SURVEY_BUDGET
from promptly.workflows.survey import SurveyWorkflow
from tests.complaint_helpers import (
    AGENT,
    SUPERVISOR,
    advance_to,
    awake,
    complaint,
    inquiry,
    to_local_hour,
)
from tests.helpers import appointment, close_to, messages, tasks
from tests.sendgrid_fake import SendGridFake

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
DESK = Actor(kind=ActorKind.STAFF, id="ola")


def open_tasks(rows: list[dict[str, object]]) -> set[tuple[object, object, object]]:
    return {
        (t["kind"], t["data"]["template"], t["data"]["recipient"])  # type: ignore[index]
        for t in rows
        if t["status"] == "open"
    }


async def passed_on(
    env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    settings: Settings,
    case_id: str,
    template: str,
) -> int:
    """The front desk reports the case's open task for `template` passed on by hand."""
    [task] = [
        t
        for t in await tasks(pool, case_id)
        if t["status"] == "open" and t["data"].get("template") == template
    ]
    done = TaskCompletion(outcome="passed_on", note="by phone", actor=DESK)
    closed, _ = await complete_task(env.client, pool, settings, task["id"], done, DESK)
    assert closed.outcome == "passed_on"
    return closed.id


async def test_a_day_long_outage_delays_no_escalation_and_fails_no_complaint(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    await to_local_hour(env, 9)  # the customer hears of the 24h tier at once, not at 08:00
    sendgrid.outage(503)
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(MINUTE)
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at

    # A day of outage and then some: the supervisor alert at 24h gets its hour and fails.
    await advance_to(env, filed + 25 * H + 30 * MINUTE)
    view = await handle.query(ComplaintWorkflow.status)
    supervisor = next(e for e in view.timeline if e.data.get("level") == 1)
    assert close_to(supervisor.at, filed + 24 * H, MINUTE)
    assert view.escalation_level == 1 and not view.sla_breached
    for concern in (
        "complaint ack not delivered",
        "complaint department to department not delivered",
        "complaint alert to supervisor not delivered",
        "escalation not delivered",
    ):
        assert concern in view.needs_attention
    assert {
        ("deliver_message_manually", "complaint_ack", "client"),
        ("resend_staff_message", "complaint_department", "department"),
        ("resend_staff_message", "complaint_alert", "supervisor"),
        ("deliver_message_manually", "escalation", "client"),
    } <= open_tasks(await tasks(pool, request.workflow_id))
    failed = {e.data["template"] for e in view.timeline if e.kind is TimelineKind.MESSAGE_FAILED}
    assert {"complaint_ack", "complaint_department", "complaint_alert", "escalation"} <= failed
    # The desk told the department by phone: that flag goes, the others stay.
    await passed_on(env, pool, settings, request.workflow_id, "complaint_department")
    view = await handle.query(ComplaintWorkflow.status)
    assert "complaint department to department not delivered" not in view.needs_attention
    assert "complaint alert to supervisor not delivered" in view.needs_attention
    # Each message was asked for when its step came, none waited for another to give up.
    asked = {
        (m["template"], m["recipient_role"]): m["requested_at"]
        for m in await messages(pool, request.workflow_id)
    }
    assert close_to(asked[("complaint_ack", "client")], filed, MINUTE)
    assert close_to(asked[("complaint_department", "department")], filed, MINUTE)
    assert close_to(asked[("complaint_alert", "supervisor")], filed + 24 * H, MINUTE)
    assert close_to(asked[("escalation", "client")], awake(settings, filed + 24 * H), MINUTE)
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    assert sendgrid.requests and sendgrid.accepted == []

    sendgrid.recover()
    await advance_to(env, filed + 48 * H + 5 * MINUTE)
    view = await handle.query(ComplaintWorkflow.status)
    breach = next(e for e in view.timeline if e.data.get("breach") is True)
    assert close_to(breach.at, filed + 48 * H, MINUTE)
    assert view.escalation_level == 2 and view.sla_breached
    described = await handle.describe()
    attributes = {p.key.name: p.value for p in described.typed_search_attributes}
    assert attributes["SlaBreached"] is True and attributes["EscalationLevel"] == 2
    assert attributes["SlaDeadline"] == filed + 72 * H
    # After recovery the manager hears of the breach, and the customer of the escalation.
    assert sorted(r.template for r in sendgrid.accepted) == ["complaint_alert", "escalation"]
    manager_alert = next(r for r in sendgrid.accepted if r.template == "complaint_alert")
    assert manager_alert.recipients == ["care-manager@promptly.example"]

    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    final = await handle.result()
    assert final.status is ComplaintStatus.CLOSED
    # The close made the pass-it-on tasks of the open case moot: none is left in the inbox.
    remaining = await tasks(pool, request.workflow_id)
    assert remaining and all(t["status"] == "done" for t in remaining)
    assert {t["outcome"] for t in remaining} == {"complaint_closed", "passed_on"}
    # And with them the flags only they answered: the case asks nobody for anything.
    assert not [c for c in final.needs_attention if c.endswith("not delivered")]


async def test_closing_a_complaint_while_its_update_is_retrying_sends_nothing_for_the_old_state(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    await to_local_hour(env, 9)  # the 24h tier's notice goes at once, into the outage
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(MINUTE)
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + 23 * H)
    assert sorted(r.template for r in sendgrid.accepted) == [
        "complaint_ack",
        "complaint_department",
    ]

    sendgrid.outage(503)
    await advance_to(env, filed + 24 * H + 10 * MINUTE)
    retrying = {r.template for r in sendgrid.requests if r.response.status == 503}
    assert {"complaint_alert", "escalation"} <= retrying
    view = await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    assert view.status is ComplaintStatus.CLOSED
    sendgrid.recover()
    final = await handle.result()

    assert final.status is ComplaintStatus.CLOSED
    assert sorted(r.template for r in sendgrid.accepted) == [
        "complaint_ack",
        "complaint_closed",
        "complaint_department",
        "complaint_survey",
    ]
    ledger = {m["template"]: m for m in await messages(pool, request.workflow_id)}
    for moot in retrying:
        assert ledger[moot]["status"] == "abandoned" and "cancelled" in ledger[moot]["last_error"]
    cancelled = {e.data["template"] for e in final.timeline if e.data.get("outcome") == "cancelled"}
    assert cancelled == retrying
    # Nothing moot became anybody's task, and nothing was flagged for it.
    assert await tasks(pool, request.workflow_id) == []
    assert not [c for c in final.needs_attention if "not delivered" in c]


async def test_a_complaint_closed_unconfirmed_keeps_the_flag_of_what_never_reached_the_customer(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    """Nobody decided the close (no verdict in 72h): the acknowledgement's task closes with the
    case, and its flag stays as the record that the customer never got it."""
    sendgrid.outage(503)
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(2 * H)  # the acknowledgement's hour is spent
    assert (
        "complaint ack not delivered"
        in (await handle.query(ComplaintWorkflow.status)).needs_attention
    )
    sendgrid.recover()
    await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="A 50% refund and an apology.", actor=AGENT),
    )
    await env.sleep(73 * H)
    final = await handle.result()

    assert final.status is ComplaintStatus.CLOSED_UNCONFIRMED
    assert "complaint ack not delivered" in final.needs_attention
    [ack_task] = [
        t for t in await tasks(pool, request.workflow_id) if t["kind"] == "deliver_message_manually"
    ]
    assert (ack_task["status"], ack_task["outcome"]) == ("done", "complaint_closed")
    assert "complaint_ack" not in {r.template for r in sendgrid.accepted}


async def _start_survey(env: WorkflowEnvironment, settings: Settings) -> SurveyRequest:
    now = await env.get_current_time()
    visit = appointment(now + H, locale="en")
    request = SurveyRequest(
        appointment_case_id=visit.workflow_id,
        appointment_id=visit.appointment_id,
        client=visit.client,
        service=visit.service,
        visit_ended_at=now,
        closes_after=timedelta(days=2),
    )
    await env.client.start_workflow(
        SurveyWorkflow.run,
        request,
        id=f"survey-{visit.workflow_id}",
        task_queue=settings.task_queue,
    )
    return request


async def test_a_failing_channel_does_not_delay_the_survey_close(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    sendgrid.outage(503)
    request = await _start_survey(env, settings)
    survey_id = f"survey-{request.appointment_case_id}"
    handle = env.client.get_workflow_handle(survey_id, result_type=SurveyView)
    await env.sleep(request.send_after + SURVEY_BUDGET + H)
    # The desk handed the client the survey at the desk: that flag goes.
    await passed_on(env, pool, settings, survey_id, "survey")
    assert (await handle.query(SurveyWorkflow.status)).needs_attention == []
    await env.sleep(request.closes_after)
    result = await handle.result()

    assert result.status is SurveyStatus.CLOSED
    closed = next(e for e in result.timeline if e.data.get("status") == "Closed")
    assert close_to(closed.at, result.closes_at, MINUTE)
    ledger = {m["template"]: m for m in await messages(pool, survey_id)}
    assert close_to(ledger["survey"]["requested_at"], result.send_at)
    assert close_to(ledger["survey_reminder"]["requested_at"], result.reminder_at)
    assert {m["status"] for m in ledger.values()} == {"abandoned"}
    failed = [e for e in result.timeline if e.kind is TimelineKind.MESSAGE_FAILED]
    assert [e.data["template"] for e in failed] == ["survey", "survey_reminder"]
    assert result.needs_attention == ["survey reminder not sent"]
    # Each was handed to the front desk; the close made the reminder's task moot.
    handed = await tasks(pool, survey_id)
    assert [t["data"]["template"] for t in handed] == ["survey", "survey_reminder"]
    assert [(t["status"], t["outcome"]) for t in handed] == [
        ("done", "passed_on"),
        ("done", "survey_closed"),
    ]
    assert sendgrid.accepted == []


async def test_an_answer_cancels_the_survey_still_retrying(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    sendgrid.outage(503)
    request = await _start_survey(env, settings)
    survey_id = f"survey-{request.appointment_case_id}"
    handle = env.client.get_workflow_handle(survey_id, result_type=SurveyView)
    await env.sleep(3 * H)
    assert sendgrid.requests and sendgrid.accepted == []

    view = await handle.execute_update(SurveyWorkflow.answer, SurveyAnswer(nps=9))
    assert view.status is SurveyStatus.ANSWERED
    sendgrid.recover()
    result = await handle.result()

    assert sendgrid.accepted == []
    [row] = await messages(pool, survey_id)
    assert row["status"] == "abandoned" and "cancelled" in row["last_error"]
    assert result.needs_attention == [] and await tasks(pool, survey_id) == []


async def test_a_failing_channel_does_not_delay_the_inquiry_escalation(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    sendgrid.outage(503)
    request = inquiry()
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(MINUTE)
    received = (await handle.query(InquiryWorkflow.status)).received_at

    await advance_to(env, received + 48 * H + 10 * MINUTE)
    view = await handle.query(InquiryWorkflow.status)
    alerts = [e for e in view.timeline if e.data.get("alert")]
    assert [e.data["alert"] for e in alerts] == ["front desk", "supervisor"]
    assert close_to(alerts[0].at, received + 24 * H, MINUTE)
    assert close_to(alerts[1].at, received + 48 * H, MINUTE)
    assert view.alerts == 2
    for concern in ("acknowledgement not sent", "alert to the front desk not delivered"):
        assert concern in view.needs_attention
    assert open_tasks(await tasks(pool, request.workflow_id)) == {
        ("deliver_message_manually", "inquiry_ack", "client"),
        ("resend_staff_message", "inquiry_alert", "front_desk"),
    }
    task_id = await passed_on(env, pool, settings, request.workflow_id, "inquiry_alert")
    view = await handle.query(InquiryWorkflow.status)
    assert "alert to the front desk not delivered" not in view.needs_attention
    assert "acknowledgement not sent" in view.needs_attention
    # Only staff report a message passed on; a repeat of the report is noted once.
    client = Actor(kind=ActorKind.CLIENT, id=request.customer.id)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            InquiryWorkflow.passed_on, PassedOnInput(task_id=task_id, actor=client)
        )
    await handle.execute_update(
        InquiryWorkflow.passed_on, PassedOnInput(task_id=task_id, actor=DESK)
    )
    view = await handle.query(InquiryWorkflow.status)
    reports = [e for e in view.timeline if e.data.get("task_id") == task_id and e.actor == DESK]
    assert [e.detail for e in reports] == [f"Passed on by hand (task {task_id}): by phone"]
    described = await handle.describe()
    assert described.status is WorkflowExecutionStatus.RUNNING

    # The supervisor alert is still retrying: the answer makes it moot.
    view = await handle.execute_update(
        InquiryWorkflow.answer, AnswerInquiryInput(text="Yes, on Saturdays.", actor=AGENT)
    )
    assert view.status is InquiryStatus.ANSWERED
    sendgrid.recover()
    await env.sleep(H)
    assert [r.template for r in sendgrid.accepted] == ["inquiry_answer"]
    assert sendgrid.accepted[0].recipients == ["anna@example.com"]
    remaining = await tasks(pool, request.workflow_id)
    assert {(t["status"], t["outcome"]) for t in remaining} == {
        ("done", "answered"),
        ("done", "passed_on"),
    }
    final = await handle.result()  # kept a day for late updates, then ended
    assert final.status is InquiryStatus.ANSWERED
    # The answer reached the client: the acknowledgement's flag went with its task.
    assert "acknowledgement not sent" not in final.needs_attention


async def test_promoting_an_inquiry_cancels_its_acknowledgement_still_retrying(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    sendgrid.outage(503)
    request = inquiry(subject="Charged twice", question="I was charged twice for one visit.")
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(10 * MINUTE)
    assert {r.template for r in sendgrid.requests} == {"inquiry_ack"}

    view = await handle.execute_update(
        InquiryWorkflow.promote,
        PromoteInquiryInput(category="billing", severity=Severity.HIGH, actor=AGENT),
    )
    assert view.status is InquiryStatus.PROMOTED
    sendgrid.recover()
    complaint = complaint_handle(env.client, request.inquiry_id)
    await env.sleep(MINUTE)
    await complaint.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    # Handles the test did not start do not move the clock: sleep past both ends.
    await env.sleep(timedelta(days=8))
    assert (await complaint.result()).status is ComplaintStatus.CLOSED
    final = await handle.result()

    # The customer hears from the complaint, never the inquiry's stale acknowledgement.
    assert "inquiry_ack" not in {r.template for r in sendgrid.accepted}
    assert {r.template for r in sendgrid.accepted} >= {"complaint_ack", "complaint_closed"}
    [ack] = await messages(pool, request.workflow_id)
    assert ack["status"] == "abandoned" and "cancelled" in ack["last_error"]
    assert final.needs_attention == [] and await tasks(pool, request.workflow_id) == []
