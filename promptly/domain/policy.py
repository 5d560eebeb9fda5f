"""The service levels as pure functions (DESIGN.md §1).

No clock, no I/O: the caller passes `now` (in workflows, `workflow.now()`), so every
rule is unit-tested here and replays identically.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from promptly.domain import calendar, follow_up
from promptly.domain.future_times import not_in_future
from promptly.domain.models import (
    ANY_ROUTE,
    FINAL_APPOINTMENT_STATUSES,
    FINAL_COMPLAINT_STATUSES,
    Actor,
    ActorKind,
    AppointmentCase,
    AppointmentPolicy,
    AppointmentRequest,
    AppointmentStatus,
    Assignee,
    BillingOutcome,
    BusinessCalendar,
    Channel,
    ComplaintCase,
    ComplaintRequest,
    ComplaintRoute,
    ComplaintRules,
    ComplaintStatus,
    Contact,
    EscalationMatrix,
    EscalationTiers,
    ReceivedVia,
    Severity,
    SlaClock,
    SurveyAnswer,
    SurveyRequest,
)


class BookingRejected(ValueError):
    """A booking that must not start; the message names the field and the reason."""


def _shift(moment: datetime, by: timedelta) -> datetime:
    """`moment + by` in elapsed time, in `moment`'s timezone.

    Python adds wall-clock time to a datetime with a ZoneInfo, so across a DST change
    `start - 48h` would be 47 or 49 real hours before the visit.
    """
    return (moment.astimezone(UTC) + by).astimezone(moment.tzinfo)


def check_booking(request: AppointmentRequest, now: datetime) -> None:
    reason = not_in_future(request.start, now)
    if reason is not None:
        raise BookingRejected(f"start: {reason}")


def confirmation_deadline(booked_at: datetime, policy: AppointmentPolicy) -> datetime:
    """The confirmation must have gone out by then (SLA 2)."""
    return _shift(booked_at, policy.confirmation_within)


def confirmation_give_up_at(booked_at: datetime, policy: AppointmentPolicy) -> datetime:
    """Stop retrying the channel then, so the front desk gets its task before the deadline."""
    return _shift(confirmation_deadline(booked_at, policy), -policy.confirmation_task_margin)


def provider_ack_deadline(
    booked_at: datetime, start: datetime, policy: AppointmentPolicy
) -> datetime:
    """Supervisor is alerted if the provider has not acknowledged by then (SLA 3)."""
    return min(_shift(booked_at, policy.provider_ack_within), start)


def reminder_time(
    booked_at: datetime, start: datetime, timezone: str, policy: AppointmentPolicy
) -> datetime | None:
    """When the 24–48h reminder goes out, or None when the confirmation is the reminder.

    The earliest instant of the window [start - reminder_before, start - window_end] that is
    not before the booking and not in the client's quiet hours; if the whole remaining window
    is quiet, its first instant (the window is never left).
    """
    window_start = max(_shift(start, -policy.reminder_before), booked_at)
    window_end = _shift(start, -policy.reminder_window_end)
    if window_start > window_end:
        return None
    candidate = calendar.first_outside(window_start, timezone, policy.quiet_hours)
    return candidate if candidate <= window_end else window_start


def response_deadline(booked_at: datetime, start: datetime, policy: AppointmentPolicy) -> datetime:
    """After this a silent client gets a phone follow-up (SLA 6).

    Normally `response_deadline_before` the visit; a booking made closer than that gets
    half of the time it has left, so a call can still happen before the visit.
    """
    deadline = _shift(start, -policy.response_deadline_before)
    if deadline > booked_at:
        return deadline
    return _shift(booked_at, (start.astimezone(UTC) - booked_at.astimezone(UTC)) / 2)


def call_attempt_time(
    earliest: datetime, start: datetime, policy: AppointmentPolicy
) -> datetime | None:
    """The next phone follow-up slot at or after `earliest`, in business hours, before the visit."""
    slot = calendar.next_business_time(earliest, policy.business)
    return slot if slot < start else None


def next_call_after(
    previous_attempt: datetime, start: datetime, policy: AppointmentPolicy
) -> datetime | None:
    return call_attempt_time(_shift(previous_attempt, policy.call_interval), start, policy)


def no_show_at(start: datetime, policy: AppointmentPolicy) -> datetime:
    return _shift(start, policy.no_show_after)


def _no_show_moved_by(case: AppointmentCase) -> timedelta:
    """The provider's delay and the client's reported lateness (capped when recorded)."""
    return timedelta(minutes=case.delay_minutes + case.client_late_minutes)


def no_show_moment(case: AppointmentCase) -> datetime:
    """The no-show rule applies then, moved by the delays reported so far."""
    return no_show_at(_shift(case.request.start, _no_show_moved_by(case)), case.policy)


def client_late_minutes_after(case: AppointmentCase, minutes: int) -> int:
    """The client's lateness once they report `minutes` more, never past the limit."""
    limit = int(case.policy.client_late_limit.total_seconds() // 60)
    return min(case.client_late_minutes + minutes, max(limit, case.client_late_minutes))


def auto_complete_at(end: datetime, policy: AppointmentPolicy) -> datetime:
    """A checked-in visit nobody completed is closed by the system then."""
    return _shift(end, policy.auto_complete_after_end)


def new_case(
    request: AppointmentRequest,
    booked_at: datetime,
    policy: AppointmentPolicy,
    *,
    calls_before_free_cancellation: bool = False,
) -> AppointmentCase:
    """Every deadline of a fresh booking.

    `calls_before_free_cancellation` plans the follow-up calls (and a phone client's reminder
    call) with `follow_up`; without it the case keeps the rule its history was recorded with.
    """
    if calls_before_free_cancellation:
        return _new_case_planned_ahead(request, booked_at, policy)
    deadline = response_deadline(booked_at, request.start, policy)
    first_call = call_attempt_time(deadline, request.start, policy)
    return AppointmentCase(
        request=request,
        policy=policy,
        booked_at=booked_at,
        confirmation_deadline=confirmation_deadline(booked_at, policy),
        provider_ack_deadline=provider_ack_deadline(booked_at, request.start, policy),
        reminder_at=reminder_time(booked_at, request.start, request.client.timezone, policy),
        response_deadline=deadline,
        # No office hour left before the visit: the deadline itself flags the case.
        next_call_at=first_call or deadline,
        max_call_attempts=planned_call_attempts(first_call, request.start, policy),
    )


def _new_case_planned_ahead(
    request: AppointmentRequest, booked_at: datetime, policy: AppointmentPolicy
) -> AppointmentCase:
    plan = follow_up.plan_follow_up(booked_at, request.start, policy)
    if request.client.preferred_channel is Channel.PHONE:
        reminder_at = follow_up.phone_reminder_time(booked_at, request.start, policy)
    else:
        reminder_at = reminder_time(booked_at, request.start, request.client.timezone, policy)
    zone = request.start.tzinfo
    return AppointmentCase(
        request=request,
        policy=policy,
        booked_at=booked_at,
        confirmation_deadline=confirmation_deadline(booked_at, policy),
        provider_ack_deadline=provider_ack_deadline(booked_at, request.start, policy),
        reminder_at=reminder_at.astimezone(zone) if reminder_at else None,
        response_deadline=plan.response_deadline.astimezone(zone),
        # No office hour left before the visit: the deadline itself flags the case.
        next_call_at=(plan.attempts[0] if plan.attempts else plan.response_deadline).astimezone(
            zone
        ),
        max_call_attempts=len(plan.attempts),
        follow_up_rule=plan.rule.value,
    )


def planned_call_attempts(
    first_call: datetime | None, start: datetime, policy: AppointmentPolicy
) -> int:
    """How many of the allowed call attempts fit in office hours before the visit."""
    attempts = 0
    slot = first_call
    while slot is not None and attempts < policy.call_attempts:
        attempts += 1
        slot = next_call_after(slot, start, policy)
    return attempts


class Step(StrEnum):
    CONFIRMATION = "confirmation"
    PROVIDER_NOTICE = "provider_notice"
    PROVIDER_ACK_ALERT = "provider_ack_alert"
    REMINDER = "reminder"
    FOLLOW_UP_CALL = "follow_up_call"
    NO_SHOW = "no_show"
    AUTO_COMPLETE = "auto_complete"
    CLOSE = "close"


_STEP_ORDER = [
    Step.CONFIRMATION,
    Step.PROVIDER_NOTICE,
    Step.REMINDER,
    Step.PROVIDER_ACK_ALERT,
    Step.FOLLOW_UP_CALL,
    Step.NO_SHOW,
    Step.AUTO_COMPLETE,
    Step.CLOSE,
]


class DueStep(NamedTuple):
    at: datetime
    step: Step


_AWAITING_VISIT = frozenset(
    {AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.UNCONFIRMED}
)


def _reminded_statuses(case: AppointmentCase) -> frozenset[AppointmentStatus]:
    """Calls planned before the free-cancel line can end, unanswered, before the 24–48h
    window opens: that unconfirmed client still gets the reminder. Older cases called after
    the reminder, so an unconfirmed one had had it already."""
    if case.follow_up_rule is None:
        return frozenset({AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED})
    return _AWAITING_VISIT


def next_step(case: AppointmentCase) -> DueStep:
    """The earliest thing the workflow must do on its own; CLOSE ends the workflow."""
    if case.status in FINAL_APPOINTMENT_STATUSES:
        return DueStep(closes_at(case), Step.CLOSE)
    start = case.request.start
    due: list[DueStep] = []
    if not case.confirmation_attempted:
        due.append(DueStep(case.booked_at, Step.CONFIRMATION))
    if not case.provider_notified:
        due.append(DueStep(case.booked_at, Step.PROVIDER_NOTICE))
    if not case.provider_acknowledged and not case.ack_alert_sent:
        due.append(DueStep(case.provider_ack_deadline, Step.PROVIDER_ACK_ALERT))
    if (
        case.status in _reminded_statuses(case)
        and case.reminder_at is not None
        and not case.reminder_sent
    ):
        due.append(DueStep(case.reminder_at, Step.REMINDER))
    if case.status is AppointmentStatus.BOOKED and case.next_call_at is not None:
        due.append(DueStep(case.next_call_at, Step.FOLLOW_UP_CALL))
    if case.status in _AWAITING_VISIT:
        delayed_start = _shift(start, _no_show_moved_by(case))
        due.append(DueStep(no_show_at(delayed_start, case.policy), Step.NO_SHOW))
    if case.status is AppointmentStatus.CHECKED_IN:
        due.append(DueStep(auto_complete_at(case.request.end, case.policy), Step.AUTO_COMPLETE))
    # Same instant: the reminder goes before a call about it, alerts before the no-show.
    return min(due, key=lambda item: (item.at, _STEP_ORDER.index(item.step)))


def closes_at(case: AppointmentCase) -> datetime:
    """A final case stays open for late updates; longer while a fee can still be waived."""
    closed_at = case.closed_at or case.booked_at
    fee_pending = case.billing in (BillingOutcome.LATE_CANCEL, BillingOutcome.NO_SHOW)
    window = case.policy.fee_decision_window if fee_pending else case.policy.keep_open_after_close
    closes = _shift(closed_at, window)
    open_for = case.policy.free_reschedule_open_for
    if case.free_reschedule and open_for is not None:
        # The free reschedule a waiver or a provider cancellation offered stays usable as long
        # as the link in that message.
        granted = case.free_reschedule_granted_at or closed_at
        return max(closes, _shift(granted, open_for))
    return closes


def is_late_change(start: datetime, now: datetime, policy: AppointmentPolicy) -> bool:
    """Cancelling or rescheduling at least 24h ahead is free; later is late (SLA 7)."""
    return now > _shift(start, -policy.late_change_within)


class Cancellation(NamedTuple):
    status: AppointmentStatus
    billing: BillingOutcome
    free_reschedule: bool


def cancellation(
    case: AppointmentCase, by: Actor, now: datetime, *, honour_provider_changes: bool = False
) -> Cancellation:
    """What a cancellation means: a provider's is free and offers a new slot; a late one is
    charged as held (until waived); otherwise it is free.

    With `honour_provider_changes`, a client cancelling after the provider ran late (the
    delay notice offers a free change) is not charged either.
    """
    if by.kind is ActorKind.PROVIDER:
        return Cancellation(
            AppointmentStatus.CANCELLED, BillingOutcome.PROVIDER_CANCELLED, free_reschedule=True
        )
    if honour_provider_changes and case.free_reschedule:
        return Cancellation(
            AppointmentStatus.CANCELLED, BillingOutcome.CANCELLED_FREE, free_reschedule=False
        )
    if is_late_change(case.request.start, now, case.policy):
        return Cancellation(
            AppointmentStatus.LATE_CANCELLED, BillingOutcome.LATE_CANCEL, free_reschedule=False
        )
    return Cancellation(
        AppointmentStatus.CANCELLED, BillingOutcome.CANCELLED_FREE, free_reschedule=False
    )


def reschedule_charged(case: AppointmentCase, by: Actor, now: datetime) -> bool:
    """A late reschedule is charged, unless the provider asked for it, the provider's delay or
    cancellation (or a waiver) made changes free, or the visit already ended."""
    return (
        by.kind is not ActorKind.PROVIDER
        and case.status not in FINAL_APPOINTMENT_STATUSES
        and not case.free_reschedule
        and is_late_change(case.request.start, now, case.policy)
    )


def rescheduled(case: AppointmentCase, new_start: datetime, now: datetime) -> AppointmentCase:
    """The case re-planned for `new_start` as if booked `now`: every timer re-armed."""
    request = case.request.model_copy(update={"start": new_start})
    fresh = new_case(
        request,
        now,
        case.policy,
        calls_before_free_cancellation=case.follow_up_rule is not None,
    )
    return fresh.model_copy(
        update={
            "needs_attention": [],
            "reschedules": case.reschedules + 1,
            "cancellations": case.cancellations,
            "provider_acknowledged": case.provider_acknowledged,
            "ack_alert_sent": case.ack_alert_sent,
            "provider_notified": False,
        }
    )


def continue_as_new_due(case: AppointmentCase) -> bool:
    return case.reschedules > 0 and case.reschedules % case.policy.continue_after_reschedules == 0


def follow_up_exhausted(case: AppointmentCase) -> bool:
    """True once every allowed call attempt has been made (or none was possible)."""
    return case.call_attempts >= case.max_call_attempts


def after_call_attempt(case: AppointmentCase, attempted_at: datetime) -> AppointmentCase:
    """Count the attempt and plan the next one, or the moment to give up waiting.

    Giving up happens no later than the visit start, so the supervisor hears of an
    unconfirmed client before the no-show rule applies.
    """
    attempts = case.call_attempts + 1
    following = next_call_after(attempted_at, case.request.start, case.policy)
    if following is not None and attempts < case.max_call_attempts:
        next_call_at = following
    else:
        next_call_at = min(_shift(attempted_at, case.policy.call_interval), case.request.start)
    return case.model_copy(
        update={
            "call_attempts": attempts,
            "awaiting_call_outcome": True,
            # No office hour left for another call: this was the last one.
            "max_call_attempts": case.max_call_attempts if following else attempts,
            "next_call_at": next_call_at,
        }
    )


# --- which update is allowed in which state ---------------------------------------------

_ALLOWED: dict[str, frozenset[AppointmentStatus]] = {
    # Confirming twice (a second click on the link) is harmless: the handler changes nothing.
    "confirm": frozenset(
        {AppointmentStatus.BOOKED, AppointmentStatus.UNCONFIRMED, AppointmentStatus.CONFIRMED}
    ),
    "acknowledge": frozenset(
        {AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.UNCONFIRMED}
    ),
    "record_call_outcome": frozenset({AppointmentStatus.BOOKED, AppointmentStatus.UNCONFIRMED}),
    "check_in": frozenset(
        {AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.UNCONFIRMED}
    ),
    "complete": frozenset({AppointmentStatus.CHECKED_IN}),
    "cancel": frozenset(
        {AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.UNCONFIRMED}
    ),
    "reschedule": frozenset(
        {AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.UNCONFIRMED}
    ),
    "report_delay": frozenset(
        {AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.UNCONFIRMED}
    ),
    "excuse_no_show": frozenset({AppointmentStatus.NO_SHOW}),
    "waive_fee": frozenset({AppointmentStatus.NO_SHOW, AppointmentStatus.LATE_CANCELLED}),
}

# After a waiver or a provider's cancellation the client may book the slot again for free.
_REOPENABLE = frozenset(
    {AppointmentStatus.NO_SHOW, AppointmentStatus.LATE_CANCELLED, AppointmentStatus.CANCELLED}
)


def transition_refusal(
    update: str, case: AppointmentCase, now: datetime, *, moved_no_show: bool = False
) -> str | None:
    """Why `update` is impossible for `case` at `now`, or None when it is allowed.

    With `moved_no_show`, a delay can be reported until the no-show moment as the delays
    reported so far moved it (otherwise until the booked start plus the grace).
    """
    status = case.status
    allowed = _ALLOWED[update]
    if update == "reschedule" and case.free_reschedule and status in _REOPENABLE:
        return None
    if update == "waive_fee" and case.reschedule_fee_pending and status in _AWAITING_VISIT:
        return None
    if status not in allowed:
        if status in FINAL_APPOINTMENT_STATUSES:
            return f"{update} refused: the appointment is already {status.value}"
        expected = ", ".join(sorted(s.value for s in allowed))
        return f"{update} refused: the appointment is {status.value}, expected one of {expected}"
    start = case.request.start
    if update == "check_in" and now < _shift(start, -case.policy.check_in_opens_before):
        return f"check_in refused: check-in opens {case.policy.check_in_opens_before} before start"
    if update == "complete" and now < start:
        return "complete refused: the visit has not started yet"
    if update == "record_call_outcome" and case.call_attempts == 0:
        return "record_call_outcome refused: no follow-up call has been requested yet"
    delay_until = no_show_moment(case) if moved_no_show else no_show_at(start, case.policy)
    if update == "report_delay" and now > delay_until:
        return "report_delay refused: the visit should already have started"
    if update == "excuse_no_show" and case.excuse is not None:
        return "excuse_no_show refused: an excuse is already with the provider"
    if update == "waive_fee" and case.billing is BillingOutcome.WAIVED:
        return "waive_fee refused: the fee is already waived"
    return None


def reschedule_refusal(case: AppointmentCase, new_start: datetime, now: datetime) -> str | None:
    """`transition_refusal` for a reschedule, plus the same time rules as a booking."""
    refusal = transition_refusal("reschedule", case, now)
    if refusal is not None:
        return refusal
    if new_start <= now:
        return f"reschedule refused: new_start {new_start.isoformat()} is not in the future"
    if new_start == case.request.start:
        return "reschedule refused: new_start is the current start"
    return None


def scaled(policy: AppointmentPolicy, factor: float) -> AppointmentPolicy:
    """The same rules with every duration multiplied by `factor` (demos, benchmarks).

    Clock-of-day rules (quiet hours, business hours) do not compress, so they are dropped.
    """
    if factor == 1:
        return policy
    durations = {
        name: value * factor
        for name, value in policy.model_dump().items()
        if isinstance(value, timedelta)
    }
    return policy.model_copy(update={**durations, "quiet_hours": None, "business": None})


# --- after the visit: the survey --------------------------------------------------------

SURVEY_WITHIN = timedelta(hours=48)


class SurveyPlan(NamedTuple):
    send_at: datetime
    reminder_at: datetime
    closes_at: datetime


def survey_plan(request: SurveyRequest) -> SurveyPlan:
    """Sent `send_after` the end but always within 48h; one reminder; then closed."""
    send_at = _shift(request.visit_ended_at, min(request.send_after, SURVEY_WITHIN))
    return SurveyPlan(
        send_at=send_at,
        reminder_at=_shift(send_at, request.reminder_after),
        closes_at=_shift(send_at, request.closes_after),
    )


def nps_category(nps: int) -> str:
    """Net Promoter Score bands: 9–10 promoter, 7–8 passive, 0–6 detractor."""
    if nps >= 9:
        return "promoter"
    if nps >= 7:
        return "passive"
    return "detractor"


# ======================================================================================
# --- complaints -----------------------------------------------------------------------
# The complaint service levels (DESIGN.md §1 complaints 2–7): routing by the escalation
# matrix, the SLA clock (business time, paused on hold and while a verdict is awaited),
# escalation tiers, the 24h customer updates, the 72h verdict window, the survey, and
# which update is allowed in which state. Pure: `now` is always passed in.
# ======================================================================================


# A business-time search never scans further than this: a calendar open an hour a year is
# a configuration error, not a reason to loop forever.
_BUSINESS_SEARCH_DAYS = 3660


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _office_interval(day: date, office: BusinessCalendar) -> tuple[datetime, datetime] | None:
    """The office's open hours on local `day` as UTC instants, or None when it is shut."""
    if day.weekday() not in office.weekdays or day.isoformat() in office.holidays:
        return None
    tz = ZoneInfo(office.timezone)
    opens = datetime.combine(day, time(office.hours.start_hour), tz)
    if office.hours.end_hour == 24:
        closes = datetime.combine(day + timedelta(days=1), time(0), tz)
    else:
        closes = datetime.combine(day, time(office.hours.end_hour), tz)
    return _utc(opens), _utc(closes)


def business_time_between(
    start: datetime, end: datetime, office: BusinessCalendar | None
) -> timedelta:
    """Countable time from `start` to `end`: elapsed time, or office hours only."""
    if end <= start:
        return timedelta(0)
    if office is None:
        return _utc(end) - _utc(start)
    tz = ZoneInfo(office.timezone)
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    total = timedelta(0)
    while day <= last:
        interval = _office_interval(day, office)
        if interval is not None:
            low, high = max(interval[0], _utc(start)), min(interval[1], _utc(end))
            if high > low:
                total += high - low
        day += timedelta(days=1)
    return total


def add_business_time(
    start: datetime, amount: timedelta, office: BusinessCalendar | None
) -> datetime:
    """The instant at which `amount` of countable time has passed since `start` (UTC).

    With office hours, a deadline that lands exactly on closing time stays there rather
    than moving to the next opening.
    """
    if office is None or amount <= timedelta(0):
        return _utc(start) + max(amount, timedelta(0))
    remaining = amount
    day = start.astimezone(ZoneInfo(office.timezone)).date()
    for _ in range(_BUSINESS_SEARCH_DAYS):
        interval = _office_interval(day, office)
        if interval is not None:
            low, high = max(interval[0], _utc(start)), interval[1]
            if high > low:
                if low + remaining <= high:
                    return low + remaining
                remaining -= high - low
        day += timedelta(days=1)
    raise ValueError("the office calendar has too few open hours to reach the deadline")


# --- the SLA clock ----------------------------------------------------------------------


def fresh_clock(now: datetime) -> SlaClock:
    return SlaClock(started_at=now, running_since=now)


def clock_elapsed(clock: SlaClock, now: datetime, office: BusinessCalendar | None) -> timedelta:
    if clock.running_since is None:
        return clock.active_before
    return clock.active_before + business_time_between(clock.running_since, now, office)


def calendar_elapsed(clock: SlaClock, now: datetime) -> timedelta:
    """Every hour the clock ran, office hours or not (what the procedure's ceiling counts)."""
    if clock.running_since is None:
        return clock.calendar_before
    return clock.calendar_before + max(_utc(now) - _utc(clock.running_since), timedelta(0))


def clock_reaches(
    clock: SlaClock,
    target: timedelta,
    office: BusinessCalendar | None,
    ceiling: timedelta | None = None,
) -> datetime | None:
    """When the clock will show `target`, or None while it is stopped.

    With a `ceiling`, never later than the moment the clock has run that many calendar
    hours: office hours may make a department's clock stricter, never looser.
    """
    if clock.running_since is None:
        return None
    reached = add_business_time(clock.running_since, target - clock.active_before, office)
    if ceiling is None:
        return reached
    return min(reached, _utc(clock.running_since) + (ceiling - clock.calendar_before))


def stop_clock(clock: SlaClock, now: datetime, office: BusinessCalendar | None) -> SlaClock:
    if clock.running_since is None:
        return clock
    return clock.model_copy(
        update={
            "active_before": clock_elapsed(clock, now, office),
            "calendar_before": calendar_elapsed(clock, now),
            "running_since": None,
        }
    )


def start_clock(clock: SlaClock, now: datetime) -> SlaClock:
    if clock.running_since is not None:
        return clock
    return clock.model_copy(update={"running_since": now})


# --- routing ----------------------------------------------------------------------------


def route_complaint(matrix: EscalationMatrix, category: str, severity: Severity) -> ComplaintRoute:
    """The most specific matching route (an exact category beats an exact severity).

    Tiers: the route's own, else the matrix's for the severity, else its `default`, else
    24h supervisor / 48h breach / 24h new timeline.
    """
    category = category.strip().lower()
    matches = [
        route
        for route in matrix.routes
        if route.category in (category, ANY_ROUTE) and route.severity in (severity, ANY_ROUTE)
    ]
    if not matches:
        raise ValueError(f"the escalation matrix has no route for {category}/{severity.value}")
    best = max(
        matches, key=lambda route: (route.category != ANY_ROUTE, route.severity != ANY_ROUTE)
    )
    department = matrix.departments[best.department]
    tiers = (
        best.tiers
        or matrix.tiers.get(severity.value)
        or matrix.tiers.get("default")
        or EscalationTiers()
    )
    return ComplaintRoute(
        department=best.department,
        department_name=department.name,
        owner=best.owner or department.owner,
        manager=department.manager,
        tiers=tiers,
        business_hours=department.business_hours,
        rule=f"{best.category}/{best.severity}",
    )


def scaled_complaint_rules(rules: ComplaintRules, factor: float) -> ComplaintRules:
    """Every duration × `factor` (demos); office hours do not compress, so they are dropped."""
    if factor == 1:
        return rules
    tiers = rules.route.tiers
    policy = rules.policy
    return ComplaintRules(
        route=rules.route.model_copy(
            update={
                "tiers": EscalationTiers(
                    supervisor_after=tiers.supervisor_after * factor,
                    breach_after=tiers.breach_after * factor,
                    extension=tiers.extension * factor,
                ),
                "business_hours": None,
            }
        ),
        policy=policy.model_copy(
            update={
                "update_every": policy.update_every * factor,
                "verdict_within": policy.verdict_within * factor,
                "survey_after": policy.survey_after * factor,
                "keep_open_after_close": policy.keep_open_after_close * factor,
                "max_hold": policy.max_hold * factor,
                "feedback_window": policy.feedback_window * factor,
                "sla_ceiling": EscalationTiers(
                    supervisor_after=policy.sla_ceiling.supervisor_after * factor,
                    breach_after=policy.sla_ceiling.breach_after * factor,
                    extension=policy.sla_ceiling.extension * factor,
                ),
            }
        ),
    )


def new_complaint_case(
    request: ComplaintRequest,
    filed_at: datetime,
    rules: ComplaintRules,
    *,
    procedure_rules: bool = True,
) -> ComplaintCase:
    """A fresh complaint: Open, the SLA clock running, the first update due a period later.

    `procedure_rules` False keeps the rules older histories ran under (no calendar ceiling,
    unbounded holds), so they replay unchanged.
    """
    return ComplaintCase(
        request=request,
        route=rules.route,
        policy=rules.policy,
        filed_at=filed_at,
        clock=fresh_clock(filed_at),
        update_due_at=_utc(filed_at) + rules.policy.update_every,
        procedure_rules=procedure_rules,
    )


# --- escalation -------------------------------------------------------------------------


class Escalation(NamedTuple):
    target: timedelta  # on the round's SLA clock
    level: int  # the escalation level reached then
    breach: bool  # the SLA (or the promised new timeline) is missed


def next_escalation(case: ComplaintCase) -> Escalation:
    """Level 0 → supervisor at `supervisor_after`; then a breach at `breach_after` and one
    more at every `extension` after it (each a new timeline promised to the customer)."""
    tiers = case.route.tiers
    if case.escalation_level == 0:
        return Escalation(tiers.supervisor_after, 1, False)
    return Escalation(sla_target(case), max(case.escalation_level + 1, 2), True)


def sla_target(case: ComplaintCase) -> timedelta:
    """The resolution deadline on the round's clock: 48h, then each new timeline."""
    tiers = case.route.tiers
    return tiers.breach_after + case.breaches_in_round * tiers.extension


def sla_ceiling(case: ComplaintCase) -> timedelta | None:
    """The procedure's calendar limit for the resolution: 48h, then 24h per new timeline."""
    if not case.procedure_rules:
        return None
    ceiling = case.policy.sla_ceiling
    return ceiling.breach_after + case.breaches_in_round * ceiling.extension


def next_escalation_ceiling(case: ComplaintCase) -> timedelta | None:
    """The calendar limit of the next escalation: 24h for the supervisor, else the SLA's."""
    if not case.procedure_rules:
        return None
    if case.escalation_level == 0:
        return case.policy.sla_ceiling.supervisor_after
    return sla_ceiling(case)


def sla_deadline(case: ComplaintCase) -> datetime | None:
    """When the resolution is due; None while the clock is stopped (hold, verdict, closed)."""
    return clock_reaches(case.clock, sla_target(case), case.route.business_hours, sla_ceiling(case))


def supervisor_at(case: ComplaintCase) -> datetime | None:
    return clock_reaches(
        case.clock,
        case.route.tiers.supervisor_after,
        case.route.business_hours,
        case.policy.sla_ceiling.supervisor_after if case.procedure_rules else None,
    )


def next_escalation_at(case: ComplaintCase) -> datetime | None:
    if case.status is not ComplaintStatus.OPEN:
        return None
    return clock_reaches(
        case.clock,
        next_escalation(case).target,
        case.route.business_hours,
        next_escalation_ceiling(case),
    )


def escalate(case: ComplaintCase) -> ComplaintCase:
    step = next_escalation(case)
    changes: dict[str, object] = {"escalation_level": step.level}
    if step.breach:
        changes |= {"sla_breached": True, "breaches_in_round": case.breaches_in_round + 1}
    return case.model_copy(update=changes)


def point_of_contact(case: ComplaintCase) -> Contact:
    """Whom the customer deals with: the manager once breached or reopened past level 1,
    else the assignee (when reachable by email), else the department's owner."""
    if case.escalation_level >= 2:
        return case.route.manager
    if case.assignee is not None and case.assignee.email is not None:
        return Contact(name=case.assignee.name, email=case.assignee.email)
    return case.route.owner


# --- customer status updates -----------------------------------------------------------


def updates_run(case: ComplaintCase) -> bool:
    """The 24h status updates run while Open, and on a hold that is not for the customer's
    own answer (they still hear from us every day)."""
    return case.status is ComplaintStatus.OPEN or (
        case.status is ComplaintStatus.ON_HOLD
        and case.procedure_rules
        and not case.hold_for_customer_answer
    )


def customer_update_attempted(case: ComplaintCase, now: datetime) -> ComplaintCase:
    """Any customer-visible message restarts the update period (so the update it would
    have been is skipped); while the clock is stopped the period waits in full."""
    running = updates_run(case)
    return case.model_copy(
        update={
            "last_customer_update_at": now,
            "update_due_at": _utc(now) + case.policy.update_every if running else None,
            "update_left": None if running else case.policy.update_every,
        }
    )


def _pause_updates(case: ComplaintCase, now: datetime) -> dict[str, object]:
    if case.update_due_at is None:
        return {}
    return {"update_due_at": None, "update_left": max(case.update_due_at - now, timedelta(0))}


def _resume_updates(case: ComplaintCase, now: datetime) -> dict[str, object]:
    if case.update_due_at is not None:
        return {}
    left = case.update_left if case.update_left is not None else case.policy.update_every
    return {"update_due_at": _utc(now) + left, "update_left": None}


# --- transitions ------------------------------------------------------------------------


def hold_complaint(
    case: ComplaintCase, now: datetime, reason: str, *, for_customer_answer: bool = True
) -> ComplaintCase:
    """Waiting on the customer: the SLA clock stops where it is, for at most `max_hold`.

    The update period stops too when the hold waits for the customer's own answer; on any
    other hold the customer still hears from us every period.
    """
    bounded = case.procedure_rules
    pauses_updates = for_customer_answer or not bounded
    return case.model_copy(
        update={
            "status": ComplaintStatus.ON_HOLD,
            "hold_reason": reason,
            "on_hold_since": now,
            "hold_until": _utc(now) + case.policy.max_hold if bounded else None,
            "hold_for_customer_answer": for_customer_answer,
            "clock": stop_clock(case.clock, now, case.route.business_hours),
            **(_pause_updates(case, now) if pauses_updates else {}),
        }
    )


def _end_hold(case: ComplaintCase, now: datetime) -> dict[str, object]:
    if case.on_hold_since is None:
        return {}
    return {
        "held_before": case.held_before + (_utc(now) - _utc(case.on_hold_since)),
        "on_hold_since": None,
        "hold_reason": None,
        "hold_until": None,
    }


def resume_complaint(case: ComplaintCase, now: datetime) -> ComplaintCase:
    """Back to Open: the clock and the update period go on from where they stopped."""
    resumed = case.model_copy(update={**_end_hold(case, now), "status": ComplaintStatus.OPEN})
    return resumed.model_copy(
        update={"clock": start_clock(case.clock, now), **_resume_updates(resumed, now)}
    )


def time_on_hold(case: ComplaintCase, now: datetime) -> timedelta:
    ongoing = _utc(now) - _utc(case.on_hold_since) if case.on_hold_since else timedelta(0)
    return case.held_before + ongoing


def propose_resolution(case: ComplaintCase, now: datetime, resolution: str) -> ComplaintCase:
    """The customer is asked to confirm; the clock stops while they decide (72h)."""
    return case.model_copy(
        update={
            **_end_hold(case, now),
            "status": ComplaintStatus.RESOLUTION_PROPOSED,
            "resolution": resolution,
            "proposed_at": now,
            "verdict_deadline": _utc(now) + case.policy.verdict_within,
            "clock": stop_clock(case.clock, now, case.route.business_hours),
            **_pause_updates(case, now),
        }
    )


def reopen_complaint(case: ComplaintCase, now: datetime) -> ComplaintCase:
    """Not satisfied: Open again one tier up, on a fresh SLA clock."""
    reopened = case.model_copy(
        update={
            "status": ComplaintStatus.OPEN,
            "escalation_level": case.escalation_level + 1,
            "reopened": case.reopened + 1,
            "breaches_in_round": 0,
            "clock": fresh_clock(now),
            "resolution": None,
            "verdict_deadline": None,
        }
    )
    return reopened.model_copy(update=_resume_updates(reopened, now))


def close_complaint(
    case: ComplaintCase,
    now: datetime,
    status: ComplaintStatus,
    reason: str,
    root_cause: str | None = None,
) -> ComplaintCase:
    if status not in FINAL_COMPLAINT_STATUSES:
        raise ValueError(f"{status.value} is not a closing status")
    return case.model_copy(
        update={
            **_end_hold(case, now),
            "status": status,
            "closed_at": now,
            "close_reason": reason,
            "root_cause": root_cause,
            "clock": stop_clock(case.clock, now, case.route.business_hours),
            "update_due_at": None,
            "update_left": None,
            "verdict_deadline": None,
        }
    )


def assign_complaint(case: ComplaintCase, assignee: Assignee) -> ComplaintCase:
    return case.model_copy(update={"assignee": assignee})


def survey_at(case: ComplaintCase) -> datetime | None:
    """The post-closure follow-up: `survey_after` the closing, never later than 48h."""
    if case.closed_at is None:
        return None
    return _utc(case.closed_at) + min(case.policy.survey_after, timedelta(hours=48))


def complaint_closes_at(case: ComplaintCase) -> datetime | None:
    """When the workflow ends: kept open after closing, and never before the survey."""
    follow_up = survey_at(case)
    if case.closed_at is None or follow_up is None:
        return None
    ends = max(_utc(case.closed_at) + case.policy.keep_open_after_close, follow_up)
    if case.procedure_rules and case.feedback_score is None:
        # The follow-up's feedback link is answered through this workflow: wait for it.
        ends = max(ends, follow_up + case.policy.feedback_window)
    return ends


def feedback_refusal(case: ComplaintCase) -> str | None:
    """The follow-up's one question is answered once, after the follow-up went out."""
    if not case.procedure_rules or not case.survey_sent:
        return "feedback refused: no follow-up has been sent for this complaint yet"
    if case.feedback_score is not None:
        return "feedback refused: we already have your answer, thank you"
    return None


# --- what is due next -----------------------------------------------------------------


class ComplaintStep(StrEnum):
    ESCALATE = "escalate"
    STATUS_UPDATE = "status_update"
    VERDICT_TIMEOUT = "verdict_timeout"
    SURVEY = "survey"
    HOLD_EXPIRED = "hold_expired"
    AWAIT_RESUME = "await_resume"
    FINISH = "finish"


class ComplaintDue(NamedTuple):
    at: datetime | None  # None: nothing on a timer, wait for an update
    step: ComplaintStep


def complaint_next_step(case: ComplaintCase) -> ComplaintDue:
    """The next thing the workflow does on its own. At the same instant an escalation goes
    first: its message to the customer is their update for that period."""
    if case.status in FINAL_COMPLAINT_STATUSES:
        if not case.survey_sent:
            return ComplaintDue(survey_at(case), ComplaintStep.SURVEY)
        return ComplaintDue(complaint_closes_at(case), ComplaintStep.FINISH)
    if case.status is ComplaintStatus.RESOLUTION_PROPOSED:
        return ComplaintDue(case.verdict_deadline, ComplaintStep.VERDICT_TIMEOUT)
    if case.status is ComplaintStatus.ON_HOLD:
        due = [ComplaintDue(case.hold_until, ComplaintStep.HOLD_EXPIRED)]
    else:
        due = [ComplaintDue(next_escalation_at(case), ComplaintStep.ESCALATE)]
    if case.update_due_at is not None:
        due.append(ComplaintDue(case.update_due_at, ComplaintStep.STATUS_UPDATE))
    timed = [(item.at, index, item) for index, item in enumerate(due) if item.at is not None]
    if not timed:
        return ComplaintDue(None, ComplaintStep.AWAIT_RESUME)
    return min(timed)[2]


# --- which complaint update is allowed in which state --------------------------------------

_OPEN_CASE = frozenset(
    {ComplaintStatus.OPEN, ComplaintStatus.ON_HOLD, ComplaintStatus.RESOLUTION_PROPOSED}
)
_COMPLAINT_ALLOWED: dict[str, frozenset[ComplaintStatus]] = {
    "assign": _OPEN_CASE,
    "add_note": _OPEN_CASE,
    "hold": frozenset({ComplaintStatus.OPEN}),
    "resume": frozenset({ComplaintStatus.ON_HOLD}),
    "propose_resolution": frozenset({ComplaintStatus.OPEN, ComplaintStatus.ON_HOLD}),
    "customer_verdict": frozenset({ComplaintStatus.RESOLUTION_PROPOSED}),
    "close": _OPEN_CASE,
}


def complaint_refusal(update: str, case: ComplaintCase, actor: Actor) -> str | None:
    """Why `update` by `actor` is impossible for `case`, or None when it is allowed."""
    status = case.status
    if status in FINAL_COMPLAINT_STATUSES:
        return f"{update} refused: the complaint is already {status.value}"
    if status not in _COMPLAINT_ALLOWED[update]:
        if update == "customer_verdict":
            return "customer_verdict refused: no resolution has been proposed yet"
        if update == "hold" and status is ComplaintStatus.ON_HOLD:
            return "hold refused: the complaint is already on hold"
        if update == "resume":
            return f"resume refused: the complaint is {status.value}, not on hold"
        expected = ", ".join(sorted(s.value for s in _COMPLAINT_ALLOWED[update]))
        return f"{update} refused: the complaint is {status.value}, expected one of {expected}"
    if update == "close" and actor.kind is not ActorKind.STAFF:
        return "close refused: only staff (a supervisor) may close a complaint"
    return None


def root_cause_refusal(update: str, case: ComplaintCase, root_cause: str | None) -> str | None:
    """A root cause must come from the configured list (DESIGN.md §1 complaints 7)."""
    if root_cause is None or root_cause in case.policy.root_causes:
        return None
    known = ", ".join(case.policy.root_causes)
    return f"{update} refused: unknown root_cause {root_cause!r} (known: {known})"


def detractor_complaint(survey: SurveyRequest, answer: SurveyAnswer) -> ComplaintRequest:
    """The complaint a detractor's answer opens; very low scores are treated as high severity."""
    comment = answer.comment.strip() or "(no comment)"
    return ComplaintRequest(
        complaint_id=f"survey-{survey.appointment_id}",
        customer=survey.client,
        received_via=ReceivedVia.SURVEY,
        category="service",
        severity=Severity.HIGH if answer.nps <= 3 else Severity.NORMAL,
        description=f"Survey after {survey.service}: NPS {answer.nps}. {comment}",
        appointment_id=survey.appointment_id,
    )


# --- outbound webhooks: when a failed delivery is tried again ------------------------------

WEBHOOK_FIRST_RETRY = timedelta(seconds=30)
WEBHOOK_MAX_RETRY_INTERVAL = timedelta(hours=1)
# A back office down for a day has lost the thread: it reconciles from the API instead.
WEBHOOK_GIVE_UP_AFTER = timedelta(hours=24)
# About what the intervals allow in 24h (7 attempts reach the hourly cap after ~1h).
WEBHOOK_MAX_ATTEMPTS = 30
# The receiver says the endpoint is gone for good: retrying only adds load.
WEBHOOK_GONE = 410


def webhook_retry_delay(attempts: int) -> timedelta:
    """The wait after `attempts` failed attempts (1, 2, 3 …): 30s, 1m, 2m, 4m … at most 1h."""
    doublings = min(max(attempts, 1) - 1, 16)  # 30s · 2^7 already passes the cap
    return min(WEBHOOK_FIRST_RETRY * (1 << doublings), WEBHOOK_MAX_RETRY_INTERVAL)


def webhook_retry_at(
    attempts: int, queued_at: datetime, now: datetime, status_code: int | None = None
) -> datetime | None:
    """When to try a delivery again after its `attempts`-th attempt failed at `now`; None
    gives up (the delivery is marked failed).

    Gives up on 410 Gone, after WEBHOOK_MAX_ATTEMPTS attempts, or once WEBHOOK_GIVE_UP_AFTER
    has passed since the event was queued (`queued_at`: recorded, or requeued by an
    operator). Any other failure, 4xx included, is retried: a receiver's bad deploy answers
    400 or 404 as readily as 500.
    """
    if status_code == WEBHOOK_GONE or attempts >= WEBHOOK_MAX_ATTEMPTS:
        return None
    if now - queued_at >= WEBHOOK_GIVE_UP_AFTER:
        return None
    return now + webhook_retry_delay(attempts)
