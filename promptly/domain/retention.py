"""How long closed cases are kept: the retention setting, and never less than six calendar
months (DESIGN.md §5).

"Kept at least six months" is read as calendar months in the office's timezone: a case
closed on 1 July is kept until 1 January, whatever the month lengths (184 days then, 181
over February). Pure: the caller passes `now`.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from promptly.domain.appointments.models import FINAL_APPOINTMENT_STATUSES
from promptly.domain.complaints.models import FINAL_COMPLAINT_STATUSES
from promptly.domain.inquiries.models import InquiryStatus
from promptly.domain.surveys.models import SurveyStatus

MINIMUM_MONTHS = 6

# The statuses of a case that has ended, every kind: what the purge may delete once old
# enough, and what a client's reply is not filed under while an open case is there.
ENDED_STATUSES = sorted(
    {status.value for status in FINAL_APPOINTMENT_STATUSES}
    | {status.value for status in FINAL_COMPLAINT_STATUSES}
    | {SurveyStatus.ANSWERED.value, SurveyStatus.CLOSED.value}
    | {InquiryStatus.ANSWERED.value, InquiryStatus.PROMOTED.value}
)


def months_before(moment: datetime, months: int, timezone: str) -> datetime:
    """The same local wall-clock time `months` calendar months earlier (UTC).

    A day the earlier month lacks (31 August → February) becomes its last day, which only
    ever keeps a case longer.
    """
    local = moment.astimezone(ZoneInfo(timezone))
    index = local.year * 12 + (local.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    earlier = local.replace(tzinfo=None).replace(year=year, month=month, day=day)
    return earlier.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def purge_cutoff(
    now: datetime, retention: timedelta, timezone: str, minimum_months: int = MINIMUM_MONTHS
) -> datetime:
    """Cases closed before this instant may be purged: the older of `now - retention` and
    `minimum_months` calendar months before `now`."""
    return min(now.astimezone(UTC) - retention, months_before(now, minimum_months, timezone))
