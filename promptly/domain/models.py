"""Every model that crosses a boundary: HTTP, Temporal payloads, activities, PostgreSQL.

The wire format is the contract of DESIGN.md §2: field names are public and unknown
fields are refused, so a typo in a back-office integration fails loudly instead of
being dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def _known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name like Europe/Warsaw)"
        ) from err
    return name


Timezone = Annotated[str, AfterValidator(_known_timezone)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
BusinessId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+[1-9][0-9]{6,14}$")]


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"


class Locale(StrEnum):
    EN = "en"
    PL = "pl"


class ActorKind(StrEnum):
    CLIENT = "client"
    STAFF = "staff"
    PROVIDER = "provider"
    SYSTEM = "system"


class Actor(Model):
    kind: ActorKind
    id: NonEmpty
    via: str | None = Field(
        default=None,
        description="The API key the action came through (set by the API).",
        exclude_if=lambda value: value is None,  # absent, not null, when no key was involved
    )


SYSTEM = Actor(kind=ActorKind.SYSTEM, id="promptly")


class Person(Model):
    """A client or complaining customer: whom we talk to, how, and in which language."""

    id: BusinessId
    name: NonEmpty
    email: EmailStr | None = None
    phone: Phone | None = None
    preferred_channel: Channel = Channel.EMAIL
    locale: Locale = Locale.EN
    timezone: Timezone

    @model_validator(mode="after")
    def _reachable_on_preferred_channel(self) -> Person:
        # "field: reason" lets the error point at the missing field (api_errors.py).
        if self.preferred_channel is Channel.EMAIL and not self.email:
            raise ValueError("email: required when preferred_channel is email")
        if self.preferred_channel in (Channel.SMS, Channel.PHONE) and not self.phone:
            raise ValueError(f"phone: required when preferred_channel is {self.preferred_channel}")
        return self


class Provider(Model):
    id: BusinessId
    name: NonEmpty
    email: EmailStr | None = None
    phone: Phone | None = None
    # Where the provider reads their messages; None: the office's timezone.
    timezone: Timezone | None = None


_ISO_CURRENCIES = frozenset(list_currencies())


def _iso_currency(code: str) -> str:
    if code not in _ISO_CURRENCIES:
        raise ValueError(f"unknown currency {code!r} (use an ISO 4217 code like PLN or EUR)")
    return code


class Price(Model):
    """What the visit costs, as the confirmation states it."""

    amount: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
    currency: Annotated[
        str, StringConstraints(min_length=3, max_length=3), AfterValidator(_iso_currency)
    ]


class AppointmentRequest(Model):
    """What a back-office sends to book a visit (DESIGN.md §2)."""

    appointment_id: BusinessId
    client: Person
    provider: Provider
    service: NonEmpty
    location: NonEmpty
    start: AwareDatetime
    duration_minutes: int = Field(default=60, ge=5, le=24 * 60)
    instructions: Annotated[str, StringConstraints(max_length=2000)] = ""
    price: Price | None = None

    @property
    def workflow_id(self) -> str:
        return appointment_workflow_id(self.appointment_id)

    @property
    def end(self) -> datetime:
        return (self.start.astimezone(UTC) + timedelta(minutes=self.duration_minutes)).astimezone(
            self.start.tzinfo
        )


def appointment_workflow_id(appointment_id: str) -> str:
    return f"appointment-{appointment_id}"


# --- appointment updates ---------------------------------------------------------------


class ActorInput(Model):
    actor: Actor


class ConfirmInput(ActorInput):
    # How the confirmation arrived when the client answered a message (sms, email reply).
    channel: Channel | None = None


class AcknowledgeInput(ActorInput):
    pass


class CheckInInput(ActorInput):
    pass


class CompleteInput(ActorInput):
    pass


class CallOutcome(StrEnum):
    REACHED_CONFIRMED = "reached_confirmed"
    REACHED_CANCELLED = "reached_cancelled"
    REACHED_RESCHEDULED = "reached_rescheduled"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"


class RecordCallOutcomeInput(Model):
    outcome: CallOutcome
    note: Annotated[str, StringConstraints(max_length=2000)] = ""
    actor: Actor = Actor(kind=ActorKind.STAFF, id="front-desk")
    # The time agreed on the phone; required with `reached_rescheduled`.
    new_start: AwareDatetime | None = None


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class CancelInput(Model):
    """A client or staff cancellation; by the provider it is a provider cancellation (free)."""

    reason: Reason
    actor: Actor


class RescheduleInput(Model):
    new_start: AwareDatetime
    actor: Actor


class ReportDelayInput(Model):
    minutes: int = Field(ge=1, le=8 * 60)
    reason: Reason
    actor: Actor | None = None


class ExcuseNoShowInput(Model):
    reason: Reason
    actor: Actor | None = None


class WaiveFeeInput(Model):
    """Force majeure: the provider (or staff for them) lifts the fee, with a reason."""

    reason: Reason
    actor: Actor


class BillingOutcome(StrEnum):
    """What the visit slot means for billing."""

    HELD = "held"
    LATE_CANCEL = "late_cancel"
    NO_SHOW = "no_show"
    WAIVED = "waived"
    CANCELLED_FREE = "cancelled_free"
    PROVIDER_CANCELLED = "provider_cancelled"


# --- appointment status ----------------------------------------------------------------


class AppointmentStatus(StrEnum):
    BOOKED = "Booked"
    CONFIRMED = "Confirmed"
    UNCONFIRMED = "Unconfirmed"
    CANCELLED = "Cancelled"
    LATE_CANCELLED = "LateCancelled"
    CHECKED_IN = "CheckedIn"
    COMPLETED = "Completed"
    NO_SHOW = "NoShow"


FINAL_APPOINTMENT_STATUSES = frozenset(
    {
        AppointmentStatus.CANCELLED,
        AppointmentStatus.LATE_CANCELLED,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.NO_SHOW,
    }
)


class TimelineKind(StrEnum):
    STATUS = "status"
    MESSAGE = "message"
    MESSAGE_FAILED = "message_failed"
    TASK = "task"
    ACTION = "action"
    DECISION = "decision"


class TimelineEntry(Model):
    """One line of a case's history: what happened, when, by whom, with what result."""

    at: AwareDatetime
    kind: TimelineKind
    actor: Actor
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)


