"""Times as people read them: in a named timezone, to the minute.

Every time shown to a person at work (CLI tables, the outbox, current details) goes through
`readable`; the compliance exports, which must prove the order of events against the rules
(a cancellation after the free-cancellation line), through `exact`: to the second, with the
UTC offset. The API keeps ISO 8601 with its offset (`iso_minute_or_second`) and no
microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def readable(moment: datetime | None, timezone: str) -> str:
    """`2026-12-01 10:00 Europe/Warsaw`: the moment in `timezone`, to the minute, zone named.

    In the hour a clock change repeats, the offset tells the two apart:
    `2027-10-31 02:30 Europe/Warsaw (+02:00)`, an hour later `… 02:30 Europe/Warsaw (+01:00)`."""
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(timezone))
    repeated = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
    return f"{local:%Y-%m-%d %H:%M} {timezone}" + (f" ({utc_offset(local)})" if repeated else "")


def exact(moment: datetime | None, timezone: str) -> str:
    """`2027-10-31 02:30:00 +02:00`: the moment in `timezone`, to the second, with its UTC
    offset, so no two moments read the same (the zone is named once, above the times)."""
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M:%S} {utc_offset(local)}"


def utc_offset(local: datetime) -> str:
    """`+02:00`, `-05:00`, `+00:00`: an aware time's offset from UTC, to the minute."""
    minutes = round((local.utcoffset() or timedelta()).total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def readable_duration(span: timedelta) -> str:
    """`30 h 05 min`: a span to the minute (time on hold), as people read it."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def in_hours(span: timedelta) -> str:
    """`24`, `1.5`: a span as a number of hours, for a text that says "hours" itself."""
    return f"{span.total_seconds() / 3600:g}"


def readable_clock(moment: datetime, timezone: str) -> str:
    """`10:00` in `timezone`, for a column whose heading names the zone."""
    return f"{moment.astimezone(ZoneInfo(timezone)):%H:%M}"


def without_microseconds(moment: datetime) -> datetime:
    """The same instant to the second (the API's ISO 8601 answers carry no microseconds)."""
    return moment.replace(microsecond=0)


# An ISO 8601 time with its offset, as workflow texts carry them (`…T21:42:26.834716+00:00`).
_ISO_IN_TEXT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})"
)


def readable_text(text: str, timezone: str, show: Callable[[datetime, str], str] = readable) -> str:
    """`text` with each ISO time in it shown as `readable` (timeline details written by the
    workflows carry machine times; people read them in their timezone), or as `show` says
    (the exports: `exact`)."""

    def shown(match: re.Match[str]) -> str:
        try:
            moment = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
        except ValueError:
            return match.group(0)
        return show(moment, timezone)

    return _ISO_IN_TEXT.sub(shown, text)
