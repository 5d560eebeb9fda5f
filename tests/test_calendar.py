"""Clock-of-day rules: quiet hours, business hours, holidays, DST weeks.

Expected instants are written in the local time a person would read off a wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from promptly.domain.calendar import (
    BusinessCalendar,
    HourRange,
    first_outside,
    in_hour_range,
    is_business_time,
    last_before,
    next_business_time,
    start_of_day,
)

WARSAW = ZoneInfo("Europe/Warsaw")
NEW_YORK = ZoneInfo("America/New_York")
QUIET = HourRange(start_hour=21, end_hour=8)
OFFICE = HourRange(start_hour=8, end_hour=18)
# Mon–Fri 08:00–18:00 Europe/Warsaw; 11 November 2026 (a Wednesday) is a public holiday.
BUSINESS = BusinessCalendar(holidays=["2026-11-11"])


def warsaw(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=WARSAW)


def new_york(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK)


# --- in_hour_range ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (warsaw(11, 2, 20, 59, 59), False),
        (warsaw(11, 2, 21, 0), True),
        (warsaw(11, 2, 23, 59, 59), True),
        (warsaw(11, 3, 0, 0), True),
        (warsaw(11, 3, 7, 59, 59), True),
        (warsaw(11, 3, 8, 0), False),
        (warsaw(11, 3, 12, 0), False),
    ],
)
def test_quiet_hours_wrap_midnight(moment: datetime, quiet: bool) -> None:
    assert in_hour_range(moment, "Europe/Warsaw", QUIET) is quiet


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (warsaw(11, 2, 7, 59, 59), False),
        (warsaw(11, 2, 8, 0), True),
        (warsaw(11, 2, 17, 59, 59), True),
        (warsaw(11, 2, 18, 0), False),
        (warsaw(11, 2, 23, 0), False),
    ],
)
def test_day_range_includes_its_start_and_excludes_its_end(moment: datetime, open_: bool) -> None:
    assert in_hour_range(moment, "Europe/Warsaw", OFFICE) is open_


def test_range_up_to_midnight_ends_at_midnight() -> None:
    evening = HourRange(start_hour=20, end_hour=24)
    assert in_hour_range(warsaw(11, 2, 23, 59, 59), "Europe/Warsaw", evening)
    assert not in_hour_range(warsaw(11, 3, 0, 0), "Europe/Warsaw", evening)


def test_hour_range_is_read_on_the_given_timezones_clock() -> None:
    # 20:30 UTC on 2 November is 21:30 in Warsaw (quiet) but 15:30 in New York (not quiet).
    moment = datetime(2026, 11, 2, 20, 30, tzinfo=UTC)
    assert in_hour_range(moment, "Europe/Warsaw", QUIET)
    assert not in_hour_range(moment, "America/New_York", QUIET)


@pytest.mark.parametrize(
    ("last_quiet", "first_not_quiet"),
    [
        # Warsaw springs forward on 29 March 2026, falls back on 25 October 2026.
        (warsaw(3, 29, 7, 59), warsaw(3, 29, 8, 0)),
        (warsaw(10, 25, 7, 59), warsaw(10, 25, 8, 0)),
        # New York springs forward on 8 March 2026, falls back on 1 November 2026.
        (new_york(3, 8, 7, 59), new_york(3, 8, 8, 0)),
        (new_york(11, 1, 7, 59), new_york(11, 1, 8, 0)),
    ],
)
def test_quiet_hours_end_at_8_local_on_dst_change_days(
    last_quiet: datetime, first_not_quiet: datetime
) -> None:
    timezone = str(last_quiet.tzinfo)
    assert in_hour_range(last_quiet, timezone, QUIET)
    assert not in_hour_range(first_not_quiet, timezone, QUIET)


# --- first_outside ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (warsaw(11, 2, 14, 0), warsaw(11, 2, 14, 0)),
        (warsaw(11, 2, 20, 59), warsaw(11, 2, 20, 59)),
        (warsaw(11, 2, 21, 0), warsaw(11, 3, 8, 0)),
        (warsaw(11, 2, 22, 0), warsaw(11, 3, 8, 0)),
        (warsaw(11, 3, 0, 30), warsaw(11, 3, 8, 0)),
        (warsaw(11, 3, 7, 30), warsaw(11, 3, 8, 0)),
        (warsaw(11, 3, 8, 0), warsaw(11, 3, 8, 0)),
    ],
)
def test_first_outside_quiet_hours(moment: datetime, expected: datetime) -> None:
    assert first_outside(moment, "Europe/Warsaw", QUIET) == expected


def test_first_outside_is_the_moment_itself_without_quiet_hours() -> None:
    assert first_outside(warsaw(11, 2, 23, 0), "Europe/Warsaw", None) == warsaw(11, 2, 23, 0)


def test_first_outside_returns_utc() -> None:
    assert first_outside(warsaw(11, 2, 22, 0), "Europe/Warsaw", QUIET).tzinfo is UTC
    assert first_outside(warsaw(11, 2, 14, 0), "Europe/Warsaw", QUIET).tzinfo is UTC


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # The night of the change: 23:00 CET -> 08:00 CEST (one hour shorter) ...
        (warsaw(3, 28, 23, 0), warsaw(3, 29, 8, 0)),
        # ... and the nights either side of it.
        (warsaw(3, 27, 22, 0), warsaw(3, 28, 8, 0)),
        (warsaw(3, 29, 22, 0), warsaw(3, 30, 8, 0)),
        # 23:00 CEST -> 08:00 CET (one hour longer).
        (warsaw(10, 24, 23, 0), warsaw(10, 25, 8, 0)),
        (warsaw(10, 25, 22, 0), warsaw(10, 26, 8, 0)),
        (new_york(3, 7, 22, 0), new_york(3, 8, 8, 0)),
        (new_york(3, 8, 22, 0), new_york(3, 9, 8, 0)),
        (new_york(10, 31, 22, 0), new_york(11, 1, 8, 0)),
        (new_york(11, 1, 22, 0), new_york(11, 2, 8, 0)),
    ],
)
def test_quiet_night_across_dst_change_ends_at_8_local(
    moment: datetime, expected: datetime
) -> None:
    assert first_outside(moment, str(moment.tzinfo), QUIET) == expected


def test_quiet_night_in_the_clients_timezone_not_the_servers() -> None:
    # 02:00 UTC on 3 November: 03:00 in Warsaw (quiet), 21:00 on 2 November in New York (quiet).
    moment = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    assert first_outside(moment, "Europe/Warsaw", QUIET) == warsaw(11, 3, 8, 0)
    assert first_outside(moment, "America/New_York", QUIET) == new_york(11, 3, 8, 0)


# --- last_before ------------------------------------------------------------------------

MARGIN = timedelta(minutes=15)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (warsaw(11, 2, 14, 0), warsaw(11, 2, 14, 0)),
        (warsaw(11, 2, 20, 44), warsaw(11, 2, 20, 44)),
        # Within the margin before quiet hours, or exactly on their start: the margin before.
        (warsaw(11, 2, 20, 45), warsaw(11, 2, 20, 45)),
        (warsaw(11, 2, 20, 50), warsaw(11, 2, 20, 45)),
        (warsaw(11, 2, 21, 0), warsaw(11, 2, 20, 45)),
        (warsaw(11, 2, 23, 30), warsaw(11, 2, 20, 45)),
        # After midnight: the quiet hours began the evening before.
        (warsaw(11, 3, 1, 22), warsaw(11, 2, 20, 45)),
        (warsaw(11, 3, 7, 59, 59), warsaw(11, 2, 20, 45)),
        # Their end is not quiet any more.
        (warsaw(11, 3, 8, 0), warsaw(11, 3, 8, 0)),
    ],
)
def test_last_before_quiet_hours(moment: datetime, expected: datetime) -> None:
    assert last_before(moment, "Europe/Warsaw", QUIET, MARGIN) == expected


def test_last_before_without_a_margin_is_the_start_of_the_quiet_hours() -> None:
    assert last_before(warsaw(11, 3, 1, 22), "Europe/Warsaw", QUIET) == warsaw(11, 2, 21, 0)
    assert last_before(warsaw(11, 2, 20, 50), "Europe/Warsaw", QUIET) == warsaw(11, 2, 20, 50)


def test_last_before_is_the_moment_itself_without_quiet_hours() -> None:
    moment = warsaw(11, 3, 1, 22)
    assert last_before(moment, "Europe/Warsaw", None, MARGIN) == moment
    assert last_before(moment, "Europe/Warsaw", None, MARGIN).tzinfo is UTC


def test_last_before_returns_utc() -> None:
    assert last_before(warsaw(11, 3, 1, 22), "Europe/Warsaw", QUIET, MARGIN).tzinfo is UTC
    assert last_before(warsaw(11, 2, 14, 0), "Europe/Warsaw", QUIET, MARGIN).tzinfo is UTC


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Spring forward (02:00 CET -> 03:00 CEST): 20:45 CET the evening before.
        (warsaw(3, 29, 5, 0), warsaw(3, 28, 20, 45)),
        (warsaw(3, 29, 21, 30), warsaw(3, 29, 20, 45)),
        # Fall back (03:00 CEST -> 02:00 CET): 20:45 CEST the evening before, and both 02:30s.
        (warsaw(10, 25, 7, 0), warsaw(10, 24, 20, 45)),
        (
            datetime(2026, 10, 25, 2, 30, tzinfo=WARSAW, fold=1),
            warsaw(10, 24, 20, 45),
        ),
        (warsaw(10, 25, 2, 30), warsaw(10, 24, 20, 45)),
        (warsaw(10, 25, 22, 0), warsaw(10, 25, 20, 45)),
        (new_york(3, 8, 6, 0), new_york(3, 7, 20, 45)),
        (new_york(11, 1, 6, 0), new_york(10, 31, 20, 45)),
    ],
)
def test_last_before_across_dst_changes_is_2045_local(moment: datetime, expected: datetime) -> None:
    assert last_before(moment, str(moment.tzinfo), QUIET, MARGIN) == expected


def test_last_before_in_the_clients_timezone_not_the_servers() -> None:
    # 02:00 UTC on 3 November: 03:00 in Warsaw, 21:00 on 2 November in New York.
    moment = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    assert last_before(moment, "Europe/Warsaw", QUIET, MARGIN) == warsaw(11, 2, 20, 45)
    assert last_before(moment, "America/New_York", QUIET, MARGIN) == new_york(11, 2, 20, 45)
    assert last_before(moment, "Asia/Tokyo", QUIET, MARGIN) == moment  # 11:00 in Tokyo


def test_last_before_quiet_hours_that_do_not_cross_midnight() -> None:
    early = HourRange(start_hour=0, end_hour=7)
    assert last_before(warsaw(11, 3, 3, 0), "Europe/Warsaw", early, MARGIN) == warsaw(11, 2, 23, 45)
    assert last_before(warsaw(11, 2, 23, 50), "Europe/Warsaw", early, MARGIN) == warsaw(
        11, 2, 23, 45
    )
    assert last_before(warsaw(11, 3, 7, 0), "Europe/Warsaw", early, MARGIN) == warsaw(11, 3, 7, 0)


# --- is_business_time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (warsaw(11, 2, 10, 0), True),  # Monday
        (warsaw(11, 2, 7, 59), False),  # before opening
        (warsaw(11, 2, 18, 0), False),  # closing time
        (warsaw(11, 6, 17, 59), True),  # Friday, last minute
        (warsaw(11, 7, 10, 0), False),  # Saturday
        (warsaw(11, 8, 10, 0), False),  # Sunday
        (warsaw(11, 11, 10, 0), False),  # Wednesday, holiday
        (warsaw(11, 12, 10, 0), True),  # Thursday after the holiday
        (datetime(2026, 11, 2, 7, 30, tzinfo=UTC), True),  # 08:30 in Warsaw
        (datetime(2026, 11, 2, 17, 30, tzinfo=UTC), False),  # 18:30 in Warsaw
    ],
)
def test_is_business_time(moment: datetime, open_: bool) -> None:
    assert is_business_time(moment, BUSINESS) is open_


# --- next_business_time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (warsaw(11, 3, 10, 0), warsaw(11, 3, 10, 0)),  # open: now
        (warsaw(11, 3, 7, 0), warsaw(11, 3, 8, 0)),  # before opening: same morning
        (warsaw(11, 3, 18, 0), warsaw(11, 4, 8, 0)),  # at closing: next morning
        (warsaw(11, 13, 18, 0), warsaw(11, 16, 8, 0)),  # Friday evening: Monday
        (warsaw(11, 13, 19, 30), warsaw(11, 16, 8, 0)),
        (warsaw(11, 14, 12, 0), warsaw(11, 16, 8, 0)),  # Saturday: Monday
        (warsaw(11, 15, 23, 0), warsaw(11, 16, 8, 0)),  # Sunday night: Monday
        (warsaw(11, 10, 18, 30), warsaw(11, 12, 8, 0)),  # Wednesday 11th is a holiday
        (warsaw(11, 11, 9, 0), warsaw(11, 12, 8, 0)),  # during the holiday
    ],
)
def test_next_business_time(moment: datetime, expected: datetime) -> None:
    assert next_business_time(moment, BUSINESS) == expected


def test_next_business_time_skips_a_weekend_and_a_holiday_together() -> None:
    christmas = BusinessCalendar(holidays=["2026-12-24", "2026-12-25"])
    # Wednesday 23 December after closing; Thu 24 + Fri 25 are holidays, then the weekend.
    assert next_business_time(warsaw(12, 23, 18, 0), christmas) == warsaw(12, 28, 8, 0)


def test_next_business_time_across_dst_weekends() -> None:
    assert next_business_time(warsaw(3, 27, 18, 0), BUSINESS) == warsaw(3, 30, 8, 0)
    assert next_business_time(warsaw(10, 23, 18, 0), BUSINESS) == warsaw(10, 26, 8, 0)


def test_next_business_time_without_a_calendar_is_now() -> None:
    assert next_business_time(warsaw(11, 14, 3, 0), None) == warsaw(11, 14, 3, 0)


def test_next_business_time_refuses_a_calendar_that_is_never_open() -> None:
    closed = BusinessCalendar(weekdays=[])
    with pytest.raises(ValueError, match="no open hour within a year"):
        next_business_time(warsaw(11, 2, 10, 0), closed)


@pytest.mark.parametrize(
    ("moment", "timezone", "expected"),
    [
        (warsaw(11, 5, 15, 0), "Europe/Warsaw", warsaw(11, 5, 0, 0)),
        (warsaw(11, 5, 0, 0), "Europe/Warsaw", warsaw(11, 5, 0, 0)),
        # 00:30 in Warsaw is still the day before in New York.
        (warsaw(11, 5, 0, 30), "America/New_York", datetime(2026, 11, 4, tzinfo=NEW_YORK)),
        # Both clock-change days begin at midnight: 23 and 25 hours long.
        (warsaw(3, 29, 12, 0), "Europe/Warsaw", warsaw(3, 29, 0, 0)),
        (warsaw(10, 25, 23, 30), "Europe/Warsaw", warsaw(10, 25, 0, 0)),
    ],
)
def test_start_of_day_is_local_midnight(
    moment: datetime, timezone: str, expected: datetime
) -> None:
    assert start_of_day(moment, timezone) == expected
