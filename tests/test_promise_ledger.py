"""The promise ledger: every promise of the procedures gets the verdict its workflow reached, in
PostgreSQL (`promises`), kept and broken, on the time-skipping server with real activities."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    CallOutcome,
    CheckInInput,
    CompleteInput,
    RecordCallOutcomeInput,
    WaiveFeeInput,
)
from promptly.domain.complaints.models import CustomerVerdictInput, ProposeResolutionInput
from promptly.domain.inquiries.models import AnswerInquiryInput
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.services.inquiries import record_inquiry
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.inquiry import InquiryWorkflow
from promptly.workflows.survey import SurveyWorkflow
from tests.complaint_helpers import AGENT, CUSTOMER, advance_to, complaint, inquiry
from tests.helpers import (
    PROVIDER,
    STAFF,
    appointment,
    close_to,
    end_workflows,
    next_local,
    settled,
    until,
)

H = timedelta(hours=1)


async def promise_rows(pool: AsyncConnectionPool, case_id: str) -> dict[str, dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM promises WHERE case_id = %s", (case_id,))
        return {row["promise"]: row for row in await cur.fetchall()}


async def stored_status(pool: AsyncConnectionPool, case_id: str, status: str) -> bool:
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT status FROM cases WHERE case_id = %s", (case_id,))
        ).fetchone()
    return row is not None and row[0] == status


async def verdict(
    pool: AsyncConnectionPool, case_id: str, promise: str, wanted: str, *, within: float = 30.0
) -> dict[str, Any]:
    """The promise's row once it has the `wanted` verdict (sends beside the plan settle in
    real seconds, after the update or timer that started them)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        row = (await promise_rows(pool, case_id)).get(promise)
        if row is not None and row["verdict"] == wanted:
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{case_id} {promise}: {row and row['verdict']}, not {wanted}")
        await asyncio.sleep(0.1)


# --- appointments -------------------------------------------------------------------------------


async def test_appointment_promises_kept_confirmation_ack_reminder_follow_up_no_show_waived(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5))
    start = request.start
    handle = await book(env.client, request, settings, booked_at)
    case_id = request.workflow_id

    confirmation = await verdict(pool, case_id, "confirmation_within_24h", "kept")
    assert close_to(confirmation["due_at"], booked_at + 24 * H)
    assert close_to(confirmation["met_at"], booked_at, timedelta(minutes=1))
    rows = await promise_rows(pool, case_id)
    assert rows["provider_ack_within_24h"]["verdict"] == "pending"
    assert rows["reminder_24_48h_before"]["due_at"] == start - 24 * H
    assert rows["no_show_rule"]["due_at"] == start + timedelta(minutes=15)

    await env.sleep(2 * H)
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER))
    ack = await verdict(pool, case_id, "provider_ack_within_24h", "kept")
    assert close_to(ack["met_at"], booked_at + 2 * H, timedelta(minutes=2))

    reminder_at = (await handle.query(AppointmentWorkflow.status)).reminder_at
    assert reminder_at is not None
    await advance_to(env, reminder_at + timedelta(minutes=5))
    reminder = await verdict(pool, case_id, "reminder_24_48h_before", "kept")
    assert start - 48 * H <= reminder["met_at"] <= start - 24 * H

    # Silent client: the first call task goes before the free-cancellation line.
    await advance_to(env, start - 24 * H - timedelta(minutes=5))
    follow_up = await verdict(pool, case_id, "follow_up_before_deadline", "kept")
    assert follow_up["due_at"] == start - 24 * H and follow_up["met_at"] <= start - 24 * H
    await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(outcome=CallOutcome.REACHED_CONFIRMED),
    )

    await advance_to(env, start + 20 * timedelta(minutes=1))
    no_show = await verdict(pool, case_id, "no_show_rule", "kept")
    assert close_to(no_show["met_at"], start + timedelta(minutes=15))
    await handle.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="flooded road", actor=PROVIDER)
    )
    waived = await verdict(pool, case_id, "no_show_rule", "waived")
    # The reason stays with the case; the ledger, read across every case, says only what.
    assert (waived["actor_kind"], waived["actor_id"], waived["cause"]) == (
        "provider",
        "P-3",
        "fee waived",
    )
    await end_workflows(env, case_id)


async def until_the_survey_is_due(
    env: WorkflowEnvironment, case_id: str, started_by: datetime
) -> None:
    """Past the moment the visit's survey goes: 2h after the end, or later when that falls in
    the client's quiet hours (the visit's time of day follows the test server's clock)."""
    await advance_to(env, started_by)
    survey = env.client.get_workflow_handle(f"survey-{case_id}")
    planned = await survey.query(SurveyWorkflow.status)
    await advance_to(env, max(started_by, planned.send_at + timedelta(minutes=5)))


