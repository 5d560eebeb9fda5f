"""When a silent client is called, and when a phone client hears their reminder (SLA 6, 4).

The procedure promises a cancellation obtained on a follow-up call is free, so every
planned call attempt must fall inside office hours *before* the free-cancellation line
(start − late_change_within), not on the morning of the visit. Pure functions: the
caller passes the booking time; DST is handled by `calendar`, which reasons in local time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from promptly.domain import calendar
from promptly.domain.appointments import call_due
from promptly.domain.appointments.models import AppointmentCase, AppointmentPolicy
from promptly.domain.appointments.reminder_window import (
    reminder_window_end,
    reminder_window_start,
)
from promptly.domain.calendar import shift_elapsed


def response_deadline(booked_at: datetime, start: datetime, policy: AppointmentPolicy) -> datetime:
    """After this a silent client gets a phone follow-up (SLA 6).

    Normally `response_deadline_before` the visit; a booking made closer than that gets
    half of the time it has left, so a call can still happen before the visit.
    """
    deadline = shift_elapsed(start, -policy.response_deadline_before)
    if deadline > booked_at:
        return deadline
    return shift_elapsed(booked_at, (start.astimezone(UTC) - booked_at.astimezone(UTC)) / 2)


def call_attempt_time(
    earliest: datetime, start: datetime, policy: AppointmentPolicy
) -> datetime | None:
    """The next phone follow-up slot at or after `earliest`, in business hours, before the visit."""
    slot = calendar.next_business_time(earliest, policy.business)
    return slot if slot < start else None


def next_call_after(
    previous_attempt: datetime, start: datetime, policy: AppointmentPolicy
) -> datetime | None:
    return call_attempt_time(shift_elapsed(previous_attempt, policy.call_interval), start, policy)


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
        next_call_at = min(
            shift_elapsed(attempted_at, case.policy.call_interval), case.request.start
        )
    return case.model_copy(
        update={
            "call_attempts": attempts,
            "awaiting_call_outcome": True,
            # No office hour left for another call: this was the last one.
            "max_call_attempts": case.max_call_attempts if following else attempts,
            "next_call_at": next_call_at,
        }
    )


def after_unanswered_call(
    unanswered_at: datetime,
    due: datetime,
    latest: datetime | None,
    start: datetime,
    policy: AppointmentPolicy,
) -> datetime:
    """When the desk's next call to a client is made, due at `due`, after a call to them went
    unanswered at `unanswered_at`: at the next follow-up attempt's slot after that call
    (`call_interval` later, in office hours), as a desk rings a client back, never at once;
    not before `due`, and never after `latest` (that call's own bound: the reminder's window)
    unless `due` is later. No office hour left before the visit for such a slot: at `due`."""
    slot = next_call_after(unanswered_at, start, policy)
    if slot is None:
        return due
    if latest is not None:
        slot = min(slot, latest)
    return max(due, slot)


def attempt_rings_back(case: AppointmentCase, unanswered_at: datetime) -> datetime | None:
    """When the follow-up attempt due next (`next_call_at`) is made once a call to the client
    went unanswered at `unanswered_at` (the desk's call to read them the confirmation or the
    reminder): not sooner than the next attempt's slot after that call
    (`after_unanswered_call`), at the latest when the attempt after it would be due and, for
    one planned before the free-cancellation line, before that line. None: it stays where
    planned (no attempt left, due later anyway, or no later time fits)."""
    due = case.next_call_at
    if due is None or follow_up_exhausted(case):
        return None
    start, policy = case.request.start, case.policy
    latest = next_call_after(due, start, policy) or start
    line = free_cancellation_line(start, policy)
    if due < line:
        before_line = last_business_time_before(line, policy)
        if before_line is not None:
            latest = min(latest, before_line)
    rings_at = after_unanswered_call(unanswered_at, due, latest, start, policy)
    return rings_at if rings_at > due else None


def attempt_due(case: AppointmentCase, attempted_at: datetime) -> datetime | None:
    """By when the desk must make the call attempt `after_call_attempt` just counted at
    `attempted_at`: before the next attempt is due, or the calls give up; an attempt made
    before the free-cancellation line before that line (a cancellation on it is free), and
    never after the visit's start (call_due)."""
    due = case.next_call_at
    line = free_cancellation_line(case.request.start, case.policy)
    if due is not None and attempted_at < line:
        due = min(due, line)
    return call_due.call_due(due, case.request.start)


# The response deadline is planned on a quarter-hour, so call tasks read 14:45, not 14:52:17.
_PLANNING_STEP = timedelta(minutes=15)


class FollowUpRule(StrEnum):
    """Which rule planned the calls; shown in the case so staff know why calls are when."""

    # Every allowed attempt in office hours before the free-cancellation line.
    BEFORE_FREE_CANCELLATION = "before_free_cancellation"
    # Booked too late for all of them: as many as fit before the line, from the booking on.
    FEWER_CALLS_BEFORE_FREE_CANCELLATION = "fewer_calls_before_free_cancellation"
    # No office hour before the line: calls before the visit; a cancellation then is late.
    NO_ROOM_BEFORE_FREE_CANCELLATION = "no_room_before_free_cancellation"


class FollowUpPlan(NamedTuple):
    response_deadline: datetime
    attempts: list[datetime]
    rule: FollowUpRule


