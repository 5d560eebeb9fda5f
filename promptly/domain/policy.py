"""The service levels as pure functions (DESIGN.md §1).

No clock, no I/O: the caller passes `now` (in workflows, `workflow.now()`), so every
rule is unit-tested here and replays identically.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from promptly.domain import calendar
from promptly.domain.models import (
    FINAL_APPOINTMENT_STATUSES,
    AppointmentCase,
    AppointmentPolicy,
    AppointmentRequest,
    AppointmentStatus,
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
    if request.start <= now:
        raise BookingRejected(
            f"start: {request.start.isoformat()} is not in the future (now {now.isoformat()})"
        )


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


def auto_complete_at(end: datetime, policy: AppointmentPolicy) -> datetime:
    """A checked-in visit nobody completed is closed by the system then."""
    return _shift(end, policy.auto_complete_after_end)


def new_case(
    request: AppointmentRequest, booked_at: datetime, policy: AppointmentPolicy
) -> AppointmentCase:
    """Every deadline of a fresh booking."""
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
    PROVIDER_ACK_ALERT = "provider_ack_alert"
    REMINDER = "reminder"
    FOLLOW_UP_CALL = "follow_up_call"
    NO_SHOW = "no_show"
    AUTO_COMPLETE = "auto_complete"


_STEP_ORDER = [
    Step.REMINDER,
    Step.PROVIDER_ACK_ALERT,
    Step.FOLLOW_UP_CALL,
    Step.NO_SHOW,
    Step.AUTO_COMPLETE,
]


class DueStep(NamedTuple):
    at: datetime
    step: Step


_AWAITING_VISIT = frozenset(
    {AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.UNCONFIRMED}
)


def next_step(case: AppointmentCase) -> DueStep | None:
    """The earliest thing the workflow must do on its own, or None when the case is over."""
    if case.status in FINAL_APPOINTMENT_STATUSES:
        return None
    start = case.request.start
    due: list[DueStep] = []
    if not case.provider_acknowledged and not case.ack_alert_sent:
        due.append(DueStep(case.provider_ack_deadline, Step.PROVIDER_ACK_ALERT))
    if (
        case.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
        and case.reminder_at is not None
        and not case.reminder_sent
    ):
        due.append(DueStep(case.reminder_at, Step.REMINDER))
    if case.status is AppointmentStatus.BOOKED and case.next_call_at is not None:
        due.append(DueStep(case.next_call_at, Step.FOLLOW_UP_CALL))
    if case.status in _AWAITING_VISIT:
        due.append(DueStep(no_show_at(start, case.policy), Step.NO_SHOW))
    if case.status is AppointmentStatus.CHECKED_IN:
        due.append(DueStep(auto_complete_at(case.request.end, case.policy), Step.AUTO_COMPLETE))
    # Same instant: the reminder goes before a call about it, alerts before the no-show.
    return min(due, key=lambda item: (item.at, _STEP_ORDER.index(item.step)), default=None)


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
}


def transition_refusal(update: str, case: AppointmentCase, now: datetime) -> str | None:
    """Why `update` is impossible for `case` at `now`, or None when it is allowed."""
    status = case.status
    allowed = _ALLOWED[update]
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
