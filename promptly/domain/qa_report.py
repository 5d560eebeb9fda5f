"""The weekly QA report of the scheduling and escalations SOPs: its figures (pure).

- facts (`ReportFacts`, qa_report_facts.py): what PostgreSQL says, one record per case
  (promptly/db/qa_facts.py reads them);
- `compute(facts, period)`: the figures, no I/O, no clock;
- the three formats (table, CSV, HTML with inline SVG charts and no external assets, so it
  can be mailed or archived as one file) are in qa_report_render.py.

Which cases a period covers (both ends are local dates in the office timezone, inclusive):
appointments by their (current) start, complaints by their filing time, escalations by when
they happened, survey answers by when they were given. Times are Temporal times as the
workflows recorded them in the timeline.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from promptly.domain import promise_report
from promptly.domain.promise_report import PromiseTally
from promptly.domain.qa_report_facts import (
    AppointmentFact,
    ComplaintFact,
    EscalationFact,
    InquiryFact,
    ReminderFact,
    ReportFacts,
    SurveyFact,
)

REMINDER_WINDOW = (timedelta(hours=24), timedelta(hours=48))
RESOLUTION_TARGET = timedelta(hours=48)
CALL_OUTCOMES = (
    "reached_confirmed",
    "reached_cancelled",
    "reached_rescheduled",
    "no_answer",
    "wrong_number",
)
# Escalations of complaints still open, or closed without a root cause.
NO_ROOT_CAUSE = "not_recorded"
RESOLVED_STATUSES = ("ResolutionProposed", "Closed", "ClosedUnconfirmed")
DECIDED = ("kept", "broken")


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    HTML = "html"


# --- the period ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local dates `first`..`last` (inclusive) in `timezone`."""

    first: date
    last: date
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"--to ({self.last}) is before --from ({self.first})")

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), ZoneInfo(self.timezone))

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after `last`."""
        return datetime.combine(self.last + timedelta(days=1), time(0), ZoneInfo(self.timezone))

    def week_of(self, moment: datetime) -> date:
        """The Monday (local date) of the week `moment` falls in."""
        local = moment.astimezone(ZoneInfo(self.timezone)).date()
        return local - timedelta(days=local.weekday())

    def weeks(self) -> list[date]:
        monday = self.first - timedelta(days=self.first.weekday())
        weeks: list[date] = []
        while monday <= self.last:
            weeks.append(monday)
            monday += timedelta(days=7)
        return weeks


def previous_weeks(as_of: datetime, timezone: str, weeks: int = 1) -> Period:
    """The `weeks` full weeks (Monday–Sunday, local) that ended before `as_of`'s week."""
    local = as_of.astimezone(ZoneInfo(timezone)).date()
    last = local - timedelta(days=local.weekday() + 1)
    return Period(last - timedelta(days=7 * weeks - 1), last, timezone)


# --- the report: pure arithmetic ---------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    count: int
    of: int

    @property
    def percent(self) -> float | None:
        return None if self.of == 0 else round(100 * self.count / self.of, 1)

    def __str__(self) -> str:
        return "–" if self.percent is None else f"{self.percent:g}% ({self.count} of {self.of})"


@dataclass(frozen=True)
class Nps:
    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> float | None:
        if self.responses == 0:
            return None
        return round(100 * (self.promoters - self.detractors) / self.responses, 1)

    @classmethod
    def of(cls, answers: Iterable[int]) -> Nps:
        scores = list(answers)
        return cls(
            responses=len(scores),
            promoters=sum(1 for s in scores if s >= 9),
            passives=sum(1 for s in scores if 7 <= s <= 8),
            detractors=sum(1 for s in scores if s <= 6),
        )


@dataclass(frozen=True)
class Escalations:
    department: str
    level: int
    count: int

    @property
    def tier(self) -> str:
        return "supervisor" if self.level <= 1 else "manager"


@dataclass(frozen=True)
class InquiryFigures:
    received: int = 0
    answered_on_time: Rate = Rate(0, 0)
    promoted: int = 0
    unanswered: int = 0
    alerts: int = 0

    @classmethod
    def of(cls, facts: Sequence[InquiryFact]) -> InquiryFigures:
        return cls(
            received=len(facts),
            answered_on_time=Rate(sum(1 for f in facts if f.answered_on_time), len(facts)),
            promoted=sum(1 for f in facts if f.promoted),
            unanswered=sum(1 for f in facts if f.answered_on_time is None and not f.promoted),
            alerts=sum(f.alerts for f in facts),
        )


