"""`/appointments` over HTTP. Booking, the status and one POST per update are made from the
case-kind registry (api/cases.py, api/case_updates.py); here: the list with its filters
(status, provider, client, visit time)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from promptly.api.case_lists import Listing, between, equals
from promptly.api.case_updates import BusinessIdQuery
from promptly.api.cases import StartRoute, case_router
from promptly.domain.appointments.models import AppointmentStatus
from promptly.services.case_kinds import APPOINTMENT as APPOINTMENTS
from promptly.workflows.search_attributes import (
    APPOINTMENT_START,
    APPOINTMENT_STATUS,
    CLIENT_ID,
    PROVIDER_ID,
)

appointments = case_router(
    APPOINTMENTS,
    StartRoute(
        "book_appointment",
        "Book: starts the appointment's workflow under its business id.\n\n"
        "Idempotent: the same body again answers 200 with the existing case, a different body "
        "under the same id 409. `start` must be timezone-aware, in the future and at most 3 years "
        "ahead.",
        same="The same booking existed already",
        different="The id is booked with different details",
    ),
    "Status, deadlines and the timeline: the workflow's `status` view, read from PostgreSQL "
    "(`X-Promptly-View-Source: record`, written at `X-Promptly-View-As-Of`) or, when the case "
    "has no stored view yet, from the workflow (`workflow`). Never older than the answer of an "
    "update that returned before the GET began.",
)


LISTING = Listing(
    APPOINTMENTS,
    "started_at",
    {
        "appointment_id": "A-1001",
        "workflow_id": "appointment-A-1001",
        "status": "Confirmed",
        "client_id": "C-17",
        "provider_id": "P-3",
        "start": "2027-06-01T08:00:00Z",
        "running": True,
        "needs_attention": [],
        "started_at": "2027-05-20T07:12:00Z",
        "status_url": "/appointments/A-1001",
    },
)


def appointment_filters(
    status: AppointmentStatus | None = None,
    provider_id: Annotated[BusinessIdQuery | None, Query()] = None,
    client_id: Annotated[BusinessIdQuery | None, Query()] = None,
    start_from: Annotated[
        AwareDatetime | None, Query(alias="from", description="visits starting at or after")
    ] = None,
    start_to: Annotated[
        AwareDatetime | None, Query(alias="to", description="visits starting before")
    ] = None,
) -> list[str | None]:
    return [
        # A long-lived case that continued as new is listed once: its latest run.
        "ExecutionStatus != 'ContinuedAsNew'",
        equals(APPOINTMENT_STATUS.name, status),
        equals(PROVIDER_ID.name, provider_id),
        equals(CLIENT_ID.name, client_id),
        *between(APPOINTMENT_START.name, start_from, start_to),
    ]


LISTING.add_route(
    appointments,
    appointment_filters,
    "Appointments from Temporal visibility (search attributes), newest booking first.",
)
