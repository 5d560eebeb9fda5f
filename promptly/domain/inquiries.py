"""Inquiries (service-level standards: respond within 24–48h): the models and the rules.

An inquiry is acknowledged at once and answered by staff (the answer goes to the customer);
unanswered at 24h the front desk is alerted, at 48h the supervisor. An inquiry that turns
out to be a complaint is promoted: a complaint is filed with the same reference. Pure: the
caller passes `now`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from pydantic import AwareDatetime, Field

from promptly.domain.common import (
    Actor,
    ActorKind,
    BusinessId,
    Model,
    NonEmpty,
    Person,
    TimelineEntry,
)
from promptly.domain.complaints.models import (
    Category,
    ComplaintRequest,
    LongText,
    ReceivedVia,
    Severity,
)


def inquiry_workflow_id(inquiry_id: str) -> str:
    return f"inquiry-{inquiry_id}"


class InquiryRequest(Model):
    """What a back-office sends to record a customer's question."""

    inquiry_id: BusinessId
    customer: Person
    received_via: ReceivedVia
    subject: NonEmpty
    question: LongText

    @property
    def workflow_id(self) -> str:
        return inquiry_workflow_id(self.inquiry_id)


class InquiryStatus(StrEnum):
    OPEN = "Open"
    ANSWERED = "Answered"
    PROMOTED = "Promoted"


class AnswerInquiryInput(Model):
    text: LongText
    actor: Actor


class PromoteInquiryInput(Model):
    """The inquiry is a complaint: file one with this category and severity."""

    category: Category
    severity: Severity
    actor: Actor


class InquiryPolicy(Model):
    answer_within: timedelta = timedelta(hours=24)  # then the front desk is alerted
    supervisor_after: timedelta = timedelta(hours=48)  # then the supervisor is alerted
    # After the answer or the promotion, late updates still get a clear refusal this long.
    keep_open_after: timedelta = timedelta(hours=24)

    def message_terms(self) -> dict[str, int]:
        """The waits the staff alerts state, in seconds (templates: `| duration`)."""
        return {
            "answer_within": round(self.answer_within.total_seconds()),
            "supervisor_after": round(self.supervisor_after.total_seconds()),
        }

    def scaled(self, factor: float) -> InquiryPolicy:
        if factor == 1:
            return self
        return InquiryPolicy(
            answer_within=self.answer_within * factor,
            supervisor_after=self.supervisor_after * factor,
            keep_open_after=self.keep_open_after * factor,
        )


class InquiryCase(Model):
    request: InquiryRequest
    policy: InquiryPolicy
    received_at: AwareDatetime
    status: InquiryStatus = InquiryStatus.OPEN
    alerts: int = 0  # 1: the front desk was alerted, 2: the supervisor too
    answer: str | None = None
    answered_at: AwareDatetime | None = None
    complaint_id: str | None = None
    closed_at: AwareDatetime | None = None
    messages_requested: int = 0
    needs_attention: list[str] = Field(default_factory=list)


class InquiryView(Model):
    """The `status` query of an inquiry, and the answer of its updates."""

    inquiry_id: str
    status: InquiryStatus
    subject: str
    received_via: ReceivedVia
    customer_id: str
    received_at: AwareDatetime
    answer_deadline: AwareDatetime = Field(description="answer due (24h after receipt)")
    supervisor_at: AwareDatetime = Field(description="the supervisor is alerted then (48h)")
    alerts: int
    answer: str | None
    answered_at: AwareDatetime | None
    complaint_id: str | None = Field(description="the complaint it was promoted to")
    needs_attention: list[str]
    timeline: list[TimelineEntry]


class ComplaintOpened(Model):
    complaint_id: str
    workflow_id: str
    created: bool = Field(description="false: a complaint with this id existed already")


# --- the rules -----------------------------------------------------------------------------


def new_inquiry(
    request: InquiryRequest, received_at: datetime, policy: InquiryPolicy
) -> InquiryCase:
    return InquiryCase(request=request, policy=policy, received_at=received_at)


def answer_deadline(case: InquiryCase) -> datetime:
    return case.received_at + case.policy.answer_within


def supervisor_at(case: InquiryCase) -> datetime:
    return case.received_at + case.policy.supervisor_after


class InquiryStep(StrEnum):
    ALERT_STAFF = "alert_staff"
    ALERT_SUPERVISOR = "alert_supervisor"
    FINISH = "finish"


class InquiryDue(NamedTuple):
    at: datetime
    step: InquiryStep


def inquiry_next_step(case: InquiryCase) -> InquiryDue | None:
    """What the workflow does next on its own; None: nothing left but waiting for staff."""
    if case.closed_at is not None:
        return InquiryDue(case.closed_at + case.policy.keep_open_after, InquiryStep.FINISH)
    if case.alerts == 0:
        return InquiryDue(answer_deadline(case), InquiryStep.ALERT_STAFF)
    if case.alerts == 1:
        return InquiryDue(supervisor_at(case), InquiryStep.ALERT_SUPERVISOR)
    return None


def alerted(case: InquiryCase) -> InquiryCase:
    return case.model_copy(update={"alerts": case.alerts + 1})


def answered(case: InquiryCase, now: datetime, text: str) -> InquiryCase:
    return case.model_copy(
        update={
            "status": InquiryStatus.ANSWERED,
            "answer": text,
            "answered_at": now,
            "closed_at": now,
        }
    )


def promoted(case: InquiryCase, now: datetime, complaint_id: str) -> InquiryCase:
    return case.model_copy(
        update={"status": InquiryStatus.PROMOTED, "complaint_id": complaint_id, "closed_at": now}
    )


def answered_in_time(case: InquiryCase) -> bool:
    return case.answered_at is not None and case.answered_at <= answer_deadline(case)


def inquiry_refusal(update: str, case: InquiryCase, actor: Actor) -> str | None:
    """Why `update` by `actor` is impossible now, or None when it is allowed."""
    if case.status is InquiryStatus.ANSWERED:
        return f"{update} refused: the inquiry was already answered"
    if case.status is InquiryStatus.PROMOTED:
        return f"{update} refused: the inquiry became complaint {case.complaint_id}"
    if actor.kind is not ActorKind.STAFF:
        return f"{update} refused: only staff may {update.replace('_', ' ')} an inquiry"
    return None


def complaint_from_inquiry(case: InquiryCase, command: PromoteInquiryInput) -> ComplaintRequest:
    """The complaint an inquiry becomes: same reference, customer and channel."""
    request = case.request
    return ComplaintRequest(
        complaint_id=request.inquiry_id,
        customer=request.customer,
        received_via=request.received_via,
        category=command.category,
        severity=command.severity,
        description=f"{request.subject}: {request.question}"[:5000],
    )
