"""By when the front desk must make each call to a client: the deadline of the promise the
call serves, never after the visit starts, so the desk's list (soonest due first) puts first
the calls whose promise comes due first (docs/procedures.md, "The desk's calls").

- the confirmation read out by phone: by the confirmation deadline (within 24h of booking);
- the reminder read out by phone: by the end of its 24–48h window (24h before the visit);
- a follow-up call attempt: before the next attempt is due (or the calls give up):
  `follow_up.attempt_due`;
- anything else (a cancellation, a move, a delay, a fee decision, a no-show notice): news the
  client must hear as soon as possible, due at once (None here: the caller's `now`).

Pure: the caller passes the times (in workflows, `workflow.now()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any


class CallPromise(StrEnum):
    """The promise a client call serves, which sets its deadline."""

    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    FOLLOW_UP = "follow_up"
    # News the client must hear at once: no deadline but now.
    NEWS = "news"


# The templates read out on a call, by the promise each one keeps; any other is news.
PROMISE_OF_TEMPLATE: dict[str, CallPromise] = {
    "confirmation": CallPromise.CONFIRMATION,
    "phone_confirmation": CallPromise.CONFIRMATION,
    "reminder": CallPromise.REMINDER,
}

# The key of each promise's deadline in an appointment message's context.
_DEADLINE_KEY = {CallPromise.CONFIRMATION: "deadline", CallPromise.REMINDER: "reminder_by"}


def call_due(deadline: datetime | None, start: datetime | None) -> datetime | None:
    """The time by which a call keeping a promise due at `deadline` must be made: the
    deadline, or the visit's `start` if that comes first. None: the call is news, due now."""
    if deadline is None:
        return None
    return deadline if start is None else min(deadline, start)


def message_call_due(
    template: str, context: Mapping[str, Any], deadline: datetime | None = None
) -> datetime | None:
    """By when the client must be called with message `template` (a read-out, or a message
    the desk passes on by hand), from the message's context (`start`, `deadline`,
    `reminder_by`, ISO times); `deadline` overrides the context's. None: due now (news, a
    message of no appointment, or a context without the time)."""
    if deadline is None:
        key = _DEADLINE_KEY.get(PROMISE_OF_TEMPLATE.get(template, CallPromise.NEWS))
        if key is None:
            return None
        deadline = _time(context.get(key))
    return call_due(deadline, _time(context.get("start")))


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
