"""`GET /tasks`, `/promises` and `/legal-holds` page as every list does: `page_size`, then
`page_token` from the answer's `next_page_token`, each row once even when rows open or close
between two pages; a token of other filters or another list is a 422 on `page_token`; the
old parameters (`limit`, `offset`, `truncated`) still answer as they did."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.config import ApiRole, Settings
from tests.api_support import STAFF_KEY, key, serving, with_api_keys

COMPLIANCE_KEY = key(ApiRole.COMPLIANCE)


@pytest_asyncio.fixture(loop_scope="session")
async def http(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(env.client, with_api_keys(settings), pool) as client:
        yield client


def _fields(response: httpx.Response) -> dict[str, str]:
    return {problem["field"]: problem["reason"] for problem in response.json()["errors"]}


async def _walk(
    http: httpx.AsyncClient,
    path: str,
    params: dict[str, Any],
    headers: dict[str, str],
    rows: str = "items",
) -> list[dict[str, Any]]:
    """Every page of a list, following next_page_token to the end."""
    listed: list[dict[str, Any]] = []
    token = None
    while True:
        page = await http.get(
            path, params={**params, **({"page_token": token} if token else {})}, headers=headers
        )
        assert page.status_code == 200, page.text
        listed += page.json()[rows]
        token = page.json()["next_page_token"]
        if token is None:
            return listed


async def _add_task(pool: AsyncConnectionPool, case_id: str, name: str, due: datetime) -> int:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            """INSERT INTO staff_tasks (idempotency_key, case_id, kind, assignee, title, due_at)
               VALUES (%s, %s, 'call_client', 'front_desk', %s, %s) RETURNING id""",
            (f"{case_id}/{name}", case_id, name, due),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_walking_the_desks_tasks_lists_each_once_while_tasks_open_and_close(
    http: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    case_id = f"appointment-PG{uuid.uuid4().hex[:8]}"
    due = datetime(2031, 5, 5, 9, tzinfo=UTC)
    # Two tasks due at the same moment: the task id orders them.
    ids = [await _add_task(pool, case_id, f"t{n}", due + timedelta(hours=n // 2)) for n in range(7)]
    query: dict[str, Any] = {"case_id": case_id, "page_size": 3}

    first = await http.get("/tasks", params=query, headers=STAFF_KEY)
    assert first.status_code == 200, first.text
    assert [task["id"] for task in first.json()["items"]] == ids[:3]
    token = first.json()["next_page_token"]
    assert token
    # Between the pages the desk closes a task it has seen and a new one falls due last.
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE staff_tasks SET status = 'done', closed_at = now() WHERE id = %s", (ids[1],)
        )
    late = await _add_task(pool, case_id, "late", due + timedelta(days=1))
    rest = await _walk(http, "/tasks", {**query, "page_token": token}, STAFF_KEY)
    assert [task["id"] for task in rest] == [*ids[3:], late]

    # A token is for its own list and filters: another status, or another list, is refused.
    for path, params, headers in [
        ("/tasks", {**query, "status": "all"}, STAFF_KEY),
        ("/tasks", {"case_id": f"{case_id}x", "page_size": 3}, STAFF_KEY),
        ("/tasks", {**query, "page_token": "bm90LWEtdG9rZW4"}, STAFF_KEY),
        ("/legal-holds", {}, COMPLIANCE_KEY),
    ]:
        refused = await http.get(path, params={"page_token": token, **params}, headers=headers)
        assert refused.status_code == 422, (path, refused.text)
        assert "page_token" in _fields(refused)

    # The deprecated names: `limit` is page_size, `offset` skips rows (without a token).
    by_limit = await http.get("/tasks", params={"case_id": case_id, "limit": 2}, headers=STAFF_KEY)
    assert [task["id"] for task in by_limit.json()["items"]] == [ids[0], ids[2]]
    by_offset = await http.get(
        "/tasks", params={"case_id": case_id, "limit": 2, "offset": 2}, headers=STAFF_KEY
    )
    assert by_offset.status_code == 200, by_offset.text
    assert [task["id"] for task in by_offset.json()["items"]] == ids[3:5]
    both = await http.get(
        "/tasks", params={**query, "offset": 2, "page_token": token}, headers=STAFF_KEY
    )
    assert both.status_code == 422 and "offset" in _fields(both)
    too_big = await http.get("/tasks", params={"page_size": 501}, headers=STAFF_KEY)
    assert too_big.status_code == 422 and "page_size" in _fields(too_big)


async def test_promises_of_a_period_page_by_due_time_case_and_promise(
    http: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with pool.connection() as conn:
        # Three cases, two promises each, the first two cases due at the same moment.
        await conn.execute(
            """INSERT INTO promises (case_id, promise, case_kind, business_id, client_id,
                   verdict, promised_at, due_at, cause, actor_kind, actor_id, revision)
               SELECT 'appointment-P' || %(tag)s || '-' || g, p, 'appointment',
                      'P' || %(tag)s || '-' || g, 'C-17', 'broken', '2032-03-01T08:00Z',
                      '2032-03-02T08:00Z'::timestamptz + (g / 2) * interval '1 h',
                      'not delivered', 'system', 'promptly', 1
                 FROM generate_series(0, 2) g,
                      unnest(ARRAY['confirmation_within_24h', 'provider_ack_within_24h']) p""",
            {"tag": tag},
        )
    try:
        period = {"from": "2032-03-01", "to": "2032-03-03", "kept": "false"}
        every = await http.get("/promises", params=period, headers=COMPLIANCE_KEY)
        assert every.json()["truncated"] is False and every.json()["next_page_token"] is None
        expected = [(p["case_id"], p["promise"]) for p in every.json()["promises"]]
        assert len(expected) == 6 and len(set(expected)) == 6

        walked = await _walk(
            http, "/promises", {**period, "page_size": 4}, COMPLIANCE_KEY, rows="promises"
        )
        assert [(p["case_id"], p["promise"]) for p in walked] == expected
        # `truncated` (deprecated) says there is a next page; `limit` is page_size.
        first = await http.get("/promises", params={**period, "limit": 5}, headers=COMPLIANCE_KEY)
        body = first.json()
        assert len(body["promises"]) == 5 and body["truncated"] is True
        last = await http.get(
            "/promises",
            params={**period, "limit": 5, "page_token": body["next_page_token"]},
            headers=COMPLIANCE_KEY,
        )
        assert last.json()["truncated"] is False
        assert [(p["case_id"], p["promise"]) for p in last.json()["promises"]] == expected[5:]

        other = await http.get(
            "/promises",
            params={**period, "kept": "true", "page_token": body["next_page_token"]},
            headers=COMPLIANCE_KEY,
        )
        assert other.status_code == 422 and "page_token" in _fields(other)
    finally:
        async with pool.connection() as conn:
            await conn.execute(
                "DELETE FROM promises WHERE case_id LIKE %s", (f"appointment-P{tag}-%",)
            )


async def test_legal_holds_page_newest_first(
    http: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    client_id = f"C-PG{uuid.uuid4().hex[:8]}"
    held_at = datetime(2026, 6, 1, 9, tzinfo=UTC)
    async with pool.connection() as conn:
        for n in range(5):  # two at the same moment: the newer id first
            await conn.execute(
                """INSERT INTO legal_holds (client_id, reason, held_by, held_at, released_by,
                                            released_at)
                   VALUES (%s, %s, 'staff:audit', %s, 'staff:audit', %s)""",
                (client_id, f"matter {n}", held_at + timedelta(days=n // 2), held_at),
            )
    query = {"client_id": client_id, "status": "all"}
    every = await http.get("/legal-holds", params=query, headers=COMPLIANCE_KEY)
    assert every.json()["next_page_token"] is None
    reasons = [hold["reason"] for hold in every.json()["items"]]
    assert reasons == ["matter 4", "matter 3", "matter 2", "matter 1", "matter 0"]

    walked = await _walk(http, "/legal-holds", {**query, "page_size": 2}, COMPLIANCE_KEY)
    assert [hold["reason"] for hold in walked] == reasons
    first = await http.get("/legal-holds", params={**query, "limit": 2}, headers=COMPLIANCE_KEY)
    assert [hold["reason"] for hold in first.json()["items"]] == reasons[:2]
    active = await http.get(
        "/legal-holds",
        params={"client_id": client_id, "page_token": first.json()["next_page_token"]},
        headers=COMPLIANCE_KEY,
    )
    assert active.status_code == 422 and "page_token" in _fields(active)
