"""The client link pages and the CLI's status commands read a case from PostgreSQL like the
API's GET (docs/status-reads.md), on a real dev server: they answer with no worker polling
(when the `status` query cannot), and a page opened right after a link's action shows it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, client_links, eventually
from tests.complaint_helpers import complaint_payload
from tests.conftest import Promptly
from tests.helpers import appointment
from tests.test_status_reads import _stored, app

IN_TEN_DAYS = timedelta(days=10)


def _in_ten_days() -> datetime:
    # Whole seconds: a link names the start it was sent for to the second.
    return (datetime.now(UTC) + IN_TEN_DAYS).replace(second=0, microsecond=0)


NO_WORKER = timedelta(seconds=2)


async def _query_cannot_answer(handle: WorkflowHandle[Any, Any]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - an RPC deadline or a query failure
        await handle.query(AppointmentWorkflow.status, rpc_timeout=NO_WORKER)


async def test_link_pages_answer_with_no_worker_and_show_an_action_at_once(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request = appointment(_in_ten_days(), locale="en")
    path = f"/appointments/{request.appointment_id}"
    handle = dev_env.client.get_workflow_handle(request.workflow_id)
    async with app(dev_env.client, settings, pool) as http:
        try:
            async with create_worker(dev_env.client, settings, pool=pool):
                booked = await http.post(
                    "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
                )
                assert booked.status_code == 201, booked.text
                tokens = await client_links(pool, settings, request.workflow_id)
                await eventually(http, path, _stored, STAFF_KEY, tries=300)
                confirm, cancel = f"/c/{tokens['confirm']}", f"/c/{tokens['cancel']}"
                done = await http.post(confirm)
                assert "your appointment is confirmed" in done.text, done.text
                # Opened right after the action: the stored case already has it.
                again = await http.get(confirm)
                assert again.status_code == 200
                assert "Your appointment is already confirmed" in again.text

            # No worker: the query cannot answer, the pages still can, from PostgreSQL.
            await _query_cannot_answer(handle)
            again = await http.get(confirm)
            assert "Your appointment is already confirmed" in again.text
            form = await http.get(cancel)
            assert form.status_code == 200 and 'name="reason"' in form.text
            assert "Anna Nowak" in form.text  # the client's own page, from the stored case

            async with create_worker(dev_env.client, settings, pool=pool):
                cancelled = await http.post(cancel, data={"reason": "away"})
                assert "Your appointment is cancelled" in cancelled.text, cancelled.text
                # Right after the cancel, every link of the case says it is over.
                final = await http.get(confirm)
                assert final.status_code == 409 and "can no longer be changed" in final.text
                assert "cancelled" in final.text
        finally:
            await handle.terminate("test over")


async def test_cli_status_answers_with_no_worker(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    promptly: Promptly,
) -> None:
    request = appointment(_in_ten_days())
    complaint = complaint_payload()
    path = f"/appointments/{request.appointment_id}"
    handle = dev_env.client.get_workflow_handle(request.workflow_id)
    complaint_handle = dev_env.client.get_workflow_handle(f"complaint-{complaint['complaint_id']}")
    async with app(dev_env.client, settings, pool) as http:
        try:
            async with create_worker(dev_env.client, settings, pool=pool):
                booked = await http.post(
                    "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
                )
                assert booked.status_code == 201, booked.text
                filed = await http.post("/complaints", json=complaint, headers=BACKOFFICE_KEY)
                assert filed.status_code == 201, filed.text
                await eventually(http, path, _stored, STAFF_KEY, tries=300)
                complaint_path = f"/complaints/{complaint['complaint_id']}"
                await eventually(http, complaint_path, _stored, STAFF_KEY, tries=300)
                confirmed = await promptly(
                    "confirm", request.appointment_id, "--actor-kind", "staff", "--actor-id", "ewa"
                )
                assert confirmed.exit_code == 0, confirmed.output
                # Right after the update: the stored case has it.
                status = await promptly("status", request.appointment_id)
                assert status.exit_code == 0, status.output
                assert f"{request.appointment_id}  Confirmed" in status.stdout

            await _query_cannot_answer(handle)
            status = await promptly("status", request.appointment_id)
            assert status.exit_code == 0, status.output
            assert f"{request.appointment_id}  Confirmed" in status.stdout
            assert "staff:ewa" in status.stdout  # the timeline, from its stored rows
            complaint_status = await promptly("complaint", "status", complaint["complaint_id"])
            assert complaint_status.exit_code == 0, complaint_status.output
            assert f"{complaint['complaint_id']}  Open" in complaint_status.stdout
            # Office time to the minute, the zone named; the hold as hours and minutes.
            zone = settings.office_timezone
            assert re.search(
                rf"resolution due \d{{4}}-\d\d-\d\d \d\d:\d\d {zone}  ", complaint_status.stdout
            )
            assert "time on hold 0 h 00 min" in complaint_status.stdout
        finally:
            await handle.terminate("test over")
            await complaint_handle.terminate("test over")
