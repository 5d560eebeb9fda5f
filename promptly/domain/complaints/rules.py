"""The complaint's updates and next step: status updates every 24h, holds, resolution,
closing, which update is allowed in which state."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from promptly.domain.calendar import _utc
from promptly.domain.common import Actor, ActorKind
from promptly.domain.complaints.models import (
    FINAL_COMPLAINT_STATUSES,
    Assignee,
    ComplaintCase,
    ComplaintStatus,
)
from promptly.domain.complaints.quiet_hours import next_waiting_at, outside_quiet_hours, update_time
from promptly.domain.complaints.sla import fresh_clock, next_escalation_at, start_clock, stop_clock
from promptly.domain.errors import Refusal, RefusalCode, UnknownUpdate
from promptly.domain.surveys.rules import SURVEY_WITHIN


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
    have been is skipped); while the clock is stopped the period waits in full. The next
    update comes before the customer's quiet hours rather than in them (`update_time`)."""
    running = updates_run(case)
    return case.model_copy(
        update={
            "last_customer_update_at": now,
            "update_due_at": update_time(case, _utc(now) + case.policy.update_every, now)
            if running
            else None,
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
    return {"update_due_at": update_time(case, _utc(now) + left, now), "update_left": None}


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
    """The post-closure follow-up: `survey_after` the closing, out of the customer's quiet
    hours, never later than 48h."""
    if case.closed_at is None:
        return None
    latest = _utc(case.closed_at) + SURVEY_WITHIN
    planned = _utc(case.closed_at) + min(case.policy.survey_after, SURVEY_WITHIN)
    return outside_quiet_hours(case, planned, latest)


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


class ComplaintStep(StrEnum):
    ESCALATE = "escalate"
    STATUS_UPDATE = "status_update"
    VERDICT_TIMEOUT = "verdict_timeout"
    SURVEY = "survey"
    HOLD_EXPIRED = "hold_expired"
    AWAIT_RESUME = "await_resume"
    FINISH = "finish"
    # News decided in the customer's quiet hours, once they end (quiet_hours.py).
    CUSTOMER_MESSAGE = "customer_message"


class ComplaintDue(NamedTuple):
    at: datetime | None  # None: nothing on a timer, wait for an update
    step: ComplaintStep


def complaint_next_step(case: ComplaintCase) -> ComplaintDue:
    """The next thing the workflow does on its own. At the same instant an escalation goes
    first: its message to the customer is their update for that period; and news that waited
    for the end of the customer's quiet hours goes before anything due then."""
    planned = _next_planned_step(case)
    waiting = next_waiting_at(case)
    if waiting is not None and (planned.at is None or waiting <= planned.at):
        return ComplaintDue(waiting, ComplaintStep.CUSTOMER_MESSAGE)
    return planned


def _next_planned_step(case: ComplaintCase) -> ComplaintDue:
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


def complaint_allowed_statuses(update: str) -> frozenset[ComplaintStatus]:
    """The statuses `update` is allowed in; `UnknownUpdate` (a code error, not a refusal) for
    an update with no entry in `_COMPLAINT_ALLOWED`."""
    if update not in _COMPLAINT_ALLOWED:
        raise UnknownUpdate(update, "_COMPLAINT_ALLOWED in domain/complaints/rules.py")
    return _COMPLAINT_ALLOWED[update]


def complaint_refusal(update: str, case: ComplaintCase, actor: Actor) -> str | None:
    """Why `update` by `actor` is impossible for `case`, or None when it is allowed."""
    return complaint_state_refusal(update, case) or complaint_actor_refusal(update, actor)


def complaint_actor_refusal(update: str, actor: Actor) -> str | None:
    """Why `actor` may not make `update` whatever the complaint's state (the API's 403)."""
    if update == "close" and actor.kind is not ActorKind.STAFF:
        return "close refused: only staff (a supervisor) may close a complaint"
    return None


def complaint_state_refusal(update: str, case: ComplaintCase) -> str | None:
    """Why `update` is impossible in `case`'s state (the API's 409), or None; a closed
    complaint's refusal is a `Refusal` coded `already_ended`."""
    status = case.status
    allowed = complaint_allowed_statuses(update)
    if status in FINAL_COMPLAINT_STATUSES:
        return Refusal(
            f"{update} refused: the complaint is already {status.value}",
            RefusalCode.ALREADY_ENDED,
        )
    if status not in allowed:
        if update == "customer_verdict":
            return "customer_verdict refused: no resolution has been proposed yet"
        if update == "hold" and status is ComplaintStatus.ON_HOLD:
            return "hold refused: the complaint is already on hold"
        if update == "resume":
            return f"resume refused: the complaint is {status.value}, not on hold"
        expected = ", ".join(sorted(s.value for s in allowed))
        return f"{update} refused: the complaint is {status.value}, expected one of {expected}"
    return None


def root_cause_refusal(update: str, case: ComplaintCase, root_cause: str | None) -> str | None:
    """A root cause must come from the configured list (DESIGN.md §1 complaints 7)."""
    if root_cause is None or root_cause in case.policy.root_causes:
        return None
    known = ", ".join(case.policy.root_causes)
    return f"unknown root_cause {root_cause!r} for {update} (known: {known})"
