"""The complaint on the wire and in the workflow: the request, the escalation matrix, the SLA
clock, the case, its updates and its status view."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from promptly.domain import text_patterns
from promptly.domain.calendar import BusinessCalendar, OfficeHours
from promptly.domain.common import (
    Actor,
    BusinessId,
    ClientAnswer,
    Locale,
    Model,
    NonEmpty,
    Person,
    Phone,
    PositiveDuration,
    TimelineEntry,
)


class ReceivedVia(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    PORTAL = "portal"
    SURVEY = "survey"


class Severity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


Category = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
]


LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


DepartmentId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=text_patterns.DEPARTMENT_ID.regex)
]


class ComplaintRequest(Model):
    """What a back-office (or a detractor's survey answer) sends to file a complaint."""

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


class Contact(Model):
    name: NonEmpty
    email: EmailStr
    phone: Phone | None = None


class EscalationTiers(Model):
    """Times on the SLA clock (business time when the department keeps office hours).

    Unresolved at `supervisor_after` → the supervisor is told (level 1); at `breach_after`
    → SLA breached, the manager and the customer are told, and the customer is promised a
    new timeline `extension` later; each missed new timeline escalates once more.
    """

    supervisor_after: PositiveDuration = timedelta(hours=24)
    breach_after: PositiveDuration = timedelta(hours=48)
    extension: PositiveDuration = timedelta(hours=24)

    def message_terms(self) -> dict[str, int]:
        """The wait the customer's escalation notice states, in seconds (`| duration`)."""
        return {"escalated_after": round(self.supervisor_after.total_seconds())}

    @model_validator(mode="after")
    def _supervisor_before_breach(self) -> EscalationTiers:
        if self.supervisor_after >= self.breach_after:
            raise ValueError(
                f"supervisor_after ({self.supervisor_after}) must be shorter than "
                f"breach_after ({self.breach_after})"
            )
        return self


class DepartmentSpec(Model):
    name: NonEmpty
    # The name customers read in their language, where it differs from `name`.
    names: dict[Locale, NonEmpty] = Field(default_factory=dict)
    owner: Contact
    manager: Contact
    business_hours: OfficeHours | None = None


ANY_ROUTE: Literal["*"] = "*"


def _one_of(*allowed: str) -> AfterValidator:
    """A string from `allowed`, refused with the same words pydantic uses for a Literal."""
    listed = ", ".join(f"'{value}'" for value in allowed[:-1]) + f" or '{allowed[-1]}'"

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"Input should be {listed}")
        return value

    return AfterValidator(check)


# `Severity` is the one list of severities: tier keys and route severities follow it.
TierKey = Annotated[str, _one_of("default", *Severity)]
RouteSeverity = Annotated[str, _one_of(ANY_ROUTE, *Severity)]


class RouteSpec(Model):
    """One line of the matrix: `*` matches any category or severity."""

    category: Category = ANY_ROUTE
    severity: RouteSeverity = ANY_ROUTE
    department: DepartmentId
    owner: Contact | None = None
    tiers: EscalationTiers | None = None


class EscalationMatrix(Model):
    """category × severity → department, owner, tiers. The most specific route wins
    (category before severity); a route with category and severity `*` is required."""

    departments: dict[DepartmentId, DepartmentSpec] = Field(min_length=1)
    # What a category is called in the customer's language (else its id is shown).
    categories: dict[Category, dict[Locale, NonEmpty]] = Field(default_factory=dict)
    tiers: dict[TierKey, EscalationTiers] = Field(default_factory=dict)
    routes: list[RouteSpec] = Field(min_length=1)


class ComplaintRoute(Model):
    """Where one complaint goes and under which tiers; fixed in its history at filing."""

    department: str
    department_name: str
    # The department's and the category's names in the customers' languages (the matrix's).
    department_names: dict[Locale, str] = Field(default_factory=dict)
    category_names: dict[Locale, str] = Field(default_factory=dict)
    owner: Contact
    manager: Contact
    tiers: EscalationTiers
    business_hours: BusinessCalendar | None = None
    rule: str = Field(description="the matrix route that matched, category/severity")
    office_timezone: str | None = Field(
        default=None,
        description="the office's zone, in which staff read times when the department keeps "
        "no office hours (absent on complaints filed before it: the customer's zone)",
    )

    def staff_timezone(self, customer_timezone: str) -> str:
        """The zone staff messages and the UI show this complaint's times in."""
        if self.business_hours is not None:
            return self.business_hours.timezone
        return self.office_timezone or customer_timezone


DEFAULT_ROOT_CAUSES = (
    "communication",
    "waiting_time",
    "billing_error",
    "staff_conduct",
    "treatment_quality",
    "scheduling",
    "facilities",
    "other",
)


class ComplaintPolicy(Model):
    """The complaint service levels that are not per department (settings)."""

    update_every: timedelta = timedelta(hours=24)
    verdict_within: timedelta = timedelta(hours=72)
    survey_after: timedelta = timedelta(hours=2)
    # After closing, the case stays open this long, so late updates get a clear answer.
    keep_open_after_close: timedelta = timedelta(hours=24)
    # The procedure's own limits in calendar hours: a department's office hours may make its
    # clock stricter, never looser (supervisor at 24h, breach at 48h, each new timeline 24h).
    sla_ceiling: EscalationTiers = Field(default_factory=EscalationTiers)
    # A hold ends on its own after this; the clock resumes and the customer is told.
    max_hold: timedelta = timedelta(hours=72)
    # The follow-up's feedback link stays answerable this long after it is sent.
    feedback_window: timedelta = timedelta(days=7)
    # Root causes staff may record at close (empty: any short text is refused).
    root_causes: list[str] = Field(default_factory=lambda: list(DEFAULT_ROOT_CAUSES))


class ComplaintRules(Model):
    route: ComplaintRoute
    policy: ComplaintPolicy


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


class AssignInput(Model):
    assignee: Assignee
    actor: Actor


class NoteVisibility(StrEnum):
    INTERNAL = "internal"
    CUSTOMER = "customer"


class AddNoteInput(Model):
    text: LongText
    visibility: NoteVisibility = NoteVisibility.INTERNAL
    actor: Actor


class HoldInput(Model):
    """Waiting on the customer: the SLA clock stops, for at most the policy's `max_hold`.

    `for_customer_answer`: the customer owes us an answer, so the status updates pause too;
    otherwise (waiting on something the customer arranges) they go on every 24h.
    """

    reason: LongText
    actor: Actor
    for_customer_answer: bool = True


class ResumeInput(Model):
    actor: Actor
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class ProposeResolutionInput(Model):
    resolution: LongText
    actor: Actor


RootCause = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=text_patterns.ROOT_CAUSE.regex),
]


class CustomerVerdictInput(ClientAnswer):
    """Whether the customer accepts the proposed resolution; `taken_by` when they told the
    desk, which read the proposal out to them (told_answers.py)."""

    satisfied: bool
    comment: Annotated[str, StringConstraints(max_length=4000)] = ""
    actor: Actor
    root_cause: RootCause | None = None


class CloseComplaintInput(Model):
    """A supervisor closes the case (staff only), with the reason on the record."""

    reason: LongText
    actor: Actor
    root_cause: RootCause | None = None


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
    root_cause: str | None = None
    feedback_score: int | None = Field(
        default=None, description="the customer's answer to the follow-up (0–10)"
    )
