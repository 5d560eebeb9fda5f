"""Inquiries: what a back-office records, the case the workflow keeps, and its view."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import AwareDatetime, Field

from promptly.domain.calendar import ScalableRules
from promptly.domain.common import (
    SYSTEM,
    Actor,
    BusinessId,
    CaseCommand,
    CaseVersion,
    Model,
    NonEmpty,
    Person,
    TimelineEntry,
    Timezone,
    in_seconds,
)
from promptly.domain.complaints.models import (
    Category,
    ComplaintRequest,
    LongText,
    ReceivedVia,
    Severity,
)
from promptly.domain.examples import AS_STAFF, CLIENT, examples


def inquiry_workflow_id(inquiry_id: str) -> str:
    return f"inquiry-{inquiry_id}"


class InquiryRequest(Model):
    """What a back-office sends to record a customer's question."""

    model_config = examples(
        {
            "inquiry_id": "Q-501",
            "customer": CLIENT,
            "received_via": "portal",
            "subject": "Parking near the clinic",
            "question": "Is there parking for patients at ul. Prosta 1?",
        }
    )

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


class AnswerInquiryInput(CaseCommand):
    model_config = examples(
        {
            "text": "Yes: four free spaces behind the building, entry from ul. Krótka.",
            "actor": AS_STAFF,
        }
    )

    text: LongText
    actor: Actor


class PromoteInquiryInput(CaseCommand):
    """The inquiry is a complaint: file one with this category and severity."""

    model_config = examples({"category": "billing", "severity": "high", "actor": AS_STAFF})

    category: Category
    severity: Severity
    actor: Actor


class InquiryPolicy(ScalableRules):
    answer_within: timedelta = timedelta(hours=24)  # then the front desk is alerted
    supervisor_after: timedelta = timedelta(hours=48)  # then the supervisor is alerted
    # After the answer or the promotion, late updates still get a clear refusal this long.
    keep_open_after: timedelta = timedelta(hours=24)
    # The zone staff read times in (alerts, the Temporal UI); None for inquiries recorded
    # before it was part of the policy: their customer's zone, as then.
    office_timezone: Timezone | None = None

    def message_terms(self) -> dict[str, int]:
        """The waits the staff alerts state."""
        return in_seconds(answer_within=self.answer_within, supervisor_after=self.supervisor_after)


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
    # The same id under the name every view and list gives it (None in a view stored before).
    client_id: str | None = Field(default=None, description="the customer's id, as received")
    received_at: AwareDatetime
    answer_deadline: AwareDatetime = Field(description="answer due (24h after receipt)")
    supervisor_at: AwareDatetime = Field(description="the supervisor is alerted then (48h)")
    alerts: int
    answer: str | None
    answered_at: AwareDatetime | None
    complaint_id: str | None = Field(description="the complaint it was promoted to")
    needs_attention: list[str]
    timeline: list[TimelineEntry]
    version: CaseVersion = None


class PromotedComplaint(ComplaintRequest):
    """The complaint an inquiry is promoted to, with who promoted it: the complaint's opener,
    as the key behind a filed complaint is. (A promotion scheduled before `promoted_by`
    existed reads as the system's.)"""

    promoted_by: Actor = SYSTEM

    def request(self) -> ComplaintRequest:
        return ComplaintRequest.model_validate(self.model_dump(exclude={"promoted_by"}))


class ComplaintOpened(Model):
    complaint_id: str
    workflow_id: str
    created: bool = Field(description="false: a complaint with this id existed already")
