"""The service levels of DESIGN.md §1 as pure functions: when each promise falls due.

Expected instants are written in the local time the client or the front desk would read
off a wall clock (Europe/Warsaw unless said otherwise).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from promptly.domain.appointments import fees as appointment_fees
from promptly.domain.appointments import rules as appointment_rules
from promptly.domain.appointments.follow_up import (
    after_call_attempt,
    call_attempt_time,
    follow_up_exhausted,
    next_call_after,
    response_deadline,
)
from promptly.domain.appointments.models import (
    AppointmentCase,
    AppointmentPolicy,
    AppointmentRequest,
    AppointmentStatus,
    BillingOutcome,
    PleadedFee,
)
from promptly.domain.appointments.rules import (
    Step,
    auto_complete_at,
    confirmation_deadline,
    confirmation_give_up_at,
    delay_refusal,
    new_case,
    next_step,
    no_show_at,
    provider_ack_deadline,
    reminder_time,
    transition_refusal,
)
from promptly.domain.calendar import BusinessCalendar, HourRange
from tests.helpers import CLIENT, PROVIDER, STAFF

WARSAW = ZoneInfo("Europe/Warsaw")
NEW_YORK = ZoneInfo("America/New_York")
POLICY = AppointmentPolicy()
# Mon–Fri 08:00–18:00 Europe/Warsaw; 11 November 2026 (a Wednesday) is a public holiday.
WITH_HOLIDAY = AppointmentPolicy(business=BusinessCalendar(holidays=["2026-11-11"]))


def warsaw(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WARSAW)


def new_york(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK)


def request(start: datetime, timezone: str = "Europe/Warsaw") -> AppointmentRequest:
    """A booking as it arrives over the wire (ISO string, so a fixed UTC offset)."""
    return AppointmentRequest.model_validate(
        {
            "appointment_id": "A-1",
            "client": {
                "id": "C-17",
                "name": "Anna Nowak",
                "email": "anna@example.com",
                "phone": "+48600100200",
                "timezone": timezone,
            },
            "provider": {"id": "P-3", "name": "Jan Kowalski", "email": "jan@example.com"},
            "service": "Physiotherapy consultation",
            "location": "ul. Prosta 1, Warszawa",
            "start": start.isoformat(),
            "duration_minutes": 50,
        }
    )


def case_for(
    start: datetime, booked_at: datetime, policy: AppointmentPolicy = POLICY, **changes: object
) -> AppointmentCase:
    """A booked case whose booking-time messages are done, with `changes` applied."""
    case = new_case(request(start), booked_at, policy)
    return case.model_copy(
        update={"confirmation_attempted": True, "provider_notified": True, **changes}
    )


# --- reminder_time ----------------------------------------------------------------------


def test_reminder_goes_out_48h_before_the_visit() -> None:
    # Booked Monday 10:00 for Thursday 10:00 (72h ahead).
    assert reminder_time(warsaw(11, 2, 10), warsaw(11, 5, 10), "Europe/Warsaw", POLICY) == (
        warsaw(11, 3, 10)
    )


def test_reminder_whose_48h_mark_is_at_22_waits_for_8_next_morning() -> None:
    # Visit Thursday 22:00: the 48h mark is Tuesday 22:00, inside the quiet hours.
    assert reminder_time(warsaw(11, 2, 9), warsaw(11, 5, 22), "Europe/Warsaw", POLICY) == (
        warsaw(11, 4, 8)
    )


def test_reminder_whose_48h_mark_is_at_0730_waits_until_8() -> None:
    assert reminder_time(warsaw(11, 2, 9), warsaw(11, 5, 7, 30), "Europe/Warsaw", POLICY) == (
        warsaw(11, 3, 8)
    )


def test_reminder_at_2059_is_not_moved() -> None:
    assert reminder_time(warsaw(11, 2, 9), warsaw(11, 5, 20, 59), "Europe/Warsaw", POLICY) == (
        warsaw(11, 3, 20, 59)
    )


def test_reminder_quiet_hours_are_the_clients_not_warsaws() -> None:
    # Visit Thursday 22:00 New York time: the 48h mark is Tuesday 22:00 in New York.
    booked = new_york(11, 2, 9)
    start = new_york(11, 5, 22)
    assert reminder_time(booked, start, "America/New_York", POLICY) == new_york(11, 4, 8)
    # The same instants for a client living in Warsaw: Wednesday 04:00 there, so 08:00 Warsaw.
    assert reminder_time(booked, start, "Europe/Warsaw", POLICY) == warsaw(11, 4, 8)


def test_reminder_without_quiet_hours_is_exactly_48h_before() -> None:
    policy = AppointmentPolicy(quiet_hours=None)
    assert reminder_time(warsaw(11, 2, 9), warsaw(11, 5, 22), "Europe/Warsaw", policy) == (
        warsaw(11, 3, 22)
    )


def test_booking_36h_ahead_gets_the_reminder_right_away() -> None:
    booked = warsaw(11, 2, 10)
    assert reminder_time(booked, warsaw(11, 3, 22), "Europe/Warsaw", POLICY) == booked


def test_booking_36h_ahead_during_quiet_hours_gets_the_reminder_at_8() -> None:
    # Booked Monday 22:00 for Wednesday 10:00.
    assert reminder_time(warsaw(11, 2, 22), warsaw(11, 4, 10), "Europe/Warsaw", POLICY) == (
        warsaw(11, 3, 8)
    )


def test_booking_exactly_24h_ahead_gets_the_reminder_right_away() -> None:
    booked = warsaw(11, 2, 10)
    assert reminder_time(booked, warsaw(11, 3, 10), "Europe/Warsaw", POLICY) == booked


def test_booking_12h_ahead_gets_no_reminder_the_confirmation_is_the_reminder() -> None:
    assert reminder_time(warsaw(11, 2, 10), warsaw(11, 2, 22), "Europe/Warsaw", POLICY) is None


def test_booking_just_under_24h_ahead_gets_no_reminder() -> None:
    assert reminder_time(warsaw(11, 2, 10, 1), warsaw(11, 3, 10), "Europe/Warsaw", POLICY) is None


def test_reminder_moved_to_8_may_land_exactly_on_the_24h_mark() -> None:
    # Booked Monday 01:00 for Tuesday 08:00 (31h): the window is Monday 01:00–08:00.
    assert reminder_time(warsaw(11, 2, 1), warsaw(11, 3, 8), "Europe/Warsaw", POLICY) == (
        warsaw(11, 2, 8)
    )


def test_reminder_stays_at_window_start_when_the_whole_window_is_quiet() -> None:
    # Booked Monday 23:00 for Wednesday 07:00 (32h): the window Monday 23:00–Tuesday 07:00
    # is all quiet, and 08:00 would be less than 24h before the visit.
    booked = warsaw(11, 2, 23)
    assert reminder_time(booked, warsaw(11, 4, 7), "Europe/Warsaw", POLICY) == booked


def test_reminder_is_never_outside_the_24_to_48h_window() -> None:
    booked = warsaw(11, 2, 0)
    for minutes_ahead in range(24 * 60, 80 * 60, 17):
        start = booked + timedelta(minutes=minutes_ahead)
        reminder = reminder_time(booked, start, "Europe/Warsaw", POLICY)
        assert reminder is not None
        before_visit = start.astimezone(UTC) - reminder.astimezone(UTC)
        assert timedelta(hours=24) <= before_visit <= timedelta(hours=48), start
        assert reminder >= booked


# --- DST weeks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mark", "expected"),
    [
        # Europe/Warsaw springs forward on Sunday 29 March 2026 (02:00 CET -> 03:00 CEST).
        (warsaw(3, 27, 22), warsaw(3, 28, 8)),
        (warsaw(3, 28, 22), warsaw(3, 29, 8)),
        (warsaw(3, 29, 22), warsaw(3, 30, 8)),
        (warsaw(3, 29, 7, 30), warsaw(3, 29, 8)),
        # ... and falls back on Sunday 25 October 2026 (03:00 CEST -> 02:00 CET).
        (warsaw(10, 23, 22), warsaw(10, 24, 8)),
        (warsaw(10, 24, 22), warsaw(10, 25, 8)),
        (warsaw(10, 25, 22), warsaw(10, 26, 8)),
        (warsaw(10, 25, 7, 30), warsaw(10, 25, 8)),
        # America/New_York springs forward on 8 March 2026 and falls back on 1 November 2026.
        (new_york(3, 7, 22), new_york(3, 8, 8)),
        (new_york(3, 8, 22), new_york(3, 9, 8)),
        (new_york(3, 8, 7, 30), new_york(3, 8, 8)),
        (new_york(10, 31, 22), new_york(11, 1, 8)),
        (new_york(11, 1, 22), new_york(11, 2, 8)),
        (new_york(11, 1, 7, 30), new_york(11, 1, 8)),
    ],
)
def test_reminder_in_dst_weeks_lands_at_8_local(mark: datetime, expected: datetime) -> None:
    """A visit whose 48h mark (`mark`) is in the quiet hours is reminded at 08:00 local."""
    timezone = str(mark.tzinfo)
    start = (mark.astimezone(UTC) + timedelta(hours=48)).astimezone(mark.tzinfo)
    booked = start - timedelta(days=7)
    assert reminder_time(booked, start, timezone, POLICY) == expected
    # The same through a booking as it arrives over the wire.
    booking = request(start, timezone)
    assert new_case(booking, booked, POLICY).reminder_at == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Monday 10:00 CEST is 48 real hours after Saturday 09:00 CET.
        (warsaw(3, 30, 10), warsaw(3, 28, 9)),
        # Monday 10:00 CET is 48 real hours after Saturday 11:00 CEST.
        (warsaw(10, 26, 10), warsaw(10, 24, 11)),
        (new_york(3, 9, 10), new_york(3, 7, 9)),
        (new_york(11, 2, 10), new_york(10, 31, 11)),
    ],
)
def test_reminder_across_a_dst_change_is_48_real_hours_before(
    start: datetime, expected: datetime
) -> None:
    timezone = str(start.tzinfo)
    booked = start - timedelta(days=7)
    assert reminder_time(booked, start, timezone, POLICY) == expected
    assert new_case(request(start, timezone), booked, POLICY).reminder_at == expected


# --- response, confirmation and provider deadlines --------------------------------------


def test_response_deadline_is_24h_before_the_visit() -> None:
    assert response_deadline(warsaw(11, 2, 10), warsaw(11, 5, 10), POLICY) == warsaw(11, 4, 10)


def test_response_deadline_30h_ahead_is_still_24h_before() -> None:
    assert response_deadline(warsaw(11, 2, 10), warsaw(11, 3, 16), POLICY) == warsaw(11, 2, 16)


def test_booking_closer_than_24h_gets_half_the_remaining_time_to_respond() -> None:
    # Booked Monday 10:00 for Monday 22:00: 12h left, so the deadline is at 16:00.
    assert response_deadline(warsaw(11, 2, 10), warsaw(11, 2, 22), POLICY) == warsaw(11, 2, 16)


def test_booking_exactly_24h_ahead_gets_half_the_time_to_respond() -> None:
    assert response_deadline(warsaw(11, 2, 10), warsaw(11, 3, 10), POLICY) == warsaw(11, 2, 22)


def test_response_deadline_across_a_dst_change_is_24_real_hours_before() -> None:
    # Sunday 29 March 10:00 CEST is 24 real hours after Saturday 09:00 CET.
    assert response_deadline(warsaw(3, 20, 10), warsaw(3, 29, 10), POLICY) == warsaw(3, 28, 9)


def test_late_booking_across_a_dst_change_gets_half_the_real_time_left() -> None:
    # Booked Saturday 20:00 CET for Sunday 10:00 CEST: 13 real hours, so 6h30 to respond.
    assert response_deadline(warsaw(3, 28, 20), warsaw(3, 29, 10), POLICY) == (warsaw(3, 29, 3, 30))


def test_confirmation_must_go_out_within_24h_and_the_desk_is_asked_2h_before() -> None:
    assert confirmation_deadline(warsaw(11, 2, 10), POLICY) == warsaw(11, 3, 10)
    assert confirmation_give_up_at(warsaw(11, 2, 10), POLICY) == warsaw(11, 3, 8)


def test_confirmation_deadline_across_a_dst_change_is_24_real_hours() -> None:
    assert confirmation_deadline(warsaw(3, 28, 12), POLICY) == warsaw(3, 29, 13)
    assert confirmation_deadline(warsaw(10, 24, 12), POLICY) == warsaw(10, 25, 11)


def test_desk_is_asked_22_real_hours_after_a_booking_across_the_change() -> None:
    # Booked Saturday 06:00 CET: deadline Sunday 07:00 CEST (24 real hours), and the desk
    # is asked 22 real hours after booking, at 05:00 CEST.
    assert confirmation_deadline(warsaw(3, 28, 6), POLICY) == warsaw(3, 29, 7)
    assert confirmation_give_up_at(warsaw(3, 28, 6), POLICY) == warsaw(3, 29, 5)


def test_provider_must_acknowledge_within_24h() -> None:
    assert provider_ack_deadline(warsaw(11, 2, 10), warsaw(11, 5, 10), POLICY) == warsaw(11, 3, 10)


def test_provider_must_acknowledge_before_a_visit_sooner_than_24h() -> None:
    assert provider_ack_deadline(warsaw(11, 2, 10), warsaw(11, 2, 22), POLICY) == warsaw(11, 2, 22)


# --- phone follow-up slots --------------------------------------------------------------


def test_follow_up_call_at_the_deadline_when_the_office_is_open() -> None:
    assert call_attempt_time(warsaw(11, 4, 10), warsaw(11, 5, 10), WITH_HOLIDAY) == (
        warsaw(11, 4, 10)
    )


def test_deadline_friday_1730_calls_then_and_next_on_monday_at_8() -> None:
    visit = warsaw(11, 17, 10)  # Tuesday
    first = call_attempt_time(warsaw(11, 13, 17, 30), visit, WITH_HOLIDAY)
    assert first == warsaw(11, 13, 17, 30)
    assert next_call_after(warsaw(11, 13, 17, 30), visit, WITH_HOLIDAY) == warsaw(11, 16, 8)


def test_next_call_two_hours_later_within_the_day() -> None:
    visit = warsaw(11, 17, 10)
    assert next_call_after(warsaw(11, 16, 8), visit, WITH_HOLIDAY) == warsaw(11, 16, 10)
    assert next_call_after(warsaw(11, 16, 15, 59), visit, WITH_HOLIDAY) == warsaw(11, 16, 17, 59)
    # 16:00 + 2h is closing time: the next call is the following morning.
    assert next_call_after(warsaw(11, 16, 16), visit, WITH_HOLIDAY) == warsaw(11, 17, 8)


def test_deadline_outside_office_hours_calls_at_opening() -> None:
    visit = warsaw(11, 17, 10)
    assert call_attempt_time(warsaw(11, 13, 7), visit, WITH_HOLIDAY) == warsaw(11, 13, 8)
    assert call_attempt_time(warsaw(11, 14, 10), visit, WITH_HOLIDAY) == warsaw(11, 16, 8)


def test_follow_up_call_skips_a_holiday() -> None:
    visit = warsaw(11, 13, 10)  # Friday
    assert call_attempt_time(warsaw(11, 10, 17), visit, WITH_HOLIDAY) == warsaw(11, 10, 17)
    # Tuesday 17:00 + 2h is after closing; Wednesday 11 November is a holiday.
    assert next_call_after(warsaw(11, 10, 17), visit, WITH_HOLIDAY) == warsaw(11, 12, 8)
    assert call_attempt_time(warsaw(11, 11, 9), visit, WITH_HOLIDAY) == warsaw(11, 12, 8)


def test_no_call_slot_at_the_visit_start() -> None:
    # Friday 19:00: the next office hour is Monday 08:00, the very start of the visit.
    assert call_attempt_time(warsaw(11, 13, 19), warsaw(11, 16, 8), WITH_HOLIDAY) is None
    assert next_call_after(warsaw(11, 13, 17, 30), warsaw(11, 16, 8), WITH_HOLIDAY) is None


def test_no_call_slot_after_the_visit_start() -> None:
    # A Saturday visit: no office hour between Friday evening and the visit.
    assert call_attempt_time(warsaw(11, 13, 19), warsaw(11, 14, 12), WITH_HOLIDAY) is None
    # Thursday 17:00 + 2h: the next office hour, Friday 08:00, is after a Friday 07:30 visit.
    assert next_call_after(warsaw(11, 12, 17), warsaw(11, 13, 7, 30), WITH_HOLIDAY) is None


def test_call_slot_one_minute_before_the_visit_is_kept() -> None:
    assert call_attempt_time(warsaw(11, 13, 19), warsaw(11, 16, 8, 1), WITH_HOLIDAY) == (
        warsaw(11, 16, 8)
    )


# --- a new case and what it does next ---------------------------------------------------


def test_new_case_72h_ahead() -> None:
    case = new_case(request(warsaw(11, 5, 10)), warsaw(11, 2, 10), WITH_HOLIDAY)
    assert case.status is AppointmentStatus.BOOKED
    assert case.booked_at == warsaw(11, 2, 10)
    assert case.confirmation_deadline == warsaw(11, 3, 10)
    assert case.provider_ack_deadline == warsaw(11, 3, 10)
    assert case.reminder_at == warsaw(11, 3, 10)
    assert case.response_deadline == warsaw(11, 4, 10)
    assert case.next_call_at == warsaw(11, 4, 10)
    assert case.max_call_attempts == 3
    assert case.call_attempts == 0
    assert not case.awaiting_call_outcome


def test_new_case_whose_deadline_falls_on_a_weekend_calls_on_monday() -> None:
    # Visit Monday 16 November 12:00; the response deadline is Sunday 12:00.
    case = new_case(request(warsaw(11, 16, 12)), warsaw(11, 12, 9), WITH_HOLIDAY)
    assert case.response_deadline == warsaw(11, 15, 12)
    assert case.next_call_at == warsaw(11, 16, 8)
    assert case.max_call_attempts == 2  # 08:00 and 10:00 fit before the 12:00 visit


def test_new_case_with_no_office_hour_before_the_visit_gives_up_at_the_deadline() -> None:
    # Booked Friday 20:00 for Saturday 12:00 (16h): no reminder, deadline Saturday 04:00,
    # and no office hour before the visit, so no call attempts at all.
    case = new_case(request(warsaw(11, 14, 12)), warsaw(11, 13, 20), WITH_HOLIDAY)
    assert case.reminder_at is None
    assert case.response_deadline == warsaw(11, 14, 4)
    assert case.next_call_at == warsaw(11, 14, 4)
    assert case.max_call_attempts == 0
    assert follow_up_exhausted(case)


Played = tuple[datetime, Step, int, AppointmentStatus]


def play(case: AppointmentCase) -> list[Played]:
    """Run the case's own steps as the workflow does, for a client and provider who stay
    silent; each line is (when, step, call attempts so far, status afterwards)."""
    played: list[Played] = []
    while (due := next_step(case)).step is not Step.CLOSE:
        assert len(played) < 20, played
        if due.step is Step.PROVIDER_ACK_ALERT:
            case = case.model_copy(update={"ack_alert_sent": True})
        elif due.step is Step.REMINDER:
            case = case.model_copy(update={"reminder_sent": True})
        elif due.step is Step.FOLLOW_UP_CALL:
            if follow_up_exhausted(case):
                case = case.model_copy(
                    update={
                        "status": AppointmentStatus.UNCONFIRMED,
                        "next_call_at": None,
                        "awaiting_call_outcome": False,
                    }
                )
            else:
                case = after_call_attempt(case, due.at)
        elif due.step is Step.NO_SHOW:
            case = case.model_copy(update={"status": AppointmentStatus.NO_SHOW})
        elif due.step is Step.AUTO_COMPLETE:
            case = case.model_copy(update={"status": AppointmentStatus.COMPLETED})
        played.append((due.at.astimezone(WARSAW), due.step, case.call_attempts, case.status))
    return played


BOOKED = AppointmentStatus.BOOKED
UNCONFIRMED = AppointmentStatus.UNCONFIRMED
NO_SHOW = AppointmentStatus.NO_SHOW


def test_silent_client_gets_reminder_then_three_calls_2h_apart_then_gives_up() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), WITH_HOLIDAY, provider_acknowledged=True)
    assert play(case) == [
        (warsaw(11, 3, 10), Step.REMINDER, 0, BOOKED),
        (warsaw(11, 4, 10), Step.FOLLOW_UP_CALL, 1, BOOKED),
        (warsaw(11, 4, 12), Step.FOLLOW_UP_CALL, 2, BOOKED),
        (warsaw(11, 4, 14), Step.FOLLOW_UP_CALL, 3, BOOKED),
        (warsaw(11, 4, 16), Step.FOLLOW_UP_CALL, 3, UNCONFIRMED),
        (warsaw(11, 5, 10, 15), Step.NO_SHOW, 3, NO_SHOW),
    ]


def test_reminder_goes_before_a_silent_provider_alert_due_at_the_same_instant() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), WITH_HOLIDAY)
    assert play(case)[:2] == [
        (warsaw(11, 3, 10), Step.REMINDER, 0, BOOKED),
        (warsaw(11, 3, 10), Step.PROVIDER_ACK_ALERT, 0, BOOKED),
    ]


def test_silent_client_calls_stop_when_no_office_hour_is_left_before_the_visit() -> None:
    # Visit Monday 12:00: calls Monday 08:00 and 10:00; a third at 12:00 would be too late.
    case = case_for(warsaw(11, 16, 12), warsaw(11, 12, 9), WITH_HOLIDAY, provider_acknowledged=True)
    assert play(case) == [
        (warsaw(11, 14, 12), Step.REMINDER, 0, BOOKED),
        (warsaw(11, 16, 8), Step.FOLLOW_UP_CALL, 1, BOOKED),
        (warsaw(11, 16, 10), Step.FOLLOW_UP_CALL, 2, BOOKED),
        (warsaw(11, 16, 12), Step.FOLLOW_UP_CALL, 2, UNCONFIRMED),
        (warsaw(11, 16, 12, 15), Step.NO_SHOW, 2, NO_SHOW),
    ]


def test_call_attempt_plans_the_next_call_and_awaits_its_outcome() -> None:
    case = case_for(warsaw(11, 17, 10), warsaw(11, 12, 9), WITH_HOLIDAY)
    # Friday 17:30 attempt: the next one is Monday 08:00.
    after = after_call_attempt(case, warsaw(11, 13, 17, 30))
    assert after.call_attempts == 1
    assert after.awaiting_call_outcome
    assert after.next_call_at == warsaw(11, 16, 8)
    assert after.max_call_attempts == 3
    assert not follow_up_exhausted(after)
    assert case.call_attempts == 0  # the original is untouched


def test_last_possible_call_attempt_gives_up_2h_later() -> None:
    # A Saturday visit: after a Friday 17:30 attempt there is no office hour left.
    case = case_for(warsaw(11, 14, 17, 30), warsaw(11, 12, 9), WITH_HOLIDAY)
    assert case.next_call_at == warsaw(11, 13, 17, 30)
    after = after_call_attempt(case, warsaw(11, 13, 17, 30))
    assert after.call_attempts == 1
    assert after.max_call_attempts == 1
    assert after.next_call_at == warsaw(11, 13, 19, 30)
    assert follow_up_exhausted(after)


def test_confirmed_case_has_no_follow_up_call() -> None:
    case = case_for(
        warsaw(11, 5, 10),
        warsaw(11, 2, 10),
        WITH_HOLIDAY,
        provider_acknowledged=True,
        status=AppointmentStatus.CONFIRMED,
    )
    assert play(case) == [
        (warsaw(11, 3, 10), Step.REMINDER, 0, AppointmentStatus.CONFIRMED),
        (warsaw(11, 5, 10, 15), Step.NO_SHOW, 0, NO_SHOW),
    ]


def test_client_confirming_after_a_call_stops_further_calls() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), WITH_HOLIDAY, provider_acknowledged=True)
    called = after_call_attempt(case.model_copy(update={"reminder_sent": True}), warsaw(11, 4, 10))
    assert next_step(called) == (warsaw(11, 4, 12), Step.FOLLOW_UP_CALL)
    confirmed = called.model_copy(update={"status": AppointmentStatus.CONFIRMED})
    assert next_step(confirmed) == (warsaw(11, 5, 10, 15), Step.NO_SHOW)


def test_unconfirmed_case_gets_neither_reminder_nor_calls() -> None:
    case = case_for(
        warsaw(11, 5, 10),
        warsaw(11, 2, 10),
        WITH_HOLIDAY,
        provider_acknowledged=True,
        status=AppointmentStatus.UNCONFIRMED,
    )
    assert next_step(case) == (warsaw(11, 5, 10, 15), Step.NO_SHOW)


def test_checked_in_visit_is_closed_12h_after_its_end() -> None:
    # A 50-minute visit at 10:00 ends at 10:50.
    case = case_for(
        warsaw(11, 5, 10),
        warsaw(11, 2, 10),
        provider_acknowledged=True,
        status=AppointmentStatus.CHECKED_IN,
    )
    assert next_step(case) == (warsaw(11, 5, 22, 50), Step.AUTO_COMPLETE)


@pytest.mark.parametrize(
    "status",
    [
        AppointmentStatus.CANCELLED,
        AppointmentStatus.LATE_CANCELLED,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.NO_SHOW,
    ],
)
def test_closed_case_has_only_its_closing_left(status: AppointmentStatus) -> None:
    closed = case_for(
        warsaw(11, 5, 10), warsaw(11, 2, 10), status=status, closed_at=warsaw(11, 5, 11)
    )
    assert next_step(closed) == (warsaw(11, 6, 11), Step.CLOSE)


def test_fee_bearing_outcome_stays_open_a_week_for_an_excuse_or_waiver() -> None:
    no_show = case_for(
        warsaw(11, 5, 10),
        warsaw(11, 2, 10),
        status=AppointmentStatus.NO_SHOW,
        closed_at=warsaw(11, 5, 10, 15),
        billing=BillingOutcome.NO_SHOW,
    )
    assert next_step(no_show) == (warsaw(11, 12, 10, 15), Step.CLOSE)


def test_a_plea_reaches_the_provider_for_every_fee_until_they_decide() -> None:
    """A client may plead against a no-show's, a late cancellation's or a charged late
    reschedule's fee; a further plea while one is with the provider joins it; after the
    decision (waived, or the fee stands) or with no fee charged, a plea is refused."""
    start, booked = warsaw(11, 5, 10), warsaw(11, 2, 10)
    late_cancel = case_for(
        start, booked, status=AppointmentStatus.LATE_CANCELLED, billing=BillingOutcome.LATE_CANCEL
    )
    moved = case_for(start, booked, reschedule_fee_pending=True)
    no_show = case_for(
        start, booked, status=AppointmentStatus.NO_SHOW, billing=BillingOutcome.NO_SHOW
    )
    now = warsaw(11, 5, 9)
    for case, fee in (
        (late_cancel, PleadedFee.LATE_CANCEL),
        (moved, PleadedFee.LATE_RESCHEDULE),
        (no_show, PleadedFee.NO_SHOW),
    ):
        assert transition_refusal("excuse_no_show", case, now) is None
        assert appointment_fees.pleaded_fee(case) is fee
        assert appointment_fees.plea_refusal(case) is None
        assert not appointment_fees.plea_adds_to_open_decision(case)
        pleaded = case.model_copy(
            update={"excuse": "hospital", "excuse_fee": None if fee is PleadedFee.NO_SHOW else fee}
        )
        assert appointment_fees.plea_refusal(pleaded) is None
        assert appointment_fees.plea_adds_to_open_decision(pleaded)
        stood = pleaded.model_copy(update={"fee_decided": fee})
        assert "already decided" in str(appointment_fees.plea_refusal(stood))
        assert not appointment_fees.plea_adds_to_open_decision(stood)
    decided = moved.model_copy(
        update={"reschedule_fee_pending": False, "fee_decided": PleadedFee.LATE_RESCHEDULE}
    )
    assert "already decided" in str(appointment_fees.plea_refusal(decided))
    waived = late_cancel.model_copy(update={"billing": BillingOutcome.WAIVED})
    assert "already waived" in str(appointment_fees.plea_refusal(waived))
    assert "no fee" in str(appointment_fees.plea_refusal(case_for(start, booked)))
    assert transition_refusal("excuse_no_show", case_for(start, booked), now) is not None
    # A moved visit's decision is due within the fee's window; a final case's at its close.
    closes = warsaw(11, 12, 10)
    assert appointment_fees.plea_decision_due(moved, closes, now) == now + timedelta(days=7)
    assert appointment_fees.plea_decision_due(late_cancel, closes, now) == closes


def test_fresh_booking_sends_confirmation_then_provider_notice_at_once() -> None:
    booked_at = warsaw(11, 2, 10)
    fresh = new_case(request(warsaw(11, 5, 10)), booked_at, POLICY)
    assert next_step(fresh) == (booked_at, Step.CONFIRMATION)
    sent = fresh.model_copy(update={"confirmation_attempted": True})
    assert next_step(sent) == (booked_at, Step.PROVIDER_NOTICE)


def test_a_reschedule_plans_anew_from_its_time_and_keeps_when_the_visit_was_booked() -> None:
    booked_at, moved_at = warsaw(11, 2, 10), warsaw(11, 4, 9)
    sent = new_case(request(warsaw(11, 5, 10)), booked_at, POLICY).model_copy(
        update={"confirmation_attempted": True, "provider_notified": True}
    )
    moved = appointment_rules.rescheduled(sent, warsaw(11, 10, 10), moved_at)
    assert (moved.booked_at, moved.rescheduled_at, moved.planned_at) == (
        booked_at,
        moved_at,
        moved_at,
    )
    # The new time is confirmed and notified at once, within 24h of the reschedule.
    assert moved.confirmation_deadline == warsaw(11, 5, 9)
    assert next_step(moved) == (moved_at, Step.CONFIRMATION)
    assert confirmation_give_up_at(moved.planned_at, POLICY) < moved.confirmation_deadline
    assert sent.rescheduled_at is None and sent.planned_at == booked_at


def test_visit_day_deadlines_across_a_dst_night_are_real_time() -> None:
    # Saturday 24 October 22:00 CEST visit, 50 minutes: auto-completed 12 real hours after
    # it ends (Sunday 09:50 CET), and no-show 15 minutes after it starts.
    case = case_for(
        warsaw(10, 24, 22),
        warsaw(10, 20, 10),
        provider_acknowledged=True,
        reminder_sent=True,
        status=AppointmentStatus.CHECKED_IN,
    )
    assert next_step(case) == (warsaw(10, 25, 9, 50), Step.AUTO_COMPLETE)
    assert auto_complete_at(warsaw(10, 24, 22, 50), POLICY) == warsaw(10, 25, 9, 50)
    assert no_show_at(warsaw(3, 29, 1, 50), POLICY) == warsaw(3, 29, 3, 5)


def test_give_up_after_a_last_call_across_the_spring_change_is_2_real_hours_later() -> None:
    policy = AppointmentPolicy(business=None)
    case = case_for(warsaw(3, 29, 3, 20), warsaw(3, 25, 10), policy)
    # Attempt at 01:30 CET; the next slot, 04:30 CEST (2 real hours later), is after the
    # 03:20 visit start, so giving up happens at the start, before the no-show rule.
    after = after_call_attempt(case, warsaw(3, 29, 1, 30))
    assert after.max_call_attempts == 1
    assert after.next_call_at == warsaw(3, 29, 3, 20)


def test_check_in_opens_2_real_hours_before_a_visit_just_after_the_change() -> None:
    # Visit Sunday 29 March 04:00 CEST: check-in opens at 01:00 CET (2 real hours before).
    case = case_for(warsaw(3, 29, 4), warsaw(3, 25, 10), status=AppointmentStatus.CONFIRMED)
    assert transition_refusal("check_in", case, warsaw(3, 29, 0, 59)) is not None
    assert transition_refusal("check_in", case, warsaw(3, 29, 1, 0)) is None


# --- which update is refused when -------------------------------------------------------


def test_confirm_on_a_completed_visit_is_refused_naming_the_status() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), status=AppointmentStatus.COMPLETED)
    assert transition_refusal("confirm", case, warsaw(11, 6, 9)) == (
        "confirm refused: the appointment is already Completed"
    )


def test_confirm_twice_is_accepted_so_a_second_click_is_harmless() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), status=AppointmentStatus.CONFIRMED)
    assert transition_refusal("confirm", case, warsaw(11, 3, 9)) is None


def test_check_in_on_a_no_show_is_refused_naming_the_allowed_statuses() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), status=AppointmentStatus.CHECKED_IN)
    assert transition_refusal("check_in", case, warsaw(11, 5, 10)) == (
        "check_in refused: the appointment is CheckedIn, expected one of Booked, Confirmed, "
        "Unconfirmed"
    )


def test_confirm_is_allowed_while_booked_or_unconfirmed() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10))
    assert transition_refusal("confirm", case, warsaw(11, 3, 9)) is None
    unconfirmed = case.model_copy(update={"status": AppointmentStatus.UNCONFIRMED})
    assert transition_refusal("confirm", unconfirmed, warsaw(11, 5, 9)) is None


def test_complete_before_the_visit_starts_is_refused() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), status=AppointmentStatus.CHECKED_IN)
    assert transition_refusal("complete", case, warsaw(11, 5, 9, 59)) == (
        "complete refused: the visit has not started yet"
    )
    assert transition_refusal("complete", case, warsaw(11, 5, 10)) is None


def test_complete_without_check_in_is_refused() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), status=AppointmentStatus.CONFIRMED)
    assert transition_refusal("complete", case, warsaw(11, 5, 11)) == (
        "complete refused: the appointment is Confirmed, expected one of CheckedIn"
    )


def test_check_in_opens_2h_before_the_visit() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), status=AppointmentStatus.CONFIRMED)
    assert transition_refusal("check_in", case, warsaw(11, 5, 7, 59)) == (
        "check_in refused: check-in opens at 2026-11-05 08:00 Europe/Warsaw, 2 h before the start"
    )
    assert transition_refusal("check_in", case, warsaw(11, 5, 8)) is None


def test_check_in_after_no_show_is_refused() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), status=AppointmentStatus.NO_SHOW)
    assert transition_refusal("check_in", case, warsaw(11, 5, 10, 20)) == (
        "check_in refused: the appointment is already NoShow"
    )


def test_call_outcome_before_any_call_is_refused() -> None:
    case = case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), WITH_HOLIDAY)
    assert transition_refusal("record_call_outcome", case, warsaw(11, 4, 9)) == (
        "record_call_outcome refused: no follow-up call has been requested yet"
    )
    called = after_call_attempt(case, warsaw(11, 4, 10))
    assert transition_refusal("record_call_outcome", called, warsaw(11, 4, 10, 5)) is None


# --- scaled -----------------------------------------------------------------------------


def test_scaled_multiplies_every_duration_and_drops_clock_of_day_rules() -> None:
    fast = POLICY.scaled(0.01)
    assert fast.confirmation_within == timedelta(minutes=14, seconds=24)
    assert fast.reminder_before == timedelta(minutes=28, seconds=48)
    assert fast.reminder_window_end == timedelta(minutes=14, seconds=24)
    assert fast.call_interval == timedelta(seconds=72)
    assert fast.no_show_after == timedelta(seconds=9)
    for name, value in POLICY.model_dump().items():
        if isinstance(value, timedelta):
            assert getattr(fast, name) == value * 0.01, name
    assert fast.call_attempts == POLICY.call_attempts
    assert fast.quiet_hours is None
    assert fast.business is None
    # The original rules are untouched.
    assert POLICY.reminder_before == timedelta(hours=48)
    assert POLICY.quiet_hours == HourRange(start_hour=21, end_hour=8)


def test_scaled_policy_reminds_and_calls_at_night_and_on_weekends() -> None:
    fast = POLICY.scaled(0.01)
    # Visit Saturday 23:00: the reminder is 28m48s before it, quiet hours or not.
    start = warsaw(11, 14, 23)
    assert reminder_time(warsaw(11, 14, 22), start, "Europe/Warsaw", fast) == (
        warsaw(11, 14, 22, 31) + timedelta(seconds=12)
    )
    assert call_attempt_time(warsaw(11, 14, 22, 45), start, fast) == warsaw(11, 14, 22, 45)


def test_scaled_by_one_is_the_same_policy() -> None:
    assert POLICY.scaled(1) == POLICY


def test_times_people_read_are_local_to_the_minute_with_the_zone_named() -> None:
    from promptly.domain.readable_time import readable, readable_text

    moment = datetime(2026, 11, 30, 21, 42, 26, 834716, tzinfo=UTC)
    assert readable(moment, "Europe/Warsaw") == "2026-11-30 22:42 Europe/Warsaw"
    assert readable(None, "Europe/Warsaw") == "-"
    text = "Rescheduled from 2026-12-01T10:00:00+01:00 to 2026-12-03T09:30:00.123456Z"
    assert readable_text(text, "Europe/Warsaw") == (
        "Rescheduled from 2026-12-01 10:00 Europe/Warsaw to 2026-12-03 10:30 Europe/Warsaw"
    )


def test_ui_views_filter_tomorrows_unconfirmed_visits_by_the_office_day() -> None:
    from urllib.parse import unquote

    from promptly.domain.ui_views import ui_views

    now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # tomorrow in Warsaw is the 23-hour day
    views = {view.name: view for view in ui_views(now, "Europe/Warsaw", "http://ui:8233/", "ns")}
    unconfirmed = views["Unconfirmed visits tomorrow"]
    assert 'AppointmentStatus IN ("Booked", "Unconfirmed")' in unconfirmed.query
    assert 'AppointmentStart >= "2026-03-28T23:00:00Z"' in unconfirmed.query
    assert 'AppointmentStart < "2026-03-29T22:00:00Z"' in unconfirmed.query
    assert unconfirmed.url.startswith("http://ui:8233/namespaces/ns/workflows?query=")
    assert unquote(unconfirmed.url.split("query=", 1)[1]) == unconfirmed.query
    breached = next(view for name, view in views.items() if name.startswith("Breached"))
    assert "SlaBreached = true" in breached.query
    overdue = views["Inquiries past their answer deadline"]
    assert 'InquiryStatus = "Open"' in overdue.query
    assert 'SlaDeadline < "2026-03-28T12:00:00Z"' in overdue.query


# --- fees that match the messages, the client running late ------------------------------

# Tuesday 10:00, booked a week before; 12 hours before the visit any change is late.
FEE_START = warsaw(11, 10, 10)
FEE_LATE = warsaw(11, 9, 22)


def test_after_a_provider_delay_a_client_cancellation_is_free() -> None:
    delayed = case_for(FEE_START, warsaw(11, 3, 9), delay_minutes=30, free_reschedule=True)
    assert appointment_fees.cancellation(
        delayed, CLIENT, FEE_LATE, honour_provider_changes=True
    ) == (
        AppointmentStatus.CANCELLED,
        BillingOutcome.CANCELLED_FREE,
        False,
    )
    # Cases that started before the rule keep charging it (their histories replay).
    assert (
        appointment_fees.cancellation(delayed, CLIENT, FEE_LATE).billing
        is BillingOutcome.LATE_CANCEL
    )
    plain = case_for(FEE_START, warsaw(11, 3, 9))
    late = appointment_fees.cancellation(plain, CLIENT, FEE_LATE, honour_provider_changes=True)
    assert late.billing is BillingOutcome.LATE_CANCEL


def test_a_late_reschedule_is_charged_unless_the_provider_asked_or_made_it_free() -> None:
    case = case_for(FEE_START, warsaw(11, 3, 9))
    assert appointment_fees.reschedule_charged(case, CLIENT, FEE_LATE)
    assert appointment_fees.reschedule_charged(case, STAFF, FEE_LATE)
    assert not appointment_fees.reschedule_charged(case, PROVIDER, FEE_LATE)
    assert not appointment_fees.reschedule_charged(case, CLIENT, warsaw(11, 9, 9))  # 25h ahead
    delayed = case.model_copy(update={"free_reschedule": True, "delay_minutes": 20})
    assert not appointment_fees.reschedule_charged(delayed, CLIENT, FEE_LATE)
    cancelled = case.model_copy(update={"status": AppointmentStatus.CANCELLED})
    assert not appointment_fees.reschedule_charged(cancelled, CLIENT, FEE_LATE)


def test_a_late_reschedule_fee_can_be_waived() -> None:
    case = case_for(FEE_START, warsaw(11, 3, 9))
    assert transition_refusal("waive_fee", case, FEE_LATE) is not None
    charged = case.model_copy(update={"reschedule_fee_pending": True})
    assert transition_refusal("waive_fee", charged, FEE_LATE) is None


def test_a_delay_is_reported_on_the_visits_day() -> None:
    """Months ahead a "delay" is a reschedule: it neither tells the client of a 10-minute delay
    nor hands out a free change; the provider's and the client's alike. On the day, a provider
    who knows at breakfast that the afternoon runs late can say so."""
    case = case_for(warsaw(11, 5, 15), warsaw(11, 2, 10), status=AppointmentStatus.CONFIRMED)
    assert delay_refusal(case, warsaw(11, 2, 11)) == (
        "report_delay refused: a delay can be reported on the day of the visit, from "
        "2026-11-05 00:00 Europe/Warsaw; to move the visit to another time, reschedule it"
    )
    assert delay_refusal(case, warsaw(11, 4, 23, 59)) is not None
    assert delay_refusal(case, warsaw(11, 5, 0)) is None
    assert delay_refusal(case, warsaw(11, 5, 15, 10)) is None  # the no-show rule judges then
    # Just after midnight, the day began 30 minutes before: check-in (2 h) opens earlier.
    night = case_for(warsaw(11, 5, 0, 30), warsaw(11, 2, 10), status=AppointmentStatus.CONFIRMED)
    assert delay_refusal(night, warsaw(11, 4, 22, 29)) is not None
    assert delay_refusal(night, warsaw(11, 4, 22, 30)) is None


def test_a_second_delay_is_accepted_until_the_moved_no_show_time() -> None:
    case = case_for(FEE_START, warsaw(11, 3, 9), delay_minutes=30, free_reschedule=True)
    at_40 = FEE_START + timedelta(minutes=40)  # past start + 15, before start + 30 + 15
    assert transition_refusal("report_delay", case, at_40, moved_no_show=True) is None
    assert transition_refusal("report_delay", case, at_40) is not None
    after = FEE_START + timedelta(minutes=46)
    assert transition_refusal("report_delay", case, after, moved_no_show=True) == (
        "report_delay refused: the visit should already have started"
    )


def test_a_client_running_late_moves_the_no_show_moment_up_to_the_limit() -> None:
    case = case_for(FEE_START, warsaw(11, 3, 9))
    assert appointment_rules.no_show_moment(case) == FEE_START + timedelta(minutes=15)
    assert appointment_rules.client_late_minutes_after(case, 10) == 10
    assert appointment_rules.client_late_minutes_after(case, 40) == 15
    late = case.model_copy(update={"client_late_minutes": 10})
    assert appointment_rules.client_late_minutes_after(late, 10) == 15
    assert appointment_rules.no_show_moment(late) == FEE_START + timedelta(minutes=25)
    waiting = late.model_copy(
        update={
            "status": AppointmentStatus.CONFIRMED,
            "reminder_sent": True,
            "provider_acknowledged": True,
        }
    )
    assert next_step(waiting) == (FEE_START + timedelta(minutes=25), Step.NO_SHOW)
    wider = case_for(
        FEE_START, warsaw(11, 3, 9), AppointmentPolicy(client_late_limit=timedelta(minutes=30))
    )
    assert appointment_rules.client_late_minutes_after(wider, 40) == 30
    # The client's lateness and the provider's delay add up; neither makes changes free.
    both = late.model_copy(update={"delay_minutes": 20})
    assert appointment_rules.no_show_moment(both) == FEE_START + timedelta(minutes=45)
    assert appointment_fees.reschedule_charged(late, CLIENT, FEE_LATE)