class AppointmentView(Model):
    """The `status` query of an appointment, and the answer of every update."""

    appointment_id: str
    status: AppointmentStatus
    start: AwareDatetime
    booked_at: AwareDatetime
    confirmation_deadline: AwareDatetime
    provider_ack_deadline: AwareDatetime
    reminder_at: AwareDatetime | None
    response_deadline: AwareDatetime
    next_call_at: AwareDatetime | None
    confirmation_sent: bool
    reminder_sent: bool
    provider_acknowledged: bool
    call_attempts: int
    max_call_attempts: int
    needs_attention: list[str]
    billing: BillingOutcome | None = None
    free_reschedule: bool = False
    delay_minutes: int = 0
    reschedules: int = 0
    # Which follow-up rule planned the calls (follow_up.FollowUpRule); None on cases
    # booked before calls were planned ahead of the free-cancellation line.
    follow_up_rule: str | None = None
    # After the client's unwaived no-show this visit is paid in advance (no-show policy).
    prepayment_required: bool = False
    timeline: list[TimelineEntry]


# --- policy --------------------------------------------------------------------------


class HourRange(Model):
    """A daily local-time range; `start > end` wraps midnight (21:00–08:00)."""

    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=24)


Weekday = Annotated[int, Field(ge=0, le=6)]


class BusinessCalendar(Model):
    timezone: Timezone = "Europe/Warsaw"
    hours: HourRange = HourRange(start_hour=8, end_hour=18)
    weekdays: list[Weekday] = [0, 1, 2, 3, 4]
    holidays: list[str] = Field(default_factory=list, description="ISO dates, e.g. 2026-12-25")


