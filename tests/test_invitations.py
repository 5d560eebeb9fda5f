"""Calendar invitations and feeds as calendar apps read them: parsed back with `icalendar`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from promptly.domain import calendar_event, invitations
from promptly.domain.appointments import rules as appointment_rules
from promptly.domain.appointments.models import (
    AppointmentContinuation,
    AppointmentPolicy,
    AppointmentStatus,
)
from promptly.domain.calendar_event import CalendarEvent, EventStatus
from promptly.domain.common import Locale
from tests.helpers import appointment

DOMAIN = "calendar.promptly.example"
STAMP = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LINKS = {
    "confirm": "https://p.example/c/tok-confirm",
    "cancel": "https://p.example/c/tok-cancel",
    "reschedule": "https://p.example/c/tok-reschedule",
}


def _event(start: datetime, timezone: str = "Europe/Warsaw", **changes: Any) -> CalendarEvent:
    request = appointment(start, timezone=timezone)
    case = appointment_rules.new_case(request, start - timedelta(days=10), AppointmentPolicy())
    return calendar_event.event_of(case, request.workflow_id).model_copy(update=changes)


def _invite(event: CalendarEvent, **options: Any) -> Calendar:
    method = options.pop("method", invitations.method_for(event))
    raw = invitations.invitation(
        event,
        method=method,
        uid_domain=DOMAIN,
        stamp=STAMP,
        attendee=invitations.Attendee("Anna Nowak", "anna@example.com"),
        links=LINKS,
        **options,
    )
    return Calendar.from_ical(raw)


def _vevent(calendar: Calendar) -> Any:
    [vevent] = calendar.walk("VEVENT")
    return vevent


def test_a_booking_is_a_tentative_request_with_every_field_of_the_visit() -> None:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Europe/Warsaw"))
    event = _event(start)
    calendar = _invite(event)
    vevent = _vevent(calendar)

    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(vevent["UID"]) == f"{event.case_id}@{DOMAIN}"
    assert vevent.decoded("SEQUENCE") == 0
    assert str(vevent["STATUS"]) == "TENTATIVE"
    assert str(vevent["SUMMARY"]) == "Physiotherapy consultation"
    assert str(vevent["LOCATION"]) == "ul. Prosta 1, Warszawa"
    assert vevent["DTSTART"].params["TZID"] == "Europe/Warsaw"
    assert vevent.decoded("DTSTART") == start
    assert vevent.decoded("DTEND") == start + timedelta(minutes=50)
    assert vevent.decoded("DTSTAMP") == STAMP
    assert str(vevent["ORGANIZER"]) == "mailto:jan@example.com"
    assert vevent["ORGANIZER"].params["CN"] == "Jan Kowalski"
    attendee = vevent["ATTENDEE"]
    assert str(attendee) == "mailto:anna@example.com"
    assert attendee.params["CN"] == "Anna Nowak"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION" and attendee.params["RSVP"] == "TRUE"
    description = str(vevent["DESCRIPTION"])
    assert f"Reference: {event.reference}" in description
    assert all(link in description for link in LINKS.values())
    assert "Bring previous test results" in description
    [zone] = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Warsaw"


def test_the_description_speaks_the_clients_language() -> None:
    event = _event(datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Europe/Warsaw")))
    description = str(_vevent(_invite(event, locale=Locale.PL))["DESCRIPTION"])
    assert f"Numer wizyty: {event.reference}" in description
    assert f"Potwierdź: {LINKS['confirm']}" in description


def test_a_confirmed_visit_is_confirmed_and_accepted() -> None:
    event = _event(datetime(2026, 12, 1, 10, 0, tzinfo=UTC), status=EventStatus.CONFIRMED)
    vevent = _vevent(_invite(event))
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert vevent["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert "RSVP" not in vevent["ATTENDEE"].params
    # Nothing left to confirm: the calendar entry offers the changes, not the confirmation.
    description = str(vevent["DESCRIPTION"])
    assert LINKS["confirm"] not in description and "Confirm" not in description
    assert f"Cancel: {LINKS['cancel']}" in description
    assert f"Reschedule: {LINKS['reschedule']}" in description


def test_a_cancelled_visit_is_a_cancel_with_the_same_uid() -> None:
    event = _event(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    cancelled = event.model_copy(update={"status": EventStatus.CANCELLED, "sequence": 1})
    calendar = _invite(cancelled)
    vevent = _vevent(calendar)
    assert invitations.method_for(cancelled) is invitations.Method.CANCEL
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert vevent.decoded("SEQUENCE") == 1
    assert str(vevent["UID"]) == str(_vevent(_invite(event))["UID"])
    assert invitations.content_type(invitations.Method.CANCEL) == "text/calendar; method=CANCEL"


def test_sequence_counts_every_change_and_never_goes_back() -> None:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    request = appointment(start)
    booked_at = start - timedelta(days=20)
    case = appointment_rules.new_case(request, booked_at, AppointmentPolicy())
    seen = [calendar_event.sequence(case)]
    case = appointment_rules.rescheduled(
        case, start + timedelta(days=1), booked_at + timedelta(hours=1)
    )
    seen.append(calendar_event.sequence(case))
    # A provider's cancellation, then the free reschedule it offers.
    case = case.model_copy(
        update={"status": AppointmentStatus.CANCELLED, "cancellations": case.cancellations + 1}
    )
    seen.append(calendar_event.sequence(case))
    case = appointment_rules.rescheduled(
        case, start + timedelta(days=2), booked_at + timedelta(hours=2)
    )
    seen.append(calendar_event.sequence(case))
    assert seen == [0, 1, 2, 3]
    assert calendar_event.event_of(case, "c").status is EventStatus.TENTATIVE

    # Continue-as-new carries the case: the next run goes on from the same number.
    carried = AppointmentContinuation.model_validate_json(
        AppointmentContinuation(case=case, timeline=[], stored_entries=0).model_dump_json()
    )
    assert calendar_event.sequence(carried.case) == 3


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (AppointmentStatus.BOOKED, EventStatus.TENTATIVE),
        (AppointmentStatus.UNCONFIRMED, EventStatus.TENTATIVE),
        (AppointmentStatus.CONFIRMED, EventStatus.CONFIRMED),
        (AppointmentStatus.CHECKED_IN, EventStatus.CONFIRMED),
        (AppointmentStatus.CANCELLED, EventStatus.CANCELLED),
        (AppointmentStatus.LATE_CANCELLED, EventStatus.CANCELLED),
    ],
)
def test_event_status_follows_the_case(status: AppointmentStatus, expected: EventStatus) -> None:
    assert calendar_event.event_status(status) is expected


# --- DST: the wall-clock time survives the change weeks ---------------------------------------


@pytest.mark.parametrize(
    ("timezone", "local", "utc"),
    [
        # Warsaw springs forward on 2026-03-29 (CET +01 → CEST +02) ...
        ("Europe/Warsaw", (2026, 3, 28, 10), datetime(2026, 3, 28, 9, 0, tzinfo=UTC)),
        ("Europe/Warsaw", (2026, 3, 30, 10), datetime(2026, 3, 30, 8, 0, tzinfo=UTC)),
        # ... and falls back on 2026-10-25.
        ("Europe/Warsaw", (2026, 10, 24, 9), datetime(2026, 10, 24, 7, 0, tzinfo=UTC)),
        ("Europe/Warsaw", (2026, 10, 26, 9), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
        # New York springs forward on 2026-03-08 and falls back on 2026-11-01.
        ("America/New_York", (2026, 3, 7, 9), datetime(2026, 3, 7, 14, 0, tzinfo=UTC)),
        ("America/New_York", (2026, 3, 9, 9), datetime(2026, 3, 9, 13, 0, tzinfo=UTC)),
        ("America/New_York", (2026, 10, 31, 9), datetime(2026, 10, 31, 13, 0, tzinfo=UTC)),
        ("America/New_York", (2026, 11, 2, 9), datetime(2026, 11, 2, 14, 0, tzinfo=UTC)),
    ],
)
def test_dst_week_visits_keep_their_wall_clock_time(
    timezone: str, local: tuple[int, int, int, int], utc: datetime
) -> None:
    # Booked as an instant (UTC) like a back-office might send it.
    event = _event(utc, timezone=timezone)
    calendar = _invite(event)
    vevent = _vevent(calendar)
    year, month, day, hour = local
    assert vevent["DTSTART"].params["TZID"] == timezone
    assert vevent["DTSTART"].to_ical().decode() == f"{year}{month:02}{day:02}T{hour:02}0000"
    assert vevent.decoded("DTSTART").astimezone(UTC) == utc

    # A calendar app that knows nothing of the zone reads the same instant from our VTIMEZONE.
    [zone] = calendar.walk("VTIMEZONE")
    from_vtimezone = zone.to_tz(lookup_tzid=False)
    assert datetime(year, month, day, hour, tzinfo=from_vtimezone).astimezone(UTC) == utc
    end = datetime(year, month, day, hour, 50, tzinfo=from_vtimezone).astimezone(UTC)
    assert end == utc + timedelta(minutes=50)


def test_a_visit_across_the_fall_back_hour_lasts_its_real_duration() -> None:
    # 01:30 EDT on 2026-11-01 plus 50 minutes is 01:20 EST: the clock went back an hour.
    start = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    vevent = _vevent(_invite(_event(start, timezone="America/New_York")))
    assert vevent.decoded("DTEND").astimezone(UTC) - vevent.decoded("DTSTART").astimezone(
        UTC
    ) == timedelta(minutes=50)
    # RFC 5545 reads a repeated local time as its first occurrence, so that end is in UTC.
    assert vevent["DTSTART"].to_ical().decode() == "20261101T013000"
    assert vevent["DTEND"].to_ical().decode() == "20261101T062000Z"


# --- the provider feed -------------------------------------------------------------------------


def test_a_feed_shows_first_names_and_references_only_in_the_office_timezone() -> None:
    warsaw = _event(datetime(2026, 3, 30, 8, 0, tzinfo=UTC))
    new_york = _event(
        datetime(2026, 3, 30, 13, 0, tzinfo=UTC),
        timezone="America/New_York",
        status=EventStatus.CONFIRMED,
        sequence=2,
    )
    changed = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    raw = invitations.feed(
        [(warsaw, changed), (new_york, changed)],
        name="Jan Kowalski",
        timezone="Europe/Warsaw",
        uid_domain=DOMAIN,
    )
    calendar = Calendar.from_ical(raw)
    assert "METHOD" not in calendar
    assert str(calendar["X-WR-CALNAME"]) == "Jan Kowalski"
    first, second = calendar.walk("VEVENT")
    assert str(first["SUMMARY"]) == "Physiotherapy consultation: Anna"
    assert str(first["STATUS"]) == "TENTATIVE" and str(second["STATUS"]) == "CONFIRMED"
    assert second.decoded("SEQUENCE") == 2
    assert str(first["UID"]) == f"{warsaw.case_id}@{DOMAIN}"
    assert second["DTSTART"].params["TZID"] == "Europe/Warsaw"
    assert second.decoded("DTSTART").astimezone(UTC) == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)
    assert first["DTSTART"].to_ical().decode() == "20260330T100000"
    text = raw.decode()
    for private in ("anna@example.com", "+48600100200", "Nowak", "ATTENDEE", "Bring previous"):
        assert private not in text
    assert first.decoded("DTSTAMP") == changed


def test_uids_are_the_case_at_the_configured_domain() -> None:
    assert invitations.event_uid("appointment-A-1001", DOMAIN) == (
        "appointment-A-1001@calendar.promptly.example"
    )
