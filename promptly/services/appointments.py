"""Starting and steering appointment workflows; shared by the CLI, the API and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair

from promptly.config import Settings
from promptly.domain.appointments import rules as appointment_rules
from promptly.domain.appointments.models import (
    AppointmentRequest,
    AppointmentStatus,
    AppointmentView,
    appointment_workflow_id,
)
from promptly.domain.common import SYSTEM, Actor
from promptly.domain.readable_time import readable
from promptly.services.cases import case_details, reached, start_case
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.search_attributes import (
    APPOINTMENT_START,
    APPOINTMENT_STATUS,
    PROVIDER_ID,
)


async def book(
    client: Client,
    request: AppointmentRequest,
    settings: Settings,
    now: datetime,
    *,
    memo: Mapping[str, Any] | None = None,
    opened_by: Actor = SYSTEM,
) -> WorkflowHandle[AppointmentWorkflow, AppointmentView]:
    """Start the appointment's workflow under its business id; refuses bad input
    (`BookingRejected`) or a duplicate (`CaseExists`).

    `memo` is shown in the Temporal UI (the demo marks its cases with it); `opened_by` is
    who booked it (`start_case`)."""
    appointment_rules.check_booking(request, now)
    return await start_case(
        client,
        AppointmentWorkflow.run,
        request,
        settings,
        exists="appointment already booked",
        memo=memo,
        opened_by=opened_by,
        status=SearchAttributePair(APPOINTMENT_STATUS, AppointmentStatus.BOOKED.value),
        client_id=request.client.id,
        attributes=[
            SearchAttributePair(PROVIDER_ID, request.provider.id),
            SearchAttributePair(APPOINTMENT_START, request.start),
        ],
        summary=f"{request.service} · client {request.client.id} · provider "
        f"{request.provider.id} · {request.start.isoformat()}",
        details=case_details(
            "Appointment",
            request.appointment_id,
            {
                "service": request.service,
                # As the client reads it: the time in their zone, the zone named.
                "start": readable(request.start, request.client.timezone),
                "duration": f"{request.duration_minutes} min",
                "client": reached(request.client),
                "provider": request.provider.id,
            },
        ),
    )


def handle_for(
    client: Client, appointment_id: str
) -> WorkflowHandle[AppointmentWorkflow, AppointmentView]:
    return client.get_workflow_handle_for(
        AppointmentWorkflow.run, appointment_workflow_id(appointment_id)
    )
