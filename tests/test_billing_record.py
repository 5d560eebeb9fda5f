"""The billing record keeps who entered each fee decision (`decided_via`: the API key) and
every decision, a fee that stands too; the compliance exports list it. The promise ledger,
read across every case, carries no free text typed into a case, and names the key that acted.
Through the API, on the dev server and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from promptly.activities.records import RecordsActivities
from promptly.config import ApiRole, Settings
from promptly.domain.appointments.models import BillingOutcome, BillingRecord, WaiveFeeInput
from promptly.domain.common import Actor, ActorKind
from promptly.workflows.appointment import AppointmentWorkflow
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, key
from tests.helpers import appointment, until
from tests.test_promise_ledger import verdict
from tests.test_replay import replayer

WARSAW = ZoneInfo("Europe/Warsaw")
ADMIN_KEY = key(ApiRole.ADMIN)  # named "root"
COMPLIANCE_KEY = key(ApiRole.COMPLIANCE)
PROVIDER = {"kind": "provider", "id": "P-3"}  # the visit's own provider (tests.helpers)


async def _book(api: httpx.AsyncClient, pool: AsyncConnectionPool, start: datetime) -> Any:
    request = appointment(start)
    booked = await api.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert booked.status_code == 201, booked.text

    async def stored() -> bool:  # a key naming a provider is checked against the case's row
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT 1 FROM cases WHERE case_id = %s", (request.workflow_id,)
            )
            return await cursor.fetchone() is not None

    await until(stored, "the booking's first save")
    return request


async def _billing_rows(pool: AsyncConnectionPool, case_id: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT outcome, decided_by_kind, decided_by_id, decided_via, reason"
            " FROM billing_outcomes WHERE case_id = %s ORDER BY id",
            (case_id,),
        )
        return list(await cursor.fetchall())


async def test_a_fee_decision_keeps_the_key_that_entered_it_and_the_exports_list_it(
    api: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    settings: Settings,
    dev_env: WorkflowEnvironment,
) -> None:
    # Inside 24h: the cancellation is late, charged as held.
    start = datetime.now(WARSAW).replace(second=0, microsecond=0) + timedelta(hours=20)
    request = await _book(api, pool, start)
    base = f"/appointments/{request.appointment_id}"
    cancelled = await api.post(f"{base}/cancel", json={"reason": "cannot come"}, headers=STAFF_KEY)
    assert cancelled.status_code == 200 and cancelled.json()["billing"] == "late_cancel"
    stands = await api.post(f"{base}/fee_stands", json={"reason": "policy"}, headers=STAFF_KEY)
    assert stands.status_code == 200, stands.text
    # A provider other than the visit's is refused before the case sees it.
    other = {"reason": "goodwill", "actor": {"kind": "provider", "id": "P-999"}}
    refused = await api.post(f"{base}/waive_fee", json=other, headers=ADMIN_KEY)
    assert refused.status_code == 422, refused.text
    # The workflow's validator refuses it too, for a caller that reaches Temporal directly.
    handle = dev_env.client.get_workflow_handle(request.workflow_id)
    stranger = Actor(kind=ActorKind.PROVIDER, id="P-999")
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(
            AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="goodwill", actor=stranger)
        )
    assert "P-999 is not this visit's provider" in str(raised.value.cause)
    # The admin key enters the provider's waiver: credited to the provider, entered by root.
    body = {"reason": "goodwill", "actor": PROVIDER}
    waived = await api.post(f"{base}/waive_fee", json=body, headers=ADMIN_KEY)
    assert waived.status_code == 200 and waived.json()["billing"] == "waived", waived.text

    # The fee standing on the record is a patched command: its history replays.
    await replayer().replay_workflow(await handle.fetch_history())
    assert await _billing_rows(pool, request.workflow_id) == [
        ("late_cancel", "staff", "desk", "desk", "cannot come"),
        # The fee kept is on the record too, and it kept the charge (no new row for it).
        ("fee_stands", "staff", "desk", "desk", "policy"),
        ("waived", "provider", "P-3", "root", "goodwill"),
    ]

    export = await api.get(f"/history/cases/{request.workflow_id}", headers=COMPLIANCE_KEY)
    assert export.status_code == 200, export.text
    listed = [
        (b["outcome"], b["decided_by"], b["via"], b["reason"]) for b in export.json()["billing"]
    ]
    assert listed == [
        ("late_cancel", "staff:desk", "desk", "cannot come"),
        ("fee_stands", "staff:desk", "desk", "policy"),
        ("waived", "provider:P-3 via root", "root", "goodwill"),
    ]
    markdown = await api.get(
        f"/history/cases/{request.workflow_id}", params={"format": "md"}, headers=COMPLIANCE_KEY
    )
    assert "## Billing (3)" in markdown.text
    assert "| waived | provider:P-3 via root | root | " in markdown.text, markdown.text
    page = await api.get(
        f"/history/cases/{request.workflow_id}", params={"format": "html"}, headers=COMPLIANCE_KEY
    )
    assert "<td>provider:P-3 via root</td><td>root</td>" in page.text

    client = await api.get(f"/history/clients/{request.client.id}", headers=COMPLIANCE_KEY)
    ours = [b for b in client.json()["billing"] if b["case_id"] == request.workflow_id]
    assert [(b["outcome"], b["via"]) for b in ours][-1] == ("waived", "root")
    client_md = await api.get(
        f"/history/clients/{request.client.id}", params={"format": "md"}, headers=COMPLIANCE_KEY
    )
    assert f"| {request.workflow_id} | waived | provider:P-3 via root | root |" in client_md.text


async def test_the_promise_ledger_keeps_no_cancellation_reason_and_names_the_key(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    start = datetime.now(WARSAW).replace(hour=10, minute=0, second=0, microsecond=0)
    request = await _book(api, pool, start + timedelta(days=5))
    base = f"/appointments/{request.appointment_id}"
    acked = await api.post(f"{base}/acknowledge", json={"actor": PROVIDER}, headers=ADMIN_KEY)
    assert acked.status_code == 200, acked.text
    reason = "Client ill with flu, called"
    cancelled = await api.post(f"{base}/cancel", json={"reason": reason}, headers=STAFF_KEY)
    assert cancelled.status_code == 200, cancelled.text
    follow_up = await verdict(
        pool, request.workflow_id, "follow_up_before_deadline", "not_applicable"
    )
    assert follow_up["cause"] == "cancelled"

    today = datetime.now(ZoneInfo(settings.office_timezone)).date()
    period = {"from": today.isoformat(), "to": (today + timedelta(days=6)).isoformat()}
    listed = await api.get("/promises", params=period, headers=COMPLIANCE_KEY)
    assert listed.status_code == 200, listed.text
    assert "flu" not in listed.text
    ours = {
        p["promise"]: p for p in listed.json()["promises"] if p["case_id"] == request.workflow_id
    }
    assert ours["follow_up_before_deadline"]["cause"] == "cancelled"
    assert ours["provider_ack_within_24h"]["actor"] == "provider:P-3 via root"
    # The reason stays in the case's own timeline, which the retention purge removes.
    timeline = (await api.get(base, headers=STAFF_KEY)).json()["timeline"]
    assert any(reason in entry["detail"] for entry in timeline)


async def test_a_fee_that_stands_keeps_the_prepayment_a_no_show_set(
    pool: AsyncConnectionPool,
) -> None:
    """Only a waiver lifts the no-show's prepayment flag; the fee standing is no waiver."""
    records = RecordsActivities(pool)
    client_id = f"C-{uuid.uuid4().hex[:8]}"
    case_id = f"appointment-A-{uuid.uuid4().hex[:8]}"
    provider = Actor(kind=ActorKind.PROVIDER, id="P-3", via="desk")

    async def decide(step: int, outcome: BillingOutcome) -> bool:
        await records.record_billing(
            BillingRecord(
                idempotency_key=f"{case_id}/billing/{step}",
                case_id=case_id,
                appointment_id=case_id.removeprefix("appointment-"),
                client_id=client_id,
                outcome=outcome,
                decided_by=provider,
                reason="-",
                decided_at=datetime.now(WARSAW),
            )
        )
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT prepayment_required FROM clients WHERE client_id = %s", (client_id,)
            )
            row = await cursor.fetchone()
        return bool(row and row[0])

    assert await decide(1, BillingOutcome.NO_SHOW)
    assert await decide(2, BillingOutcome.FEE_STANDS)
    assert not await decide(3, BillingOutcome.WAIVED)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT decided_via FROM billing_outcomes WHERE case_id = %s", (case_id,)
        )
        assert [row[0] for row in await cursor.fetchall()] == ["desk"] * 3