@dataclass(frozen=True)
class Week:
    monday: date
    appointments: int
    confirmation: Rate
    reminders_in_window: Rate
    no_shows: Rate
    complaints_resolved_48h: Rate
    nps: Nps

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class QaReport:
    period: Period
    appointments: int
    confirmation: Rate
    median_time_to_confirm: timedelta | None
    reminders_in_window: Rate
    reminders_failed: int
    follow_up_cases: int
    call_attempts: int
    call_outcomes: dict[str, int]
    calls_without_outcome: int
    no_shows: Rate
    no_shows_waived: int
    late_cancellations: Rate
    late_fees_waived: int
    complaints: int
    complaints_resolved_48h: Rate
    complaints_unresolved: int
    complaints_sla_breached: Rate
    escalations: list[Escalations]
    nps: Nps
    weeks: list[Week] = field(default_factory=list)
    # Escalations in the period by the root cause their complaint was closed with.
    escalations_by_root_cause: dict[str, int] = field(default_factory=dict)
    # The complaint follow-up's one question (0–10), as an NPS of the complaints filed.
    complaint_feedback: Nps = field(default_factory=lambda: Nps.of(()))
    # Each promise of the procedures as the workflows judged it (the promise ledger).
    promises: list[PromiseTally] = field(default_factory=list)
    # Inquiries received in the period.
    inquiries: InquiryFigures = field(default_factory=InquiryFigures)
    # Call tasks closed by the case before any call (not front-desk work, not "no outcome").
    calls_closed_by_case: int = 0
    # Complaints whose 48h resolution promise is not decided yet (outside the rates' base).
    complaints_resolution_pending: int = 0
    # Numbers that opted out of our texts (STOP) in the period: clients texts no longer reach.
    sms_opt_outs: int = 0
    # Providers' decisions on fee pleas in the period: (provider, outcome) → how many.
    plea_decisions: dict[tuple[str, str], int] = field(default_factory=dict)


def reminder_in_window(reminder: ReminderFact) -> bool:
    low, high = REMINDER_WINDOW
    return reminder.sent and reminder.lead is not None and low <= reminder.lead <= high


def resolution_verdict(
    complaint: ComplaintFact, target: timedelta = RESOLUTION_TARGET
) -> str | None:
    """ "kept" or "broken" once the 48h resolution promise is decided, None while it is not
    (pending; or waived / not applicable on the ledger): the ledger's verdict, as the case and
    the report's Promises section show it. Before the ledger: the standing resolution within
    `target` of filing; none yet is broken once the SLA breached, else still undecided."""
    if complaint.resolution_promise is not None:
        return complaint.resolution_promise if complaint.resolution_promise in DECIDED else None
    if complaint.resolved_at is not None:
        return "kept" if complaint.resolved_at - complaint.filed_at <= target else "broken"
    return "broken" if complaint.sla_breached else None


def resolved_within(complaint: ComplaintFact, target: timedelta = RESOLUTION_TARGET) -> bool:
    return resolution_verdict(complaint, target) == "kept"


def breached(complaint: ComplaintFact) -> bool:
    if complaint.resolution_promise is not None:  # broken on the ledger = SlaBreached
        return complaint.resolution_promise == "broken"
    return complaint.sla_breached


def _decided(complaints: Iterable[ComplaintFact]) -> list[ComplaintFact]:
    return [c for c in complaints if resolution_verdict(c) is not None]


def _resolution_rate(complaints: Iterable[ComplaintFact]) -> Rate:
    """Resolved within 48h of the complaints whose promise is decided (the Promises
    section's "kept of decided"); undecided ones are counted apart."""
    decided = _decided(complaints)
    return Rate(sum(1 for c in decided if resolved_within(c)), len(decided))


def _reminder_rate(appointments: Iterable[AppointmentFact]) -> Rate:
    reminders = [r for a in appointments for r in a.reminders]
    return Rate(sum(1 for r in reminders if reminder_in_window(r)), len(reminders))


def _week(
    monday: date,
    appointments: list[AppointmentFact],
    complaints: list[ComplaintFact],
    surveys: list[SurveyFact],
) -> Week:
    return Week(
        monday=monday,
        appointments=len(appointments),
        confirmation=Rate(sum(1 for a in appointments if a.confirmed_at), len(appointments)),
        reminders_in_window=_reminder_rate(appointments),
        no_shows=Rate(sum(1 for a in appointments if a.status == "NoShow"), len(appointments)),
        complaints_resolved_48h=_resolution_rate(complaints),
        nps=Nps.of(s.nps for s in surveys),
    )


