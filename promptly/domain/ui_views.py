"""The Temporal UI lists an ops engineer opens first, as list-filter URLs.

The UI keeps saved views and its column choice in the browser, so Promptly cannot install
them; it can hand out the filters (`promptly views`, docs/first-hour.md). Dates in the queries
are the office's days, as UTC instants (visibility compares datetimes exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import quote
from zoneinfo import ZoneInfo


class UiView(NamedTuple):
    name: str
    query: str
    url: str


def _visibility_time(moment: datetime) -> str:
    """`moment` as visibility queries compare it: a UTC instant to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def runs_query(types: Sequence[str], *, running: bool, since: datetime | None = None) -> str:
    """The visibility query of the runs of the workflow `types` still running (started at or
    after `since` if given), or ended (closed after `since`). `since` is written to the
    microsecond: the archive's watermark is the last close time it saw, exactly."""
    names = ", ".join(f"'{name}'" for name in types)
    query = f"WorkflowType IN ({names}) AND ExecutionStatus {'=' if running else '!='} 'Running'"
    if since is not None:
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        query += f" AND StartTime >= '{stamp}'" if running else f" AND CloseTime > '{stamp}'"
    return query


def _day_bounds(now: datetime, timezone: str, days_ahead: int) -> tuple[str, str]:
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date() + timedelta(days=days_ahead)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start.replace(tzinfo=None) + timedelta(days=1)
    bounds = (start, end.replace(tzinfo=zone))
    first, last = (_visibility_time(moment) for moment in bounds)
    return first, last


def ui_views(now: datetime, timezone: str, ui_base: str, namespace: str) -> list[UiView]:
    """The first lists: tomorrow's unconfirmed visits, breached complaints (by department),
    today's visits, escalated complaints, inquiries past their answer deadline."""
    tomorrow = _day_bounds(now, timezone, 1)
    today = _day_bounds(now, timezone, 0)
    queries = [
        (
            "Unconfirmed visits tomorrow",
            # Not confirmed yet, or flagged after the calls: the visits at risk (docs/ops.md).
            'WorkflowType = "AppointmentWorkflow" '
            'AND AppointmentStatus IN ("Booked", "Unconfirmed") '
            f'AND AppointmentStart >= "{tomorrow[0]}" AND AppointmentStart < "{tomorrow[1]}"',
        ),
        (
            'Breached complaints, open (add: AND Department = "billing")',
            'WorkflowType = "ComplaintWorkflow" AND SlaBreached = true '
            'AND ExecutionStatus = "Running"',
        ),
        (
            "Today's visits",
            'WorkflowType = "AppointmentWorkflow" '
            f'AND AppointmentStart >= "{today[0]}" AND AppointmentStart < "{today[1]}"',
        ),
        (
            "Complaints escalated to a supervisor or beyond",
            'WorkflowType = "ComplaintWorkflow" AND EscalationLevel >= 1 '
            'AND ExecutionStatus = "Running"',
        ),
        (
            "Inquiries past their answer deadline",
            'WorkflowType = "InquiryWorkflow" AND InquiryStatus = "Open" '
            f'AND SlaDeadline < "{_visibility_time(now)}"',
        ),
    ]
    base = f"{ui_base.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows?query="
    return [UiView(name, query, base + quote(query, safe="")) for name, query in queries]