def free_cancellation_line(start: datetime, policy: AppointmentPolicy) -> datetime:
    """A cancellation before this instant is free (elapsed time, DST-safe)."""
    return start.astimezone(UTC) - policy.late_change_within


def call_attempts_from(
    deadline: datetime, limit: datetime, policy: AppointmentPolicy, most: int
) -> list[datetime]:
    """Up to `most` attempts from `deadline`, `call_interval` apart, in office hours, < limit."""
    attempts: list[datetime] = []
    earliest = deadline.astimezone(UTC)
    while len(attempts) < most:
        slot = calendar.next_business_time(earliest, policy.business)
        if slot >= limit:
            break
        attempts.append(slot)
        earliest = slot + policy.call_interval
    return attempts


def _fits(deadline: datetime, line: datetime, policy: AppointmentPolicy) -> bool:
    return len(call_attempts_from(deadline, line, policy, policy.call_attempts)) == (
        policy.call_attempts
    )


def _quarter_hour_floor(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return utc - timedelta(
        minutes=utc.minute % 15, seconds=utc.second, microseconds=utc.microsecond
    )


def plan_follow_up(booked_at: datetime, start: datetime, policy: AppointmentPolicy) -> FollowUpPlan:
    """The latest response deadline whose call attempts all fit before the free-cancel line.

    The latest one gives the client the most time to confirm on their own. Attempts move
    later as the deadline does, so the latest fitting deadline is found by bisection.
    """
    booked = booked_at.astimezone(UTC)
    line = free_cancellation_line(start, policy)
    if line > booked and _fits(booked, line, policy):
        low, high = 0, int((line - booked) / _PLANNING_STEP)
        while low < high:  # invariant: booked + low * step fits
            middle = (low + high + 1) // 2
            if _fits(booked + middle * _PLANNING_STEP, line, policy):
                low = middle
            else:
                high = middle - 1
        deadline = max(_quarter_hour_floor(booked + low * _PLANNING_STEP), booked)
        attempts = call_attempts_from(deadline, line, policy, policy.call_attempts)
        return FollowUpPlan(deadline, attempts, FollowUpRule.BEFORE_FREE_CANCELLATION)
    before_line = (
        call_attempts_from(booked, line, policy, policy.call_attempts) if line > booked else []
    )
    if before_line:
        return FollowUpPlan(booked, before_line, FollowUpRule.FEWER_CALLS_BEFORE_FREE_CANCELLATION)
    # Nothing fits before the line: the old rule, half the time left, calls before the visit.
    deadline = booked + (start.astimezone(UTC) - booked) / 2
    attempts = call_attempts_from(deadline, start.astimezone(UTC), policy, policy.call_attempts)
    return FollowUpPlan(deadline, attempts, FollowUpRule.NO_ROOM_BEFORE_FREE_CANCELLATION)


def last_business_time_before(moment: datetime, policy: AppointmentPolicy) -> datetime | None:
    """The latest office-hours instant, on the hour grid of opening, strictly before `moment`."""
    office = policy.business
    if office is None:
        return moment.astimezone(UTC)
    probe = moment.astimezone(UTC) - _PLANNING_STEP
    for _ in range(366 * 24 * 4):
        if calendar.is_business_time(probe, office):
            return _quarter_hour_floor(probe)
        probe -= _PLANNING_STEP
    return None


def phone_reminder_time(
    booked_at: datetime, start: datetime, policy: AppointmentPolicy
) -> datetime | None:
    """A phone reminder is a call task: in office hours inside the 24–48h window.

    Never a Saturday task for an office closed on Saturdays; a window with no office hour
    gets the reminder call on the last office hour before it (still ahead of the visit),
    or none when the booking came after that (the confirmation was the reminder).
    """
    booked = booked_at.astimezone(UTC)
    window_start = reminder_window_start(booked_at, start, policy).astimezone(UTC)
    window_end = reminder_window_end(start, policy).astimezone(UTC)
    if window_start > window_end:
        return None
    slot = calendar.next_business_time(window_start, policy.business)
    if slot < window_end:
        return slot
    earlier = last_business_time_before(window_start, policy)
    return earlier if earlier is not None and earlier >= booked else None


_DECISIONS = {
    FollowUpRule.BEFORE_FREE_CANCELLATION: "{n} follow-up call(s) planned from {first}, "
    "all in office hours before the free-cancellation line {line}",
    FollowUpRule.FEWER_CALLS_BEFORE_FREE_CANCELLATION: "Booked too close to the visit for "
    "every call: {n} follow-up call(s) from {first} fit before the free-cancellation "
    "line {line}",
    FollowUpRule.NO_ROOM_BEFORE_FREE_CANCELLATION: "No office hour before the free-cancellation "
    "line {line}: {n} follow-up call(s) from {first} before the visit; a cancellation on "
    "such a call is late",
}


def decision_text(rule: str, first_call: datetime, attempts: int, line: datetime) -> str:
    """The timeline line that says which follow-up rule applied, and why: the first call and
    the line in the same zone (the first call's, the visit's), to the second."""
    shown = first_call.tzinfo
    return _DECISIONS[FollowUpRule(rule)].format(
        n=attempts,
        first=first_call.replace(microsecond=0).isoformat(),
        line=line.astimezone(shown).replace(microsecond=0).isoformat(),
    )