class AppointmentPolicy(Model):
    """Every appointment service level as a number (DESIGN.md §1). Carried in history."""

    confirmation_within: timedelta = timedelta(hours=24)
    confirmation_task_margin: timedelta = timedelta(hours=2)
    provider_ack_within: timedelta = timedelta(hours=24)
    reminder_before: timedelta = timedelta(hours=48)
    reminder_window_end: timedelta = timedelta(hours=24)
    quiet_hours: HourRange | None = HourRange(start_hour=21, end_hour=8)
    response_deadline_before: timedelta = timedelta(hours=24)
    call_attempts: int = Field(default=3, ge=1, le=10)
    call_interval: timedelta = timedelta(hours=2)
    business: BusinessCalendar | None = BusinessCalendar()
    no_show_after: timedelta = timedelta(minutes=15)
    # A client who says they run late moves the no-show moment by at most this much in all.
    client_late_limit: timedelta = timedelta(minutes=15)
    check_in_opens_before: timedelta = timedelta(hours=2)
    auto_complete_after_end: timedelta = timedelta(hours=12)
    # After a final status the case stays open this long, so late updates get a clear answer.
    keep_open_after_close: timedelta = timedelta(hours=24)
    # A fee-bearing outcome (late cancel, no-show) stays open for an excuse or a waiver.
    fee_decision_window: timedelta = timedelta(days=7)
    late_change_within: timedelta = timedelta(hours=24)
    continue_after_reschedules: int = Field(default=10, ge=1)
    survey_after_end: timedelta = timedelta(hours=2)
    survey_reminder_after: timedelta = timedelta(hours=24)
    survey_closes_after: timedelta = timedelta(days=7)


class AppointmentCase(Model):
    """Everything an appointment workflow knows: the booking, its rules, where it stands."""

    request: AppointmentRequest
    policy: AppointmentPolicy
    status: AppointmentStatus = AppointmentStatus.BOOKED
    booked_at: AwareDatetime
    confirmation_deadline: AwareDatetime
    provider_ack_deadline: AwareDatetime
    reminder_at: AwareDatetime | None
    response_deadline: AwareDatetime
    next_call_at: AwareDatetime | None
    max_call_attempts: int
    call_attempts: int = 0
    awaiting_call_outcome: bool = False
    confirmation_sent: bool = False
    reminder_sent: bool = False
    provider_acknowledged: bool = False
    ack_alert_sent: bool = False
    provider_notified: bool = False
    confirmation_attempted: bool = False
    needs_attention: list[str] = Field(default_factory=list)
    closed_at: AwareDatetime | None = None
    billing: BillingOutcome | None = None
    free_reschedule: bool = False
    delay_minutes: int = 0
    # Minutes the client said they run late (capped by `policy.client_late_limit`).
    client_late_minutes: int = 0
    # A late reschedule was charged and may still be waived.
    reschedule_fee_pending: bool = False
    excuse: str | None = None
    reschedules: int = 0
    # Cancellations so far (a provider's cancellation can be followed by a reschedule); with
    # `reschedules` it numbers the calendar invitations (calendar_event.sequence).
    cancellations: int = 0
    survey_started: bool = False
    follow_up_rule: str | None = None
    prepayment_required: bool = False


class AppointmentContinuation(Model):
    """What a long-lived appointment carries into its next run (continue-as-new)."""

    case: AppointmentCase
    timeline: list[TimelineEntry]
    stored_entries: int


# --- activities -----------------------------------------------------------------------


class RecipientRole(StrEnum):
    CLIENT = "client"
    PROVIDER = "provider"
    SUPERVISOR = "supervisor"
    FRONT_DESK = "front_desk"
    # complaints: explicit addresses from the escalation matrix
    DEPARTMENT = "department"
    MANAGER = "manager"
    ASSIGNEE = "assignee"


class Recipient(Model):
    """Whom a message goes to. Staff roles are resolved to addresses by the worker."""

    role: RecipientRole
    name: str = ""
    email: str | None = None
    phone: str | None = None
    locale: Locale = Locale.EN
    timezone: str = "UTC"


class SendMessageRequest(Model):
    idempotency_key: str
    case_id: str
    template: str
    channel: Channel
    to: Recipient
    context: dict[str, Any] = Field(default_factory=dict)
    link_actions: list[str] = Field(default_factory=list)


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # Will never go out: its budget ran out, or a change of the case made it moot.
    ABANDONED = "abandoned"
    # No provider configured: the message waits in the outbox table, it has not gone out.
    QUEUED_IN_OUTBOX = "queued_in_outbox"


class AbandonMessageRequest(Model):
    """Give up a message that has not gone out; the reason stays in the ledger."""

    idempotency_key: str
    reason: str


class SendMessageResult(Model):
    message_id: int
    channel: Channel
    provider_id: str
    status: MessageStatus
    subject: str
    # sent (handed to the provider) or queued_in_outbox (no provider configured)
    outcome: MessageStatus = MessageStatus.SENT


