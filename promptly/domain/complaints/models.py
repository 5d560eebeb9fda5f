"""The complaint on the wire and in the workflow: the request, the SLA clock, the case, its
updates and its status view. The escalation matrix, the route and the service levels live in
`policy.py`; they are re-exported here, so either import path works."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, EmailStr, Field, StringConstraints

from promptly.domain import text_patterns
from promptly.domain.common import (
    Actor,
    BusinessId,
    CaseCommand,
    CaseVersion,
    ClientAnswer,
    Model,
    NonEmpty,
    Person,
    PromiseRecord,
    TimelineEntry,
)
from promptly.domain.complaints.policy import (
    ANY_ROUTE,
    DEFAULT_ROOT_CAUSES,
    Category,
    ComplaintPolicy,
    ComplaintRoute,
    ComplaintRules,
    Contact,
    DepartmentId,
    DepartmentSpec,
    EscalationMatrix,
    EscalationTiers,
    RouteSeverity,
    RouteSpec,
    Severity,
    TierKey,
)
from promptly.domain.examples import AS_CLIENT, AS_STAFF, CLIENT, examples
from promptly.domain.tasks import HandTasksRecord


class ReceivedVia(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    PORTAL = "portal"
    SURVEY = "survey"


LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class ComplaintRequest(Model):
    """What a back-office (or a detractor's survey answer) sends to file a complaint."""

    model_config = examples(
        {
            "complaint_id": "K-2031",
            "customer": CLIENT,
            "received_via": "email",
            "category": "billing",
            "severity": "normal",
            "description": "I was charged twice for the visit on 1 June.",
            "appointment_id": "A-1001",
        }
    )

    complaint_id: BusinessId
    customer: Person
    received_via: ReceivedVia
    category: Category
    severity: Severity
    description: LongText
    appointment_id: BusinessId | None = None

    @property
    def workflow_id(self) -> str:
        return complaint_workflow_id(self.complaint_id)


def complaint_workflow_id(complaint_id: str) -> str:
    return f"complaint-{complaint_id}"


class ComplaintStatus(StrEnum):
    OPEN = "Open"
    ON_HOLD = "OnHold"
    RESOLUTION_PROPOSED = "ResolutionProposed"
    CLOSED = "Closed"
    CLOSED_UNCONFIRMED = "ClosedUnconfirmed"


FINAL_COMPLAINT_STATUSES = frozenset({ComplaintStatus.CLOSED, ComplaintStatus.CLOSED_UNCONFIRMED})


class SlaClock(Model):
    """The SLA clock of the current round: running, or stopped (on hold, awaiting a verdict).

    Elapsed = `active_before` + the countable time since `running_since` (business time for
    a department with office hours).
    """

    started_at: AwareDatetime
    active_before: timedelta = timedelta(0)
    running_since: AwareDatetime | None = None
    # Calendar time run before `running_since`: the procedure's ceiling counts every hour.
    calendar_before: timedelta = timedelta(0)


class Assignee(Model):
    id: BusinessId
    name: NonEmpty
    email: EmailStr | None = None


class WaitingMessage(Model):
    """News for the customer decided in their quiet hours, waiting until they end
    (quiet_hours.py); `context` is the message as it read when it was decided."""

    template: str
    at: AwareDatetime
    context: dict[str, Any] = Field(default_factory=dict)


class ComplaintCase(Model):
    """Everything a complaint workflow knows: the complaint, its route, where it stands."""

    request: ComplaintRequest
    route: ComplaintRoute
    policy: ComplaintPolicy
    status: ComplaintStatus = ComplaintStatus.OPEN
    filed_at: AwareDatetime
    clock: SlaClock
    escalation_level: int = 0
    sla_breached: bool = False
    breaches_in_round: int = 0
    reopened: int = 0
    # Customer status updates: due at `update_due_at` while running, `update_left` when paused.
    update_due_at: AwareDatetime | None = None
    update_left: timedelta | None = None
    last_customer_update_at: AwareDatetime | None = None
    hold_reason: str | None = None
    on_hold_since: AwareDatetime | None = None
    held_before: timedelta = timedelta(0)
    assignee: Assignee | None = None
    resolution: str | None = None
    proposed_at: AwareDatetime | None = None
    verdict_deadline: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    close_reason: str | None = None
    survey_sent: bool = False
    messages_requested: int = 0
    needs_attention: list[str] = Field(default_factory=list)
    # Cases filed since the procedure rules (calendar ceiling, bounded holds, every
    # escalation told, failed staff messages as tasks); older histories replay without them.
    procedure_rules: bool = False
    hold_until: AwareDatetime | None = None
    hold_for_customer_answer: bool = True
    root_cause: str | None = None
    feedback_score: int | None = None  # the follow-up's one question, 0–10
    feedback_comment: str = ""
    waiting_messages: list[WaitingMessage] = Field(default_factory=list)


class AssignInput(CaseCommand):
    model_config = examples(
        {
            "assignee": {"id": "S-8", "name": "Marta Zielińska", "email": "billing@example.com"},
            "actor": AS_STAFF,
        }
    )

    assignee: Assignee
    actor: Actor


class NoteVisibility(StrEnum):
    INTERNAL = "internal"
    CUSTOMER = "customer"


class AddNoteInput(CaseCommand):
    model_config = examples(
        {"text": "Refund requested from the payment provider.", "actor": AS_STAFF},
        {
            "text": "We have found the double charge and are refunding it.",
            "visibility": "customer",
            "actor": AS_STAFF,
        },
    )

    text: LongText
    visibility: NoteVisibility = NoteVisibility.INTERNAL
    actor: Actor


class HoldInput(CaseCommand):
    """Waiting on the customer: the SLA clock stops, for at most the policy's `max_hold`.

    `for_customer_answer`: the customer owes us an answer, so the status updates pause too;
    otherwise (waiting on something the customer arranges) they go on every 24h.
    """

    model_config = examples(
        {"reason": "waiting for the customer's bank statement", "actor": AS_STAFF}
    )

    reason: LongText
    actor: Actor
    for_customer_answer: bool = True


class ResumeInput(CaseCommand):
    model_config = examples({"actor": AS_STAFF, "note": "statement received"})

    actor: Actor
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class ProposeResolutionInput(CaseCommand):
    model_config = examples(
        {"resolution": "The second charge of 180.00 PLN is refunded.", "actor": AS_STAFF}
    )

    resolution: LongText
    actor: Actor


RootCause = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=text_patterns.ROOT_CAUSE.regex),
]


