"""Clock-of-day rules: local time, quiet hours, business hours with holidays.

Everything takes aware datetimes and returns aware UTC datetimes; local wall-clock
reasoning happens here so that DST changes are handled in one place.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from promptly.domain.models import BusinessCalendar, HourRange

# Longest stretch a search for an allowed instant may scan: a year of holidays is absurd
# configuration, not a reason to loop forever.
_SEARCH_LIMIT = timedelta(days=366)


def to_local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


def in_hour_range(moment: datetime, timezone: str, hours: HourRange) -> bool:
    local = to_local(moment, timezone)
    hour = local.hour + local.minute / 60 + local.second / 3600
    if hours.start_hour <= hours.end_hour:
        return hours.start_hour <= hour < hours.end_hour
    return hour >= hours.start_hour or hour < hours.end_hour


def _at_local_hour(day: date, hour: int, timezone: str) -> datetime:
    tz = ZoneInfo(timezone)
    if hour == 24:
        return datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return datetime.combine(day, time(hour), tz).astimezone(UTC)


def end_of_range(moment: datetime, timezone: str, hours: HourRange) -> datetime:
    """The instant the hour range containing `moment` ends (moment must be inside it)."""
    local_day = to_local(moment, timezone).date()
    for day in (local_day, local_day + timedelta(days=1)):
        candidate = _at_local_hour(day, hours.end_hour, timezone)
        if candidate > moment:
            return candidate
    raise ValueError("moment is not inside the hour range")  # pragma: no cover - guarded above


def first_outside(moment: datetime, timezone: str, quiet: HourRange | None) -> datetime:
    """`moment`, or the end of the quiet hours it falls in."""
    if quiet is None or not in_hour_range(moment, timezone, quiet):
        return moment.astimezone(UTC)
    return end_of_range(moment, timezone, quiet)


def is_business_time(moment: datetime, calendar: BusinessCalendar) -> bool:
    local = to_local(moment, calendar.timezone)
    return (
        local.weekday() in calendar.weekdays
        and local.date().isoformat() not in calendar.holidays
        and in_hour_range(moment, calendar.timezone, calendar.hours)
    )


def next_business_time(moment: datetime, calendar: BusinessCalendar | None) -> datetime:
    """`moment` if the office is open then, else the next opening time."""
    if calendar is None or is_business_time(moment, calendar):
        return moment.astimezone(UTC)
    day = to_local(moment, calendar.timezone).date()
    last_day = day + _SEARCH_LIMIT
    while day <= last_day:
        opening = _at_local_hour(day, calendar.hours.start_hour, calendar.timezone)
        candidate = max(opening, moment)
        if is_business_time(candidate, calendar):
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError("the business calendar has no open hour within a year")