class TaskKind(StrEnum):
    CALL_CLIENT = "call_client"
    SEND_CONFIRMATION_MANUALLY = "send_confirmation_manually"
    PROVIDER_DECISION = "provider_decision"
    # A message other than the confirmation that could not go out: staff pass it on.
    DELIVER_MESSAGE_MANUALLY = "deliver_message_manually"
    # a staff message (department notice, escalation alert) could not go out
    RESEND_STAFF_MESSAGE = "resend_staff_message"
    # A client's SMS or email reply Promptly could not act on (or a number to check).
    CLIENT_REPLY = "client_reply"


class CreateTaskRequest(Model):
    idempotency_key: str
    case_id: str
    kind: TaskKind
    assignee: RecipientRole
    title: str
    details: str = ""
    due_at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)


class TaskRef(Model):
    task_id: int
    idempotency_key: str


class CloseTaskRequest(Model):
    idempotency_key: str
    outcome: str
    note: str = ""
    closed_by: Actor


class CloseCaseTasksRequest(Model):
    """Close every open task of a case (or those of `kinds`), saying why they no longer matter."""

    case_id: str
    outcome: str
    note: str = ""
    closed_by: Actor
    kinds: list[TaskKind] = Field(default_factory=list)


class NoticeRequest(Model):
    """One message and/or one staff task outside a case's own plan: a reply to a client's SMS,
    an opt-out confirmation, the fallback of an undelivered SMS (ClientNoticeWorkflow)."""

    message: SendMessageRequest | None = None
    task: CreateTaskRequest | None = None


class NoticeResult(Model):
    message: SendMessageResult | None = None
    message_error: str | None = None
    task_id: int | None = None


class CaseKind(StrEnum):
    APPOINTMENT = "appointment"
    COMPLAINT = "complaint"
    SURVEY = "survey"
    INQUIRY = "inquiry"


class BillingRecord(Model):
    idempotency_key: str
    case_id: str
    appointment_id: str
    client_id: str
    outcome: BillingOutcome
    decided_by: Actor
    reason: str
    decided_at: AwareDatetime


class ClientStandingRequest(Model):
    client_id: str


class ClientStanding(Model):
    """What the client record says about a new booking for that client."""

    prepayment_required: bool = False
    # The no-show case that made the next visit prepaid.
    prepayment_case_id: str | None = None


class SurveyRequest(Model):
    """The post-visit follow-up: sent `send_after` the end, reminded once, then closed."""

    appointment_case_id: str
    appointment_id: str
    client: Person
    service: str
    visit_ended_at: AwareDatetime
    send_after: timedelta = timedelta(hours=2)
    reminder_after: timedelta = timedelta(hours=24)
    closes_after: timedelta = timedelta(days=7)


class SurveyAnswer(Model):
    nps: int = Field(ge=0, le=10, description="0-10: how likely to recommend us")
    comment: Annotated[str, StringConstraints(max_length=4000)] = ""


class SurveyStatus(StrEnum):
    SCHEDULED = "Scheduled"
    SENT = "Sent"
    ANSWERED = "Answered"
    CLOSED = "Closed"


class SurveyView(Model):
    survey_id: str
    status: SurveyStatus
    send_at: AwareDatetime
    reminder_at: AwareDatetime
    closes_at: AwareDatetime
    answer: SurveyAnswer | None
    complaint_id: str | None
    timeline: list[TimelineEntry]
    # Messages that could not go out (each also a front-desk task).
    needs_attention: list[str] = Field(default_factory=list)


class SurveyAnswerRecord(Model):
    survey_id: str
    case_id: str
    client_id: str
    nps: int
    comment: str
    answered_at: AwareDatetime


class CaseReadView(Model):
    """A case's `status` view as the API serves it from PostgreSQL (docs/status-reads.md).

    `view` is the view without its timeline (the timeline rows are stored beside it); the
    stored answer is the view plus the timeline rows from `timeline_from` up to the
    snapshot's last entry. A row keeps the newest view by (`as_of`, `changes`): workflow time
    of the write, then the workflow's change count, which orders two writes of one moment.
    """

    view: dict[str, Any]
    as_of: AwareDatetime
    changes: int
    timeline_from: int = 0