def compute(facts: ReportFacts, period: Period) -> QaReport:
    """The report's figures from the facts; rates are of all appointments in the period."""
    appointments = list(facts.appointments)
    total = len(appointments)
    confirmed = [a for a in appointments if a.confirmed_at is not None]
    waits = [
        (a.confirmed_at - a.booked_at).total_seconds()
        for a in confirmed
        if a.confirmed_at is not None
    ]
    reminders = [r for a in appointments for r in a.reminders]
    outcomes = Counter(o for a in appointments for o in a.call_outcomes)
    attempts = sum(a.call_attempts for a in appointments)
    no_shows = [a for a in appointments if a.status == "NoShow"]
    late = [a for a in appointments if a.late_cancelled]
    complaints = promise_report.with_resolution_verdicts(facts.complaints, facts.promises)
    decided = _decided(complaints)

    by_level = Counter((e.department, e.level) for e in facts.escalations)
    by_cause = Counter(e.root_cause or NO_ROOT_CAUSE for e in facts.escalations)
    weeks = []
    for monday in period.weeks():
        weeks.append(
            _week(
                monday,
                [a for a in appointments if period.week_of(a.starts_at) == monday],
                [c for c in complaints if period.week_of(c.filed_at) == monday],
                [s for s in facts.surveys if period.week_of(s.answered_at) == monday],
            )
        )
    return QaReport(
        period=period,
        appointments=total,
        confirmation=Rate(len(confirmed), total),
        median_time_to_confirm=timedelta(seconds=statistics.median(waits)) if waits else None,
        reminders_in_window=_reminder_rate(appointments),
        reminders_failed=sum(1 for r in reminders if not r.sent),
        follow_up_cases=sum(1 for a in appointments if a.call_attempts),
        call_attempts=attempts,
        call_outcomes={o: outcomes.get(o, 0) for o in CALL_OUTCOMES}
        | {o: n for o, n in sorted(outcomes.items()) if o not in CALL_OUTCOMES},
        calls_without_outcome=max(attempts - sum(outcomes.values()), 0),
        no_shows=Rate(len(no_shows), total),
        no_shows_waived=sum(1 for a in no_shows if a.no_show_fee_waived),
        late_cancellations=Rate(len(late), total),
        late_fees_waived=sum(a.late_fees_waived for a in late),
        complaints=len(complaints),
        complaints_resolved_48h=_resolution_rate(complaints),
        complaints_unresolved=sum(1 for c in complaints if c.resolved_at is None),
        complaints_sla_breached=Rate(sum(1 for c in decided if breached(c)), len(decided)),
        escalations=[
            Escalations(department, level, count)
            for (department, level), count in sorted(by_level.items())
        ],
        nps=Nps.of(s.nps for s in facts.surveys),
        weeks=weeks,
        escalations_by_root_cause=dict(sorted(by_cause.items())),
        complaint_feedback=Nps.of(
            c.feedback_score for c in complaints if c.feedback_score is not None
        ),
        promises=promise_report.tally(facts.promises),
        inquiries=InquiryFigures.of(facts.inquiries),
        calls_closed_by_case=sum(a.calls_closed_by_case for a in appointments),
        complaints_resolution_pending=sum(
            1
            for c in complaints
            if c.resolution_promise in (None, "pending") and resolution_verdict(c) is None
        ),
        sms_opt_outs=facts.sms_opt_outs,
        plea_decisions=dict(sorted(facts.plea_decisions.items())),
    )


# The facts (qa_report_facts.py) are part of this module's public names too.
__all__ = [
    "CALL_OUTCOMES",
    "DECIDED",
    "NO_ROOT_CAUSE",
    "REMINDER_WINDOW",
    "RESOLUTION_TARGET",
    "RESOLVED_STATUSES",
    "AppointmentFact",
    "ComplaintFact",
    "EscalationFact",
    "Escalations",
    "InquiryFact",
    "InquiryFigures",
    "Nps",
    "Period",
    "QaReport",
    "Rate",
    "ReminderFact",
    "ReportFacts",
    "ReportFormat",
    "SurveyFact",
    "Week",
    "breached",
    "compute",
    "previous_weeks",
    "reminder_in_window",
    "resolution_verdict",
    "resolved_within",
]
