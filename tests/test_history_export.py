"""`promptly history export` and `promptly history client`: readable histories for compliance.

A silent client's appointment (call attempts, supervisor alerts, no-show, fee) is exported
while it still runs (Temporal's `status` query + PostgreSQL), then again once it is closed,
from PostgreSQL alone (as for an archived case): the two exports are the same.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.config import Settings
from promptly.domain.appointments.models import (
    AppointmentStatus,
    CallOutcome,
    RecordCallOutcomeInput,
)
from promptly.domain.readable_time import exact
from promptly.services.appointments import book
from promptly.services.history import CaseNotFound, load_case, load_client
from promptly.services.history_models import Format
from promptly.services.history_render import render_case, render_client_markdown
from promptly.workflows.appointment import AppointmentWorkflow
from tests.complaint_helpers import advance_to
from tests.helpers import STAFF, appointment, messages, next_local

OFFICE = "America/New_York"  # not the clients' zone: the export follows the office


async def _export_all(
    pool: AsyncConnectionPool, case_id: str, env: WorkflowEnvironment | None
) -> dict[Format, str]:
    async with pool.connection() as conn:
        found = await load_case(conn, case_id, OFFICE, env.client if env else None)
    return {fmt: render_case(found, fmt) for fmt in Format}


async def test_live_and_archived_exports_are_the_same_readable_history(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(hours=72), 2, 10, "Europe/Warsaw")
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)
    # The first follow-up call: Monday 15:45, planned before the free-cancellation line.
    await advance_to(env, (start - timedelta(days=2)).replace(hour=15, minute=50))
    await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(outcome=CallOutcome.NO_ANSWER, note="voicemail", actor=STAFF),
    )
    await advance_to(env, start + timedelta(minutes=30))
    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.NO_SHOW  # final, still open for a fee waiver

    live = await _export_all(pool, request.workflow_id, env)
    async with pool.connection() as conn:
        by_reference = await load_case(conn, request.appointment_id, OFFICE, env.client)
    assert render_case(by_reference, Format.MD) == live[Format.MD]

    final = await handle.result()
    archived = await _export_all(pool, request.workflow_id, None)
    assert archived == live

    exported = json.loads(live[Format.JSON])
    assert exported["status"] == "NoShow" and exported["timezone"] == OFFICE
    entries = exported["entries"]
    assert [e["detail"] for e in entries] == [e.detail for e in final.timeline]
    office = ZoneInfo(OFFICE)
    assert entries[0]["at"] == final.timeline[0].at.astimezone(office).isoformat()
    # Every message the ledger holds is in the history with the text actually sent, its
    # client links redacted to their action and token id (the client had them).
    sent = await messages(pool, request.workflow_id)
    attached = {e["message"]["message_id"]: e for e in entries if e["message"]}
    assert set(attached) == {m["id"] for m in sent}
    for row in sent:
        entry = attached[row["id"]]
        assert entry["message"]["body"] == row["stored_body"]
        assert "/c/" not in entry["message"]["body"]
        if "/c/" in row["body"]:
            assert "link, token " in entry["message"]["body"]
        assert entry["channel"] == row["channel"]
        assert entry["data"]["template"] == row["template"]
    # Supervisor alerts name no ledger row; they get theirs by template, in order.
    alerts = [e for e in entries if e["data"].get("template") == "supervisor_alert"]
    assert [a["message"]["subject"] for a in alerts] == [
        f"[Promptly] Provider has not acknowledged: {request.workflow_id}",
        f"[Promptly] Client unconfirmed: {request.workflow_id}",
    ]
    # Staff actions carry their actor; call tasks their outcome; decisions their reason.
    call = next(e for e in entries if e["detail"].startswith("Call attempt 1: no_answer"))
    assert call["actor"] == "staff:desk-1" and call["reason"] == "voicemail"
    first_task = next(e for e in entries if e["task"])
    assert first_task["task"]["outcome"] == "no_answer"
    fee = next(e for e in entries if e["data"].get("billing") == "no_show")
    assert fee["kind"] == "decision" and fee["reason"] == "not checked in"

    # The promise ledger's verdicts, as the workflow reached them.
    verdicts = {p["promise"]: (p["verdict"], p["actor"]) for p in exported["promises"]}
    assert verdicts["provider_ack_within_24h"] == ("broken", "provider:P-3")
    assert verdicts["no_show_rule"][0] == "kept"
    assert verdicts["follow_up_before_deadline"][0] == "kept"

    md = live[Format.MD]
    assert "## Promises (5)" in md and "| provider ack within 24h | broken |" in md
    booked_local = exact(final.timeline[0].at, str(office))  # office time, to the second
    assert "| times in | America/New\\_York |" in md  # the zone, named once (Markdown-escaped)
    assert f"### 1. {booked_local} · status · system:promptly" in md
    assert "- decision: Unconfirmed → NoShow" in md
    reminder = next(m for m in sent if m["template"] == "reminder")
    assert f"  > **{reminder['subject']}**" in md
    html = live[Format.HTML]
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert "Client unconfirmed" in html and booked_local in html


async def test_cli_exports_and_lists_a_clients_cases_and_messages(
    env: WorkflowEnvironment,
    worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=3), locale="en")
    request = request.model_copy(
        update={"client": request.client.model_copy(update={"id": f"C-{request.appointment_id}"})}
    )
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=5))  # confirmation and provider notice sent
    await handle.terminate("test over")  # closed: PostgreSQL has what it did

    monkeypatch.setenv("PROMPTLY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PROMPTLY_OFFICE_TIMEZONE", OFFICE)
    monkeypatch.setenv("TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
    runner = CliRunner()

    exported = await asyncio.to_thread(
        runner.invoke, app, ["history", "export", request.appointment_id, "--format", "json"]
    )
    assert exported.exit_code == 0, exported.output
    async with pool.connection() as conn:
        expected = await load_case(conn, request.workflow_id, OFFICE)
    assert exported.stdout == render_case(expected, Format.JSON)
    assert json.loads(exported.stdout)["entries"][0]["detail"].startswith("Booked")
    # Temporal gone (a case closed months ago): PostgreSQL alone gives the same export.
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    offline = await asyncio.to_thread(
        runner.invoke, app, ["history", "export", request.workflow_id, "-f", "json"]
    )
    assert offline.exit_code == 0 and offline.stdout == exported.stdout
    assert "PostgreSQL only" in offline.stderr
    monkeypatch.setenv("TEMPORAL_ADDRESS", env.client.service_client.config.target_host)

    listed = await asyncio.to_thread(runner.invoke, app, ["history", "client", request.client.id])
    assert listed.exit_code == 0, listed.output
    async with pool.connection() as conn:
        client_export = await load_client(conn, request.client.id, OFFICE)
    assert listed.stdout == render_client_markdown(client_export)
    [case] = client_export.cases
    assert case.case_id == request.workflow_id
    assert {m.template for m in case.messages} == {"confirmation", "provider_booking"}
    assert f"## {request.workflow_id} · appointment {request.appointment_id}" in listed.stdout

    missing = await asyncio.to_thread(runner.invoke, app, ["history", "export", "A-nope"])
    assert missing.exit_code == 1 and "not found" in missing.output


async def test_unknown_case_is_refused(pool: AsyncConnectionPool) -> None:
    conn: AsyncConnection[Any]
    async with pool.connection() as conn:
        with pytest.raises(CaseNotFound):
            await load_case(conn, "appointment-none", OFFICE)
