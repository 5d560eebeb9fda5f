"""Calendar invitations (iTIP, RFC 5546) and provider feeds (RFC 5545), built with `icalendar`.

One appointment is one VEVENT whose UID never changes (the case id at the configured domain),
so every calendar updates the same entry: each change is a REQUEST with a higher SEQUENCE, a
cancellation a CANCEL with the next one. Times are written in the appointment's own timezone
with a VTIMEZONE, so the wall-clock time survives DST changes in any calendar app.

Pure: the caller passes the time stamp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress, vText

from promptly.domain.calendar_event import CalendarEvent, EventStatus
from promptly.domain.common import Locale

PRODID = "-//Promptly//Appointments//EN"
# A VTIMEZONE lists the zone's transitions over this span around the events it serves.
_ZONE_MARGIN = timedelta(days=366)


class Method(StrEnum):
    """iTIP methods we send (RFC 5546 §1.4); PUBLISH for a download nobody answers."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"
    PUBLISH = "PUBLISH"


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str


_LABELS: dict[Locale, dict[str, str]] = {
    Locale.EN: {
        "reference": "Reference",
        "instructions": "Please note",
        "confirm": "Confirm",
        "cancel": "Cancel",
        "reschedule": "Reschedule",
        "with": "With",
    },
    Locale.PL: {
        "reference": "Numer wizyty",
        "instructions": "Uwaga",
        "confirm": "Potwierdź",
        "cancel": "Odwołaj",
        "reschedule": "Zmień termin",
        "with": "Prowadzi",
    },
}


def event_uid(case_id: str, domain: str) -> str:
    """Stable for the life of the appointment: the same on every invitation and in the feed."""
    return f"{case_id}@{domain}"


def method_for(event: CalendarEvent) -> Method:
    return Method.CANCEL if event.status is EventStatus.CANCELLED else Method.REQUEST


def content_type(method: Method) -> str:
    """The MIME type mail clients look for to offer Accept / Decline."""
    return f"text/calendar; method={method.value}"


def invitation(
    event: CalendarEvent,
    *,
    method: Method,
    uid_domain: str,
    stamp: datetime,
    attendee: Attendee | None = None,
    links: Mapping[str, str] | None = None,
    locale: Locale = Locale.EN,
) -> bytes:
    """One VCALENDAR with the METHOD, a VTIMEZONE for the event's zone and its VEVENT."""
    calendar = _calendar(method)
    calendar.add_component(_timezone(event.timezone, [event]))
    vevent = _vevent(event, uid_domain, stamp)
    vevent.add("summary", event.service)
    vevent.add("description", _description(event, links or {}, locale))
    organizer = vCalAddress(f"mailto:{event.provider_email or 'no-reply@' + uid_domain}")
    organizer.params["CN"] = vText(event.provider_name)
    vevent.add("organizer", organizer)
    if attendee is not None:
        vevent.add("attendee", _attendee(attendee, event, method))
    calendar.add_component(vevent)
    return bytes(calendar.to_ical())


def feed(
    events: Sequence[tuple[CalendarEvent, datetime]],
    *,
    name: str,
    timezone: str,
    uid_domain: str,
) -> bytes:
    """A subscribable calendar of `(event, last changed)` pairs, in the office timezone.

    Entries carry only the service, the client's first name and the reference: a feed URL
    ends up in calendar apps and their sync services.
    """
    calendar = _calendar(None)
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", timezone)
    if events:
        calendar.add_component(_timezone(timezone, [event for event, _ in events]))
    for event, changed_at in events:
        local = event.model_copy(update={"timezone": timezone})
        vevent = _vevent(local, uid_domain, changed_at)
        vevent.add("summary", f"{event.service}: {event.client_first_name}")
        vevent.add("description", f"{_LABELS[Locale.EN]['reference']}: {event.reference}")
        calendar.add_component(vevent)
    return bytes(calendar.to_ical())


def _calendar(method: Method | None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method is not None:
        calendar.add("method", method.value)
    return calendar


def _timezone(tzid: str, events: Sequence[CalendarEvent]) -> Timezone:
    first = min(event.start for event in events) - _ZONE_MARGIN
    last = max(event.end for event in events) + _ZONE_MARGIN
    return Timezone.from_tzid(tzid, first_date=_day(first), last_date=_day(last))


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _vevent(event: CalendarEvent, uid_domain: str, stamp: datetime) -> Event:
    zone = ZoneInfo(event.timezone)
    vevent = Event()
    vevent.add("uid", event_uid(event.case_id, uid_domain))
    vevent.add("dtstamp", stamp.astimezone(UTC))
    vevent.add("sequence", event.sequence)
    vevent.add("dtstart", _wall_clock(event.start, zone))
    vevent.add("dtend", _wall_clock(event.end, zone))
    vevent.add("location", event.location)
    vevent.add("status", event.status.value)
    # Calendars show the visit as busy time unless it is cancelled.
    vevent.add("transp", "TRANSPARENT" if event.status is EventStatus.CANCELLED else "OPAQUE")
    return vevent


def _wall_clock(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` in local time with the zone, or in UTC when its local time is the repeated hour.

    RFC 5545 reads a local time that occurs twice (the hour the clocks go back) as its first
    occurrence; a visit ending at 01:20 after the change would otherwise end before it began.
    """
    local = moment.astimezone(zone)
    if local.fold and local.replace(fold=0).utcoffset() != local.utcoffset():
        return moment.astimezone(UTC)
    return local


def _attendee(attendee: Attendee, event: CalendarEvent, method: Method) -> vCalAddress:
    address = vCalAddress(f"mailto:{attendee.email}")
    address.params["CN"] = vText(attendee.name)
    address.params["ROLE"] = vText("REQ-PARTICIPANT")
    confirmed = event.status is EventStatus.CONFIRMED
    address.params["PARTSTAT"] = vText("ACCEPTED" if confirmed else "NEEDS-ACTION")
    if method is Method.REQUEST and not confirmed:
        address.params["RSVP"] = vText("TRUE")
    return address


_ACTIONS = ("confirm", "cancel", "reschedule")


def _description(event: CalendarEvent, links: Mapping[str, str], locale: Locale) -> str:
    labels = _LABELS[locale]
    lines = [
        f"{labels['reference']}: {event.reference}",
        f"{labels['with']}: {event.provider_name}",
    ]
    if event.instructions:
        lines.append(f"{labels['instructions']}: {event.instructions}")
    # A confirmed visit asks for no confirmation: its calendar entry offers the changes only.
    asked = ("cancel", "reschedule") if event.status is EventStatus.CONFIRMED else _ACTIONS
    for action in asked:
        if action in links:
            lines.append(f"{labels[action]}: {links[action]}")
    return "\n".join(lines)
