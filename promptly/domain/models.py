"""Every model that crosses a boundary: HTTP, Temporal payloads, activities, PostgreSQL.

The wire format is the contract of DESIGN.md §2: field names are public and unknown
fields are refused, so a typo in a back-office integration fails loudly instead of
being dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
        if self.preferred_channel is Channel.EMAIL and not self.email:
            raise ValueError("preferred_channel is email but no email is given")
        if self.preferred_channel in (Channel.SMS, Channel.PHONE) and not self.phone:
            raise ValueError(f"preferred_channel is {self.preferred_channel} but no phone is given")
        return self


class Provider(Model):
    id: BusinessId
    name: NonEmpty
    email: EmailStr | None = None
    phone: Phone | None = None


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
    pass


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
    check_in_opens_before: timedelta = timedelta(hours=2)
    auto_complete_after_end: timedelta = timedelta(hours=12)
    # After a final status the case stays open this long, so late updates get a clear answer.
    keep_open_after_close: timedelta = timedelta(hours=24)


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
    needs_attention: list[str] = Field(default_factory=list)


# --- activities -----------------------------------------------------------------------


class RecipientRole(StrEnum):
    CLIENT = "client"
    PROVIDER = "provider"
    SUPERVISOR = "supervisor"
    FRONT_DESK = "front_desk"


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


class SendMessageResult(Model):
    message_id: int
    channel: Channel
    provider_id: str
    status: MessageStatus
    subject: str


class TaskKind(StrEnum):
    CALL_CLIENT = "call_client"
    SEND_CONFIRMATION_MANUALLY = "send_confirmation_manually"


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


class CaseKind(StrEnum):
    APPOINTMENT = "appointment"
    COMPLAINT = "complaint"


class CaseSnapshot(Model):
    """The durable record of a case: its current row and the timeline lines not yet stored."""

    case_id: str
    kind: CaseKind
    business_id: str
    status: str
    client_id: str
    provider_id: str | None = None
    starts_at: AwareDatetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    first_seq: int = 0
    entries: list[TimelineEntry] = Field(default_factory=list)
