"""Inquiries (service-level standards: respond within 24–48h) on the time-skipping server
with the real activities: what the customer and the staff receive, and when."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.common import Actor
from promptly.domain.complaints.models import (
    CloseComplaintInput,
    ComplaintRequest,
    ComplaintStatus,
    Severity,
)
from promptly.domain.inquiries.models import AnswerInquiryInput, InquiryStatus, PromoteInquiryInput
from promptly.services.complaints import complaint_handle, file_complaint
from promptly.services.history import CaseAmbiguous, load_case
from promptly.services.history_models import Format
from promptly.services.history_render import render_case
from promptly.services.inquiries import record_inquiry
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.inquiry import InquiryWorkflow
from tests.complaint_helpers import (
    AGENT,
    CUSTOMER,
    SUPERVISOR,
    advance_to,
    complaint_payload,
    inquiry,
    sent,
)
from tests.helpers import close_to, end_workflows, messages, settled, timeline_rows

H = timedelta(hours=1)


def promotion(actor: Actor, category: str = "billing") -> PromoteInquiryInput:
    """A high-severity complaint of `category`, asked for by `actor`."""
    return PromoteInquiryInput(category=category, severity=Severity.HIGH, actor=actor)


WARSAW = ZoneInfo("Europe/Warsaw")
CUSTOMER_PAYLOAD = complaint_payload()["customer"]


async def test_an_inquiry_is_acknowledged_at_once_and_the_answer_is_sent_to_the_customer(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request = inquiry()
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    view = await handle.query(InquiryWorkflow.status)
    received = view.received_at
    assert view.status is InquiryStatus.OPEN
    assert view.answer_deadline == received + 24 * H and view.supervisor_at == received + 48 * H
    described = await handle.describe()
    attributes = {p.key.name: p.value for p in described.typed_search_attributes}
    assert attributes["InquiryStatus"] == "Open" and attributes["ClientId"] == "C-17"
    assert attributes["SlaDeadline"] == received + 24 * H
    # What the Temporal UI shows above the history, as for the other cases.
    assert (await described.static_summary() or "").startswith(f"Inquiry {request.inquiry_id} · ")
    details = await described.static_details() or ""
    assert f"- subject: {request.subject}" in details and "- customer: C-17 via" in details

    await advance_to(env, received + 5 * H)
    view = await handle.execute_update(
        InquiryWorkflow.answer,
        AnswerInquiryInput(text="Yes: Saturdays 9:00–13:00, booking online.", actor=AGENT),
    )
    assert view.status is InquiryStatus.ANSWERED and view.answered_at
    assert close_to(view.answered_at, received + 5 * H)
    final = await handle.result()  # kept a day for late updates, then ended
    assert final.alerts == 0

    rows = await messages(pool, request.workflow_id)
    assert [(r["template"], r["recipient_role"]) for r in rows] == [
        ("inquiry_ack", "client"),
        ("inquiry_answer", "client"),
    ]
    assert close_to(rows[0]["requested_at"], received)
    assert request.inquiry_id in rows[0]["body"]
    # The customer is promised what the ledger holds us to: an answer within 48h at the
    # latest (staff are alerted at 24h, the supervisor at 48h).
    latest, target = (
        format_datetime(received + hours * H, "EEEE, d MMMM y, HH:mm", tzinfo=WARSAW, locale="pl")
        for hours in (48, 24)
    )
    assert f"odpowiemy najpóźniej w terminie: {latest}." in rows[0]["body"]
    assert target not in rows[0]["body"]
    assert "Saturdays 9:00–13:00, booking online." in rows[1]["body"]
    # The history export reads it like the other cases.
    stored = await timeline_rows(pool, request.workflow_id)
    assert [row["detail"] for row in stored] == [e.detail for e in final.timeline]
    async with pool.connection() as conn:
        exported = await load_case(conn, request.inquiry_id, "Europe/Warsaw")
    assert exported.case_id == request.workflow_id and exported.status == "Answered"
    # The customer's question, as they wrote it, is in the first entry compliance reads.
    received = json.loads(render_case(exported, Format.JSON))["entries"][0]
    assert received["detail"].startswith(f"Inquiry received via email: {request.subject}")
    assert received["data"]["question"] == request.question
    assert f"- question:\n\n  > {request.question}\n" in render_case(exported, Format.MD)
    assert f"<pre>{request.question}</pre>" in render_case(exported, Format.HTML)


async def test_a_customer_who_prefers_sms_gets_the_answer_itself_by_sms(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    customer = {**CUSTOMER_PAYLOAD, "preferred_channel": "sms", "email": None}
    request = inquiry(customer=customer)
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    answer = "Yes, on Saturdays from 9:00 to 13:00. Book online or call the front desk."
    await handle.execute_update(
        InquiryWorkflow.answer, AnswerInquiryInput(text=answer, actor=AGENT)
    )
    await handle.result()

    rows = await messages(pool, request.workflow_id)
    assert [(r["template"], r["channel"]) for r in rows] == [
        ("inquiry_ack", "sms"),
        ("inquiry_answer", "sms"),
    ]
    ack, answered = (r["body"] for r in rows)
    assert request.inquiry_id in ack and "Odpowiemy najpozniej" in ack  # the deadline, in Polish
    assert answer in answered and request.inquiry_id in answered and "\n" not in answered


async def test_an_unanswered_inquiry_alerts_the_front_desk_at_24h_and_the_supervisor_at_48h(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """The alerts come on time and in office time (a customer in New York, an office in
    Warsaw); the answer, late, clears what they flagged."""
    customer = {**inquiry().customer.model_dump(mode="json"), "timezone": "America/New_York"}
    request = inquiry(customer=customer)
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    received = (await handle.query(InquiryWorkflow.status)).received_at

    await advance_to(env, received + 24 * H - timedelta(minutes=5))
    assert [t for t, _, _ in await sent(pool, request.workflow_id)] == ["inquiry_ack"]
    await advance_to(env, received + 48 * H + timedelta(minutes=5))
    view = await handle.query(InquiryWorkflow.status)
    assert view.alerts == 2 and "escalated to the supervisor" in view.needs_attention
    view = await handle.execute_update(
        InquiryWorkflow.answer, AnswerInquiryInput(text="Sorry for the wait: yes.", actor=AGENT)
    )
    answered = next(e for e in view.timeline if e.data.get("status") == "Answered")
    assert answered.data["on_time"] is False
    assert view.needs_attention == []  # answered: the alerts ask nothing of anyone now
    await handle.result()

    rows = await sent(pool, request.workflow_id)
    assert [(t, role) for t, role, _ in rows] == [
        ("inquiry_ack", "client"),
        ("inquiry_alert", "front_desk"),
        ("inquiry_alert", "supervisor"),
        ("inquiry_answer", "client"),
    ]
    assert close_to(rows[1][2], received + 24 * H) and close_to(rows[2][2], received + 48 * H)
    stored = await messages(pool, request.workflow_id)
    bodies = [r["body"] for r in stored]
    assert "Are you open on Saturdays?" in bodies[1] and "48 hours" in bodies[2]
    # Staff read the deadline in the office's zone, not the customer's.
    due = (received + 24 * H).astimezone(ZoneInfo(settings.office_timezone))
    assert stored[1]["subject"].endswith(f"answer was due {due:%A}, {due.day} {due:%B %Y, %H:%M}")
    assert "Eastern" not in stored[1]["subject"] + bodies[1]


async def test_an_inquiry_that_is_a_complaint_is_promoted_to_one(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request = inquiry(subject="Charged twice", question="I was charged twice for one visit.")
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(InquiryWorkflow.promote, promotion(CUSTOMER))
    assert "only staff may promote an inquiry" in str(refused.value.cause)
    view = await handle.execute_update(InquiryWorkflow.promote, promotion(AGENT, "Billing"))
    assert view.status is InquiryStatus.PROMOTED and view.complaint_id == request.inquiry_id
    with pytest.raises(WorkflowUpdateFailedError) as late:
        await handle.execute_update(
            InquiryWorkflow.answer, AnswerInquiryInput(text="Too late", actor=AGENT)
        )
    assert f"became complaint {request.inquiry_id}" in str(late.value.cause)

    complaint = complaint_handle(env.client, request.inquiry_id)
    await env.sleep(timedelta(minutes=1))
    filed = await complaint.query(ComplaintWorkflow.status)
    assert filed.status is ComplaintStatus.OPEN and filed.category == "billing"
    assert filed.severity is Severity.HIGH and filed.received_via.value == "email"
    # Who promoted the inquiry opened the complaint, in its timeline and the Temporal UI.
    assert filed.timeline[0].detail.startswith("Complaint received")
    assert filed.timeline[0].actor == AGENT
    details = await (await complaint.describe()).static_details() or ""
    assert "- opened by: staff:agent-7" in details
    # The customer is acknowledged by the complaint itself (reference, 48h timeline).
    assert [t for t, _, _ in await sent(pool, complaint.id)][:1] == ["complaint_ack"]
    await complaint.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    # A handle the test did not start does not move the time-skipping clock: sleep past the
    # complaint's end (its follow-up form stays answerable 7 days) before reading its result.
    await env.sleep(timedelta(days=8))
    assert (await complaint.result()).status is ComplaintStatus.CLOSED
    await handle.result()
    # The reference now names both cases: the history asks which one is meant.
    async with pool.connection() as conn:
        with pytest.raises(CaseAmbiguous) as both:
            await load_case(conn, request.inquiry_id, "Europe/Warsaw")
        exported = await load_case(conn, request.workflow_id, "Europe/Warsaw")
    assert f"names {request.workflow_id} and {complaint.id}" in str(both.value)
    assert exported.status == "Promoted"


async def test_an_inquiry_is_never_promoted_into_another_customers_complaint(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    """The complaint takes the inquiry's id. When another customer's complaint has that id,
    the promotion is refused and the inquiry stays open, instead of closing it as promoted
    into a case that is not the customer's."""
    payload = complaint_payload()
    theirs = await file_complaint(env.client, ComplaintRequest.model_validate(payload), settings)
    request = inquiry(
        inquiry_id=payload["complaint_id"], customer={**CUSTOMER_PAYLOAD, "id": "C-99"}
    )
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(InquiryWorkflow.promote, promotion(AGENT))

    assert "exists already for another customer" in str(refused.value.cause)
    view = await handle.query(InquiryWorkflow.status)
    assert view.status is InquiryStatus.OPEN and view.complaint_id is None
    complaint = await theirs.query(ComplaintWorkflow.status)
    assert complaint.status is ComplaintStatus.OPEN and complaint.severity is Severity(
        payload["severity"]
    )
    await end_workflows(env, handle.id, theirs.id)


