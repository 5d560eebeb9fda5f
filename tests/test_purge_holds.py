"""What outlives the retention purge (DESIGN.md §5, docs/procedures.md "Retention"): a visit an
open complaint is about, a case under a legal hold until it is released, and the billing
record, which the client export still lists once every case of the client is gone.

The real `purge_expired` activity on a database of its own, one `NOW` for every purge here
(as tests/test_purge_clients.py runs it); the legal-hold routes through the app itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from promptly.activities.archive import ArchiveActivities
from promptly.api.app import create_app
from promptly.cli.main import app as cli
from promptly.config import ApiRole, Settings
from promptly.domain.maintenance import PurgeInput, PurgeResult
from promptly.services.history import CaseNotFound, load_client
from promptly.services.history_render import render_client_markdown
from promptly.services.legal_holds import place_hold, release_hold
from tests.api_support import key, with_api_keys
from tests.conftest import migrated_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = datetime(2027, 6, 1, 3, 0, tzinfo=UTC)
RETENTION = timedelta(days=200)
CUTOFF = NOW - RETENTION
LONG_AGO = CUTOFF - timedelta(days=30)
RECENTLY = CUTOFF + timedelta(days=30)


@pytest.fixture(scope="module")
def holds_db(database_url: str) -> Iterator[str]:
    with migrated_database(database_url, "promptly_purge_holds") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(holds_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(holds_db, min_size=1, max_size=2) as opened:
        yield opened


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def _case(
    pool: AsyncConnectionPool,
    kind: str,
    business_id: str,
    client_id: str,
    status: str,
    updated_at: datetime,
    details: dict[str, Any] | None = None,
) -> str:
    case_id = f"{kind}-{business_id}"
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id, details,
                                  created_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                case_id,
                kind,
                business_id,
                status,
                client_id,
                Jsonb(details or {}),
                updated_at - timedelta(days=3),
                updated_at,
            ),
        )
    return case_id


async def _set_status(pool: AsyncConnectionPool, case_id: str, status: str) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE cases SET status = %s WHERE case_id = %s", (status, case_id))


async def _billing(
    pool: AsyncConnectionPool, case_id: str, client_id: str, outcome: str, via: str
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO billing_outcomes (idempotency_key, case_id, appointment_id, client_id,
                                              outcome, decided_by_kind, decided_by_id,
                                              decided_via, reason, decided_at)
               VALUES (%s, %s, %s, %s, %s, 'staff', 'desk', %s, 'fever, stayed home', %s)""",
            (f"billing-{case_id}-{outcome}", case_id, case_id, client_id, outcome, via, LONG_AGO),
        )


async def _cases(pool: AsyncConnectionPool, case_ids: list[str]) -> set[str]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT case_id FROM cases WHERE case_id = ANY(%s)", (case_ids,)
        )
        return {row[0] for row in await cursor.fetchall()}


async def _purge(pool: AsyncConnectionPool) -> PurgeResult:
    acts = ArchiveActivities(cast(Client, None), pool, RETENTION)
    return await ActivityEnvironment().run(acts.purge_expired, PurgeInput(now=NOW))


async def test_an_open_complaint_keeps_the_visit_it_is_about_until_it_closes(
    pool: AsyncConnectionPool,
) -> None:
    """K is open about visit B's fee: B's history is the evidence, so it stays however old.
    A visit a closed complaint was about goes as any other."""
    client, disputed, settled = f"C-{_tag()}", f"B-{_tag()}", f"B-{_tag()}"
    visit = await _case(pool, "appointment", disputed, client, "LateCancelled", LONG_AGO)
    other = await _case(pool, "appointment", settled, client, "LateCancelled", LONG_AGO)
    complaint = await _case(
        pool, "complaint", f"K-{_tag()}", client, "Open", LONG_AGO, {"appointment_id": disputed}
    )
    await _case(
        pool, "complaint", f"K-{_tag()}", client, "Closed", RECENTLY, {"appointment_id": settled}
    )

    result = await _purge(pool)

    assert result.kept_for_open_complaints == 1
    assert await _cases(pool, [visit, other, complaint]) == {visit, complaint}

    await _set_status(pool, complaint, "Closed")  # closed long ago: both go now
    result = await _purge(pool)

    assert (result.cases, result.kept_for_open_complaints) == (2, 0)
    assert await _cases(pool, [visit, complaint]) == set()


