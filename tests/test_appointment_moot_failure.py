"""A send that failed for good is still being recorded (the ledger's `abandoned`, then the
front-desk task) when the visit is cancelled or moved: the change finds nothing in flight to
cancel, and closes the case's tasks before that task exists. The case must not hand the
front desk a message for a visit that no longer stands.

The ledger write is slowed to two seconds, the window a slow or restarting PostgreSQL opens
in production; the real SendGrid client meets a fake that refuses the client's address.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from promptly.activities.messaging import MessagingActivities
from promptly.config import Settings
from promptly.domain.appointments.models import CancelInput, RescheduleInput
from promptly.domain.messages import AbandonMessageRequest
from promptly.services.appointments import book
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import CLIENT, STAFF, appointment, settled, tasks, until
from tests.sendgrid_fake import SendGridFake

pytestmark = pytest.mark.asyncio(loop_scope="session")

_ABANDON = MessagingActivities.abandon_message


class _SlowLedger:
    @activity.defn(name="abandon_message")
    async def abandon_message(self, request: AbandonMessageRequest) -> None:
        await asyncio.sleep(2)
        await _ABANDON(self, request)  # type: ignore[arg-type]


@pytest.mark.parametrize("change", ["cancel", "reschedule"])
async def test_a_failure_recorded_while_the_visit_changes_asks_nobody_to_pass_it_on(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    monkeypatch.setattr(MessagingActivities, "abandon_message", _SlowLedger.abandon_message)
    with SendGridFake(api_key="SG.test") as sendgrid:
        settings.sendgrid_api_key = SecretStr("SG.test")
        settings.sendgrid_host = sendgrid.url
        start = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)
        request = appointment(start, locale="en", email="bounce-anna@example.com")
        async with create_worker(dev_env.client, settings, pool=pool):
            handle = await book(dev_env.client, request, settings, datetime.now(UTC))

            async def recording_the_failure() -> bool:
                described = await handle.describe()
                pending = described.raw_description.pending_activities
                return any(a.activity_type.name == "abandon_message" for a in pending)

            await until(recording_the_failure, "the refused confirmation being abandoned")
            if change == "cancel":
                update = handle.execute_update(
                    AppointmentWorkflow.cancel, CancelInput(reason="client called", actor=STAFF)
                )
            else:
                update = handle.execute_update(
                    AppointmentWorkflow.reschedule,
                    RescheduleInput(new_start=start + timedelta(days=2), actor=CLIENT),
                )
            view = await update
            await settled(dev_env.client, handle.id)
            after = await handle.query(AppointmentWorkflow.status)
            await handle.terminate("test over")

    # The refusal is on record; nobody is asked to confirm by hand a visit that moved or went.
    assert any(r.response.status == 400 for r in sendgrid.requests)
    by_hand = [
        t["idempotency_key"]
        for t in await tasks(pool, request.workflow_id)
        if t["kind"] == "send_confirmation_manually" and t["status"] == "open"
    ]
    assert not [key for key in by_hand if "/r0/" in key], by_hand  # the old visit's
    assert view.status.value == {"cancel": "Cancelled", "reschedule": "Booked"}[change]
    if change == "cancel":
        assert "confirmation not sent" not in after.needs_attention
    else:  # the new time's confirmation fails too, and that one is handed on
        assert [key.rsplit("/", 2)[-2] for key in by_hand] == ["r1"]
