"""The appointment on the wire and in the workflow: the booking, its updates, its status view,
the rules it runs under and the case the workflow keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from babel.numbers import list_currencies
from pydantic import AfterValidator, AwareDatetime, EmailStr, Field, StringConstraints

from promptly.domain.appointments.billing import (
    BillingOutcome,
    BillingRecord,
    CaseFee,
    ClientStanding,
    ClientStandingRequest,
    Fee,
    FeeState,
    PleadedFee,
)
from promptly.domain.appointments.commands import (
    MAX_DELAY_MINUTES,
    AcknowledgeInput,
    CallOutcome,
    CancelInput,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    CorrectPhoneInput,
    ExcuseNoShowInput,
    FeeStandsInput,
    RecordCallOutcomeInput,
    ReportDelayInput,
    RescheduleInput,
    WaiveFeeInput,
)
from promptly.domain.calendar import BusinessCalendar, HourRange, ScalableRules
from promptly.domain.common import (
    BusinessId,
    CaseVersion,
    Model,
    NonEmpty,
    Person,
    Phone,
    PromiseRecord,
    TimelineEntry,
    Timezone,
    in_seconds,
)
from promptly.domain.examples import (
    APPOINTMENT_VIEW,
    CLIENT,
    PROVIDER,
    START,
    examples,
)
from promptly.domain.tasks import HandTasksRecord


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

    model_config = examples(
        {
            "appointment_id": "A-1001",
            "client": CLIENT,
            "provider": PROVIDER,
            "service": "Physiotherapy consultation",
            "location": "ul. Prosta 1, Warszawa",
            "start": START,
            "duration_minutes": 50,
            "instructions": "Bring previous test results",
            "price": {"amount": "180.00", "currency": "PLN"},
        }
    )

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

# The case's flag (`needs_attention`) for a reminder that did not reach the client: its send
# failed, or the case came to it after its window (an outage). The CLI says so in its place.
REMINDER_NOT_SENT_FLAG = "reminder not sent"


class AppointmentDeadlines(Model):
    """When the case's service levels fall due: planned at booking, kept by the case, shown by
    its view under the same names."""

    booked_at: AwareDatetime = Field(description="When the visit was booked; kept by a reschedule.")
    rescheduled_at: AwareDatetime | None = Field(
        default=None,
        description="The last reschedule: the deadlines count from it, as from a new booking.",
    )
    confirmation_deadline: AwareDatetime
    provider_ack_deadline: AwareDatetime
    reminder_at: AwareDatetime | None
    response_deadline: AwareDatetime
    next_call_at: AwareDatetime | None

    @property
    def planned_at(self) -> datetime:
        """When the current plan was made: the booking, or the last reschedule. (Cases
        rescheduled before `rescheduled_at` existed kept the reschedule in `booked_at`.)"""
        return self.rescheduled_at or self.booked_at


class AppointmentView(AppointmentDeadlines):
    """The `status` query of an appointment, and the answer of every update."""

    model_config = examples(APPOINTMENT_VIEW)

    appointment_id: str
    status: AppointmentStatus
    start: AwareDatetime
    # Who and what it is for, as booked (None in a view stored before they were part of it).
    client_id: str | None = Field(default=None, description="the client's id, as booked")
    client_phone: str | None = Field(
        default=None,
        description="the number calls, read-outs and SMS use: as booked, or as the desk "
        "corrected it (correct_phone)",
    )
    provider_id: str | None = Field(default=None, description="the provider's id, as booked")
    service: str | None = None
    location: str | None = None
    end: AwareDatetime | None = Field(default=None, description="start + duration_minutes")
    confirmation_sent: bool
    reminder_sent: bool
    provider_acknowledged: bool
    call_attempts: int
    max_call_attempts: int
    needs_attention: list[str]
    billing: BillingOutcome | None = Field(
        default=None,
        description="what the visit slot means for billing (a late reschedule leaves it as "
        "it was: the visit still stands; its fee is in `fee`)",
    )
    fee: CaseFee | None = Field(
        default=None,
        description="the case's latest fee (no-show, late cancellation or late reschedule), "
        "charged or waived, with its amount; null while none was charged",
    )
    free_reschedule: bool = False
    delay_minutes: int = 0
    reschedules: int = 0
    # Which follow-up rule planned the calls (follow_up.FollowUpRule); None on cases
    # booked before calls were planned ahead of the free-cancellation line.
    follow_up_rule: str | None = None
    # After the client's unwaived no-show this visit is paid in advance (no-show policy).
    prepayment_required: bool = False
    # When the no-show rule applies, moved by the delays reported so far.
    no_show_at: AwareDatetime | None = None
    timeline: list[TimelineEntry]
    version: CaseVersion = None


class AppointmentPolicy(ScalableRules):
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
    # A free reschedule granted by a waiver or a provider cancellation stays usable this long
    # after it was granted: the life of the client link that offers it (setting link_ttl).
    # None (cases booked before the rule): the case closes as any final case does.
    free_reschedule_open_for: timedelta | None = None
    late_change_within: timedelta = timedelta(hours=24)
    continue_after_reschedules: int = Field(default=10, ge=1)
    survey_after_end: timedelta = timedelta(hours=2)
    survey_reminder_after: timedelta = timedelta(hours=24)
    survey_closes_after: timedelta = timedelta(days=7)

    def message_terms(self) -> dict[str, int]:
        """The numbers the client's messages state, so that no message promises
        other terms than the ones this case applies (templates: `| duration`)."""
        return in_seconds(
            late_change_within=self.late_change_within, no_show_after=self.no_show_after
        )


class AppointmentCase(AppointmentDeadlines):
    """Everything an appointment workflow knows: the booking, its rules, where it stands."""

    request: AppointmentRequest
    policy: AppointmentPolicy
    status: AppointmentStatus = AppointmentStatus.BOOKED
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
    # The latest fee charged or waived (None on cases from before it was kept: the view
    # derives it, fees.case_fee).
    fee: CaseFee | None = None
    free_reschedule: bool = False
    # When a waiver or a provider cancellation granted the free reschedule.
    free_reschedule_granted_at: AwareDatetime | None = None
    delay_minutes: int = 0
    # Minutes the client said they run late (capped by `policy.client_late_limit`).
    client_late_minutes: int = 0
    # A late reschedule was charged and may still be waived.
    reschedule_fee_pending: bool = False
    # The latest reschedule was the late one: its confirmation tells the client of the fee.
    last_move_charged: bool = False
    # The client's plea (a no-show's, a late change's excuse), with any added while the
    # provider decides, and the fee it pleads (None: a no-show's, as before late changes).
    excuse: str | None = None
    excuse_fee: PleadedFee | None = None
    # The fee the provider has decided on (waived, or let stand): no further plea for it.
    fee_decided: PleadedFee | None = None
    reschedules: int = 0
    # Cancellations so far (a provider's cancellation can be followed by a reschedule); with
    # `reschedules` it numbers the calendar invitations (calendar_event.sequence).
    cancellations: int = 0
    survey_started: bool = False
    follow_up_rule: str | None = None
    prepayment_required: bool = False
    # A phone client's confirmation is a call task the desk has open (or is being given):
    # the desk has not recorded how the call went.
    confirmation_call_open: bool = False
    # The reminder due meanwhile waits for that call (its read-out would be a second call):
    # due again when the call is closed, at the latest then.
    reminder_held_until: AwareDatetime | None = None
    # A follow-up call attempt due meanwhile waits for that call too: due again when the call
    # is closed (which may count as the attempt), at the latest then.
    call_held_until: AwareDatetime | None = None
    # A phone client's reminder is a call task the desk has open: the desk has not recorded
    # how the call went. It asks an unconfirmed client to confirm, as a follow-up attempt does.
    reminder_call_open: bool = False
    # The provider's delay (`delay_minutes`) was added to the script of the desk's call still
    # open to this phone client (the key of its task) rather than a call of its own: the
    # client hears it when that call reaches them, else a delay notice goes after it.
    delay_on_call: str | None = None
    # The reminder's moment had passed when the case came to it (a worker down across its
    # window): not sent, never planned again for this time (passed_steps.py).
    reminder_skipped: bool = False


class AppointmentContinuation(Model):
    """What a long-lived appointment carries into its next run (continue-as-new)."""

    case: AppointmentCase
    timeline: list[TimelineEntry]
    stored_entries: int
    promises: list[PromiseRecord] = Field(default_factory=list)
    # The open front-desk tasks passing on a message by hand (a continuation from before
    # this field carries none).
    by_hand: HandTasksRecord = Field(default_factory=HandTasksRecord)


# The updates' inputs (commands.py) and the billing names (billing.py) are part of this
# module's public names too.
__all__ = [
    "AcknowledgeInput",
    "AppointmentCase",
    "AppointmentContinuation",
    "AppointmentDeadlines",
    "AppointmentPolicy",
    "AppointmentRequest",
    "AppointmentStatus",
    "AppointmentView",
    "BillingOutcome",
    "BillingRecord",
    "CallOutcome",
    "CancelInput",
    "CaseFee",
    "CheckInInput",
    "ClientStanding",
    "ClientStandingRequest",
    "CompleteInput",
    "ConfirmInput",
    "CorrectPhoneInput",
    "ExcuseNoShowInput",
    "FINAL_APPOINTMENT_STATUSES",
    "Fee",
    "FeeStandsInput",
    "FeeState",
    "MAX_DELAY_MINUTES",
    "PleadedFee",
    "Price",
    "Provider",
    "REMINDER_NOT_SENT_FLAG",
    "RecordCallOutcomeInput",
    "ReportDelayInput",
    "RescheduleInput",
    "WaiveFeeInput",
    "appointment_workflow_id",
]