class CaseSnapshot(Model):
    """The durable record of a case: its current row and the timeline lines not yet stored."""

    case_id: str
    kind: CaseKind
    business_id: str
    status: str
    client_id: str
    provider_id: str | None = None
    starts_at: AwareDatetime | None = None
    # None (a worker from before read views): the row's stored view is cleared, so the API
    # asks the workflow until a newer worker writes one.
    read_view: CaseReadView | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    first_seq: int = 0
    entries: list[TimelineEntry] = Field(default_factory=list)


# ======================================================================================
# --- complaints -----------------------------------------------------------------------
# ComplaintWorkflow (DESIGN.md §1 complaints, §2): the request, the escalation matrix,
# the case state, the update arguments and the `status` view.
# ======================================================================================

from datetime import date  # noqa: E402
from typing import Literal  # noqa: E402


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
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
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


# --- escalation matrix (a data file, validated at worker start) ---------------------------


def _positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        shown = f"-{-value}" if value < timedelta(0) else str(value)
        raise ValueError(f"must be a positive duration, got {shown}")
    return value


PositiveDuration = Annotated[timedelta, AfterValidator(_positive_duration)]


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

    @model_validator(mode="after")
    def _supervisor_before_breach(self) -> EscalationTiers:
        if self.supervisor_after >= self.breach_after:
            raise ValueError(
                f"supervisor_after ({self.supervisor_after}) must be shorter than "
                f"breach_after ({self.breach_after})"
            )
        return self


def _office_hours(calendar: BusinessCalendar) -> BusinessCalendar:
    """An SLA calendar: daytime hours (no midnight wrap), some open day, ISO holidays."""
    if calendar.hours.start_hour >= calendar.hours.end_hour:
        raise ValueError(
            f"hours: start_hour {calendar.hours.start_hour} must be before end_hour "
            f"{calendar.hours.end_hour}"
        )
    if not calendar.weekdays:
        raise ValueError("weekdays: at least one open weekday is needed (0 = Monday)")
    for holiday in calendar.holidays:
        try:
            date.fromisoformat(holiday)
        except ValueError as err:
            raise ValueError(f"holidays: {holiday!r} is not an ISO date like 2026-12-25") from err
    return calendar


OfficeHours = Annotated[BusinessCalendar, AfterValidator(_office_hours)]


class DepartmentSpec(Model):
    name: NonEmpty
    owner: Contact
    manager: Contact
    business_hours: OfficeHours | None = None


ANY_ROUTE: Literal["*"] = "*"
TierKey = Literal["default", "low", "normal", "high", "critical"]


class RouteSpec(Model):
    """One line of the matrix: `*` matches any category or severity."""

    category: Category = ANY_ROUTE
    severity: Literal["*", "low", "normal", "high", "critical"] = ANY_ROUTE
    department: DepartmentId
    owner: Contact | None = None
    tiers: EscalationTiers | None = None


class EscalationMatrix(Model):
    """category × severity → department, owner, tiers. The most specific route wins
    (category before severity); a route with category and severity `*` is required."""

    departments: dict[DepartmentId, DepartmentSpec] = Field(min_length=1)
    tiers: dict[TierKey, EscalationTiers] = Field(default_factory=dict)
    routes: list[RouteSpec] = Field(min_length=1)


class ComplaintRoute(Model):
    """Where one complaint goes and under which tiers; fixed in its history at filing."""

    department: str
    department_name: str
    owner: Contact
    manager: Contact
    tiers: EscalationTiers
    business_hours: BusinessCalendar | None = None
    rule: str = Field(description="the matrix route that matched, category/severity")


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


# --- complaint case state ---------------------------------------------------------------


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


# --- complaint updates ------------------------------------------------------------------


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
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")
]


class CustomerVerdictInput(Model):
    satisfied: bool
    comment: Annotated[str, StringConstraints(max_length=4000)] = ""
    actor: Actor
    root_cause: RootCause | None = None


class CloseComplaintInput(Model):
    """A supervisor closes the case (staff only), with the reason on the record."""

    reason: LongText
    actor: Actor
    root_cause: RootCause | None = None


# --- complaint status view --------------------------------------------------------------


