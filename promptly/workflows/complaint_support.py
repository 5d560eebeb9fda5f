"""Complaint workflow helpers for the procedure rules (DESIGN.md §1 complaints 4–5).

Kept apart from complaint.py so the workflow file stays readable: the patch id, the
front-desk task a failed staff message becomes, and the timeline wording.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from promptly.workflows.staff_tasks import open_task

with workflow.unsafe.imports_passed_through():
    from promptly.domain.common import RecipientRole
    from promptly.domain.complaints import sla as complaint_sla
    from promptly.domain.complaints.models import ComplaintCase
    from promptly.domain.messages import Recipient
    from promptly.domain.surveys.models import SurveyAnswer
    from promptly.domain.tasks import CreateTaskRequest, TaskKind, TaskRef

# Cases started since this marker run under the procedure rules: a 48 calendar-hour
# ceiling on every route, bounded holds, the customer told of every escalation, and failed
# staff messages turned into tasks. Histories without it replay on the earlier rules.
PROCEDURE_RULES = "complaint-procedure-rules"


def hours(amount: timedelta) -> str:
    return f"{round(amount.total_seconds() / 3600, 2):g}h"


def elapsed_text(case: ComplaintCase, now: datetime) -> str:
    """How long the round's clock has run: office hours, and calendar hours when they differ."""
    office = case.route.business_hours
    counted = complaint_sla.clock_elapsed(case.clock, now, office)
    if office is None or not case.procedure_rules:
        return f"{hours(counted)} on the SLA clock"
    calendar = complaint_sla.calendar_elapsed(case.clock, now)
    return f"{hours(counted)} of office hours ({hours(calendar)} of calendar time)"


def feedback_given(case: ComplaintCase, answer: SurveyAnswer) -> ComplaintCase:
    return case.model_copy(
        update={"feedback_score": answer.nps, "feedback_comment": answer.comment}
    )


def hold_ended_detail(held: timedelta, deadline: datetime | None) -> str:
    due = deadline.isoformat() if deadline else ""
    return (
        f"Hold ended on its own after {hours(held)} (the longest a hold may last); "
        f"SLA clock resumed, resolution due {due}; the customer is told"
    )


async def staff_message_task(
    case_id: str,
    case: ComplaintCase,
    template: str,
    to: Recipient,
    *,
    number: int,
    now: datetime,
    reason: str,
) -> TaskRef:
    """A front-desk task to pass a failed staff message on by hand, due at once."""
    whom = to.name or to.role.value
    address = f" <{to.email}>" if to.email else ""
    request = case.request
    details = (
        f"The {template.replace('_', ' ')} for complaint {request.complaint_id} "
        f"({request.category}, severity {request.severity.value}) could not be sent to "
        f"{whom}{address}. Tell them by phone or in person."
    )
    if reason:
        details += f" Reason: {reason}"
    return await open_task(
        CreateTaskRequest(
            idempotency_key=f"{case_id}/{template}/{number}/task",
            case_id=case_id,
            kind=TaskKind.RESEND_STAFF_MESSAGE,
            assignee=RecipientRole.FRONT_DESK,  # who picks up the phone
            title=f"Pass on by hand: {template.replace('_', ' ')} to {whom}",
            details=details,
            due_at=now,
            data={"template": template, "recipient": to.role.value, "email": to.email},
        ),
        f"task: {template} not delivered",
    )
