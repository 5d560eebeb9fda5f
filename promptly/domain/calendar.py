"""Clock-of-day rules: local time, quiet hours, business hours with holidays.

Everything takes aware datetimes and returns aware UTC datetimes; local wall-clock
reasoning happens here so that DST changes are handled in one place.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Self, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, Field

from promptly.domain.common import Model, Timezone

# The two ends of a daily range: it starts in an hour of the day and ends at one (24: midnight).
StartHour = Annotated[int, Field(ge=0, le=23)]
EndHour = Annotated[int, Field(ge=0, le=24)]


class HourRange(Model):
    """A daily local-time range; `start > end` wraps midnight (21:00–08:00)."""

    start_hour: StartHour
    end_hour: EndHour


Weekday = Annotated[int, Field(ge=0, le=6)]


def _iso_date(text: str) -> str:
    try:
        date.fromisoformat(text)
    except ValueError as err:
        raise ValueError(f"{text!r} is not an ISO date like 2026-12-25") from err
    return text


IsoDate = Annotated[str, AfterValidator(_iso_date)]


class BusinessCalendar(Model):
    # Checked where a calendar is configured (OfficeHours, the settings), not here: cases
    # carry their calendar in history and must load as they were recorded.
    timezone: Timezone = "Europe/Warsaw"
    hours: HourRange = HourRange(start_hour=8, end_hour=18)
    weekdays: list[Weekday] = [0, 1, 2, 3, 4]
    holidays: list[str] = Field(default_factory=list, description="ISO dates, e.g. 2026-12-25")


def _office_hours(calendar: BusinessCalendar) -> BusinessCalendar:
    """A configured office: daytime hours (no midnight wrap), some open day, ISO holidays.
    Anything less leaves a business-time deadline nowhere to fall."""
    if calendar.hours.start_hour >= calendar.hours.end_hour:
        raise ValueError(
            f"hours: start_hour {calendar.hours.start_hour} must be before end_hour "
            f"{calendar.hours.end_hour}"
        )
    if not calendar.weekdays:
        raise ValueError("weekdays: at least one open weekday is needed (0 = Monday)")
    for holiday in calendar.holidays:
        try:
            _iso_date(holiday)
        except ValueError as err:
            raise ValueError(f"holidays: {err}") from err
    return calendar


OfficeHours = Annotated[BusinessCalendar, AfterValidator(_office_hours)]

ModelT = TypeVar("ModelT", bound=BaseModel)


def time_scaled(rules: ModelT, factor: float) -> ModelT:
    """`rules` with every duration in them (and in the models they hold) × `factor`, for demos
    and benchmarks (setting time_scale). Clock-of-day rules (quiet hours, office hours) do not
    compress, so they are dropped."""
    if factor == 1:
        return rules
    update: dict[str, Any] = {}
    for name, value in rules:
        if isinstance(value, timedelta):
            update[name] = value * factor
        elif isinstance(value, HourRange | BusinessCalendar):
            update[name] = None
        elif isinstance(value, BaseModel):
            update[name] = time_scaled(value, factor)
    return rules.model_copy(update=update)


class ScalableRules(Model):
    """Rules a demo or a benchmark runs faster (setting time_scale)."""

    def scaled(self, factor: float) -> Self:
        """These rules at `factor` speed (time_scaled)."""
        return time_scaled(self, factor)


def shift_elapsed(moment: datetime, by: timedelta) -> datetime:
    """`moment + by` in elapsed time, in `moment`'s timezone.

    Python adds wall-clock time to a datetime with a ZoneInfo, so across a DST change
    `start - 48h` would be 47 or 49 real hours before the visit.
    """
    return (moment.astimezone(UTC) + by).astimezone(moment.tzinfo)


# A business-time search never scans further than this: a calendar open an hour a year is
# a configuration error, not a reason to loop forever.
_BUSINESS_SEARCH_DAYS = 3660


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _office_interval(day: date, office: BusinessCalendar) -> tuple[datetime, datetime] | None:
    """The office's open hours on local `day` as UTC instants, or None when it is shut."""
    if day.weekday() not in office.weekdays or day.isoformat() in office.holidays:
        return None
    tz = ZoneInfo(office.timezone)
    opens = datetime.combine(day, time(office.hours.start_hour), tz)
    if office.hours.end_hour == 24:
        closes = datetime.combine(day + timedelta(days=1), time(0), tz)
    else:
        closes = datetime.combine(day, time(office.hours.end_hour), tz)
    return _utc(opens), _utc(closes)


def business_time_between(
    start: datetime, end: datetime, office: BusinessCalendar | None
) -> timedelta:
    """Countable time from `start` to `end`: elapsed time, or office hours only."""
    if end <= start:
        return timedelta(0)
    if office is None:
        return _utc(end) - _utc(start)
    tz = ZoneInfo(office.timezone)
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    total = timedelta(0)
    while day <= last:
        interval = _office_interval(day, office)
        if interval is not None:
            low, high = max(interval[0], _utc(start)), min(interval[1], _utc(end))
            if high > low:
                total += high - low
        day += timedelta(days=1)
    return total


def add_business_time(
    start: datetime, amount: timedelta, office: BusinessCalendar | None
) -> datetime:
    """The instant at which `amount` of countable time has passed since `start` (UTC).

    With office hours, a deadline that lands exactly on closing time stays there rather
    than moving to the next opening.
    """
    if office is None or amount <= timedelta(0):
        return _utc(start) + max(amount, timedelta(0))
    remaining = amount
    day = start.astimezone(ZoneInfo(office.timezone)).date()
    for _ in range(_BUSINESS_SEARCH_DAYS):
        interval = _office_interval(day, office)
        if interval is not None:
            low, high = max(interval[0], _utc(start)), interval[1]
            if high > low:
                if low + remaining <= high:
                    return low + remaining
                remaining -= high - low
        day += timedelta(days=1)
    raise ValueError("the office calendar has too few open hours to reach the deadline")


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


def start_of_day(moment: datetime, timezone: str) -> datetime:
    """Midnight that begins `moment`'s day where `timezone` is (the first moment of the day on
    a day the clocks change at midnight), in UTC."""
    return _at_local_hour(to_local(moment, timezone).date(), 0, timezone)


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


def start_of_range(moment: datetime, timezone: str, hours: HourRange) -> datetime:
    """The instant the hour range containing `moment` began (moment must be inside it)."""
    local_day = to_local(moment, timezone).date()
    for day in (local_day, local_day - timedelta(days=1)):
        candidate = _at_local_hour(day, hours.start_hour, timezone)
        if candidate <= moment:
            return candidate
    raise ValueError("moment is not inside the hour range")  # pragma: no cover - guarded above


def last_before(
    moment: datetime,
    timezone: str,
    quiet: HourRange | None,
    margin: timedelta = timedelta(0),
) -> datetime:
    """`moment`, or `margin` before the start of the quiet hours it falls in: the latest
    instant not after `moment` that leaves `margin` before quiet hours begin.

    The mirror of `first_outside`, for a message that must go out *by* `moment` ("at least
    every 24h") rather than *from* it. A moment less than `margin` before quiet hours begin
    moves too, so the message has that margin whichever side of the start it was due.
    """
    if quiet is None:
        return _utc(moment)
    if in_hour_range(moment, timezone, quiet):
        began = start_of_range(moment, timezone, quiet)
    elif margin > timedelta(0) and in_hour_range(moment + margin, timezone, quiet):
        began = start_of_range(moment + margin, timezone, quiet)
    else:
        return _utc(moment)
    return began - margin


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