class ComplaintView(Model):
    """The `status` query of a complaint, and the answer of every update."""

    complaint_id: str
    status: ComplaintStatus
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


# ======================================================================================
# --- history archive and retention purge (DESIGN.md §5) ---------------------------------
# ArchiveWorkflow and PurgeWorkflow, run by the Temporal Schedules `promptly setup` creates.
# ======================================================================================


class ArchiveRequest(Model):
    """Copy closed case histories into PostgreSQL. Without `since`, from the newest archived
    close time minus `overlap` (visibility is eventually consistent; copies are idempotent)."""

    since: AwareDatetime | None = None
    overlap: timedelta = timedelta(hours=1)


class ArchiveResult(Model):
    since: AwareDatetime | None
    archived: int = Field(description="histories newly copied")
    already_archived: int = Field(description="closed runs found that were already copied")


class PurgeRequest(Model):
    """Delete what is older than the worker's retention setting; `now` defaults to the
    workflow's start time (the schedule's fire time)."""

    now: AwareDatetime | None = None


class PurgeInput(Model):
    now: AwareDatetime


class PurgeResult(Model):
    cutoff: AwareDatetime = Field(description="closed before this instant: deleted")
    retention: timedelta
    cases: int
    timeline_events: int
    messages: int
    staff_tasks: int
    survey_responses: int
    archived_histories: int
    webhook_deliveries: int = 0


# ======================================================================================
# --- the weekly QA report (promptly/domain/qa_report.py), mailed by QaReportWorkflow ----
# ======================================================================================


class QaReportRequest(Model):
    """Report the `weeks` full weeks before `as_of` (default: the schedule's fire time)."""

    as_of: AwareDatetime | None = None
    weeks: int = Field(default=1, ge=1, le=13)


class QaReportInput(Model):
    as_of: AwareDatetime
    weeks: int = 1


class QaReportSummary(Model):
    first: date
    last: date
    timezone: str
    appointments: int
    complaints: int
    table: str = Field(description="the plain-text report, as mailed")


# ======================================================================================
# --- outbound webhooks (promptly/domain/webhooks.py, promptly/activities/webhooks.py) ---
# Status changes recorded with the case (an outbox row per URL), POSTed by
# WebhookDispatchWorkflow, run every minute by the `promptly-webhooks` schedule.
# ======================================================================================


class WebhookEventType(StrEnum):
    APPOINTMENT_STATUS_CHANGED = "appointment.status_changed"
    COMPLAINT_STATUS_CHANGED = "complaint.status_changed"
    SURVEY_STATUS_CHANGED = "survey.status_changed"


class WebhookEvent(Model):
    """The JSON body of one webhook: a case changed status.

    Ids only: never the client's name or contact details, and no timeline detail, which is
    free text (a cancellation reason or a proposed resolution can quote a person).
    """

    id: str = Field(description="<case_id>/<seq>, one per status change: receivers dedupe by it")
    type: WebhookEventType
    case_id: str = Field(description="the workflow id, e.g. appointment-A-1001")
    business_id: str = Field(description="appointment or complaint id (a survey: appointment id)")
    kind: CaseKind
    status: str
    previous: str | None = Field(description="the status before; null when the case began")
    at: AwareDatetime
    actor: Actor


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(Model):
    """One (event, URL) row of `webhook_deliveries`, as the admin listing shows it."""

    id: int
    event_id: str
    url: str
    case_id: str
    event_type: WebhookEventType
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: AwareDatetime
    last_status_code: int | None
    last_error: str | None
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None
    requeued_at: AwareDatetime | None = None  # sent again by an operator after it failed


class WebhookDispatchRequest(Model):
    """Deliver what is due, then keep polling until `run_for` has passed.

    The schedule starts one dispatcher a minute; one that polls for ~50s delivers a status
    change within about `poll_every` of its being recorded.
    """

    run_for: timedelta = Field(default=timedelta(seconds=50), ge=timedelta(0))
    poll_every: timedelta = Field(default=timedelta(seconds=1), gt=timedelta(0))
    batch_size: int = Field(default=50, ge=1, le=500)


class WebhookDispatchResult(Model):
    delivered: int = Field(description="POSTs answered 2xx")
    retried: int = Field(description="failed attempts that will be tried again later")
    failed: int = Field(description="deliveries given up (410 Gone, 24h or too many attempts)")
