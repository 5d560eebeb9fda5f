"""What needs staff attention shows outside the case: in the Temporal UI's current details as
soon as a flag is raised (not at the planner's next timer), and in the `NeedsAttention` search
attribute that visibility queries and `promptly list --attention` filter on, until the flag
goes. On a real dev server (visibility) with SendGrid's fake refusing every email (400)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import AcknowledgeInput, ConfirmInput
from promptly.services.appointments import book
from promptly.services.inquiries import record_inquiry
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.api_support import STAFF_KEY, serving, with_api_keys
from tests.complaint_helpers import inquiry
from tests.conftest import Promptly
from tests.helpers import CLIENT, PROVIDER, appointment, until
from tests.sendgrid_fake import SendGridFake

WARSAW = ZoneInfo("Europe/Warsaw")
CONFIRMATION = "confirmation not sent"
NOTICE = "provider notice not sent"
ACKNOWLEDGEMENT = "acknowledgement not sent"


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def until_listed(client: Client, query: str, workflow_id: str, *, listed: bool) -> bool:
    """Whether `query` lists `workflow_id`, once that is `listed` (visibility lags) or 10s."""
    found = not listed
    for _ in range(40):
        found = workflow_id in {execution.id async for execution in client.list_workflows(query)}
        if found is listed:
            break
        await asyncio.sleep(0.25)
    return found


async def test_a_refused_confirmation_shows_in_the_ui_and_lists_the_case_until_it_is_moot(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
    promptly: Promptly,
) -> None:
    client = dev_env.client
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    sendgrid.outage(400)  # a permanent refusal: flagged and handed to the desk at once
    by_flag = f"WorkflowType = 'AppointmentWorkflow' AND NeedsAttention = '{CONFIRMATION}'"
    async with serving(client, with_api_keys(settings), pool) as api:
        request = appointment(datetime.now(WARSAW) + timedelta(days=5), locale="en")
        handle = await book(client, request, settings, datetime.now(WARSAW))

        # The planner sleeps until the provider's 24h mark, yet the UI says it now.
        async def shown() -> str | None:
            details = await current_details(handle)
            return details if CONFIRMATION in details and NOTICE in details else None

        details = await until(shown, "the flags in the current details")
        assert details.startswith("**Booked** · visit ") and " · next: " in details
        assert "needs attention: " in details

        assert await until_listed(client, by_flag, handle.id, listed=True)
        described = await handle.describe()
        attributes = {p.key.name: p.value for p in described.typed_search_attributes}
        assert set(attributes["NeedsAttention"]) == {CONFIRMATION, NOTICE}

        # Email is back: a visit booked now needs nothing from anyone, and is not listed.
        sendgrid.recover()
        fine = await book(
            client, appointment(request.start, locale="en"), settings, datetime.now(WARSAW)
        )

        async def both_sent() -> bool:  # its confirmation and its provider notice
            return len(sendgrid.accepted) >= 2

        await until(both_sent, "the second booking's messages")
        attention = await promptly("list", "--attention")
        assert attention.exit_code == 0, attention.output
        [line] = [row for row in attention.stdout.splitlines() if handle.id in row]
        assert "needs attention: " in line and CONFIRMATION in line and NOTICE in line
        assert fine.id not in attention.stdout
        complaints = await promptly("complaint", "list", "--attention")
        assert complaints.exit_code == 0, complaints.output
        # The same list for a back office, each case with its flags.
        listed = await api.get("/appointments?needs_attention=true", headers=STAFF_KEY)
        assert listed.status_code == 200, listed.text
        [item] = [i for i in listed.json()["items"] if i["workflow_id"] == handle.id]
        assert set(item["needs_attention"]) == {CONFIRMATION, NOTICE}
        assert fine.id not in listed.text
        every = await api.get("/appointments", headers=STAFF_KEY)
        [item] = [i for i in every.json()["items"] if i["workflow_id"] == fine.id]
        assert item["needs_attention"] == []

        # The client confirms: the confirmation no longer needs passing on, nor its flag.
        await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
        assert not await until_listed(client, by_flag, handle.id, listed=False)
        assert CONFIRMATION not in await current_details(handle)
        notice = f"WorkflowType = 'AppointmentWorkflow' AND NeedsAttention = '{NOTICE}'"
        assert await until_listed(client, notice, handle.id, listed=True)

        # The provider acknowledges: nothing is left to do, the attribute goes.
        await handle.execute_update(
            AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER)
        )
        flagged = "WorkflowType = 'AppointmentWorkflow' AND NeedsAttention IS NOT NULL"
        assert not await until_listed(client, flagged, handle.id, listed=False)
        assert "needs attention" not in await current_details(handle)
        attention = await promptly("list", "--attention")
        assert attention.exit_code == 0 and handle.id not in attention.stdout, attention.output
        for case in (handle, fine):
            await case.terminate("test over")


async def test_a_refused_inquiry_acknowledgement_shows_in_the_ui_at_once(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    client = dev_env.client
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    sendgrid.outage(400)
    async with create_worker(client, settings, pool=pool):
        handle = await record_inquiry(client, inquiry(), settings)

        # The inquiry waits a day for its answer, yet the UI says now what needs doing.
        async def shown() -> str | None:
            details = await current_details(handle)
            return details if ACKNOWLEDGEMENT in details else None

        details = await until(shown, "the flag in the inquiry's current details")
        assert details.startswith("**Open** · ") and " · next: " in details
        assert details.endswith(f"needs attention: {ACKNOWLEDGEMENT}")
        await handle.terminate("test over")
