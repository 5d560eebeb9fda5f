"""`/complaints` over HTTP: filing, status and updates as every case kind has them (made in
api/cases.py and api/case_updates.py), and the list filtered by department, SLA breach and
filing time."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from promptly.api.case_lists import Listing, between, equals
from promptly.api.case_updates import BusinessIdQuery
from promptly.api.cases import StartRoute, case_router
from promptly.domain.complaints.models import ComplaintStatus
from promptly.domain.text_patterns import DEPARTMENT_ID
from promptly.services.case_kinds import COMPLAINT as COMPLAINTS
from promptly.workflows.search_attributes import (
    CLIENT_ID,
    COMPLAINT_STATUS,
    DEPARTMENT,
    SLA_BREACHED,
)

complaints = case_router(
    COMPLAINTS,
    StartRoute(
        "file_complaint_route",
        "File: starts the complaint's workflow under its business id (acknowledged at once)."
        "\n\nIdempotent like booking: same body 200, different body under the same id 409.",
        same="The same complaint existed already",
        different="The id is filed with different details",
    ),
    "Status, department, SLA deadline, escalation level and the timeline (read from "
    "PostgreSQL like `GET /appointments/{id}`).",
)


LISTING = Listing(COMPLAINTS, "filed_at")


def complaint_filters(
    status: ComplaintStatus | None = None,
    department: Annotated[
        str | None, Query(pattern=DEPARTMENT_ID.regex, description="e.g. billing")
    ] = None,
    client_id: Annotated[BusinessIdQuery | None, Query()] = None,
    breached: Annotated[bool | None, Query(description="SLA breached")] = None,
    filed_from: Annotated[
        AwareDatetime | None, Query(alias="from", description="filed at or after")
    ] = None,
    filed_to: Annotated[AwareDatetime | None, Query(alias="to", description="filed before")] = None,
) -> list[str | None]:
    return [
        equals(COMPLAINT_STATUS.name, status),
        equals(DEPARTMENT.name, department),
        equals(CLIENT_ID.name, client_id),
        None if breached is None else f"{SLA_BREACHED.name} = {str(breached).lower()}",
        *between("StartTime", filed_from, filed_to),
    ]


LISTING.add_route(
    complaints,
    complaint_filters,
    "Complaints from Temporal visibility (search attributes), newest first.",
)
