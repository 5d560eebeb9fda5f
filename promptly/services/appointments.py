"""Starting and steering appointment workflows; shared by the CLI, the API and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from promptly.config import Settings
from promptly.domain.appointments import rules as appointment_rules
from promptly.domain.appointments.models import (
    AppointmentRequest,
    AppointmentView,
    appointment_workflow_id,
)
from promptly.workflows.appointment import (
    APPOINTMENT_START,
    APPOINTMENT_STATUS,
    CLIENT_ID,
    PROVIDER_ID,
    AppointmentWorkflow,
)


class AlreadyBooked(Exception):
    """A workflow for this appointment id exists; `workflow_id` points at it."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"appointment already booked: workflow {workflow_id} exists")
        self.workflow_id = workflow_id


async def book(
    client: Client,
    request: AppointmentRequest,
    settings: Settings,
    now: datetime,
    *,
    memo: Mapping[str, Any] | None = None,
) -> WorkflowHandle[AppointmentWorkflow, AppointmentView]:
    """Start the appointment's workflow under its business id; refuses bad input or a duplicate.

    `memo` is shown in the Temporal UI (the demo marks its cases with it)."""
    appointment_rules.check_booking(request, now)
    try:
        return await client.start_workflow(
            AppointmentWorkflow.run,
            request,
            id=request.workflow_id,
            task_queue=settings.task_queue,
            # The id is the business key for as long as the history is retained.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo=dict(memo) if memo else None,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(APPOINTMENT_STATUS, "Booked"),
                    SearchAttributePair(CLIENT_ID, request.client.id),
                    SearchAttributePair(PROVIDER_ID, request.provider.id),
                    SearchAttributePair(APPOINTMENT_START, request.start),
                ]
            ),
            static_summary=f"{request.service} · client {request.client.id} · provider "
            f"{request.provider.id} · {request.start.isoformat()}",
            static_details=f"Appointment **{request.appointment_id}**\n\n"
            f"- service: {request.service}\n- start: {request.start.isoformat()} "
            f"({request.client.timezone})\n- duration: {request.duration_minutes} min\n"
            f"- client: {request.client.id} via {request.client.preferred_channel.value}\n"
            f"- provider: {request.provider.id}",
        )
    except WorkflowAlreadyStartedError as err:
        raise AlreadyBooked(request.workflow_id) from err


def handle_for(
    client: Client, appointment_id: str
) -> WorkflowHandle[AppointmentWorkflow, AppointmentView]:
    return client.get_workflow_handle_for(
        AppointmentWorkflow.run, appointment_workflow_id(appointment_id)
    )
