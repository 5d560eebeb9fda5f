"""What a billing clerk reads: each fee event with its fee, amount and currency (a waiver the
fee it lifts), listed for a period by `GET /billing` and `promptly billing [--csv]`, and the
case view's standing fee while a late reschedule's fee is charged. Through the API, on the dev
server and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.config import ApiRole, Settings
from promptly.domain.appointments import fees as appointment_fees
from promptly.domain.appointments.models import (
    AppointmentRequest,
    CaseFee,
    Fee,
    FeeState,
    Price,
)
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, key
from tests.helpers import appointment, until
from tests.test_policy import FEE_START, case_for, request, warsaw

WARSAW = ZoneInfo("Europe/Warsaw")
ADMIN_KEY = key(ApiRole.ADMIN)  # named "root"
COMPLIANCE_KEY = key(ApiRole.COMPLIANCE)
PROVIDER = {"kind": "provider", "id": "P-3"}  # the visit's own provider (tests.helpers)
PRICE = Price(amount=Decimal("180.00"), currency="PLN")


async def _book(api: httpx.AsyncClient, pool: AsyncConnectionPool) -> AppointmentRequest:
    """A priced visit 20 hours ahead: a change now is late, charged as held."""
    start = datetime.now(WARSAW).replace(second=0, microsecond=0) + timedelta(hours=20)
    request = appointment(start).model_copy(update={"price": PRICE})
    booked = await api.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert booked.status_code == 201, booked.text

    async def stored() -> bool:
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT 1 FROM cases WHERE case_id = %s", (request.workflow_id,)
            )
            return await cursor.fetchone() is not None

    await until(stored, "the booking's first save")
    return request


async def _listed(api: httpx.AsyncClient, case_id: str, **extra: str) -> list[dict[str, Any]]:
    """The case's fee events in GET /billing for today and tomorrow, read a page at a time."""
    today = datetime.now(WARSAW).date()
    params = {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat(), **extra}
    rows: list[dict[str, Any]] = []
    while True:
        page = await api.get("/billing", params=params, headers=COMPLIANCE_KEY)
        assert page.status_code == 200, page.text
        rows += [r for r in page.json()["fees"] if r["case_id"] == case_id]
        token = page.json()["next_page_token"]
        if token is None:
            return rows
        params["page_token"] = token