async def test_a_held_case_outlives_its_retention_and_goes_once_released(
    pool: AsyncConnectionPool,
) -> None:
    client, held_client = f"C-{_tag()}", f"C-{_tag()}"
    case = await _case(pool, "appointment", f"A-{_tag()}", client, "Completed", LONG_AGO)
    survey = await _case(pool, "survey", f"S-{_tag()}", held_client, "Closed", LONG_AGO)
    inquiry = await _case(pool, "inquiry", f"Q-{_tag()}", held_client, "Answered", LONG_AGO)
    async with pool.connection() as conn:
        # By business id, as compliance staff read it off a page; by client, every case.
        by_case, new = await place_hold(
            conn,
            case=case.removeprefix("appointment-"),
            client_id=None,
            reason="M-7",
            held_by="staff:audit",
        )
        assert new and by_case.case_id == case
        again, new = await place_hold(
            conn, case=case, client_id=None, reason="M-7 again", held_by="staff:other"
        )
        assert (again.id, new) == (by_case.id, False)  # one active hold per case
        by_client, _ = await place_hold(
            conn, case=None, client_id=held_client, reason="M-8", held_by="staff:audit"
        )

    result = await _purge(pool)

    assert (result.cases, result.kept_on_hold) == (0, 3)
    assert await _cases(pool, [case, survey, inquiry]) == {case, survey, inquiry}

    async with pool.connection() as conn:
        released = await release_hold(conn, by_case.id, "staff:audit", "matter closed")
        assert released.released_by == "staff:audit" and released.release_note == "matter closed"
    result = await _purge(pool)

    assert (result.cases, result.kept_on_hold) == (1, 2)
    assert await _cases(pool, [case, survey, inquiry]) == {survey, inquiry}
    async with pool.connection() as conn:
        await release_hold(conn, by_client.id, "staff:audit")
        # The hold's record stays, released.
        cursor = await conn.execute(
            "SELECT count(*) FROM legal_holds WHERE id = ANY(%s) AND released_at IS NOT NULL",
            ([by_case.id, by_client.id],),
        )
        assert await cursor.fetchone() == (2,)
    assert (await _purge(pool)).cases == 2


async def test_the_client_export_after_the_purge_lists_the_billing_record_still_held(
    pool: AsyncConnectionPool,
) -> None:
    client = f"C-{_tag()}"
    case = await _case(pool, "appointment", f"B-{_tag()}", client, "LateCancelled", LONG_AGO)
    await _billing(pool, case, client, "late_cancel", "crm")
    await _billing(pool, case, client, "waived", "cli")

    assert (await _purge(pool)).cases == 1
    async with pool.connection() as conn:
        export = await load_client(conn, client, "Europe/Warsaw")

    assert export.cases == []
    assert [(row.case_id, row.outcome, row.reason) for row in export.billing] == [
        (case, "late_cancel", ""),
        (case, "waived", ""),
    ]
    text = render_client_markdown(export)
    assert "0 case(s)" in text and "purged after the retention period" in text
    assert "## Billing (2)" in text and f"| {case} | waived |" in text
    async with pool.connection() as conn:
        with pytest.raises(CaseNotFound, match="nothing held of client 'C-nobody'"):
            await load_client(conn, "C-nobody", "Europe/Warsaw")


@pytest_asyncio.fixture(loop_scope="session")
async def api(pool: AsyncConnectionPool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app on this module's database; no Temporal: the hold routes need none."""
    app = create_app(with_api_keys(settings), client=cast(Client, object()), pool=pool)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://promptly.test"
            )
        )


