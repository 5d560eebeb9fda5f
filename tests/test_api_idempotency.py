"""Every POST honours `Idempotency-Key`: a repeat changes nothing and answers the first answer.

The API runs on the dev server with a worker whose email goes to the SendGrid fake, so
"one effect" is what the client would notice: one delay notice received, not two.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentView, appointment_workflow_id
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, serving, with_api_keys
from tests.helpers import appointment, settled
from tests.sendgrid_fake import RecordedRequest, SendGridFake


@pytest_asyncio.fixture(loop_scope="session")
async def http(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> AsyncIterator[httpx.AsyncClient]:
    emailing = settings.model_copy(
        update={"sendgrid_api_key": SecretStr("SG.test"), "sendgrid_host": sendgrid.url}
    )
    async with serving(dev_env.client, with_api_keys(emailing), pool) as client:
        yield client


def _keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def _delay_notices(fake: SendGridFake) -> list[RecordedRequest]:
    return [r for r in fake.requests if "delay" in r.idempotency_key and r.response.status == 202]


async def _wait_for(predicate: object, what: str) -> None:
    for _ in range(150):
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def _booked(http: httpx.AsyncClient) -> str:
    """A visit in 90 minutes: check-in is open, so a delay may be reported."""
    body = appointment(datetime.now(UTC) + timedelta(minutes=90)).model_dump(mode="json")
    key = str(uuid.uuid4())
    first = await http.post("/appointments", json=body, headers=_keyed(BACKOFFICE_KEY, key))
    assert first.status_code == 201, first.text
    again = await http.post("/appointments", json=body, headers=_keyed(BACKOFFICE_KEY, key))
    assert again.status_code == 201, "the repeat answers the first answer (201, not 200)"
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    return str(body["appointment_id"])


async def test_a_retried_delay_report_is_applied_once_and_answers_the_first_answer(
    http: httpx.AsyncClient, sendgrid: SendGridFake, dev_env: WorkflowEnvironment
) -> None:
    appointment_id = await _booked(http)
    path = f"/appointments/{appointment_id}/report_delay"
    delay = {"minutes": 10, "reason": "traffic"}
    key = str(uuid.uuid4())

    first = await http.post(path, json=delay, headers=_keyed(STAFF_KEY, key))
    assert first.status_code == 200, first.text
    assert first.json()["delay_minutes"] == 10
    for _ in range(2):  # a client that timed out and tries again
        again = await http.post(path, json=delay, headers=_keyed(STAFF_KEY, key))
        assert again.status_code == 200, again.text
        assert again.json() == first.json()

    await _wait_for(lambda: len(_delay_notices(sendgrid)) >= 1, "the delay notice")
    status = await http.get(f"/appointments/{appointment_id}", headers=STAFF_KEY)
    assert status.json()["delay_minutes"] == 10, "not doubled"
    await settled(dev_env.client, appointment_workflow_id(appointment_id))  # all sends done
    assert len(_delay_notices(sendgrid)) == 1

    other = await http.post(path, json=delay, headers=_keyed(STAFF_KEY, str(uuid.uuid4())))
    assert other.status_code == 200, other.text
    assert other.json()["delay_minutes"] == 20, "another key is another report"
    await _wait_for(lambda: len(_delay_notices(sendgrid)) == 2, "the second delay notice")


async def test_a_retry_with_its_json_keys_in_another_order_is_the_same_request(
    http: httpx.AsyncClient,
) -> None:
    """A client that re-serialises its retry (another key order, other spacing) repeats the
    same request: the first answer again, not "used for a different request"."""
    appointment_id = await _booked(http)
    path = f"/appointments/{appointment_id}/report_delay"
    late = {"minutes": 10, "reason": "traffic", "actor": {"kind": "client", "id": "C-17"}}
    key = str(uuid.uuid4())
    first = await http.post(path, json=late, headers=_keyed(BACKOFFICE_KEY, key))
    assert first.status_code == 200, first.text

    reordered = {"actor": {"id": "C-17", "kind": "client"}, "reason": "traffic", "minutes": 10}
    json_headers = {**_keyed(BACKOFFICE_KEY, key), "Content-Type": "application/json"}
    again = await http.post(path, content=json.dumps(reordered, indent=2), headers=json_headers)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()

    other = await http.post(path, json={**late, "minutes": 20}, headers=_keyed(BACKOFFICE_KEY, key))
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    status = await http.get(f"/appointments/{appointment_id}", headers=STAFF_KEY)
    assert status.json()["no_show_at"] == first.json()["no_show_at"], "moved once"


async def test_a_key_stored_before_json_was_compared_as_json_still_replays_its_bytes(
    http: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    """A key claimed by the API before the upgrade carries the fingerprint of the body's bytes:
    a retry across the upgrade with the same bytes is still the same request. A retry
    re-serialised differently is refused, as it was before (docs/idempotency.md)."""
    appointment_id = await _booked(http)
    path = f"/appointments/{appointment_id}/report_delay"
    sent = b'{"minutes": 5, "reason": "traffic"}'
    key = str(uuid.uuid4())
    headers = {**_keyed(STAFF_KEY, key), "Content-Type": "application/json"}
    first = await http.post(path, content=sent, headers=headers)
    assert first.status_code == 200, first.text
    # What the API before stored: a SHA-256 of the path, the query and the bytes.
    old = hashlib.sha256(b"\0".join([path.encode(), b"", sent])).hexdigest()
    key_hash = hashlib.sha256(f"key:desk\0{key}".encode()).hexdigest()
    async with pool.connection() as conn:
        stored = await conn.execute(
            "UPDATE api_idempotency SET fingerprint = %s WHERE key_hash = %s", (old, key_hash)
        )
        assert stored.rowcount == 1

    again = await http.post(path, content=sent, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    reordered = await http.post(path, content=b'{"reason":"traffic","minutes":5}', headers=headers)
    assert reordered.status_code == 422, reordered.text


async def test_the_update_is_applied_once_even_when_the_stored_answer_is_lost(
    http: httpx.AsyncClient,
    sendgrid: SendGridFake,
    pool: AsyncConnectionPool,
    dev_env: WorkflowEnvironment,
) -> None:
    """The first request's answer never reached the store (PostgreSQL was down, or the API
    died after Temporal applied the update): the update id derived from the key still makes
    Temporal answer the first outcome instead of applying it again."""
    appointment_id = await _booked(http)
    path = f"/appointments/{appointment_id}/report_delay"
    delay = {"minutes": 5, "reason": "previous visit ran over"}
    key = str(uuid.uuid4())
    first = await http.post(path, json=delay, headers=_keyed(STAFF_KEY, key))
    assert first.status_code == 200, first.text
    async with pool.connection() as conn:
        deleted = await conn.execute("DELETE FROM api_idempotency WHERE status IS NOT NULL")
        assert deleted.rowcount >= 1

    again = await http.post(path, json=delay, headers=_keyed(STAFF_KEY, key))
    assert again.status_code == 200, again.text
    assert "Idempotent-Replayed" not in again.headers, "answered by Temporal, not the store"
    first_view = AppointmentView.model_validate(first.json())
    again_view = AppointmentView.model_validate(again.json())
    assert again_view.delay_minutes == first_view.delay_minutes == 5
    assert again_view.timeline == first_view.timeline
    await _wait_for(lambda: len(_delay_notices(sendgrid)) >= 1, "the delay notice")
    await settled(dev_env.client, appointment_workflow_id(appointment_id))  # all sends done
    assert len(_delay_notices(sendgrid)) == 1


async def test_a_refusal_is_the_first_answer_too_and_a_key_is_bound_to_its_request(
    http: httpx.AsyncClient,
) -> None:
    appointment_id = await _booked(http)
    base = f"/appointments/{appointment_id}"
    key = str(uuid.uuid4())
    refused = await http.post(f"{base}/complete", headers=_keyed(STAFF_KEY, key))
    assert refused.status_code == 409, refused.text  # nobody checked in
    again = await http.post(f"{base}/complete", headers=_keyed(STAFF_KEY, key))
    assert again.status_code == 409 and again.json() == refused.json()

    reused = await http.post(f"{base}/confirm", headers=_keyed(STAFF_KEY, key))
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert reused.json()["request_id"] == reused.headers["X-Request-Id"]
    spaced = await http.post(f"{base}/confirm", headers=_keyed(STAFF_KEY, "my key"))
    assert spaced.status_code == 422
    assert spaced.json()["errors"] == [
        {
            "field": "Idempotency-Key",
            "reason": "must be 1 to 255 printable ASCII characters without spaces (a UUID will do)",
        }
    ]
    status = await http.get(base, headers=STAFF_KEY)
    assert status.json()["status"] == "Booked", "the refused reuse changed nothing"

    bad = await http.post(f"{base}/confirm", headers=_keyed(STAFF_KEY, "two words"))
    assert bad.status_code == 422
    assert any("idempotency-key" in e["field"].lower() for e in bad.json()["errors"])

    # Another caller's identical key is its own command.
    other_caller = await http.post(f"{base}/confirm", headers=_keyed(BACKOFFICE_KEY, key))
    assert other_caller.status_code == 200, other_caller.text
    assert other_caller.json()["status"] == "Confirmed"


async def test_the_header_is_in_the_api_reference(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    posts = [
        (path, item["post"])
        for path, item in spec["paths"].items()
        if "post" in item and not path.startswith("/codec")
    ]
    assert posts
    for path, operation in posts:
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in names, path
