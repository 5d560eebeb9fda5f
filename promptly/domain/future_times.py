"""One rule, one message for every time that must lie ahead: a booking's `start`, a
reschedule's `new_start`. The HTTP edge, the CLI and the booking check all use it, so a time
in the past is the same 422 naming the field wherever it is given."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

FUTURE_ONLY_FIELDS = ("start", "new_start")


def not_in_future(moment: datetime, now: datetime) -> str | None:
    """The reason `moment` is refused, or None when it lies ahead of `now`."""
    if moment > now:
        return None
    shown = moment.replace(microsecond=0).isoformat()
    return f"{shown} is not in the future (now {now.replace(microsecond=0).isoformat()})"


def past_time_problems(model: BaseModel, now: datetime) -> list[tuple[str, str]]:
    """(field, reason) for each future-only time of `model` that is not ahead of `now`."""
    problems = []
    for field in FUTURE_ONLY_FIELDS:
        value = getattr(model, field, None)
        if isinstance(value, datetime):
            reason = not_in_future(value, now)
            if reason is not None:
                problems.append((field, reason))
    return problems
