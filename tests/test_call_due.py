"""By when the desk must make each client call (domain/appointments/call_due.py): the deadline
of the promise the call keeps, never after the visit's start; news is due at once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from promptly.domain.appointments import call_due
from promptly.domain.appointments.follow_up import after_call_attempt, attempt_due
from tests.test_policy import WITH_HOLIDAY, case_for

WARSAW = ZoneInfo("Europe/Warsaw")


def warsaw(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=WARSAW)


def context(start: datetime, booked_at: datetime) -> dict[str, str]:
    """An appointment message's context, as the workflow writes its times."""
    return {
        "start": start.isoformat(),
        "deadline": datetime.fromtimestamp(booked_at.timestamp() + 24 * 3600, WARSAW).isoformat(),
        "reminder_by": datetime.fromtimestamp(start.timestamp() - 24 * 3600, WARSAW).isoformat(),
    }


def test_a_confirmation_call_is_due_within_24h_of_the_booking() -> None:
    # Booked Wednesday 08:25 for Friday 10:00: due Thursday 08:25.
    due = call_due.message_call_due("phone_confirmation", context(warsaw(4, 10), warsaw(2, 8, 25)))
    assert due == warsaw(3, 8, 25)


def test_a_confirmation_call_is_due_before_the_visit_booked_less_than_24h_ahead() -> None:
    due = call_due.message_call_due("phone_confirmation", context(warsaw(2, 14), warsaw(2, 8, 25)))
    assert due == warsaw(2, 14)


def test_a_visit_today_is_called_before_a_visit_on_friday_booked_before_it() -> None:
    friday = call_due.message_call_due("confirmation", context(warsaw(4, 10), warsaw(2, 8, 20)))
    today = call_due.message_call_due("confirmation", context(warsaw(2, 14), warsaw(2, 8, 25)))
    assert today is not None and friday is not None
    assert today < friday


def test_a_reminder_call_is_due_by_the_end_of_its_window() -> None:
    due = call_due.message_call_due("reminder", context(warsaw(7, 16), warsaw(2, 8)))
    assert due == warsaw(6, 16)


def test_news_is_due_at_once() -> None:
    facts = context(warsaw(4, 10), warsaw(2, 8))
    for template in ("cancellation", "delay_notice", "reschedule_link", "fee_waived"):
        assert call_due.message_call_due(template, facts) is None


def test_a_given_deadline_counts_but_never_after_the_visit() -> None:
    facts = context(warsaw(2, 14), warsaw(2, 8))
    assert call_due.message_call_due("confirmation", facts, warsaw(3, 8)) == warsaw(2, 14)
    assert call_due.message_call_due("cancellation", facts, warsaw(2, 9)) == warsaw(2, 9)


def test_a_message_of_no_appointment_or_a_context_without_times_is_due_at_once() -> None:
    assert call_due.message_call_due("confirmation", {}) is None
    assert call_due.message_call_due("reminder", {"start": "soon", "reminder_by": 3}) is None
    assert call_due.message_call_due("complaint_ack", {"deadline": "2026-12-03T10:00:00"}) is None


def test_a_deadline_without_a_visit_stands() -> None:
    assert call_due.call_due(warsaw(3, 8), None) == warsaw(3, 8)
    assert call_due.call_due(None, warsaw(3, 8)) is None


def november(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=WARSAW)


def test_a_follow_up_attempt_is_due_before_the_next_one() -> None:
    case = case_for(november(17, 10), november(12, 9), WITH_HOLIDAY)
    # Friday 17:30 attempt: the next one is Monday 08:00.
    after = after_call_attempt(case, november(13, 17, 30))
    assert attempt_due(after, november(13, 17, 30)) == november(16, 8)


def test_an_attempt_before_the_free_cancellation_line_is_due_before_it() -> None:
    # Visit Tuesday 10:00: a cancellation is free until Monday 10:00; the next attempt after a
    # Monday 09:00 one would be later.
    case = case_for(november(17, 10), november(12, 9), WITH_HOLIDAY)
    after = after_call_attempt(case, november(16, 9))
    assert after.next_call_at is not None and after.next_call_at > november(16, 10)
    assert attempt_due(after, november(16, 9)) == november(16, 10)


def test_the_last_follow_up_attempt_is_due_before_the_visit() -> None:
    # A Saturday 17:30 visit: after a Friday 17:30 attempt the calls give up at 19:30.
    start = november(14, 17, 30)
    case = case_for(start, november(12, 9), WITH_HOLIDAY)
    after = after_call_attempt(case, november(13, 17, 30))
    assert attempt_due(after, november(13, 17, 30)) == november(13, 19, 30)
    # Moments before the visit, the give-up moment would be after it: due at the start.
    late = after_call_attempt(case, november(14, 16, 45))
    assert attempt_due(late, november(14, 16, 45)) == start
