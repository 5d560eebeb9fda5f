"""`make demo`: sample appointments played out on a compressed-time worker.

The demo runs its own worker on the `<task queue>-demo` queue with every policy duration
multiplied by `time_scale`, so a three-day lifecycle plays out in the UI within minutes
while the main worker keeps real time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from promptly.config import Settings
from promptly.domain.models import (
    AcknowledgeInput,
    Actor,
    ActorKind,
    AppointmentRequest,
    CallOutcome,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    RecordCallOutcomeInput,
)
from promptly.starter.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow

CLIENT = Actor(kind=ActorKind.CLIENT, id="demo-client")
DESK = Actor(kind=ActorKind.STAFF, id="demo-front-desk")
PROVIDER = Actor(kind=ActorKind.PROVIDER, id="P-3")


def sample(appointment_id: str, start: datetime, channel: str, locale: str) -> AppointmentRequest:
    return AppointmentRequest.model_validate(
        {
            "appointment_id": appointment_id,
            "client": {
                "id": f"C-{appointment_id}",
                "name": "Anna Nowak",
                "email": "anna@example.com",
                "phone": "+48600100200",
                "preferred_channel": channel,
                "locale": locale,
                "timezone": "Europe/Warsaw",
            },
            "provider": {"id": "P-3", "name": "Jan Kowalski", "email": "jan@example.com"},
            "service": "Physiotherapy consultation",
            "location": "ul. Prosta 1, Warszawa",
            "start": start.isoformat(),
            "duration_minutes": 50,
            "instructions": "Bring previous test results",
        }
    )


async def _sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


async def run(settings: Settings, time_scale: float) -> None:
    from promptly.worker import create_worker, make_client, open_pool

    demo_settings = settings.model_copy(
        update={"time_scale": time_scale, "task_queue": f"{settings.task_queue}-demo"}
    )
    client = await make_client(demo_settings)
    async with open_pool(demo_settings) as pool, create_worker(client, demo_settings, pool=pool):
        now = datetime.now(UTC)
        tag = now.strftime("%H%M%S")
        ahead = timedelta(hours=72) * time_scale
        scenarios = [
            _confirmed_and_completed(client, demo_settings, f"DEMO-{tag}-confirmed", now + ahead),
            _silent_client(client, demo_settings, f"DEMO-{tag}-silent", now + ahead),
            _confirmed_by_phone(client, demo_settings, f"DEMO-{tag}-phone", now + ahead),
            _confirmed_and_completed(
                client,
                demo_settings,
                f"DEMO-{tag}-short-notice",
                now + timedelta(hours=12) * time_scale,
            ),
        ]
        print(
            f"demo: 4 appointments, visits in about {ahead.total_seconds() / 60:.0f} minutes;"
            " watch them at http://localhost:8233"
        )
        for result in await asyncio.gather(*scenarios):
            print(f"demo: {result}")


async def _confirmed_and_completed(
    client: Client, settings: Settings, appointment_id: str, start: datetime
) -> str:
    handle = await book(
        client, sample(appointment_id, start, "email", "en"), settings, datetime.now(UTC)
    )
    await asyncio.sleep(20)
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER))
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    await _sleep_until(start)
    await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=DESK))
    await asyncio.sleep(5)
    await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))
    return f"{appointment_id}: {(await handle.result()).status.value}"


async def _silent_client(
    client: Client, settings: Settings, appointment_id: str, start: datetime
) -> str:
    handle = await book(
        client, sample(appointment_id, start, "email", "pl"), settings, datetime.now(UTC)
    )
    return f"{appointment_id}: {(await handle.result()).status.value}"


async def _confirmed_by_phone(
    client: Client, settings: Settings, appointment_id: str, start: datetime
) -> str:
    handle = await book(
        client, sample(appointment_id, start, "phone", "pl"), settings, datetime.now(UTC)
    )
    view = await handle.query(AppointmentWorkflow.status)
    await _sleep_until(view.response_deadline + timedelta(seconds=5))
    await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(outcome=CallOutcome.REACHED_CONFIRMED, note="demo", actor=DESK),
    )
    await _sleep_until(start)
    await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=DESK))
    await asyncio.sleep(5)
    await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))
    return f"{appointment_id}: {(await handle.result()).status.value}"