class CustomerVerdictInput(ClientAnswer, CaseCommand):
    """Whether the customer accepts the proposed resolution; `taken_by` when they told the
    desk, which read the proposal out to them (told_answers.py)."""

    model_config = examples(
        {"satisfied": True, "comment": "Refund received, thank you.", "actor": AS_CLIENT},
        {"satisfied": False, "comment": "Only half was refunded.", "actor": AS_CLIENT},
    )

    satisfied: bool
    comment: Annotated[str, StringConstraints(max_length=4000)] = ""
    actor: Actor
    root_cause: RootCause | None = None


class CloseComplaintInput(CaseCommand):
    """A supervisor closes the case (staff only), with the reason on the record."""

    model_config = examples(
        {"reason": "refunded; customer satisfied", "actor": AS_STAFF, "root_cause": "billing_error"}
    )

    reason: LongText
    actor: Actor
    root_cause: RootCause | None = None


class ComplaintContinuation(Model):
    """What a long complaint carries into its next run (continue-as-new): the case, the
    timeline entries kept in memory (`omitted` older ones are stored only), how many are
    stored, its promises and the desk's open tasks passing on a message by hand."""

    case: ComplaintCase
    timeline: list[TimelineEntry]
    omitted: int = 0
    stored_entries: int
    promises: list[PromiseRecord] = Field(default_factory=list)
    by_hand: HandTasksRecord = Field(default_factory=HandTasksRecord)


class ComplaintView(Model):
    """The `status` query of a complaint, and the answer of every update."""

    complaint_id: str
    status: ComplaintStatus
    # None in a view stored before it was part of it.
    client_id: str | None = Field(default=None, description="the customer's id, as filed")
    category: str
    severity: Severity
    received_via: ReceivedVia
    appointment_id: str | None
    department: str
    department_name: str
    assignee: Assignee | None
    contact: Contact = Field(description="the customer's point of contact now")
    filed_at: AwareDatetime
    sla_deadline: AwareDatetime | None = Field(
        description="resolution due (the new timeline after a breach); None while the clock "
        "is stopped"
    )
    next_escalation_at: AwareDatetime | None
    escalation_level: int
    sla_breached: bool
    business_hours_only: bool
    next_status_update_at: AwareDatetime | None
    last_customer_update_at: AwareDatetime | None
    hold_reason: str | None
    on_hold_since: AwareDatetime | None = Field(description="start of the ongoing hold")
    time_on_hold: timedelta = Field(
        description="total of the finished holds (the ongoing one runs from on_hold_since)"
    )
    resolution: str | None
    verdict_deadline: AwareDatetime | None
    reopened: int
    closed_at: AwareDatetime | None
    close_reason: str | None
    survey_at: AwareDatetime | None
    survey_sent: bool
    needs_attention: list[str]
    timeline: list[TimelineEntry]
    timeline_omitted: int = Field(
        default=0, description="oldest entries not kept in the workflow (all are in PostgreSQL)"
    )
    hold_until: AwareDatetime | None = Field(
        default=None, description="when the ongoing hold ends on its own"
    )
    version: CaseVersion = None
    root_cause: str | None = None
    feedback_score: int | None = Field(
        default=None, description="the customer's answer to the follow-up (0–10)"
    )


# The names of policy.py are part of this module's public names too.
__all__ = [
    "ANY_ROUTE",
    "DEFAULT_ROOT_CAUSES",
    "FINAL_COMPLAINT_STATUSES",
    "AddNoteInput",
    "AssignInput",
    "Assignee",
    "Category",
    "CloseComplaintInput",
    "ComplaintCase",
    "ComplaintPolicy",
    "ComplaintRequest",
    "ComplaintRoute",
    "ComplaintRules",
    "ComplaintStatus",
    "ComplaintView",
    "Contact",
    "CustomerVerdictInput",
    "DepartmentId",
    "DepartmentSpec",
    "EscalationMatrix",
    "EscalationTiers",
    "HoldInput",
    "LongText",
    "NoteVisibility",
    "ProposeResolutionInput",
    "ReceivedVia",
    "ResumeInput",
    "RootCause",
    "RouteSeverity",
    "RouteSpec",
    "Severity",
    "SlaClock",
    "TierKey",
    "WaitingMessage",
    "complaint_workflow_id",
]
