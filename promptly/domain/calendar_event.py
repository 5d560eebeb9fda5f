"""An appointment as a calendar event: the facts every invitation and feed entry is built from.

The workflow derives one `CalendarEvent` from its case and hands it on (in the message context
to the messaging activity, in the case row to the provider feed), so both say the same thing.
Nothing here imports a calendar library: workflows import this module.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field

from promptly.domain.appointments.models import AppointmentCase, AppointmentStatus
from promptly.domain.common import Model

# The client-link action of a `.ics` download (`/c/{token}/calendar.ics`).
CALENDAR_LINK_ACTION = "calendar"

CANCELLED_STATUSES = frozenset({AppointmentStatus.CANCELLED, AppointmentStatus.LATE_CANCELLED})
CONFIRMED_STATUSES = frozenset(
    {AppointmentStatus.CONFIRMED, AppointmentStatus.CHECKED_IN, AppointmentStatus.COMPLETED}
)
# Statuses a provider's feed still shows: the visit is expected to happen.
LIVE_STATUSES = frozenset(
    {
        AppointmentStatus.BOOKED,
        AppointmentStatus.UNCONFIRMED,
        AppointmentStatus.CONFIRMED,
        AppointmentStatus.CHECKED_IN,
    }
)


class EventStatus(StrEnum):
    """iCalendar VEVENT STATUS values (RFC 5545 §3.8.1.11)."""

    TENTATIVE = "TENTATIVE"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class CalendarEvent(Model):
    case_id: str
    reference: str
    service: str
    location: str
    instructions: str = ""
    start: AwareDatetime
    end: AwareDatetime
    timezone: str
    provider_name: str
    provider_email: str | None = None
    # The feed shows the client by first name only; contact details never enter this model.
    client_first_name: str
    sequence: int = Field(ge=0)
    status: EventStatus


def sequence(case: AppointmentCase) -> int:
    """The iTIP SEQUENCE: how many times the organizer changed the event (RFC 5546 §2.1.4).

    Counted from the case's own counters, which only grow and travel across continue-as-new:
    every reschedule and every cancellation is one change. Confirmation by the client is not
    counted; a later message with the same SEQUENCE and a newer DTSTAMP carries it.
    """
    return case.reschedules + case.cancellations


def event_status(status: AppointmentStatus) -> EventStatus:
    if status in CANCELLED_STATUSES:
        return EventStatus.CANCELLED
    if status in CONFIRMED_STATUSES:
        return EventStatus.CONFIRMED
    return EventStatus.TENTATIVE


def event_of(case: AppointmentCase, case_id: str) -> CalendarEvent:
    request = case.request
    return CalendarEvent(
        case_id=case_id,
        reference=request.appointment_id,
        service=request.service,
        location=request.location,
        instructions=request.instructions,
        start=request.start,
        end=request.end,
        timezone=request.client.timezone,
        provider_name=request.provider.name,
        provider_email=request.provider.email,
        client_first_name=request.client.name.split()[0],
        sequence=sequence(case),
        status=event_status(case.status),
    )
