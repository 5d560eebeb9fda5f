"""Case histories through the API for compliance: the same export as `promptly history`,
with the client's data readable (the API holds the codec keys), for the compliance role."""

from __future__ import annotations

import asyncio

import httpx
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.config import ApiRole, Settings
from promptly.services.history import load_case
from promptly.services.history_models import CaseExport, Format
from promptly.services.history_render import render_case
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, client_links, eventually, key
from tests.helpers import until
from tests.test_api import _book, _booking

COMPLIANCE_KEY = key(ApiRole.COMPLIANCE)


async def test_compliance_reads_a_case_history_in_each_format(
    api: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    settings: Settings,
) -> None:
    booking = _booking()
    booked = (await _book(api, booking)).json()
    await client_links(pool, settings, booked["workflow_id"])  # the confirmation went out
    confirmed = await api.post(
        f"/appointments/{booking['appointment_id']}/confirm", json={}, headers=BACKOFFICE_KEY
    )
    assert confirmed.status_code == 200, confirmed.text

    path = f"/history/cases/{booking['appointment_id']}"
    as_json = await eventually(
        api,
        path,
        lambda r: r.status_code == 200 and r.json()["status"] == "Confirmed",
        COMPLIANCE_KEY,
    )
    history = as_json.json()
    assert history["case_id"] == booked["workflow_id"]
    assert history["client_id"] == booking["client"]["id"]
    details = [entry["detail"] for entry in history["entries"]]
    assert "Client confirmed" in details
    confirmation = next(
        entry["message"]
        for entry in history["entries"]
        if entry["message"] and entry["message"]["template"] == "confirmation"
    )
    assert confirmation["recipient"] == booking["client"]["email"]
    assert booking["client"]["name"] in confirmation["body"]
    confirm_entry = next(e for e in history["entries"] if e["detail"] == "Client confirmed")
    assert confirm_entry["actor"] == "system:crm"  # the back-office key that confirmed

    async with pool.connection() as conn:
        direct = await load_case(
            conn, booked["workflow_id"], settings.office_timezone, dev_env.client
        )
    markdown = await api.get(path, params={"format": "md"}, headers=COMPLIANCE_KEY)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == render_case(direct, Format.MD)  # the CLI's export, byte for byte
    html = await api.get(path, params={"format": "html"}, headers=COMPLIANCE_KEY)
    assert html.headers["content-type"].startswith("text/html")
    assert "<table" in html.text and "Client confirmed" in html.text

    client_path = f"/history/clients/{booking['client']['id']}"
    cases = (await api.get(client_path, headers=COMPLIANCE_KEY)).json()["cases"]
    assert booked["workflow_id"] in [case["case_id"] for case in cases]

    assert (await api.get(path, headers=STAFF_KEY)).status_code == 403
    missing = await api.get("/history/cases/A-never-booked", headers=COMPLIANCE_KEY)
    assert missing.status_code == 404 and "A-never-booked" in missing.json()["reason"]
    # A survey's workflow id carries its appointment's: a 64-character id is still a reference.
    survey = f"survey-appointment-A{'x' * 63}"
    unknown = await api.get(f"/history/cases/{survey}", headers=COMPLIANCE_KEY)
    assert unknown.status_code == 404 and survey in unknown.json()["reason"]
    nobody = await api.get("/history/clients/C-nobody", headers=COMPLIANCE_KEY)
    assert nobody.status_code == 404
    refused = await api.get(client_path, params={"format": "html"}, headers=COMPLIANCE_KEY)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "format"


async def test_every_export_names_the_api_key_a_client_action_came_through(
    api: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    settings: Settings,
) -> None:
    """The CRM's key relays a client's confirmation: the live status view says
    `{"kind": "client", "id": "C-17", "via": "crm"}`, and so must every export, from
    PostgreSQL alone too, and the terminal's timeline."""
    booking = _booking()
    booked = (await _book(api, booking)).json()
    await client_links(pool, settings, booked["workflow_id"])
    client_id = booking["client"]["id"]
    relayed = await api.post(
        f"/appointments/{booking['appointment_id']}/confirm",
        json={"actor": {"kind": "client", "id": client_id}},
        headers=BACKOFFICE_KEY,
    )
    assert relayed.status_code == 200, relayed.text
    live = next(e for e in relayed.json()["timeline"] if e["detail"] == "Client confirmed")
    assert live["actor"] == {"kind": "client", "id": client_id, "via": "crm"}
    signed = f"client:{client_id} via crm"

    async def recorded() -> CaseExport | None:
        async with pool.connection() as conn:
            found = await load_case(conn, booked["workflow_id"], settings.office_timezone)
        return found if any(e.detail == "Client confirmed" for e in found.entries) else None

    stored = await until(recorded, "the confirmation in PostgreSQL")  # no Temporal: PG alone
    entry = next(e for e in stored.entries if e.detail == "Client confirmed")
    assert (entry.actor, entry.via) == (signed, "crm")

    path = f"/history/cases/{booking['appointment_id']}"
    history = (await api.get(path, headers=COMPLIANCE_KEY)).json()
    exported = next(e for e in history["entries"] if e["detail"] == "Client confirmed")
    assert (exported["actor"], exported["via"]) == (signed, "crm")
    markdown = (await api.get(path, params={"format": "md"}, headers=COMPLIANCE_KEY)).text
    headings = [line for line in markdown.splitlines() if line.startswith("### ")]
    assert any(f" · {signed}" in heading for heading in headings), headings
    assert f"client {client_id}" not in markdown  # the old "kind id", without the key
    html = (await api.get(path, params={"format": "html"}, headers=COMPLIANCE_KEY)).text
    assert f"<td>{signed}</td>" in html

    cli_env = {
        "PROMPTLY_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PROMPTLY_DATABASE_URL": settings.database_url,
        "PROMPTLY_TASK_QUEUE": settings.task_queue,
    }
    status = await asyncio.to_thread(
        CliRunner().invoke, app, ["status", booking["appointment_id"]], env=cli_env
    )
    assert status.exit_code == 0, status.output
    [line] = [line for line in status.stdout.splitlines() if "Client confirmed" in line]
    assert signed in line
