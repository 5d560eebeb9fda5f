"""HTTP routes for inquiries: record one, read it, answer or promote it (made from the
registry), list them by status and client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from promptly.api.case_lists import Listing, equals
from promptly.api.case_updates import BusinessIdQuery
from promptly.api.cases import StartRoute, case_router
from promptly.domain.inquiries.models import InquiryStatus
from promptly.services.case_kinds import INQUIRY as INQUIRIES
from promptly.workflows.search_attributes import CLIENT_ID, INQUIRY_STATUS

router = case_router(
    INQUIRIES,
    StartRoute(
        "record_inquiry_route",
        "Record: starts the inquiry's workflow (acknowledged at once, answer due in 24h).",
        same="The same inquiry existed already",
        different="The id is recorded with different details",
    ),
    "Status, answer deadline, alerts and the timeline (read from PostgreSQL like "
    "`GET /appointments/{id}`).",
)


LISTING = Listing(INQUIRIES, "received_at")


def inquiry_filters(
    status: InquiryStatus | None = None,
    client_id: Annotated[BusinessIdQuery | None, Query()] = None,
) -> list[str | None]:
    return [equals(INQUIRY_STATUS.name, status), equals(CLIENT_ID.name, client_id)]


LISTING.add_route(router, inquiry_filters, "Inquiries from Temporal visibility, newest first.")