async def test_appointment_promises_broken_when_the_client_address_bounces_and_nobody_acks(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
) -> None:
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5), email="bounce@example.com")
    start = request.start
    handle = await book(env.client, request, settings, booked_at)
    case_id = request.workflow_id

    confirmation = await verdict(pool, case_id, "confirmation_within_24h", "broken")
    assert "not delivered" in confirmation["cause"] and confirmation["actor_kind"] == "system"

    await advance_to(env, booked_at + 24 * H + timedelta(minutes=5))
    ack = await verdict(pool, case_id, "provider_ack_within_24h", "broken")
    assert (ack["actor_kind"], ack["actor_id"]) == ("provider", "P-3")
    assert close_to(ack["decided_at"], booked_at + 24 * H)

    reminder_at = (await handle.query(AppointmentWorkflow.status)).reminder_at
    assert reminder_at is not None
    await advance_to(env, reminder_at + timedelta(minutes=5))
    reminder = await verdict(pool, case_id, "reminder_24_48h_before", "broken")
    assert "not delivered" in reminder["cause"]

    # The client came: the no-show rule no longer applies; the survey cannot reach them.
    await advance_to(env, start - timedelta(minutes=5))
    await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=STAFF))
    no_show = await verdict(pool, case_id, "no_show_rule", "not_applicable")
    assert no_show["cause"] == "client checked in"
    await advance_to(env, start + 30 * timedelta(minutes=1))
    await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))
    await until_the_survey_is_due(env, case_id, request.end + 3 * H)
    survey = await verdict(pool, f"survey-{case_id}", "survey_within_48h", "broken")
    assert "not delivered" in survey["cause"]
    await end_workflows(env, case_id, f"survey-{case_id}")


async def test_booked_late_no_reminder_promised_follow_up_after_the_line_broken_survey_kept(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    # Booked 20h ahead, past the free-cancellation line (24h before): no room before it, so
    # the calls may go until the visit, from half the time left (booked + 10h). Booked at
    # 10:00 on a weekday in the office's timezone, that is 20:00 to 06:00, outside office
    # hours (08-18): no call can be made and the promise ends broken. Booked at most other
    # hours a call fits before the visit and keeps it, so the test picks the booking instant
    # rather than take whatever the shared clock reads; `next_local` keeps DST out of the 20h.
    now = await env.get_current_time()
    booked_at = min(next_local(now, day, 10, settings.office_timezone) for day in range(5))
    await advance_to(env, booked_at)
    request = appointment(booked_at + 20 * H)
    start = request.start
    handle = await book(env.client, request, settings, await env.get_current_time())
    case_id = request.workflow_id
    try:
        reminder = await verdict(pool, case_id, "reminder_24_48h_before", "not_applicable")
        assert "the confirmation is the reminder" in reminder["cause"]

        # No office hour between the response deadline and the visit: no call is made.
        await advance_to(env, start - 2 * H)
        follow_up = await verdict(pool, case_id, "follow_up_before_deadline", "broken")
        assert follow_up["cause"] == "no call made (no_room_before_free_cancellation)"

        await advance_to(env, start - timedelta(minutes=1))
        await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=STAFF))
        await advance_to(env, start + 30 * timedelta(minutes=1))
        await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))
        await until_the_survey_is_due(env, case_id, request.end + 3 * H)
        survey = await verdict(pool, f"survey-{case_id}", "survey_within_48h", "kept")
        assert survey["met_at"] <= request.end + 48 * H
    finally:
        await end_workflows(env, case_id, f"survey-{case_id}")


# --- complaints ---------------------------------------------------------------------------------


