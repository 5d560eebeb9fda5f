"""One rule, one message for every time that must lie ahead: a booking's `start`, a
reschedule's `new_start`. The HTTP edge, the CLI, the client links and the booking check all
use it, so a time in the past (or years away) is the same 422 naming the field wherever it is
given."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

FUTURE_ONLY_FIELDS = ("start", "new_start")
# How far ahead a visit may be booked: beyond that a date is a typo (2062 for 2026), and the
# calendar arithmetic of its reminders would run past what dates can hold near year 9999.
BOOKABLE_AHEAD = timedelta(days=3 * 365)


def not_bookable(moment: datetime, now: datetime) -> str | None:
    """The reason `moment` is refused as a visit's time, or None when it lies ahead of `now`
    and within `BOOKABLE_AHEAD`."""
    shown = moment.replace(microsecond=0).isoformat()
    if moment <= now:
        return f"{shown} is not in the future (now {now.replace(microsecond=0).isoformat()})"
    if moment - now > BOOKABLE_AHEAD:
        return f"{shown} is more than {BOOKABLE_AHEAD.days // 365} years ahead"
    return None


def past_time_problems(model: BaseModel, now: datetime) -> list[tuple[str, str]]:
    """(field, reason) for each future-only time of `model` that is not bookable now."""
    problems = []
    for field in FUTURE_ONLY_FIELDS:
        value = getattr(model, field, None)
        if isinstance(value, datetime):
            reason = not_bookable(value, now)
            if reason is not None:
                problems.append((field, reason))
    return problems
