"""The promise ledger: what each promise of the procedures is, when it is due, and its verdict.

A workflow keeps one `PromiseRecord` per promise of its case and changes it where it decides
(a message went out, the provider acknowledged, the SLA breached); the record activity stores
each change (`promises` table, one row per case and promise). The QA report, the history
export and `GET /promises` read those rows, so they show the verdicts the workflows reached,
never a second computation. Rules (docs/promises.md):

- a promise is made `pending` with the time it is due;
- `met` keeps it when met by its due time (within `ON_TIME_GRACE`), breaks it (cause: late)
  when met after;
- `broken`, `waived` and `not_applicable` record a decision with its cause and actor;
- a broken or waived promise stays so: a later event never turns it back into `kept`;
- `renewed` (a reschedule, a reopened complaint) makes a kept or pending promise pending
  again for its new due time;
- at the end of a case a pending promise is not applicable, except a recurring one
  (status updates every 24h), which was kept if it never broke; a complaint decides it when
  it closes, not when its run ends (due then if nothing was due).

Pure: every function takes `now`/`at`; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from promptly.domain.appointments import follow_up
from promptly.domain.appointments import rules as appointment_rules
from promptly.domain.appointments.models import AppointmentCase
from promptly.domain.appointments.reminder_window import reminder_window_end
from promptly.domain.common import (
    SYSTEM,
    Actor,
    ActorKind,
    PromiseKind,
    PromiseRecord,
    PromiseVerdict,
)
from promptly.domain.complaints import sla as complaint_sla
from promptly.domain.complaints.models import ComplaintCase
from promptly.domain.surveys.rules import SURVEY_WITHIN

# "Acknowledged at once": the acknowledgement must be out within this of the filing.
ACK_AT_ONCE = timedelta(hours=1)
# A timer fires a moment after its due time and a worker takes a moment to act: met within
# this of the due time is on time (a decision taken by the timer at the due time is kept).
ON_TIME_GRACE = timedelta(minutes=1)
# Promises that hold for the life of the case rather than being met once.
RECURRING = frozenset({PromiseKind.COMPLAINT_UPDATES})
FINAL = frozenset({PromiseVerdict.BROKEN, PromiseVerdict.WAIVED})
# Who an inquiry left unanswered is on (the front desk answers inquiries).
FRONT_DESK = Actor(kind=ActorKind.STAFF, id="front_desk")


def made(kind: PromiseKind, now: datetime, due: datetime | None) -> PromiseRecord:
    return PromiseRecord(promise=kind, promised_at=now, due_at=due)


def _changed(record: PromiseRecord, **changes: object) -> PromiseRecord:
    return record.model_copy(update={**changes, "revision": record.revision + 1})


def met(
    record: PromiseRecord,
    at: datetime,
    *,
    actor: Actor | None = None,
    cause_if_late: str | None = None,
) -> PromiseRecord:
    """Met at `at`: kept if by the due time, else broken as late. Decided promises stay."""
    if record.verdict is not PromiseVerdict.PENDING:
        return record
    if record.due_at is None or at <= record.due_at + ON_TIME_GRACE:
        return _changed(record, verdict=PromiseVerdict.KEPT, met_at=at, decided_at=at, actor=actor)
    late = f"met {_hours(at - record.due_at)} after it was due"
    return _changed(
        record,
        verdict=PromiseVerdict.BROKEN,
        met_at=at,
        decided_at=at,
        cause=f"{late} ({cause_if_late})" if cause_if_late else late,
        actor=actor or SYSTEM,
    )


def broken(record: PromiseRecord, at: datetime, cause: str, actor: Actor) -> PromiseRecord:
    """Broken: only a pending promise (a kept one was kept; a broken one already says why)."""
    if record.verdict is not PromiseVerdict.PENDING:
        return record
    return _changed(record, verdict=PromiseVerdict.BROKEN, decided_at=at, cause=cause, actor=actor)


def waived(record: PromiseRecord, at: datetime, cause: str, actor: Actor) -> PromiseRecord:
    """Waived by someone entitled to (a provider's force-majeure waiver of a no-show)."""
    if record.verdict in (PromiseVerdict.WAIVED, PromiseVerdict.NOT_APPLICABLE):
        return record
    return _changed(record, verdict=PromiseVerdict.WAIVED, decided_at=at, cause=cause, actor=actor)


def not_applicable(record: PromiseRecord, at: datetime, cause: str) -> PromiseRecord:
    """The case went where the promise no longer applies (cancelled, checked in, promoted)."""
    if record.verdict is not PromiseVerdict.PENDING:
        return record
    return _changed(record, verdict=PromiseVerdict.NOT_APPLICABLE, decided_at=at, cause=cause)


def renewed(record: PromiseRecord, now: datetime, due: datetime | None) -> PromiseRecord:
    """Made again for a new time (reschedule, reopening); broken and waived promises stay."""
    if record.verdict in FINAL:
        return record
    # Made afresh: nothing of the old verdict carries over, only the write order does.
    return made(record.promise, now, due).model_copy(update={"revision": record.revision + 1})


def due_moved(record: PromiseRecord, due: datetime | None) -> PromiseRecord:
    """A pending promise follows its case's deadline (a hold pauses the SLA clock)."""
    if record.verdict is not PromiseVerdict.PENDING or record.due_at == due:
        return record
    return _changed(record, due_at=due)


def update_given(
    record: PromiseRecord, at: datetime, *, sent: bool, reason: str = ""
) -> PromiseRecord:
    """A recurring promise: each update on time leaves it pending (met so far); a failed or
    late one breaks it."""
    if record.verdict is not PromiseVerdict.PENDING:
        return record
    if not sent:
        cause = f"status update not delivered{f': {reason}' if reason else ''}"
        return broken(record, at, cause, SYSTEM)
    if record.due_at is not None and at > record.due_at + ON_TIME_GRACE:
        return broken(record, at, f"status update {_hours(at - record.due_at)} late", SYSTEM)
    return _changed(record, met_at=at)


def closed(record: PromiseRecord, at: datetime, reason: str) -> PromiseRecord:
    """The case ended: a recurring promise is decided (kept, as no update broke it: a late or
    undelivered one breaks it when it goes, `update_given`); others no longer apply. A recurring
    promise with nothing due when it is decided is due then (the close), so a listing by
    due time (`GET /promises`) has it."""
    if record.verdict is not PromiseVerdict.PENDING:
        return record
    if record.promise in RECURRING:
        return _changed(
            record,
            verdict=PromiseVerdict.KEPT,
            met_at=record.met_at or at,
            decided_at=at,
            due_at=record.due_at or at,
        )
    return not_applicable(record, at, reason)


def _hours(amount: timedelta) -> str:
    minutes = max(int(amount.total_seconds() // 60), 0)
    return f"{minutes // 60}h {minutes % 60:02d}m"


# --- what each case promises -------------------------------------------------------------------


def appointment_dues(case: AppointmentCase) -> dict[PromiseKind, datetime | None]:
    """When each appointment promise is due for the visit as booked now."""
    start = case.request.start
    line = follow_up.free_cancellation_line(start, case.policy)
    no_room = case.follow_up_rule == follow_up.FollowUpRule.NO_ROOM_BEFORE_FREE_CANCELLATION
    return {
        PromiseKind.CONFIRMATION: case.confirmation_deadline,
        PromiseKind.PROVIDER_ACK: case.provider_ack_deadline,
        PromiseKind.REMINDER: reminder_window_end(start, case.policy),
        # With no office hour before the free-cancellation line the calls go before the visit.
        PromiseKind.FOLLOW_UP: start if no_room else line,
        PromiseKind.NO_SHOW: appointment_rules.no_show_moment(case),
    }


def appointment_promises(case: AppointmentCase, now: datetime) -> list[PromiseRecord]:
    """The promises of a fresh booking (or of the visit at its new time)."""
    dues = appointment_dues(case)
    records = [made(kind, now, due) for kind, due in dues.items()]
    if case.reminder_at is None:
        # Booked less than 24h ahead: the procedure makes the confirmation the reminder.
        records = [
            not_applicable(r, now, "booked less than 24h ahead: the confirmation is the reminder")
            if r.promise is PromiseKind.REMINDER
            else r
            for r in records
        ]
    return records


# A reschedule re-plans the visit; the provider's acknowledgement of the booking carries over.
RENEWED_BY_RESCHEDULE = (
    PromiseKind.CONFIRMATION,
    PromiseKind.REMINDER,
    PromiseKind.FOLLOW_UP,
    PromiseKind.NO_SHOW,
)

# The client came: what was promised to get them there is moot; the provider's acknowledgement
# is still owed (its alert decides it).
SETTLED_BY_CHECK_IN = RENEWED_BY_RESCHEDULE


def rescheduled_promises(case: AppointmentCase, now: datetime) -> list[PromiseRecord]:
    return of_kinds(appointment_promises(case, now), RENEWED_BY_RESCHEDULE)


def complaint_dues(case: ComplaintCase) -> dict[PromiseKind, datetime | None]:
    return {
        PromiseKind.COMPLAINT_ACK: case.filed_at + ACK_AT_ONCE,
        PromiseKind.COMPLAINT_UPDATES: case.update_due_at,
        PromiseKind.COMPLAINT_RESOLVED: complaint_sla.sla_deadline(case),
    }


def complaint_promises(case: ComplaintCase, now: datetime) -> list[PromiseRecord]:
    return [made(kind, now, due) for kind, due in complaint_dues(case).items()]


def resolution_renewed(case: ComplaintCase, now: datetime) -> list[PromiseRecord]:
    """A reopened complaint has a fresh clock: the resolution promise is made again."""
    return [made(PromiseKind.COMPLAINT_RESOLVED, now, complaint_sla.sla_deadline(case))]


def survey_promise(visit_ended_at: datetime, now: datetime) -> list[PromiseRecord]:
    return [made(PromiseKind.SURVEY, now, visit_ended_at + SURVEY_WITHIN)]


def inquiry_promise(received_at: datetime, supervisor_at: datetime) -> list[PromiseRecord]:
    """Answered by the time the supervisor would be told (48h by default, a setting)."""
    return [made(PromiseKind.INQUIRY_ANSWERED, received_at, supervisor_at)]


def responsible_department(department: str) -> Actor:
    """Who a complaint's broken resolution promise is on: the department it was routed to."""
    return Actor(kind=ActorKind.STAFF, id=department)


def of_kinds(records: Iterable[PromiseRecord], kinds: Iterable[PromiseKind]) -> list[PromiseRecord]:
    wanted = set(kinds)
    return [r for r in records if r.promise in wanted]
