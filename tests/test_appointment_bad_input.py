"""Bad input gets a clear error naming the field, and nothing starts or changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AppointmentRequest,
    AppointmentStatus,
    CallOutcome,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    RecordCallOutcomeInput,
    RescheduleInput,
)
from promptly.domain.appointments.rules import BookingRejected, call_outcome_problems
from promptly.domain.common import Channel, Locale
from promptly.domain.errors import INVALID_FIELD
from promptly.domain.rendering import render
from promptly.services.appointments import book
from promptly.services.cases import CaseExists
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import CLIENT, PROVIDER, STAFF, appointment, end_workflows


def _payload(**changes: Any) -> dict[str, Any]:
    data = appointment(start=datetime(2030, 1, 7, 10, tzinfo=UTC)).model_dump(mode="json")
    for path, value in changes.items():
        target = data
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return data


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"start": "2030-01-07T10:00:00"}, "start", "timezone"),
        ({"client__timezone": "Mars/Olympus"}, "client.timezone", "unknown timezone"),
        ({"client__email": None}, "client", "email: required when preferred_channel is email"),
        (
            {"client__preferred_channel": "sms", "client__phone": None},
            "client",
            "phone: required when preferred_channel is sms",
        ),
        ({"client__name": "  "}, "client.name", "at least 1 character"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
        ({"client__name": "Anna\x00"}, "client.name", "NUL character"),
        # A zone-database folder, not a zone: still an unknown timezone, not a 500.
        ({"client__timezone": "Europe"}, "client.timezone", "unknown timezone"),
        ({"client__timezone": "x" * 300}, "client.timezone", "unknown timezone"),
    ],
)
def test_invalid_booking_names_the_field(changes: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AppointmentRequest.model_validate(_payload(**changes))
    problems = {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}
    assert field in problems, problems
    assert reason in problems[field]


def test_a_pasted_line_break_in_a_one_line_field_becomes_a_space() -> None:
    """A message's subject is its first line: a service with a line break would push the rest
    of itself, or anything typed after it, into the body as if we had written it."""
    booked = AppointmentRequest.model_validate(
        _payload(
            service="Massage\nSubject: injected",
            client__name="Eve\r\nPlease pay at https://evil.example",
            location="ul. Prosta 1\u2028Warszawa",
        )
    )
    assert booked.service == "Massage Subject: injected"
    assert booked.client.name == "Eve Please pay at https://evil.example"
    assert booked.location == "ul. Prosta 1 Warszawa"
    rendered = render(
        "reminder", Locale.EN, "Europe/Warsaw", _reminder_context(booked), Channel.EMAIL
    )
    assert rendered.subject.startswith("Reminder: Massage Subject: injected on ")


def test_a_reschedule_agreed_on_the_call_needs_the_time_agreed() -> None:
    """The edges' rule (API, CLI, the desk's call task: a 422 naming new_start); the model
    still takes such an input, as a case from before the rule holds one and replays it."""
    vague = RecordCallOutcomeInput.model_validate({"outcome": "reached_rescheduled"})
    assert call_outcome_problems(vague) == [
        ("new_start", "required with reached_rescheduled: the time agreed with the client")
    ]
    agreed = vague.model_copy(update={"new_start": datetime(2030, 1, 8, 10, tzinfo=UTC)})
    assert call_outcome_problems(agreed) == []
    for outcome in set(CallOutcome) - {CallOutcome.REACHED_RESCHEDULED}:
        assert call_outcome_problems(RecordCallOutcomeInput(outcome=outcome)) == []


def _reminder_context(booked: AppointmentRequest) -> dict[str, Any]:
    return {
        "service": booked.service,
        "location": booked.location,
        "client_name": booked.client.name,
        "start": booked.start.isoformat(),
        "timezone": booked.client.timezone,
        "instructions": "",
        "confirmed": True,
        "links": {"cancel": "c", "reschedule": "r"},
        "reference": booked.appointment_id,
    }


async def test_booking_in_the_past_is_refused_and_nothing_starts(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    now = await env.get_current_time()
    request = appointment(now - timedelta(minutes=1))
    with pytest.raises(BookingRejected, match="start: .* is not in the future"):
        await book(env.client, request, settings, now)
    with pytest.raises(RPCError) as caught:
        await env.client.get_workflow_handle(request.workflow_id).describe()
    assert caught.value.status is RPCStatusCode.NOT_FOUND


async def test_second_booking_with_the_same_id_points_at_the_existing_workflow(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    now = await env.get_current_time()
    request = appointment(now + timedelta(days=3))
    first = await book(env.client, request, settings, now)
    with pytest.raises(CaseExists) as caught:
        await book(env.client, request, settings, now)
    assert caught.value.workflow_id == first.id == f"appointment-{request.appointment_id}"
    await env.sleep(timedelta(minutes=1))  # let its first activities finish before ending it
    await first.terminate("test over")


async def test_confirm_on_a_completed_appointment_is_refused_without_a_trace(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    now = await env.get_current_time()
    request = appointment(now + timedelta(hours=30))
    handle = await book(env.client, request, settings, now)
    await env.sleep(timedelta(hours=30) - timedelta(minutes=5))
    await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=STAFF))
    await env.sleep(timedelta(minutes=30))
    await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))

    async def update_events() -> int:
        history = await handle.fetch_history()
        return sum(
            1
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        )

    before = await update_events()
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    assert caught.value.cause is not None
    assert "already Completed" in str(caught.value.cause)
    assert await update_events() == before
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.COMPLETED
    assert all(entry.data.get("status") != "Confirmed" for entry in view.timeline)
    await end_workflows(env, f"survey-{handle.id}")
    assert (await handle.result()).status is AppointmentStatus.COMPLETED


async def test_a_new_time_beyond_the_booking_limit_is_refused_before_it_enters_history(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """The Python client reaches the workflow without the API's checks: the workflow refuses a
    time the API would (422 naming `new_start`), and the case takes the next update as usual.
    (The dev server: the reschedule cancels sends in flight, a race the time-skipping server
    mishandles, tests/helpers.py `settled`.)"""
    now = datetime.now(UTC)
    request = appointment(now + timedelta(days=5))
    far = now + timedelta(days=4 * 365)
    last_day = datetime(9999, 12, 31, 22, tzinfo=UTC)  # the end of time, where deadlines overflow
    async with create_worker(dev_env.client, settings, pool=pool):
        handle = await book(dev_env.client, request, settings, now)
        for new_start in (far, last_day):
            with pytest.raises(WorkflowUpdateFailedError) as caught:
                await handle.execute_update(
                    AppointmentWorkflow.reschedule,
                    RescheduleInput(new_start=new_start, actor=CLIENT),
                )
            cause = caught.value.cause
            assert isinstance(cause, ApplicationError) and cause.type == INVALID_FIELD
            assert list(cause.details) == ["new_start"]
            assert "more than 3 years ahead" in cause.message
        agreed = RecordCallOutcomeInput(
            outcome=CallOutcome.REACHED_RESCHEDULED, new_start=far, actor=STAFF
        )
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(AppointmentWorkflow.record_call_outcome, agreed)
        assert "more than 3 years ahead" in str(caught.value.cause)

        moved = await handle.execute_update(
            AppointmentWorkflow.reschedule,
            RescheduleInput(new_start=request.start + timedelta(days=1), actor=CLIENT),
        )
        assert moved.start == request.start + timedelta(days=1) and moved.reschedules == 1
        await handle.terminate("test over")
