"""During a channel outage on-call sees the sends that are retrying: `GET /messages?status=
pending`, `promptly messages --pending` and the worker's gauges, against a real Temporal dev
server, PostgreSQL and the SendGrid fake answering 503."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from promptly import observability
from promptly.cli.main import app
from promptly.config import ApiRole, Settings
from promptly.services.appointments import book
from tests.api_support import key, serving, with_api_keys
from tests.helpers import appointment, until
from tests.sendgrid_fake import SendGridFake
from tests.test_observability import sample

ADMIN = key(ApiRole.ADMIN)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _pending(http: httpx.AsyncClient, channel: str) -> list[dict[str, Any]]:
    """Every pending send of `channel`, page after page."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"status": "pending", "channel": channel, "page_size": 2}
    while True:
        answer = await http.get("/messages", params=params, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        rows += body["items"]
        if body["next_page_token"] is None:
            return rows
        params["page_token"] = body["next_page_token"]


async def _gauges(pool: AsyncConnectionPool, settings: Settings) -> tuple[float, float]:
    """(pending email sends, the oldest one's age) as the worker's endpoint serves them."""
    port = free_port()
    served = observability.runtime(
        settings.model_copy(update={"metrics_bind": f"127.0.0.1:{port}"}), metrics=True
    )
    assert served is not None
    await observability.PendingSendGauges(served.metric_meter).record(pool)
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    return (
        sample(text, "promptly_pending_sends", channel="email"),
        sample(text, "promptly_oldest_pending_send_seconds", channel="email"),
    )


async def test_a_send_retrying_at_sendgrid_is_listed_until_it_goes_out(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    sendgrid.outage(503)
    start = datetime.now(ZoneInfo("Europe/Warsaw")).replace(hour=10, minute=0, second=0)
    request = appointment(start + timedelta(days=6))
    async with serving(dev_env.client, with_api_keys(settings), pool) as http:
        await book(dev_env.client, request, settings, datetime.now(UTC))

        async def retrying() -> dict[str, Any] | None:
            for row in await _pending(http, "email"):
                if row["case_id"] == request.workflow_id and row["template"] == "confirmation":
                    return row if row["last_error"] else None
            return None

        send = await until(retrying, "the confirmation retrying", tries=300)
        assert send["channel"] == "email" and send["recipient_role"] == "client"
        assert send["attempts"] >= 1 and "503" in send["last_error"], send
        assert all(r["case_id"] != request.workflow_id for r in await _pending(http, "sms"))

        env = {"PROMPTLY_DATABASE_URL": settings.database_url}
        listed = await asyncio.to_thread(
            lambda: CliRunner().invoke(app, ["messages", "--pending"], env=env)
        )
        assert listed.exit_code == 0, listed.output
        header, *rows = listed.stdout.splitlines()
        assert header.split()[:2] == ["pending", "since"]
        [line] = [row for row in rows if request.workflow_id in row and "confirmation" in row]
        assert " email " in line and "503" in line

        count, oldest = await _gauges(pool, settings)
        pending = await _pending(http, "email")
        assert count == len(pending) >= 1
        assert oldest > 0
        mine = [r for r in pending if r["case_id"] == request.workflow_id]

        sendgrid.recover()

        async def gone() -> bool:
            return all(r["case_id"] != request.workflow_id for r in await _pending(http, "email"))

        await until(gone, "the confirmation sent", tries=300)
        assert "confirmation" in [m.template for m in sendgrid.accepted]
        count_after, _ = await _gauges(pool, settings)
        assert count_after == len(await _pending(http, "email")) == count - len(mine)


async def test_only_admins_list_pending_sends_and_only_pending_ones(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    async with serving(dev_env.client, with_api_keys(settings), pool) as http:
        staff = await http.get(
            "/messages", params={"status": "pending"}, headers=key(ApiRole.STAFF)
        )
        assert staff.status_code == 403
        sent = await http.get("/messages", params={"status": "sent"}, headers=ADMIN)
        assert sent.status_code == 422
    refused = CliRunner().invoke(app, ["messages"])
    assert refused.exit_code == 2 and "--pending" in refused.output