async def test_an_answer_and_a_promotion_at_once_leave_one_outcome(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """Two staff members act on one inquiry at the same moment: one wins, the other is told
    why, and the customer hears only the winner (an answer, or a complaint's acknowledgement)."""
    request = inquiry(subject="Charged twice", question="I was charged twice for one visit.")
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))

    answered, promoted = await asyncio.gather(
        handle.execute_update(
            InquiryWorkflow.answer, AnswerInquiryInput(text="Refund on its way.", actor=AGENT)
        ),
        handle.execute_update(InquiryWorkflow.promote, promotion(AGENT)),
        return_exceptions=True,
    )

    outcomes = [r for r in (answered, promoted) if not isinstance(r, BaseException)]
    refusals = [r for r in (answered, promoted) if isinstance(r, WorkflowUpdateFailedError)]
    assert len(outcomes) == 1 and len(refusals) == 1, (answered, promoted)
    await settled(env.client, handle.id)
    view = await handle.query(InquiryWorkflow.status)
    templates = [t for t, _, _ in await sent(pool, request.workflow_id)]
    complaint = complaint_handle(env.client, request.inquiry_id)
    if view.status is InquiryStatus.ANSWERED:
        assert "promote refused" in str(refusals[0].cause)
        assert templates.count("inquiry_answer") == 1
        assert view.complaint_id is None
        await end_workflows(env, handle.id)
    else:
        assert view.status is InquiryStatus.PROMOTED and view.complaint_id == request.inquiry_id
        assert "inquiry_answer" not in templates
        assert f"became complaint {request.inquiry_id}" in str(refusals[0].cause)
        assert (await complaint.query(ComplaintWorkflow.status)).status is ComplaintStatus.OPEN
        await end_workflows(env, handle.id, complaint.id)
