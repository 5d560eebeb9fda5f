"""The appointment procedure as pure functions: when each step is due, what a cancellation
or a reschedule costs, which update is allowed in which state.

No clock, no I/O: the caller passes `now` (in workflows, `workflow.now()`), so every rule
is unit-tested and replays identically."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from promptly.domain import calendar
from promptly.domain.appointments import follow_up
from promptly.domain.appointments.fees import FEE_DECISIONS
from promptly.domain.appointments.follow_up import (
    call_attempt_time,
    planned_call_attempts,
    response_deadline,
)
from promptly.domain.appointments.models import (
    FINAL_APPOINTMENT_STATUSES,
    AppointmentCase,
    AppointmentPolicy,
    AppointmentRequest,
    AppointmentStatus,
    BillingOutcome,
    CallOutcome,
    RecordCallOutcomeInput,
)
from promptly.domain.appointments.reminder_window import (
    reminder_window_end,
    reminder_window_start,
)
from promptly.domain.calendar import shift_elapsed
from promptly.domain.common import Channel
from promptly.domain.errors import Refusal, RefusalCode, UnknownUpdate
from promptly.domain.future_times import not_bookable
from promptly.domain.readable_time import in_hours, readable


class BookingRejected(ValueError):
    """A booking that must not start; the message names the field and the reason."""


def check_booking(request: AppointmentRequest, now: datetime) -> None:
    reason = not_bookable(request.start, now)
    if reason is not None:
        raise BookingRejected(f"start: {reason}")


def confirmation_deadline(booked_at: datetime, policy: AppointmentPolicy) -> datetime:
    """The confirmation must have gone out by then (SLA 2)."""
    return shift_elapsed(booked_at, policy.confirmation_within)


def confirmation_give_up_at(booked_at: datetime, policy: AppointmentPolicy) -> datetime:
    """Stop retrying the channel then, so the front desk gets its task before the deadline."""
    return shift_elapsed(confirmation_deadline(booked_at, policy), -policy.confirmation_task_margin)


def provider_ack_deadline(
    booked_at: datetime, start: datetime, policy: AppointmentPolicy
) -> datetime:
    """Supervisor is alerted if the provider has not acknowledged by then (SLA 3)."""
    return min(shift_elapsed(booked_at, policy.provider_ack_within), start)


def reminder_time(
    booked_at: datetime, start: datetime, timezone: str, policy: AppointmentPolicy
) -> datetime | None:
    """When the 24–48h reminder goes out, or None when the confirmation is the reminder.

    The earliest instant of the window [start - reminder_before, start - window_end] that is
    not before the booking and not in the client's quiet hours; if the whole remaining window
    is quiet, its first instant (the window is never left).
    """
    window_start = reminder_window_start(booked_at, start, policy)
    window_end = reminder_window_end(start, policy)
    if window_start > window_end:
        return None
    candidate = calendar.first_outside(window_start, timezone, policy.quiet_hours)
    return candidate if candidate <= window_end else window_start


def no_show_at(start: datetime, policy: AppointmentPolicy) -> datetime:
    return shift_elapsed(start, policy.no_show_after)


def _no_show_moved_by(case: AppointmentCase) -> timedelta:
    """The provider's delay and the client's reported lateness (capped when recorded)."""
    return timedelta(minutes=case.delay_minutes + case.client_late_minutes)


def no_show_moment(case: AppointmentCase) -> datetime:
    """The no-show rule applies then, moved by the delays reported so far."""
    return no_show_at(shift_elapsed(case.request.start, _no_show_moved_by(case)), case.policy)


def client_late_minutes_after(case: AppointmentCase, minutes: int) -> int:
    """The client's lateness once they report `minutes` more, never past the limit."""
    limit = int(case.policy.client_late_limit.total_seconds() // 60)
    return min(case.client_late_minutes + minutes, max(limit, case.client_late_minutes))


def auto_complete_at(end: datetime, policy: AppointmentPolicy) -> datetime:
    """A checked-in visit nobody completed is closed by the system then."""
    return shift_elapsed(end, policy.auto_complete_after_end)


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
        planned = _follow_up_planned_ahead(request, booked_at, policy)
    else:
        deadline = response_deadline(booked_at, request.start, policy)
        first_call = call_attempt_time(deadline, request.start, policy)
        planned = {
            "reminder_at": reminder_time(booked_at, request.start, request.client.timezone, policy),
            "response_deadline": deadline,
            # No office hour left before the visit: the deadline itself flags the case.
            "next_call_at": first_call or deadline,
            "max_call_attempts": planned_call_attempts(first_call, request.start, policy),
        }
    return AppointmentCase(
        request=request,
        policy=policy,
        booked_at=booked_at,
        confirmation_deadline=confirmation_deadline(booked_at, policy),
        provider_ack_deadline=provider_ack_deadline(booked_at, request.start, policy),
        **planned,
    )


def _follow_up_planned_ahead(
    request: AppointmentRequest, booked_at: datetime, policy: AppointmentPolicy
) -> dict[str, Any]:
    plan = follow_up.plan_follow_up(booked_at, request.start, policy)
    if request.client.preferred_channel is Channel.PHONE:
        reminder_at = follow_up.phone_reminder_time(booked_at, request.start, policy)
    else:
        reminder_at = reminder_time(booked_at, request.start, request.client.timezone, policy)
    zone = request.start.tzinfo
    # No office hour left before the visit: the deadline itself flags the case.
    first_call = plan.attempts[0] if plan.attempts else plan.response_deadline
    return {
        "reminder_at": reminder_at.astimezone(zone) if reminder_at else None,
        "response_deadline": plan.response_deadline.astimezone(zone),
        "next_call_at": first_call.astimezone(zone),
        "max_call_attempts": len(plan.attempts),
        "follow_up_rule": plan.rule.value,
    }


class Step(StrEnum):
    CONFIRMATION = "confirmation"
    PROVIDER_NOTICE = "provider_notice"
    PROVIDER_ACK_ALERT = "provider_ack_alert"
    REMINDER = "reminder"
    FOLLOW_UP_CALL = "follow_up_call"
    NO_SHOW = "no_show"
    AUTO_COMPLETE = "auto_complete"
    CLOSE = "close"


# Steps that change nothing but start their messages (and a flag saying so): the case is
# stored once, with the messages' outcome, not also as they start.
MESSAGE_STEPS = frozenset({Step.CONFIRMATION, Step.PROVIDER_NOTICE, Step.REMINDER})

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
        due.append(DueStep(case.planned_at, Step.CONFIRMATION))
    if not case.provider_notified:
        due.append(DueStep(case.planned_at, Step.PROVIDER_NOTICE))
    if not case.provider_acknowledged and not case.ack_alert_sent:
        due.append(DueStep(case.provider_ack_deadline, Step.PROVIDER_ACK_ALERT))
    if (
        case.status in _reminded_statuses(case)
        and case.reminder_at is not None
        and not case.reminder_sent
        and not case.reminder_skipped
    ):
        # A reminder waiting for the confirmation call is due when that call is closed (the
        # hold is lifted), at the latest at the hold's end.
        due.append(DueStep(case.reminder_held_until or case.reminder_at, Step.REMINDER))
    if case.status is AppointmentStatus.BOOKED and case.next_call_at is not None:
        # An attempt waiting for the confirmation call likewise.
        due.append(DueStep(case.call_held_until or case.next_call_at, Step.FOLLOW_UP_CALL))
    if case.status in _AWAITING_VISIT:
        delayed_start = shift_elapsed(start, _no_show_moved_by(case))
        due.append(DueStep(no_show_at(delayed_start, case.policy), Step.NO_SHOW))
    if case.status is AppointmentStatus.CHECKED_IN:
        due.append(DueStep(auto_complete_at(case.request.end, case.policy), Step.AUTO_COMPLETE))
    # Same instant: the reminder goes before a call about it, alerts before the no-show.
    return min(due, key=lambda item: (item.at, _STEP_ORDER.index(item.step)))


def closes_at(case: AppointmentCase) -> datetime:
    """A final case stays open for late updates; longer while a fee can still be waived."""
    closed_at = case.closed_at or case.planned_at
    fee_pending = case.billing in (BillingOutcome.LATE_CANCEL, BillingOutcome.NO_SHOW)
    window = case.policy.fee_decision_window if fee_pending else case.policy.keep_open_after_close
    closes = shift_elapsed(closed_at, window)
    open_for = case.policy.free_reschedule_open_for
    if case.free_reschedule and open_for is not None:
        # The free reschedule a waiver or a provider cancellation offered stays usable as long
        # as the link in that message.
        granted = case.free_reschedule_granted_at or closed_at
        return max(closes, shift_elapsed(granted, open_for))
    return closes


def rescheduled(case: AppointmentCase, new_start: datetime, now: datetime) -> AppointmentCase:
    """The case re-planned for `new_start` as if booked `now`: every timer re-armed. It keeps
    when it was booked; `rescheduled_at` says when it was re-planned."""
    request = case.request.model_copy(update={"start": new_start})
    fresh = new_case(
        request,
        now,
        case.policy,
        calls_before_free_cancellation=case.follow_up_rule is not None,
    )
    return fresh.model_copy(
        update={
            "booked_at": case.booked_at,
            "rescheduled_at": now,
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


_ALLOWED: dict[str, frozenset[AppointmentStatus]] = {
    # Confirming twice (a second click on the link) is harmless: the handler changes nothing.
    "confirm": _AWAITING_VISIT,
    "acknowledge": _AWAITING_VISIT,
    "record_call_outcome": frozenset({AppointmentStatus.BOOKED, AppointmentStatus.UNCONFIRMED}),
    "check_in": _AWAITING_VISIT,
    "complete": frozenset({AppointmentStatus.CHECKED_IN}),
    "cancel": _AWAITING_VISIT,
    "reschedule": _AWAITING_VISIT,
    "report_delay": _AWAITING_VISIT,
    # A late reschedule's fee too, while it is charged (`reschedule_fee_pending`).
    "excuse_no_show": frozenset({AppointmentStatus.NO_SHOW, AppointmentStatus.LATE_CANCELLED}),
    "waive_fee": frozenset({AppointmentStatus.NO_SHOW, AppointmentStatus.LATE_CANCELLED}),
    "fee_stands": frozenset({AppointmentStatus.NO_SHOW, AppointmentStatus.LATE_CANCELLED}),
    "correct_phone": _AWAITING_VISIT,
    # A call's outcome matters to a case still before its end (the calls it waits for).
    "read_out_closed": frozenset(AppointmentStatus) - FINAL_APPOINTMENT_STATUSES,
}


# After a waiver or a provider's cancellation the client may book the slot again for free.
_REOPENABLE = frozenset(
    {AppointmentStatus.NO_SHOW, AppointmentStatus.LATE_CANCELLED, AppointmentStatus.CANCELLED}
)


def allowed_statuses(update: str) -> frozenset[AppointmentStatus]:
    """The statuses `update` is allowed in; `UnknownUpdate` (a code error, not a refusal) for
    an update with no entry in `_ALLOWED`."""
    if update not in _ALLOWED:
        raise UnknownUpdate(update, "_ALLOWED in domain/appointments/rules.py")
    return _ALLOWED[update]


def transition_refusal(
    update: str, case: AppointmentCase, now: datetime, *, moved_no_show: bool = False
) -> str | None:
    """Why `update` is impossible for `case` at `now`, or None when it is allowed (an ended
    case's refusal is a `Refusal` coded `already_ended`).

    With `moved_no_show`, a delay can be reported until the no-show moment as the delays
    reported so far moved it (otherwise until the booked start plus the grace).
    """
    status = case.status
    allowed = allowed_statuses(update)
    if update == "reschedule" and case.free_reschedule and status in _REOPENABLE:
        return None
    fee_decision = update in FEE_DECISIONS
    # A late reschedule's fee is decided, or pleaded (`excuse_no_show`), before the visit.
    fee_question = fee_decision or update == "excuse_no_show"
    if fee_question and case.reschedule_fee_pending and status in _AWAITING_VISIT:
        return None
    if status not in allowed:
        if status in FINAL_APPOINTMENT_STATUSES:
            return Refusal(
                f"{update} refused: the appointment is already {status.value}",
                RefusalCode.ALREADY_ENDED,
            )
        expected = ", ".join(sorted(s.value for s in allowed))
        return f"{update} refused: the appointment is {status.value}, expected one of {expected}"
    start = case.request.start
    opens = shift_elapsed(start, -case.policy.check_in_opens_before)
    if update == "check_in" and now < opens:
        return (
            f"check_in refused: check-in opens at {readable(opens, case.request.client.timezone)}"
            f", {in_hours(case.policy.check_in_opens_before)} h before the start"
        )
    if update == "complete" and now < start:
        return "complete refused: the visit has not started yet"
    if update == "record_call_outcome" and case.call_attempts == 0:
        return "record_call_outcome refused: no follow-up call has been requested yet"
    delay_until = no_show_moment(case) if moved_no_show else no_show_at(start, case.policy)
    if update == "report_delay" and now > delay_until:
        return "report_delay refused: the visit should already have started"
    if fee_decision and case.billing is BillingOutcome.WAIVED:
        return f"{update} refused: the fee is already waived"
    return None


def delay_refusal(case: AppointmentCase, now: datetime) -> str | None:
    """Why a delay (the provider's or the client's) cannot be reported yet, or None.

    A delay is news of the visit's day: the client is told at once of a new estimate and, when
    the provider runs late, offered a free change. Reported weeks ahead it would tell the client
    of a 10-minute delay months early and hand out a free change with it; what the provider
    knows that far ahead is a reschedule. So a delay is reported from the start of the visit's
    day where the client is (or from when check-in opens, `check_in_opens_before`, when that
    is earlier: a visit just after midnight), until the no-show moment (`transition_refusal`).
    Judged when a command arrives only: a delay accepted before this rule replays as it ran.
    """
    timezone = case.request.client.timezone
    opens = min(
        calendar.start_of_day(case.request.start, timezone),
        shift_elapsed(case.request.start, -case.policy.check_in_opens_before),
    )
    if now >= opens:
        return None
    return (
        f"report_delay refused: a delay can be reported on the day of the visit, from "
        f"{readable(opens, timezone)}; to move the visit to another time, reschedule it"
    )


def reschedule_refusal(case: AppointmentCase, new_start: datetime, now: datetime) -> str | None:
    """`transition_refusal` for a reschedule, plus the same time rules as a booking (the
    current start again: a `Refusal` coded `same_time`)."""
    refusal = transition_refusal("reschedule", case, now)
    if refusal is not None:
        return refusal
    if new_start <= now:
        return f"reschedule refused: new_start {new_start.isoformat()} is not in the future"
    if new_start == case.request.start:
        return Refusal("reschedule refused: new_start is the current start", RefusalCode.SAME_TIME)
    return None


def call_outcome_problems(command: RecordCallOutcomeInput) -> list[tuple[str, str]]:
    """(field, reason) for what a call's outcome lacks, which the edges refuse as bad input (a
    422 naming the field): a reschedule agreed on the phone needs the time agreed. Not a rule
    of the model: a case from before the workflow refused it holds reached_rescheduled without
    new_start, and that update's input must still decode on replay."""
    if command.outcome is CallOutcome.REACHED_RESCHEDULED and command.new_start is None:
        return [("new_start", "required with reached_rescheduled: the time agreed with the client")]
    return []
