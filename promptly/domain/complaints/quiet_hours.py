"""The customer's quiet hours in a complaint (`ComplaintPolicy.quiet_hours`, customer-local).

- The status update is due "at least every 24h": one that would fall in the quiet hours goes
  out earlier, `UPDATE_MARGIN` before they begin, never later (`update_time`).
- Other news the complaint sends on a timer (an escalation notice, the end of a hold, the close
  after an unanswered proposal, the follow-up) waits until the quiet hours end
  (`outside_quiet_hours`); a message decided in them waits in the case (`WaitingMessage`) and
  goes out as it read when it was decided. A newer message of the same kind decided while one
  waits (a second escalation in one night) replaces it: the customer hears once, the case as
  it stands (the workflow asks the patch `newer-news-replaces-waiting` for that). Staff alerts
  never wait, and neither does anything answering someone (the acknowledgement, a note, a
  proposal, a hold, a reopen, a close).

Without quiet hours (complaints filed before them, demos) every time here is the time given.
That is why no `workflow.patched()` guards these rules: the quiet hours reach a complaint with
its rules at filing (the `complaint_rules` local activity's result, kept in its history), so a
complaint started before them replays with None and plans every timer and message as it did.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from promptly.domain.calendar import HourRange, _utc, first_outside, last_before
from promptly.domain.complaints.models import ComplaintCase, WaitingMessage

# The update is planned this long before the quiet hours begin, not at their first minute:
# it goes out beside the plan, and a send that fails at once retries with backoff (5s, 10s,
# 20s, ... up to 10 min apart) while an SMS carrier may hold it a few minutes more. A quarter
# of an hour lets the first retries land before 21:00 and still reads as "this evening".
UPDATE_MARGIN = timedelta(minutes=15)


def _timezone(case: ComplaintCase) -> str:
    return case.request.customer.timezone


def update_by(due: datetime, after: datetime, timezone: str, quiet: HourRange | None) -> datetime:
    """When a status update due by `due` goes out: `due`, or earlier when `due` falls in the
    `quiet` hours (or less than `UPDATE_MARGIN` before them): `UPDATE_MARGIN` before they
    begin. Never later than `due`: at least every period is the promise. When that earlier
    time is not after `after` (the last message: a period shorter than the night), `due`."""
    earlier = last_before(due, timezone, quiet, UPDATE_MARGIN)
    return earlier if earlier > after else _utc(due)


def update_time(case: ComplaintCase, due: datetime, after: datetime) -> datetime:
    """`update_by` on the customer's clock and quiet hours."""
    return update_by(due, after, _timezone(case), case.policy.quiet_hours)


def outside_quiet_hours(
    case: ComplaintCase, moment: datetime, latest: datetime | None = None
) -> datetime:
    """`moment`, or the end of the customer's quiet hours it falls in; `moment` itself where
    that end would pass `latest` (a promise of its own, as the follow-up's 48h)."""
    after = first_outside(moment, _timezone(case), case.policy.quiet_hours)
    if latest is not None and after > latest:
        return _utc(moment)
    return after


def message_waits(
    case: ComplaintCase, template: str, at: datetime, context: dict[str, Any]
) -> ComplaintCase:
    """`template` waits until `at`, with the `context` it has now."""
    waiting = WaitingMessage(template=template, at=at, context=context)
    return case.model_copy(update={"waiting_messages": [*case.waiting_messages, waiting]})


def waiting(case: ComplaintCase, template: str) -> bool:
    """True while a message of `template` waits for the end of the quiet hours."""
    return any(message.template == template for message in case.waiting_messages)


def next_waiting_at(case: ComplaintCase) -> datetime | None:
    return min((message.at for message in case.waiting_messages), default=None)


def messages_due(case: ComplaintCase, now: datetime) -> tuple[list[WaitingMessage], ComplaintCase]:
    """The waiting messages due by `now`, in the order they were decided, and the case
    without them."""
    due = [message for message in case.waiting_messages if message.at <= now]
    rest = [message for message in case.waiting_messages if message.at > now]
    return due, case.model_copy(update={"waiting_messages": rest})


def waiting_dropped(
    case: ComplaintCase, templates: Collection[str] | None, keep: Collection[str] = ()
) -> tuple[list[WaitingMessage], ComplaintCase]:
    """A change makes waiting news moot: the messages of `templates` (every one when None)
    but `keep`, and the case without them."""

    def moot(message: WaitingMessage) -> bool:
        named = templates is None or message.template in templates
        return named and message.template not in keep

    dropped = [message for message in case.waiting_messages if moot(message)]
    rest = [message for message in case.waiting_messages if not moot(message)]
    return dropped, case.model_copy(update={"waiting_messages": rest})