async def test_complaint_acknowledged_at_once_updated_every_24h_and_resolved_within_48h_kept(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    case_id = request.workflow_id
    ack = await verdict(pool, case_id, "complaint_ack_at_once", "kept")
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    assert close_to(ack["met_at"], filed)

    await advance_to(env, filed + 30 * H)  # the 24h status update went out
    updates = (await promise_rows(pool, case_id))["complaint_updated_every_24h"]
    assert updates["verdict"] == "pending" and close_to(updates["met_at"], filed + 24 * H)

    await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="Refund of the visit fee", actor=AGENT),
    )
    resolved = await verdict(pool, case_id, "complaint_resolved_within_48h", "kept")
    assert (resolved["actor_kind"], resolved["actor_id"]) == ("staff", "agent-7")
    # The verdict cancels the proposal's send: on the time-skipping server a cancel that
    # crosses the send's completion stalls the case for good (helpers.settled).
    await settled(env.client, case_id)
    await handle.execute_update(
        ComplaintWorkflow.customer_verdict, CustomerVerdictInput(satisfied=True, actor=CUSTOMER)
    )
    # Closed, its follow-up still to come: no update is owed any more, so the recurring
    # promise is decided now (nothing was due while the proposal waited: due at the close).
    await until(lambda: stored_status(pool, case_id, "Closed"), "the close saved")
    updates = (await promise_rows(pool, case_id))["complaint_updated_every_24h"]
    assert updates["verdict"] == "kept"
    assert updates["due_at"] == updates["decided_at"]
    assert close_to(updates["decided_at"], await env.get_current_time())
    await advance_to(env, filed + 12 * 24 * H)
    await handle.result()
    rows = await promise_rows(pool, case_id)
    assert {p: r["verdict"] for p, r in rows.items()} == {
        "complaint_ack_at_once": "kept",
        "complaint_updated_every_24h": "kept",
        "complaint_resolved_within_48h": "kept",
    }


async def test_complaint_resolution_breached_at_48h_broken_like_sla_breached_updates_broken(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
) -> None:
    request = complaint(
        customer={**complaint().customer.model_dump(mode="json"), "email": "bounce@example.com"}
    )
    handle = await file_complaint(env.client, request, settings)
    case_id = request.workflow_id
    ack = await verdict(pool, case_id, "complaint_ack_at_once", "broken")
    assert ack["cause"] == "acknowledgement not delivered"
    updates = await verdict(pool, case_id, "complaint_updated_every_24h", "broken")
    assert "not delivered" in updates["cause"]

    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + 47 * H)
    described = await handle.describe()
    attributes = {p.key.name: p.value for p in described.typed_search_attributes}
    assert attributes["SlaBreached"] is False
    assert (await promise_rows(pool, case_id))["complaint_resolved_within_48h"]["verdict"] == (
        "pending"
    )

    await advance_to(env, filed + 48 * H + timedelta(minutes=5))
    resolved = await verdict(pool, case_id, "complaint_resolved_within_48h", "broken")
    described = await handle.describe()
    attributes = {p.key.name: p.value for p in described.typed_search_attributes}
    assert attributes["SlaBreached"] is True
    assert resolved["due_at"] == filed + 48 * H and close_to(resolved["decided_at"], filed + 48 * H)
    assert (resolved["actor_kind"], resolved["actor_id"]) == ("staff", "customer_care")
    assert "SLA breached" in resolved["cause"]
    # A late resolution does not turn it back (proposed once the breach's alerts are out:
    # helpers.settled).
    await settled(env.client, case_id)
    await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="Apology and a free visit", actor=AGENT),
    )
    # Read once the case record has the proposal: the ledger is written in the same save.
    await until(lambda: stored_status(pool, case_id, "ResolutionProposed"), "the proposal saved")
    assert (await promise_rows(pool, case_id))["complaint_resolved_within_48h"]["verdict"] == (
        "broken"
    )
    await end_workflows(env, case_id)


# --- inquiries ----------------------------------------------------------------------------------


async def test_inquiry_answered_within_48h_kept_when_answered_broken_when_the_supervisor_is_told(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    answered = inquiry()
    answered_handle = await record_inquiry(env.client, answered, settings)
    late = inquiry()
    late_handle = await record_inquiry(env.client, late, settings)
    await env.sleep(timedelta(minutes=1))
    received = (await answered_handle.query(InquiryWorkflow.status)).received_at

    await advance_to(env, received + 5 * H)
    await answered_handle.execute_update(
        InquiryWorkflow.answer, AnswerInquiryInput(text="Yes, on Saturdays.", actor=AGENT)
    )
    kept = await verdict(pool, answered.workflow_id, "inquiry_answered_within_48h", "kept")
    assert close_to(kept["met_at"], received + 5 * H, timedelta(minutes=2))

    await advance_to(env, received + 48 * H + timedelta(minutes=5))
    broken = await verdict(pool, late.workflow_id, "inquiry_answered_within_48h", "broken")
    assert (broken["actor_kind"], broken["actor_id"]) == ("staff", "front_desk")
    assert close_to(broken["due_at"], received + 48 * H, timedelta(minutes=2))
    # The answer cancels the supervisor alert if it is still going out (helpers.settled).
    await settled(env.client, late.workflow_id)
    await late_handle.execute_update(
        InquiryWorkflow.answer, AnswerInquiryInput(text="Sorry: yes.", actor=AGENT)
    )
    await late_handle.result()
    await answered_handle.result()
    row = (await promise_rows(pool, late.workflow_id))["inquiry_answered_within_48h"]
    assert row["verdict"] == "broken"
