"""Settings: the service rules of appointments, complaints and inquiries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from promptly.domain.appointments.models import AppointmentPolicy
from promptly.domain.calendar import (
    BusinessCalendar,
    EndHour,
    HourRange,
    IsoDate,
    StartHour,
    Weekday,
)
from promptly.domain.common import NonNegativeDuration, PositiveDuration, Timezone
from promptly.domain.complaints import escalation
from promptly.domain.complaints.models import DEFAULT_ROOT_CAUSES, ComplaintPolicy, EscalationMatrix
from promptly.domain.inquiries.models import InquiryPolicy
from promptly.domain.surveys.rules import SURVEY_WITHIN

SIX_MONTHS = timedelta(days=183)


def read_matrix(setting: str | None) -> EscalationMatrix:
    """The escalation matrix at `setting` (the packaged one when unset), validated;
    MatrixError (file:line: path: reason) if not."""
    path = Path(setting) if setting else escalation.PACKAGED_MATRIX
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise escalation.MatrixError(
            str(path), [escalation.MatrixProblem(None, "", f"cannot read the file: {err}")]
        ) from err
    return escalation.parse_matrix(text, str(path))


class AppointmentSettings(BaseModel):
    if TYPE_CHECKING:
        link_ttl: timedelta  # SigningSettings: how long a client link lives

    time_scale: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Multiplies every policy duration (demo: 0.005 plays 48h in ~15 minutes).",
    )
    confirmation_within: PositiveDuration = timedelta(hours=24)
    provider_ack_within: PositiveDuration = timedelta(hours=24)
    reminder_before: PositiveDuration = timedelta(hours=48)
    quiet_hours_start: StartHour = 21
    quiet_hours_end: EndHour = Field(
        default=8, description="Equal to quiet_hours_start: no quiet hours."
    )
    response_deadline_before: PositiveDuration = timedelta(hours=24)
    call_attempts: int = Field(default=3, ge=1, le=10)
    call_interval: PositiveDuration = timedelta(hours=2)
    office_timezone: Timezone = "Europe/Warsaw"
    business_hours_start: StartHour = 8
    business_hours_end: int = Field(default=18, ge=1, le=24)
    business_days: list[Weekday] = Field(
        default=[0, 1, 2, 3, 4], min_length=1, description="Open weekdays, 0 = Monday."
    )
    holidays: list[IsoDate] = Field(
        default_factory=list, description="ISO dates the office is shut."
    )
    no_show_after: NonNegativeDuration = timedelta(minutes=15)
    client_late_limit: NonNegativeDuration = Field(
        default=timedelta(minutes=15),
        description="A client running late moves the no-show moment by at most this much.",
    )
    late_change_within: NonNegativeDuration = Field(
        default=timedelta(hours=24), description="Cancel/reschedule closer than this is late."
    )
    continue_after_reschedules: int = Field(
        default=10, ge=1, description="Start a fresh history after this many reschedules."
    )
    survey_after_end: NonNegativeDuration = timedelta(hours=2)
    survey_reminder_after: PositiveDuration = Field(
        default=timedelta(hours=24), description="The survey's one reminder, after it went out."
    )
    survey_closes_after: PositiveDuration = Field(
        default=timedelta(days=7), description="An unanswered survey closes after this."
    )

    retention: PositiveDuration = Field(
        default=timedelta(days=395), description="How long closed cases are kept (≥ 6 months)."
    )

    @model_validator(mode="after")
    def _service_levels_are_sane(self) -> Self:
        if not timedelta(hours=24) <= self.reminder_before <= timedelta(hours=48):
            raise ValueError("reminder_before must be between 24h and 48h before the visit")
        if self.retention < SIX_MONTHS:
            raise ValueError("retention must be at least 6 months (183 days)")
        if self.survey_after_end > SURVEY_WITHIN:
            raise ValueError("survey_after_end must be at most 48h (the survey SLA)")
        if self.survey_reminder_after >= self.survey_closes_after:
            raise ValueError("survey_reminder_after must be shorter than survey_closes_after")
        if self.response_deadline_before >= self.reminder_before:
            raise ValueError("response_deadline_before must be shorter than reminder_before")
        if self.business_hours_start >= self.business_hours_end:
            # No office hour at all would leave the follow-up calls nowhere to fall.
            raise ValueError(
                "business_hours_start must be before business_hours_end (office hours do not "
                "wrap midnight)"
            )
        return self

    def appointment_policy(self) -> AppointmentPolicy:
        # Every rule named alike here and in the policy is taken as set: a new number is a field
        # in both, not a third line to remember in this method.
        same_named = AppointmentPolicy.model_fields.keys() & AppointmentSettings.model_fields.keys()
        rules = AppointmentPolicy.model_validate(
            {name: getattr(self, name) for name in same_named}
            | {
                "quiet_hours": None
                if self.quiet_hours_start == self.quiet_hours_end
                else HourRange(start_hour=self.quiet_hours_start, end_hour=self.quiet_hours_end),
                "business": BusinessCalendar(
                    timezone=self.office_timezone,
                    hours=HourRange(
                        start_hour=self.business_hours_start, end_hour=self.business_hours_end
                    ),
                    weekdays=self.business_days,
                    holidays=self.holidays,
                ),
                # A free reschedule stays usable as long as the client link that offers it.
                "free_reschedule_open_for": self.link_ttl,
            }
        )
        return rules.scaled(self.time_scale)


class ComplaintSettings(BaseModel):
    escalation_matrix: str | None = Field(
        default=None,
        description="Path of the JSON escalation matrix; the packaged "
        "promptly/domain/complaints/escalation_matrix.json when unset. Every process (worker, "
        "API, CLI) refuses a bad one as it starts.",
    )
    complaint_update_every: PositiveDuration = Field(
        default=timedelta(hours=24),
        le=timedelta(hours=24),
        description="Customer status update period while a complaint is open (at most 24h).",
    )
    complaint_verdict_within: PositiveDuration = Field(
        default=timedelta(hours=72),
        description="After a proposed resolution: no verdict by then → ClosedUnconfirmed.",
    )
    complaint_survey_after: NonNegativeDuration = Field(
        default=timedelta(hours=2),
        le=SURVEY_WITHIN,
        description="Follow-up survey after closing (within 48h).",
    )
    complaint_max_hold: PositiveDuration = Field(
        default=timedelta(hours=72),
        description="A complaint hold ends on its own after this; the clock resumes and the "
        "customer is told.",
    )
    complaint_root_causes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ROOT_CAUSES),
        min_length=1,
        description="Root causes staff may record when closing a complaint (JSON list).",
    )

    inquiry_answer_within: PositiveDuration = Field(
        default=timedelta(hours=24),
        le=timedelta(hours=48),
        description="An inquiry unanswered this long alerts the front desk (24–48h standard).",
    )
    inquiry_supervisor_after: PositiveDuration = Field(
        default=timedelta(hours=48),
        le=timedelta(hours=48),
        description="An inquiry unanswered this long alerts the supervisor.",
    )

    @field_validator("escalation_matrix")
    @classmethod
    def _matrix_is_usable(cls, setting: str | None) -> str | None:
        """A bad matrix stops every process as it reads its settings (exit 2), one line per
        problem, before it connects anywhere."""
        try:
            read_matrix(setting)
        except escalation.MatrixError as err:
            raise ValueError("\n".join(err.lines)) from err
        return setting

    @model_validator(mode="after")
    def _inquiry_alerts_in_order(self) -> Self:
        if self.inquiry_supervisor_after <= self.inquiry_answer_within:
            raise ValueError("inquiry_supervisor_after must be longer than inquiry_answer_within")
        return self

    def inquiry_policy(self) -> InquiryPolicy:
        """Unscaled; the inquiry activities apply `time_scale`."""
        return InquiryPolicy(
            answer_within=self.inquiry_answer_within,
            supervisor_after=self.inquiry_supervisor_after,
        )

    def complaint_matrix(self) -> EscalationMatrix:
        """The validated escalation matrix; MatrixError (file:line: path: reason) if not."""
        return read_matrix(self.escalation_matrix)

    def complaint_policy(self) -> ComplaintPolicy:
        """Unscaled; the routing activity applies `time_scale` with the matrix tiers."""
        return ComplaintPolicy(
            update_every=self.complaint_update_every,
            verdict_within=self.complaint_verdict_within,
            survey_after=self.complaint_survey_after,
            max_hold=self.complaint_max_hold,
            root_causes=[cause.strip().lower() for cause in self.complaint_root_causes],
        )
