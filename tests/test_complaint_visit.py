"""A complaint's `appointment_id` names a visit of that customer's on record: an unknown visit
or another client's is bad input (422 naming the field at the API, exit 2 at the CLI) and
nothing starts; a visit Temporal no longer holds but PostgreSQL does is still the customer's."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, eventually
from tests.complaint_helpers import complaint_payload
from tests.conftest import Promptly
from tests.helpers import appointment

ANNA = complaint_payload()["customer"]  # C-17, the client of `appointment`
OTHER = {**ANNA, "id": "C-99", "name": "Ola Nowak"}


async def _not_started(env: WorkflowEnvironment, complaint_id: str) -> None:
    with pytest.raises(RPCError) as caught:
        await env.client.get_workflow_handle(f"complaint-{complaint_id}").describe()
    assert caught.value.status is RPCStatusCode.NOT_FOUND


async def _booked(api: httpx.AsyncClient) -> str:
    visit = appointment(datetime.now(UTC) + timedelta(days=10))
    booked = await api.post(
        "/appointments", json=visit.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert booked.status_code == 201, booked.text
    return visit.appointment_id


async def _archived(pool: AsyncConnectionPool, client_id: str) -> str:
    """A visit whose history Temporal's retention deleted: only its PostgreSQL row is left."""
    appointment_id = f"A-old-{uuid.uuid4().hex[:8]}"
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id, details,
                                  created_at, updated_at)
               VALUES (%s, 'appointment', %s, 'Completed', %s, %s, %s, %s)""",
            (
                f"appointment-{appointment_id}",
                appointment_id,
                client_id,
                Jsonb({}),
                datetime.now(UTC) - timedelta(days=60),
                datetime.now(UTC) - timedelta(days=58),
            ),
        )
    return appointment_id


async def test_a_complaint_names_only_a_visit_of_its_customer_on_record(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, dev_env: WorkflowEnvironment
) -> None:
    annas = await _booked(api)
    await eventually(api, f"/appointments/{annas}", lambda r: r.status_code == 200, STAFF_KEY)

    refused: dict[str, str] = {
        "NOPE-9": "no appointment NOPE-9 is on record",
        annas: f"appointment {annas} is not customer C-99's visit",
    }
    for appointment_id, reason in refused.items():
        body = complaint_payload(customer=OTHER, appointment_id=appointment_id)
        filed = await api.post("/complaints", json=body, headers=BACKOFFICE_KEY)
        assert filed.status_code == 422, filed.text
        [problem] = filed.json()["errors"]
        assert problem["field"] == "appointment_id"
        assert problem["reason"].startswith(reason), problem
        await _not_started(dev_env, body["complaint_id"])

    # Her own visit, and one she had two months ago that only PostgreSQL still holds.
    for appointment_id in (annas, await _archived(pool, "C-17")):
        body = complaint_payload(appointment_id=appointment_id)
        filed = await api.post("/complaints", json=body, headers=BACKOFFICE_KEY)
        assert filed.status_code == 201, filed.text
    stranger = complaint_payload(customer=OTHER, appointment_id=await _archived(pool, "C-17"))
    filed = await api.post("/complaints", json=stranger, headers=BACKOFFICE_KEY)
    assert filed.status_code == 422, filed.text


async def test_the_cli_refuses_another_clients_visit_and_starts_nothing(
    api: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    dev_env: WorkflowEnvironment,
    promptly: Promptly,
    tmp_path: Path,
) -> None:
    theirs = await _archived(pool, "C-17")

    def written(body: dict[str, Any]) -> str:
        path = tmp_path / f"{body['complaint_id']}.json"
        path.write_text(json.dumps(body))
        return str(path)

    body = complaint_payload(customer=OTHER, appointment_id=theirs)
    result = await promptly("complaint", "file", written(body))
    assert result.exit_code == 2, result.output
    assert f"appointment_id: appointment {theirs} is not customer C-99's visit" in result.output
    await _not_started(dev_env, body["complaint_id"])

    own = complaint_payload(appointment_id=theirs)
    result = await promptly("complaint", "file", written(own))
    assert result.exit_code == 0, result.output
    assert f"filed: complaint-{own['complaint_id']}" in result.output


async def test_a_repeat_after_the_visit_was_purged_is_already_filed_not_bad_input(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, promptly: Promptly, tmp_path: Path
) -> None:
    visit = await _archived(pool, "C-17")
    body = complaint_payload(appointment_id=visit)
    filed = await api.post("/complaints", json=body, headers=BACKOFFICE_KEY)
    assert filed.status_code == 201, filed.text
    async with pool.connection() as conn:  # the visit's record reaches its retention's end
        await conn.execute("DELETE FROM cases WHERE case_id = %s", (f"appointment-{visit}",))

    again = await api.post("/complaints", json=body, headers=BACKOFFICE_KEY)
    assert again.status_code == 200, again.text  # the same request: the case it started
    path = tmp_path / "complaint.json"
    path.write_text(json.dumps(body))
    result = await promptly("complaint", "file", str(path))
    assert result.exit_code == 0 and "already filed" in result.output, result.output
