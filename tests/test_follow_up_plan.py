"""Follow-up calls before the free-cancellation line, and phone reminders in office hours.

Office: Mon–Fri 08:00–18:00 Europe/Warsaw (the default calendar); 3 attempts 2h apart;
a cancellation is free until 24h before the visit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from promptly.domain import calendar
from promptly.domain.appointments.follow_up import (
    FollowUpRule,
    after_call_attempt,
    after_unanswered_call,
    attempt_rings_back,
    free_cancellation_line,
    phone_reminder_time,
    plan_follow_up,
)
from promptly.domain.appointments.models import (
    AppointmentPolicy,
    AppointmentRequest,
    AppointmentStatus,
)
from promptly.domain.appointments.rules import Step, new_case, next_step, rescheduled
from promptly.domain.calendar import BusinessCalendar

WARSAW = ZoneInfo("Europe/Warsaw")
POLICY = AppointmentPolicy()
OFFICE = BusinessCalendar()
assert POLICY.business == OFFICE


def warsaw(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WARSAW)


def local(moments: list[datetime]) -> list[str]:
    return [m.astimezone(WARSAW).strftime("%a %d %b %H:%M %Z") for m in moments]


def request(start: datetime, channel: str = "email") -> AppointmentRequest:
    return AppointmentRequest.model_validate(
        {
            "appointment_id": "A-1",
            "client": {
                "id": "C-17",
                "name": "Anna Nowak",
                "email": "anna@example.com",
                "phone": "+48600100200",
                "timezone": "Europe/Warsaw",
                "preferred_channel": channel,
            },
            "provider": {"id": "P-3", "name": "Jan Kowalski", "email": "jan@example.com"},
            "service": "Physiotherapy consultation",
            "location": "ul. Prosta 1, Warszawa",
            "start": start.isoformat(),
            "duration_minutes": 50,
        }
    )


def test_monday_0900_visit_is_called_on_the_previous_friday_before_the_free_cancel_line() -> None:
    plan = plan_follow_up(warsaw(11, 2, 10), warsaw(11, 9, 9), POLICY)
    assert plan.rule is FollowUpRule.BEFORE_FREE_CANCELLATION
    assert local(plan.attempts) == [
        "Fri 06 Nov 13:45 CET",
        "Fri 06 Nov 15:45 CET",
        "Fri 06 Nov 17:45 CET",
    ]
    assert plan.response_deadline == plan.attempts[0]


def test_calls_in_the_dst_week_are_in_local_office_hours_on_the_friday_before() -> None:
    # Clocks go back on Sunday 25 October: Friday is CEST, the Monday visit is CET.
    plan = plan_follow_up(warsaw(10, 19, 10), warsaw(10, 26, 9), POLICY)
    assert local(plan.attempts) == [
        "Fri 23 Oct 13:45 CEST",
        "Fri 23 Oct 15:45 CEST",
        "Fri 23 Oct 17:45 CEST",
    ]
    # The line is 24 real hours before the visit: 09:00 CET on the Sunday of the change.
    assert local([free_cancellation_line(warsaw(10, 26, 9), POLICY)]) == ["Sun 25 Oct 09:00 CET"]


def test_calls_in_the_spring_dst_week_are_in_local_office_hours() -> None:
    plan = plan_follow_up(warsaw(3, 23, 10), warsaw(3, 30, 9), POLICY)
    assert local(plan.attempts) == [
        "Fri 27 Mar 13:45 CET",
        "Fri 27 Mar 15:45 CET",
        "Fri 27 Mar 17:45 CET",
    ]


def test_calls_skip_a_holiday_before_the_free_cancel_line() -> None:
    holiday = AppointmentPolicy(business=BusinessCalendar(holidays=["2026-11-11"]))
    plan = plan_follow_up(warsaw(11, 2, 10), warsaw(11, 12, 9), holiday)
    assert local(plan.attempts) == [
        "Tue 10 Nov 13:45 CET",
        "Tue 10 Nov 15:45 CET",
        "Tue 10 Nov 17:45 CET",
    ]


def test_calls_may_span_the_evening_and_next_morning_when_that_is_latest() -> None:
    plan = plan_follow_up(warsaw(11, 2, 10), warsaw(11, 11, 11), POLICY)
    # Wednesday 11:00 visit, line Tuesday 11:00: the latest three attempts 2h apart.
    assert local(plan.attempts) == [
        "Mon 09 Nov 17:45 CET",
        "Tue 10 Nov 08:00 CET",
        "Tue 10 Nov 10:00 CET",
    ]


def test_every_planned_call_is_in_office_hours_before_the_free_cancel_line_across_dst() -> None:
    booked = warsaw(10, 12, 9)
    start = warsaw(10, 15, 8)
    checked = 0
    while start < warsaw(11, 6, 18):
        plan = plan_follow_up(booked, start, POLICY)
        line = free_cancellation_line(start, POLICY)
        assert plan.rule is FollowUpRule.BEFORE_FREE_CANCELLATION, start
        assert len(plan.attempts) == POLICY.call_attempts
        assert all(calendar.is_business_time(at, OFFICE) for at in plan.attempts), start
        assert all(booked <= at < line for at in plan.attempts), start
        gaps = [b - a for a, b in zip(plan.attempts, plan.attempts[1:], strict=False)]
        assert all(gap >= POLICY.call_interval for gap in gaps), start
        start += timedelta(minutes=90)
        checked += 1
    assert checked > 300


def test_booking_with_room_for_fewer_calls_plans_those_before_the_line() -> None:
    plan = plan_follow_up(warsaw(11, 6, 14), warsaw(11, 9, 9), POLICY)
    assert plan.rule is FollowUpRule.FEWER_CALLS_BEFORE_FREE_CANCELLATION
    assert local(plan.attempts) == ["Fri 06 Nov 14:00 CET", "Fri 06 Nov 16:00 CET"]


def test_booking_with_no_office_hour_before_the_line_says_which_rule_applied() -> None:
    plan = plan_follow_up(warsaw(11, 7, 10), warsaw(11, 9, 9), POLICY)
    assert plan.rule is FollowUpRule.NO_ROOM_BEFORE_FREE_CANCELLATION
    assert local(plan.attempts) == ["Mon 09 Nov 08:00 CET"]


def test_new_case_beside_the_plan_records_the_rule_and_the_call_plan() -> None:
    case = new_case(
        request(warsaw(11, 9, 9)), warsaw(11, 2, 10), POLICY, calls_before_free_cancellation=True
    )
    assert case.follow_up_rule == "before_free_cancellation"
    assert local([case.response_deadline, case.next_call_at or case.booked_at]) == [
        "Fri 06 Nov 13:45 CET",
        "Fri 06 Nov 13:45 CET",
    ]
    assert case.max_call_attempts == 3
    moved = rescheduled(case, warsaw(11, 18, 9), warsaw(11, 3, 10))
    assert moved.follow_up_rule == "before_free_cancellation"
    # Wednesday 09:00, line Tuesday 09:00: Monday 15:45, 17:45, Tuesday 08:00.
    assert local([moved.response_deadline]) == ["Mon 16 Nov 15:45 CET"]
    assert moved.max_call_attempts == 3


def test_legacy_new_case_keeps_the_deadline_24h_before_the_visit() -> None:
    case = new_case(request(warsaw(11, 9, 9)), warsaw(11, 2, 10), POLICY)
    assert case.follow_up_rule is None
    assert case.response_deadline == warsaw(11, 8, 9)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Window Mon 10:00 – Tue 10:00: the call task at the window's start.
        (warsaw(11, 11, 10), "Mon 09 Nov 10:00 CET"),
        # A 07:00 visit: window opens at 07:00, the office at 08:00.
        (warsaw(11, 11, 7), "Mon 09 Nov 08:00 CET"),
        # Window Sat 09:00 – Sun 09:00 has no office hour: the last one before it, never Saturday.
        (warsaw(11, 9, 9), "Fri 06 Nov 17:45 CET"),
        # DST week: window Sat 24 – Sun 25 Oct, Friday is still summer time.
        (warsaw(10, 26, 9), "Fri 23 Oct 17:45 CEST"),
    ],
)
def test_phone_reminder_call_task_is_in_office_hours(start: datetime, expected: str) -> None:
    at = phone_reminder_time(warsaw(10, 1, 9), start, POLICY)
    assert at is not None
    assert local([at]) == [expected]
    assert calendar.is_business_time(at, OFFICE)


def test_phone_reminder_is_in_the_24_to_48h_window_when_the_office_is_open_in_it() -> None:
    start = warsaw(11, 12, 15)
    at = phone_reminder_time(warsaw(11, 2, 9), start, POLICY)
    assert at is not None
    assert start - timedelta(hours=48) <= at <= start - timedelta(hours=24)


def test_phone_client_case_plans_its_reminder_call_in_office_hours() -> None:
    case = new_case(
        request(warsaw(11, 9, 9), channel="phone"),
        warsaw(11, 2, 10),
        POLICY,
        calls_before_free_cancellation=True,
    )
    assert case.reminder_at is not None
    assert local([case.reminder_at]) == ["Fri 06 Nov 17:45 CET"]


def test_unconfirmed_client_still_gets_the_reminder_after_calls_before_the_window() -> None:
    case = new_case(
        request(warsaw(11, 9, 9)), warsaw(11, 2, 10), POLICY, calls_before_free_cancellation=True
    ).model_copy(
        update={
            "confirmation_attempted": True,
            "provider_notified": True,
            "provider_acknowledged": True,
            "status": AppointmentStatus.UNCONFIRMED,
            "next_call_at": None,
        }
    )
    due = next_step(case)
    assert due.step is Step.REMINDER
    assert local([due.at]) == ["Sat 07 Nov 09:00 CET"]


def test_after_an_unanswered_call_the_next_call_comes_at_the_next_attempts_time() -> None:
    """The desk rings a client back a follow-up interval (2h) after a call nobody answered,
    in office hours, never at once; at the latest where the call's own bound ends."""
    start = warsaw(12, 10, 15)  # Thursday
    tuesday_1505 = warsaw(12, 8, 15, 5)
    assert after_unanswered_call(tuesday_1505, tuesday_1505, None, start, POLICY) == warsaw(
        12, 8, 17, 5
    )
    # Its bound comes first (a reminder's hold ends at 16:45): then.
    bound = warsaw(12, 8, 16, 45)
    assert after_unanswered_call(tuesday_1505, tuesday_1505, bound, start, POLICY) == bound
    # Due later anyway: when due.
    assert after_unanswered_call(tuesday_1505, warsaw(12, 9, 9), None, start, POLICY) == warsaw(
        12, 9, 9
    )
    # Unanswered on Friday at 17:00: Monday when the office opens.
    friday = warsaw(12, 4, 17)
    assert after_unanswered_call(friday, friday, None, start, POLICY) == warsaw(12, 7, 8)
    # No office hour left before the visit: when due (the call is not dropped).
    evening_visit = warsaw(12, 7, 18, 30)
    monday_17 = warsaw(12, 7, 17)
    assert after_unanswered_call(monday_17, monday_17, None, evening_visit, POLICY) == monday_17


def test_an_attempt_due_soon_after_an_unanswered_call_waits_for_the_ring_back() -> None:
    """Booked Monday 12:00 for Tuesday 16:00, attempt 1 made at 12:30, attempt 2 due 14:30:
    a call unanswered at 13:50 moves it to 15:45 (not 15:50: before the free-cancellation
    line, Monday 16:00); one unanswered at 12:00 leaves it where it was."""
    case = new_case(
        request(warsaw(12, 8, 16), channel="phone"),
        warsaw(12, 7, 12),
        POLICY,
        calls_before_free_cancellation=True,
    )
    made = after_call_attempt(case, warsaw(12, 7, 12, 30))
    assert made.next_call_at == warsaw(12, 7, 14, 30)
    assert attempt_rings_back(made, warsaw(12, 7, 13, 50)) == warsaw(12, 7, 15, 45)
    assert attempt_rings_back(made, warsaw(12, 7, 12)) is None
    # The last attempt made: the moment the calls give up is not a call.
    last = after_call_attempt(made, warsaw(12, 7, 14, 30))
    assert attempt_rings_back(last, warsaw(12, 7, 14, 40)) is None
