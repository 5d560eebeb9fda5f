"""The facts the weekly QA report is computed from (qa_report.py): what PostgreSQL says, one
record per case (promptly/db/qa_facts.py reads them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from promptly.domain.promise_report import PromiseFact


@dataclass(frozen=True)
class ReminderFact:
    """One reminder attempt: when it went out (or failed) and how long before the visit."""

    sent: bool
    lead: timedelta | None  # start in effect at that moment minus the send time


@dataclass(frozen=True)
class AppointmentFact:
    case_id: str
    starts_at: datetime
    status: str
    booked_at: datetime
    confirmed_at: datetime | None = None
    reminders: tuple[ReminderFact, ...] = ()
    # Call tasks the front desk had to work: each recorded outcome, in order (the others
    # have none recorded yet); tasks the case closed before any call are apart.
    call_attempts: int = 0
    call_outcomes: tuple[str, ...] = ()
    calls_closed_by_case: int = 0  # the client confirmed or cancelled first, a newer task
    late_cancelled: bool = False  # a late cancellation or late reschedule (fee applies)
    # Fees lifted by a waiver (each waiver lifts the fee written before it).
    late_fees_waived: int = 0
    no_show_fee_waived: bool = False


@dataclass(frozen=True)
class ComplaintFact:
    case_id: str
    department: str
    filed_at: datetime
    resolved_at: datetime | None = None  # the resolution that stood (after any reopening)
    sla_breached: bool = False
    feedback_score: int | None = None  # the follow-up's answer (0–10), when given
    # The ledger's verdict on "resolved within 48h" (None: filed before the ledger).
    resolution_promise: str | None = None


@dataclass(frozen=True)
class EscalationFact:
    case_id: str
    department: str
    level: int
    at: datetime
    breach: bool = False
    root_cause: str | None = None  # recorded when the complaint was closed


@dataclass(frozen=True)
class InquiryFact:
    case_id: str
    received_at: datetime
    answered_on_time: bool | None = None  # by the case's answer deadline; None: not answered
    promoted: bool = False  # it was a complaint: one was filed for it
    alerts: int = 0  # staff alerted while it waited (front desk, then supervisor)


@dataclass(frozen=True)
class SurveyFact:
    nps: int
    answered_at: datetime


@dataclass(frozen=True)
class ReportFacts:
    appointments: Sequence[AppointmentFact] = ()
    complaints: Sequence[ComplaintFact] = ()
    escalations: Sequence[EscalationFact] = ()
    surveys: Sequence[SurveyFact] = ()
    promises: Sequence[PromiseFact] = ()
    inquiries: Sequence[InquiryFact] = ()
    # Numbers that answered STOP in the period and still do not take our texts.
    sms_opt_outs: int = 0
    # Providers' decisions on clients' fee pleas made in the period: (provider, outcome) →
    # how many (`waive_fee`, `fee_stands`).
    plea_decisions: Mapping[tuple[str, str], int] = field(default_factory=dict)