async def test_a_late_reschedule_fee_shows_on_the_case_and_the_billing_list_with_its_amount(
    api: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = await _book(api, pool)
    base = f"/appointments/{request.appointment_id}"
    new_start = (request.start + timedelta(days=2)).isoformat()
    moved = await api.post(f"{base}/reschedule", json={"new_start": new_start}, headers=STAFF_KEY)
    assert moved.status_code == 200, moved.text
    # The visit stands at its new time (no slot outcome), and the case shows the fee it owes.
    view = (await api.get(base, headers=STAFF_KEY)).json()
    assert view["billing"] is None
    assert view["fee"] == {
        "fee": "late_reschedule",
        "state": "charged",
        "amount": "180.00",
        "currency": "PLN",
    }

    # `promptly status` says so too (read from the stored view).
    monkeypatch.chdir(tmp_path)  # no .data/env from a local `promptly dev`
    monkeypatch.setenv("PROMPTLY_DATABASE_URL", settings.database_url)

    async def status_line() -> str:
        args = ["status", request.appointment_id]
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
        assert result.exit_code == 0, result.output
        return next((line for line in result.stdout.splitlines() if "fee" in line), "")

    line = await until(status_line, "the fee in promptly status")
    assert line.strip() == "fee late_reschedule  180.00 PLN  charged"

    body = {"reason": "storm warning", "actor": PROVIDER}
    waived = await api.post(f"{base}/waive_fee", json=body, headers=ADMIN_KEY)
    assert waived.status_code == 200, waived.text
    assert waived.json()["fee"]["fee"] == "late_reschedule"
    assert waived.json()["fee"]["state"] == "waived"

    async def both() -> list[dict[str, Any]]:
        rows = await _listed(api, request.workflow_id, page_size="1")
        return rows if len(rows) == 2 else []

    # Listed one row a page: the pages follow each other without a gap or a repeat.
    charged, lifted = await until(both, "the charge and the waiver listed")
    assert {k: charged[k] for k in ("appointment_id", "client_id", "provider_id")} == {
        "appointment_id": request.appointment_id,
        "client_id": request.client.id,
        "provider_id": "P-3",
    }
    assert (charged["fee"], charged["amount"], charged["currency"], charged["outcome"]) == (
        "late_reschedule",
        "180.00",
        "PLN",
        "charged",
    )
    assert charged["decided_by"] == "staff:desk"
    # The waiver says which fee it lifts, and how much.
    assert (lifted["fee"], lifted["amount"], lifted["currency"], lifted["outcome"]) == (
        "late_reschedule",
        "180.00",
        "PLN",
        "waived",
    )
    assert lifted["decided_by"] == "provider:P-3 via root"
    assert lifted["decided_at"] >= charged["decided_at"]

    # Billing is read by compliance and admin, not by the desk.
    today = datetime.now(WARSAW).date().isoformat()
    period = {"from": today, "to": today}
    assert (await api.get("/billing", params=period, headers=ADMIN_KEY)).status_code == 200
    assert (await api.get("/billing", params=period, headers=STAFF_KEY)).status_code == 403
    backwards = {"from": today, "to": "2020-01-01"}
    assert (await api.get("/billing", params=backwards, headers=COMPLIANCE_KEY)).status_code == 422


async def test_promptly_billing_csv_lists_a_late_cancellation_and_the_fee_that_stood(
    api: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = await _book(api, pool)
    base = f"/appointments/{request.appointment_id}"
    cancelled = await api.post(f"{base}/cancel", json={"reason": "cannot come"}, headers=STAFF_KEY)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["fee"] == {
        "fee": "late_cancellation",
        "state": "charged",
        "amount": "180.00",
        "currency": "PLN",
    }
    stands = await api.post(f"{base}/fee_stands", json={"reason": "policy"}, headers=STAFF_KEY)
    assert stands.status_code == 200, stands.text

    monkeypatch.chdir(tmp_path)  # no .data/env from a local `promptly dev`
    monkeypatch.setenv("PROMPTLY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PROMPTLY_OFFICE_TIMEZONE", settings.office_timezone)
    today = datetime.now(ZoneInfo(settings.office_timezone)).date()
    days = ["--from", today.isoformat(), "--to", (today + timedelta(days=1)).isoformat()]

    async def listed() -> list[dict[str, str]]:
        result = await asyncio.to_thread(CliRunner().invoke, app, ["billing", *days, "--csv"])
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stdout.splitlines() if not line.endswith("event(s)")]
        rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
        ours = [row for row in rows if row["case_id"] == request.workflow_id]
        return ours if len(ours) == 2 else []

    charged, stood = await until(listed, "the cancellation's fee and the decision listed")
    assert (charged["fee"], charged["amount"], charged["currency"], charged["outcome"]) == (
        "late_cancellation",
        "180.00",
        "PLN",
        "charged",
    )
    assert (charged["client_id"], charged["provider_id"]) == (request.client.id, "P-3")
    assert (stood["fee"], stood["outcome"], stood["decided_by"]) == (
        "late_cancellation",
        "stands",
        "staff:desk",
    )

    # The case's compliance export lists the same fee with each billing outcome.
    export = await api.get(f"/history/cases/{request.workflow_id}", headers=COMPLIANCE_KEY)
    assert [(b["outcome"], b["fee"], b["amount"]) for b in export.json()["billing"]] == [
        ("late_cancel", "late_cancellation", "180.00"),
        ("fee_stands", "late_cancellation", "180.00"),
    ]

    readable = await asyncio.to_thread(CliRunner().invoke, app, ["billing", *days])
    assert readable.exit_code == 0, readable.output
    [line] = [
        line
        for line in readable.stdout.splitlines()
        if request.workflow_id in line and "charged" in line
    ]
    assert "late_cancellation  180.00 PLN  charged  by staff:desk" in line


async def test_rows_from_before_fees_were_recorded_list_the_fee_their_outcome_implies(
    api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    """A late reschedule recorded, as before, as a late cancellation with that reason; a
    waiver that named no fee; a held visit, which charges none."""
    request = await _book(api, pool)  # its case row names the provider
    case_id = request.workflow_id
    at = datetime(2026, 6, 10, 12, 0, tzinfo=WARSAW)
    async with pool.connection() as conn:
        for step, (outcome, reason) in enumerate(
            [("late_cancel", "late reschedule"), ("waived", "goodwill"), ("held", "held")]
        ):
            await conn.execute(
                """INSERT INTO billing_outcomes
                       (idempotency_key, case_id, appointment_id, client_id, outcome,
                        decided_by_kind, decided_by_id, reason, decided_at)
                   VALUES (%s, %s, %s, %s, %s, 'provider', 'P-3', %s, %s)""",
                (
                    f"{case_id}/old/{step}",
                    case_id,
                    request.appointment_id,
                    request.client.id,
                    outcome,
                    reason,
                    at + timedelta(minutes=step),
                ),
            )
    listed = await api.get(
        "/billing", params={"from": "2026-06-10", "to": "2026-06-10"}, headers=COMPLIANCE_KEY
    )
    assert listed.status_code == 200, listed.text
    ours = [r for r in listed.json()["fees"] if r["case_id"] == case_id]
    assert [(r["fee"], r["outcome"], r["amount"], r["provider_id"]) for r in ours] == [
        ("late_reschedule", "charged", None, "P-3"),
        (None, "waived", None, "P-3"),
    ]


def test_a_case_from_before_the_fee_was_kept_shows_the_fee_it_still_charges() -> None:
    """A running case whose state predates `fee`: a late move's pending fee still shows."""
    case = case_for(FEE_START, warsaw(11, 3, 9)).model_copy(
        update={"request": request(FEE_START).model_copy(update={"price": PRICE})}
    )
    assert appointment_fees.standing_fee(case) is None
    moved = case.model_copy(update={"reschedule_fee_pending": True, "reschedules": 1})
    assert appointment_fees.standing_fee(moved) == CaseFee(
        fee=Fee.LATE_RESCHEDULE, state=FeeState.CHARGED, amount=Decimal("180.00"), currency="PLN"
    )
