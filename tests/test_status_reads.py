"""A case's GET answers from PostgreSQL (docs/status-reads.md), on a real dev server.

The stored answer is the workflow's own view (same JSON as the `status` query), it answers
with no worker polling (when the query cannot), and after an update it is never older than
what the update returned.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from promptly.activities.records import RecordsActivities
from promptly.api.app import create_app
from promptly.api.case_reads import AS_OF_HEADER, SOURCE_HEADER
from promptly.config import Settings
from promptly.domain.common import (
    Actor,
    ActorKind,
    CaseKind,
    CaseReadView,
    CaseSnapshot,
    TimelineEntry,
    TimelineKind,
)
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, eventually, with_api_keys
from tests.complaint_helpers import complaint_payload, inquiry
from tests.helpers import appointment

IN_TEN_DAYS = timedelta(days=10)


@asynccontextmanager
async def app(
    client: Client, settings: Settings, pool: AsyncConnectionPool, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The API alone (no worker), with `changes` to its settings."""
    application = create_app(
        with_api_keys(settings).model_copy(update=changes), client=client, pool=pool
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(application.router.lifespan_context(application))
        yield await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application), base_url="http://promptly.test"
            )
        )


def _stored(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.headers[SOURCE_HEADER] == "record"


async def test_get_answers_from_postgresql_with_no_worker_and_matches_the_query(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request = appointment(datetime.now(UTC) + IN_TEN_DAYS)
    path = f"/appointments/{request.appointment_id}"
    handle = dev_env.client.get_workflow_handle(f"appointment-{request.appointment_id}")
    async with (
        app(dev_env.client, settings, pool) as http,
        app(dev_env.client, settings, pool, status_reads="workflow") as query_api,
    ):
        try:
            async with create_worker(dev_env.client, settings, pool=pool):
                booked = await http.post(
                    "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
                )
                assert booked.status_code == 201, booked.text
                confirmed = await http.post(f"{path}/confirm", headers=STAFF_KEY)
                assert confirmed.status_code == 200, confirmed.text
                # Once the confirmation and the provider's notice have gone out, nothing moves
                # for days: the stored view and the query answer the very same JSON.
                sent = {"confirmation", "provider_booking"}

                def settled(response: httpx.Response) -> bool:
                    templates = {e["data"].get("template") for e in response.json()["timeline"]}
                    return response.status_code == 200 and templates >= sent

                queried = await eventually(query_api, path, settled, STAFF_KEY, tries=300)
                assert queried.headers[SOURCE_HEADER] == "workflow"
                stored = await eventually(
                    http, path, lambda r: _stored(r) and r.json() == queried.json(), STAFF_KEY
                )
                assert stored.json()["status"] == "Confirmed"
                as_of = datetime.fromisoformat(stored.headers[AS_OF_HEADER])
                assert datetime.now(UTC) - as_of < timedelta(minutes=1)

            # The worker is gone: the query cannot be answered, the GET still is.
            with pytest.raises(Exception):  # noqa: B017 - an RPC deadline or a query failure
                await handle.query(AppointmentWorkflow.status, rpc_timeout=timedelta(seconds=2))
            no_worker = await http.get(path, headers=STAFF_KEY)
            assert _stored(no_worker)
            assert no_worker.json() == stored.json()
        finally:
            await handle.terminate("test over")


async def test_a_repeated_start_answers_the_stored_case_with_no_worker(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """The same booking sent again during a deploy (no worker polling) answers 200 with the
    case at once, read as the GET reads it, instead of waiting for the query and a 504."""
    request = appointment(datetime.now(UTC) + IN_TEN_DAYS)
    body = request.model_dump(mode="json")
    path = f"/appointments/{request.appointment_id}"
    handle = dev_env.client.get_workflow_handle(f"appointment-{request.appointment_id}")
    async with app(dev_env.client, settings, pool) as http:
        try:
            async with create_worker(dev_env.client, settings, pool=pool):
                booked = await http.post("/appointments", json=body, headers=BACKOFFICE_KEY)
                assert booked.status_code == 201, booked.text
                await eventually(http, path, _stored, STAFF_KEY, tries=300)

            # The worker is gone: nothing answers the query any more.
            with pytest.raises(Exception):  # noqa: B017 - an RPC deadline or a query failure
                await handle.query(AppointmentWorkflow.status, rpc_timeout=timedelta(seconds=2))
            read = await http.get(path, headers=STAFF_KEY)
            assert _stored(read)
            started = asyncio.get_running_loop().time()
            again = await http.post("/appointments", json=body, headers=BACKOFFICE_KEY)
            took = asyncio.get_running_loop().time() - started
            assert again.status_code == 200, again.text
            assert took < 3, f"{took:.1f}s"
            assert again.json()["created"] is False
            assert again.json()["case"] == read.json()
            assert again.headers[SOURCE_HEADER] == "record"
            assert again.headers[AS_OF_HEADER] == read.headers[AS_OF_HEADER]
            # Other details under the same id are still refused, worker or not.
            other = await http.post(
                "/appointments", json={**body, "service": "Massage"}, headers=BACKOFFICE_KEY
            )
            assert other.status_code == 409, other.text
        finally:
            await handle.terminate("test over")


async def test_get_after_an_update_is_never_older_than_its_answer(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request = appointment(datetime.now(UTC) + timedelta(minutes=90))  # delays: check-in open
    path = f"/appointments/{request.appointment_id}"
    async with (
        app(dev_env.client, settings, pool) as http,
        create_worker(dev_env.client, settings, pool=pool),
    ):
        booked = await http.post(
            "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
        )
        assert booked.status_code == 201, booked.text
        await eventually(http, path, _stored, STAFF_KEY, tries=300)
        delay = {"minutes": 5, "reason": "previous visit ran over"}
        updates: list[tuple[str, dict[str, Any]]] = [("acknowledge", {}), ("confirm", {})]
        updates += [("report_delay", delay)] * 4
        for action, body in updates:
            answer = await http.post(f"{path}/{action}", json=body, headers=STAFF_KEY)
            assert answer.status_code == 200, answer.text
            after = await http.get(path, headers=STAFF_KEY)
            assert _stored(after), after.headers
            mine, read = answer.json(), after.json()
            # Whatever else happened since (a send's outcome), the read has the update.
            assert read["timeline"][: len(mine["timeline"])] == mine["timeline"], action
            for field in ("status", "provider_acknowledged", "delay_minutes", "free_reschedule"):
                assert read[field] == mine[field], (action, field)
        assert read["delay_minutes"] == 20 and read["status"] == "Confirmed"
        cancelled = await http.post(
            f"{path}/cancel", json={"reason": "test over"}, headers=STAFF_KEY
        )
        assert cancelled.status_code == 200, cancelled.text
        assert (await http.get(path, headers=STAFF_KEY)).json()["status"] == "Cancelled"


async def test_complaint_get_reads_postgresql_and_follows_its_updates(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    body = complaint_payload()
    path = f"/complaints/{body['complaint_id']}"
    async with (
        app(dev_env.client, settings, pool) as http,
        app(dev_env.client, settings, pool, status_reads="workflow") as query_api,
        create_worker(dev_env.client, settings, pool=pool),
    ):
        filed = await http.post("/complaints", json=body, headers=BACKOFFICE_KEY)
        assert filed.status_code == 201, filed.text
        await eventually(http, path, _stored, STAFF_KEY, tries=300)
        held = await http.post(f"{path}/hold", json={"reason": "receipts"}, headers=STAFF_KEY)
        assert held.status_code == 200, held.text
        after = await http.get(path, headers=STAFF_KEY)
        assert _stored(after) and after.json()["status"] == "OnHold"
        desk = {"kind": "staff", "id": "desk", "via": "desk"}  # the API key it came through
        assert desk in [entry["actor"] for entry in after.json()["timeline"]]
        queried = await query_api.get(path, headers=STAFF_KEY)
        await eventually(http, path, lambda r: r.json() == queried.json(), STAFF_KEY)
        resumed = await http.post(f"{path}/resume", headers=STAFF_KEY)
        assert resumed.status_code == 200, resumed.text
        after = await http.get(path, headers=STAFF_KEY)
        assert after.json()["status"] == resumed.json()["status"] == "Open"
        await dev_env.client.get_workflow_handle(f"complaint-{body['complaint_id']}").terminate(
            "test over"
        )


async def test_inquiry_get_reads_postgresql_and_shows_the_answer(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    body = inquiry().model_dump(mode="json")
    path = f"/inquiries/{body['inquiry_id']}"
    async with (
        app(dev_env.client, settings, pool) as http,
        app(dev_env.client, settings, pool, status_reads="workflow") as query_api,
        create_worker(dev_env.client, settings, pool=pool),
    ):
        created = await http.post("/inquiries", json=body, headers=BACKOFFICE_KEY)
        assert created.status_code == 201, created.text
        await eventually(http, path, _stored, STAFF_KEY, tries=300)
        answered = await http.post(f"{path}/answer", json={"text": "Yes, 9-13."}, headers=STAFF_KEY)
        assert answered.status_code == 200, answered.text
        after = await http.get(path, headers=STAFF_KEY)
        assert _stored(after)
        assert after.json()["status"] == answered.json()["status"] == "Answered"
        assert after.json()["answer"] == "Yes, 9-13."
        queried = await query_api.get(path, headers=STAFF_KEY)
        await eventually(http, path, lambda r: r.json() == queried.json(), STAFF_KEY)


def _snapshot(
    case_id: str, status: str, *, at: datetime, changes: int, entries: int
) -> CaseSnapshot:
    line = TimelineEntry(
        at=at, kind=TimelineKind.STATUS, actor=Actor(kind=ActorKind.SYSTEM, id="t"), detail=status
    )
    return CaseSnapshot(
        case_id=case_id,
        kind=CaseKind.INQUIRY,
        business_id=case_id,
        status=status,
        client_id="C-1",
        first_seq=0,
        entries=[line] * entries,
        read_view=CaseReadView(view={"status": status}, as_of=at, changes=changes),
    )


async def test_an_older_write_never_replaces_a_newer_view(pool: AsyncConnectionPool) -> None:
    records = RecordsActivities(pool)
    case_id = f"inquiry-Q-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)

    async def row() -> tuple[Any, ...]:
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT status, view, view_changes, view_timeline_to FROM cases WHERE case_id = %s",
                (case_id,),
            )
            found = await cursor.fetchone()
        assert found is not None
        return tuple(found)

    await records.record_case(_snapshot(case_id, "Answered", at=now, changes=7, entries=3))
    # Overtaken writes of the same run (fewer changes) and of an earlier moment lose.
    await records.record_case(_snapshot(case_id, "Open", at=now, changes=5, entries=2))
    await records.record_case(
        _snapshot(case_id, "Open", at=now - timedelta(seconds=1), changes=9, entries=2)
    )
    assert await row() == ("Answered", {"status": "Answered"}, 7, 3)
    # A later moment wins even with a smaller count (a new run after continue-as-new).
    await records.record_case(
        _snapshot(case_id, "Promoted", at=now + timedelta(seconds=1), changes=1, entries=4)
    )
    assert await row() == ("Promoted", {"status": "Promoted"}, 1, 4)
    # A worker from before read views: its write stands, and the view is dropped (the API
    # then asks the workflow) rather than left behind the status.
    old_worker = _snapshot(case_id, "Answered", at=now, changes=0, entries=4)
    await records.record_case(old_worker.model_copy(update={"read_view": None}))
    assert await row() == ("Answered", None, None, 4)
