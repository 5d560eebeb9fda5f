"""`GET /promises` for compliance: the ledger's verdicts in a period, broken ones with
`kept=false`; bad parameters are a 422 naming the parameter; only compliance (and admin)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.config import ApiRole, Settings
from promptly.domain.complaints.models import CloseComplaintInput
from promptly.domain.demo import DEMO_ID_PREFIX
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.services.promise_ledger import MAX_ROWS
from promptly.workflows.complaint import ComplaintWorkflow
from tests.api_support import STAFF_KEY, key, serving, with_api_keys
from tests.complaint_helpers import AGENT, complaint
from tests.helpers import appointment, end_workflows
from tests.test_promise_ledger import verdict

COMPLIANCE_KEY = key(ApiRole.COMPLIANCE)


@pytest_asyncio.fixture(loop_scope="session")
async def http(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[httpx.AsyncClient]:
    """The app and a worker on the time-skipping server, so a promise can fall due."""
    async with serving(env.client, with_api_keys(settings), pool) as client:
        yield client


def _fields(response: httpx.Response) -> dict[str, str]:
    return {problem["field"]: problem["reason"] for problem in response.json()["errors"]}


async def test_compliance_lists_broken_promises_of_a_period_with_kept_false(
    env: WorkflowEnvironment,
    http: httpx.AsyncClient,
    settings: Settings,
    pool: AsyncConnectionPool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5))
    await book(env.client, request, settings, booked_at)
    case_id = request.workflow_id
    # A demo case beside it, breaking the same promise: a demo is not the office's record.
    other = appointment(booked_at + timedelta(days=5))
    demo = other.model_copy(update={"appointment_id": f"{DEMO_ID_PREFIX}{other.appointment_id}"})
    await book(env.client, demo, settings, booked_at)
    await verdict(pool, case_id, "confirmation_within_24h", "kept")
    await env.sleep(timedelta(hours=24, minutes=5))  # nobody acknowledged for the provider
    await verdict(pool, case_id, "provider_ack_within_24h", "broken")
    await verdict(pool, demo.workflow_id, "provider_ack_within_24h", "broken")

    office = ZoneInfo(settings.office_timezone)
    first = (booked_at + timedelta(hours=24)).astimezone(office).date()
    period = {"from": first.isoformat(), "to": first.isoformat()}
    broken = await http.get("/promises", params={**period, "kept": "false"}, headers=COMPLIANCE_KEY)
    assert broken.status_code == 200, broken.text
    body = broken.json()
    assert body["kept"] is False and body["timezone"] == settings.office_timezone
    ours = [p for p in body["promises"] if p["case_id"] == case_id]
    assert [(p["promise"], p["verdict"], p["actor"]) for p in ours] == [
        ("provider_ack_within_24h", "broken", "provider:P-3")
    ]
    assert all(p["verdict"] == "broken" for p in body["promises"])
    assert not [p for p in body["promises"] if p["case_id"] == demo.workflow_id]

    kept = await http.get("/promises", params={**period, "kept": "true"}, headers=COMPLIANCE_KEY)
    ours = [p for p in kept.json()["promises"] if p["case_id"] == case_id]
    assert [(p["promise"], p["verdict"]) for p in ours] == [("confirmation_within_24h", "kept")]
    everything = await http.get("/promises", params=period, headers=COMPLIANCE_KEY)
    assert {p["promise"] for p in everything.json()["promises"] if p["case_id"] == case_id} == {
        "confirmation_within_24h",
        "provider_ack_within_24h",
    }

    # The CLI lists the same broken promise.
    monkeypatch.chdir(tmp_path)  # no .data/env from a local `promptly dev`
    monkeypatch.setenv("PROMPTLY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PROMPTLY_OFFICE_TIMEZONE", settings.office_timezone)
    args = ["promises", "--from", first.isoformat(), "--to", first.isoformat(), "--broken"]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if case_id in line]
    assert "provider_ack_within_24h  broken" in line and "by provider:P-3" in line
    assert line.split("  ")[0].endswith(settings.office_timezone)  # due, to the minute, zone named
    await end_workflows(env, case_id, demo.workflow_id)


async def test_bad_period_is_422_naming_the_parameter_and_only_compliance_reads(
    http: httpx.AsyncClient,
) -> None:
    backwards = await http.get(
        "/promises", params={"from": "2026-03-10", "to": "2026-03-01"}, headers=COMPLIANCE_KEY
    )
    assert backwards.status_code == 422
    assert "before from" in _fields(backwards)["to"]
    not_a_date = await http.get(
        "/promises", params={"from": "last week", "to": "2026-03-01"}, headers=COMPLIANCE_KEY
    )
    assert not_a_date.status_code == 422
    assert "from" in " ".join(_fields(not_a_date))
    missing = await http.get("/promises", params={"from": "2026-03-01"}, headers=COMPLIANCE_KEY)
    assert missing.status_code == 422 and "to" in " ".join(_fields(missing))
    bad_kept = await http.get(
        "/promises",
        params={"from": "2026-03-01", "to": "2026-03-02", "kept": "maybe"},
        headers=COMPLIANCE_KEY,
    )
    assert bad_kept.status_code == 422 and "kept" in " ".join(_fields(bad_kept))
    too_long = await http.get(
        "/promises", params={"from": "2025-01-01", "to": "2026-03-01"}, headers=COMPLIANCE_KEY
    )
    assert too_long.status_code == 422 and "longer than" in _fields(too_long)["to"]

    params = {"from": "2026-03-01", "to": "2026-03-02"}
    assert (await http.get("/promises", params=params)).status_code == 401
    assert (await http.get("/promises", params=params, headers=STAFF_KEY)).status_code == 403


async def test_a_period_with_more_promises_than_one_listing_holds_says_so_in_both(
    http: httpx.AsyncClient,
    settings: Settings,
    pool: AsyncConnectionPool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GET /promises says `truncated: true` past 1000 rows; `promptly promises` lists the same
    1000 and says on stderr that there were more, instead of stopping silently."""
    tag = uuid.uuid4().hex[:8]
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO promises (case_id, promise, case_kind, business_id, client_id,
                   verdict, promised_at, due_at, cause, actor_kind, actor_id, revision)
               SELECT 'appointment-T' || %(tag)s || '-' || g, 'confirmation_within_24h',
                      'appointment', 'T' || %(tag)s || '-' || g, 'C-17', 'broken',
                      '2031-03-01T08:00Z', '2031-03-02T08:00Z'::timestamptz + g * interval '1 s',
                      'not delivered', 'system', 'promptly', 1
                 FROM generate_series(1, %(count)s) g""",
            {"tag": tag, "count": MAX_ROWS + 5},
        )
    try:
        period = {"from": "2031-03-01", "to": "2031-03-05"}
        listed = await http.get(
            "/promises", params={**period, "kept": "false"}, headers=COMPLIANCE_KEY
        )
        body = listed.json()
        assert body["truncated"] is True and len(body["promises"]) == MAX_ROWS

        monkeypatch.chdir(tmp_path)  # no .data/env from a local `promptly dev`
        monkeypatch.setenv("PROMPTLY_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("PROMPTLY_OFFICE_TIMEZONE", settings.office_timezone)
        args = ["promises", "--from", period["from"], "--to", period["to"], "--broken"]
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert [line.split("  ")[1] for line in lines] == [p["case_id"] for p in body["promises"]]
        assert f"only the first {MAX_ROWS} are listed: more fell due" in result.stderr
        # A period with fewer says nothing of the kind.
        one_day = ["promises", "--from", "2031-03-01", "--to", "2031-03-01"]
        whole = await asyncio.to_thread(CliRunner().invoke, app, one_day)
        assert whole.exit_code == 0 and "only the first" not in whole.stderr
    finally:
        async with pool.connection() as conn:
            await conn.execute(
                "DELETE FROM promises WHERE case_id LIKE %s", (f"appointment-T{tag}-%",)
            )


async def test_a_closed_complaint_s_updates_promise_is_decided_and_listed_at_once(
    env: WorkflowEnvironment,
    http: httpx.AsyncClient,
    settings: Settings,
    pool: AsyncConnectionPool,
) -> None:
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    case_id = request.workflow_id
    await verdict(pool, case_id, "complaint_ack_at_once", "kept")
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=AGENT)
    )
    # The case waits for its follow-up; its updates promise is decided by the close.
    updates = await verdict(pool, case_id, "complaint_updated_every_24h", "kept")
    assert updates["due_at"] is not None
    office = ZoneInfo(settings.office_timezone)
    first = filed.astimezone(office).date()
    period = {"from": first.isoformat(), "to": (first + timedelta(days=2)).isoformat()}
    kept = await http.get("/promises", params={**period, "kept": "true"}, headers=COMPLIANCE_KEY)
    assert kept.status_code == 200, kept.text
    ours = {p["promise"]: p["verdict"] for p in kept.json()["promises"] if p["case_id"] == case_id}
    assert ours.get("complaint_updated_every_24h") == "kept"
    everything = await http.get("/promises", params=period, headers=COMPLIANCE_KEY)
    assert not [
        p
        for p in everything.json()["promises"]
        if p["case_id"] == case_id and p["verdict"] == "pending"
    ]
    await end_workflows(env, case_id)