async def test_compliance_holds_and_releases_a_case_over_http(
    pool: AsyncConnectionPool, api: httpx.AsyncClient
) -> None:
    client = f"C-{_tag()}"
    business_id = f"A-{_tag()}"
    case = await _case(pool, "appointment", business_id, client, "Completed", LONG_AGO)
    audit = key(ApiRole.COMPLIANCE)

    held = await api.post(
        "/legal-holds",
        json={"case": business_id, "reason": "regulator request R-12"},
        headers=audit,
    )
    assert held.status_code == 201, held.text
    hold = held.json()
    assert (hold["case_id"], hold["reason"], hold["released_at"]) == (
        case,
        "regulator request R-12",
        None,
    )
    assert hold["held_by"].startswith("staff:")
    again = await api.post(
        "/legal-holds", json={"case": case, "reason": "same matter"}, headers=audit
    )
    assert (again.status_code, again.json()["id"]) == (200, hold["id"])
    listed = await api.get("/legal-holds", params={"case_id": case}, headers=audit)
    assert [h["id"] for h in listed.json()["items"]] == [hold["id"]]

    missing = await api.post(
        "/legal-holds", json={"case": "A-nothing", "reason": "x"}, headers=audit
    )
    assert missing.status_code == 404, missing.text
    both = await api.post(
        "/legal-holds", json={"case": case, "client_id": client, "reason": "x"}, headers=audit
    )
    assert both.status_code == 422, both.text
    staff = await api.post(
        "/legal-holds", json={"case": case, "reason": "x"}, headers=key(ApiRole.STAFF)
    )
    assert staff.status_code == 403

    assert (await _purge(pool)).kept_on_hold >= 1
    assert await _cases(pool, [case]) == {case}
    released = await api.post(
        f"/legal-holds/{hold['id']}/release", json={"note": "closed"}, headers=audit
    )
    assert released.status_code == 200, released.text
    assert released.json()["released_at"] is not None
    assert (await api.get("/legal-holds", params={"case_id": case}, headers=audit)).json() == {
        "items": [],
        "next_page_token": None,
    }
    unknown = await api.post("/legal-holds/987654321/release", json={}, headers=audit)
    assert unknown.status_code == 404
    await _purge(pool)
    assert await _cases(pool, [case]) == set()


async def test_the_cli_holds_lists_and_releases_as_the_person_running_it(
    pool: AsyncConnectionPool, holds_db: str
) -> None:
    client = f"C-{_tag()}"
    case = await _case(pool, "appointment", f"A-{_tag()}", client, "Completed", LONG_AGO)
    env = {"PROMPTLY_DATABASE_URL": holds_db, "USER": "ewa", "LOGNAME": "ewa"}

    async def promptly(*args: str) -> Any:
        return await asyncio.to_thread(CliRunner().invoke, cli, ["hold", *args], env=env)

    held = await promptly("add", "matter M-9", "--client", client)
    assert held.exit_code == 0, held.output
    assert f"client {client}" in held.stdout and "by staff:ewa via cli: matter M-9" in held.stdout
    hold_id = held.stdout.split()[1]
    listed = await promptly("list", "--client", client)
    assert listed.stdout.split()[0] == hold_id and "[active]" in listed.stdout
    assert (await _purge(pool)).kept_on_hold >= 1 and await _cases(pool, [case]) == {case}

    released = await promptly("release", hold_id, "--note", "settled")
    assert (
        released.exit_code == 0 and "released" in released.stdout and "settled" in released.stdout
    )
    assert (await promptly("list", "--client", client)).stdout == ""
    assert hold_id in (await promptly("list", "--all", "--client", client)).stdout
    neither = await promptly("add", "no target")
    assert neither.exit_code == 2 and "--case or --client" in neither.stderr
    unknown = await promptly("add", "x", "--case", "A-nothing")
    assert unknown.exit_code == 1 and "no case 'A-nothing'" in unknown.stderr
    await _purge(pool)
    assert await _cases(pool, [case]) == set()
