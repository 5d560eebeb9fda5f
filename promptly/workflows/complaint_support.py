"""Complaint workflow helpers for the procedure rules (DESIGN.md §1 complaints 4–5).

Kept apart from complaint.py so the workflow file stays readable: the
front-desk task a failed staff message becomes, and the timeline wording.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from promptly.workflows.case_sends import staff_task
from promptly.workflows.staff_tasks import open_task

with workflow.unsafe.imports_passed_through():
    from promptly.domain.complaints import sla as complaint_sla
    from promptly.domain.complaints.models import ComplaintCase
    from promptly.domain.messages import Recipient
    from promptly.domain.surveys.models import SurveyAnswer
    from promptly.domain.tasks import TaskRef


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


def resumed_detail(held: timedelta, deadline: datetime | None, note: str | None) -> str:
    due = deadline.isoformat() if deadline else ""
    return f"Resumed after {hours(held)} on hold; resolution due {due}" + (
        f" ({note})" if note else ""
    )


def about(case: ComplaintCase) -> str:
    """The complaint as a staff task names it."""
    request = case.request
    return (
        f"complaint {request.complaint_id} ({request.category}, severity {request.severity.value})"
    )


async def staff_message_task(
    case_id: str, case: ComplaintCase, template: str, to: Recipient, *, number: int, reason: str
) -> TaskRef:
    """A front-desk task to pass on by hand a staff message that was awaited in line and
    failed, due at once; it repeats the alert's `reason`, if it had one."""
    key = f"{case_id}/{template}/{number}/task"
    return await open_task(
        staff_task(key, case_id, template, to, about(case), reason or None),
        f"task: {template} not delivered",
    )
