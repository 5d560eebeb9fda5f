"""What the appointment messages say: reference, policy, price, the provider's own time and a
signed acknowledge link (through the API, on the dev server, as a back office would book)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_datetime
from psycopg_pool import AsyncConnectionPool

from promptly.config import Settings
from promptly.domain import keys, links
from promptly.domain.appointments.models import AppointmentRequest
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, eventually
from tests.helpers import appointment, message_of

WARSAW = ZoneInfo("Europe/Warsaw")


def _start(days: int = 10, hour: int = 10) -> datetime:
    day = datetime.now(WARSAW).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=WARSAW)


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = appointment(_start(), locale="en").model_dump(mode="json")
    body["price"] = {"amount": "120.5", "currency": "PLN"}
    body["provider"]["timezone"] = "America/New_York"
    # A client of its own: another test's no-show must not make this one's visit prepaid.
    body["client"]["id"] = f"C-{uuid.uuid4().hex[:8]}"
    body.update(changes)
    return body


async def test_confirmation_states_reference_price_and_the_cancellation_and_no_show_policy(
    api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    body = _body()
    response = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert response.status_code == 201, response.text
    request = AppointmentRequest.model_validate(body)
    text = (await message_of(pool, request.workflow_id, "confirmation"))["body"]
    assert f"Reference: {request.appointment_id}" in text
    assert "Price:    120.50 PLN" in text
    assert "cancelling or rescheduling at least 24 hours ahead is free" in text
    assert "a later cancellation or change is charged as if the visit had taken place" in text
    assert "arrived within 15 minutes of the start, the visit counts as a no-show" in text
    view = await eventually(
        api, f"/appointments/{request.appointment_id}", lambda r: r.status_code == 200, STAFF_KEY
    )
    assert view.json()["prepayment_required"] is False


async def test_provider_notice_is_in_the_providers_timezone_with_a_signed_acknowledge_link(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    body = _body()
    response = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert response.status_code == 201, response.text
    request = AppointmentRequest.model_validate(body)
    notice = await message_of(pool, request.workflow_id, "provider_booking")
    new_york = format_datetime(
        request.start, "EEEE, d MMMM y, HH:mm", tzinfo=ZoneInfo("America/New_York"), locale="en"
    )
    assert new_york in notice["body"]  # 04:00 in New York for a 10:00 Warsaw visit
    assert f"Reference: {request.appointment_id}" in notice["body"]

    found = re.findall(r"^Acknowledge: \S+/c/(\S+)$", notice["body"], re.MULTILINE)
    assert len(found) == 1
    claims = links.verify(settings.keyring(keys.LINKS), found[0], datetime.now(UTC))
    assert (claims.case_id, claims.action) == (request.workflow_id, "acknowledge")
    tokens = {"acknowledge": found[0]}
    page = await api.get(f"/c/{tokens['acknowledge']}")
    assert page.status_code == 200 and "Acknowledge the booking" in page.text
    done = await api.post(f"/c/{tokens['acknowledge']}")
    assert done.status_code == 200, done.text
    assert "the booking is acknowledged" in done.text
    view = await eventually(
        api,
        f"/appointments/{request.appointment_id}",
        lambda r: r.status_code == 200 and r.json()["provider_acknowledged"],
        STAFF_KEY,
    )
    acks = [
        e for e in view.json()["timeline"] if e["detail"] == "Provider acknowledged the booking"
    ]
    assert [e["actor"] for e in acks] == [{"kind": "provider", "id": "P-3"}]
    again = await api.get(f"/c/{tokens['acknowledge']}")
    assert "already acknowledged" in again.text


async def test_provider_without_a_timezone_reads_the_offices_time(
    api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    body = appointment(_start(), locale="en", timezone="America/New_York").model_dump(mode="json")
    response = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert response.status_code == 201, response.text
    request = AppointmentRequest.model_validate(body)
    notice = await message_of(pool, request.workflow_id, "provider_booking")
    warsaw = format_datetime(request.start, "EEEE, d MMMM y, HH:mm", tzinfo=WARSAW, locale="en")
    assert warsaw in notice["body"]


@pytest.mark.parametrize(
    ("price", "field", "reason"),
    [
        ({"amount": "120", "currency": "ZZZ"}, "price.currency", "unknown currency"),
        ({"amount": "120", "currency": "pln"}, "price.currency", "unknown currency"),
        ({"amount": "-5", "currency": "PLN"}, "price.amount", "greater than 0"),
        ({"amount": "1.234", "currency": "PLN"}, "price.amount", "decimal places"),
        ({"amount": "120"}, "price.currency", "Field required"),
    ],
)
async def test_a_bad_price_is_422_naming_the_field(
    api: httpx.AsyncClient, price: dict[str, str], field: str, reason: str
) -> None:
    response = await api.post("/appointments", json=_body(price=price), headers=BACKOFFICE_KEY)
    assert response.status_code == 422, response.text
    fields = {p["field"]: p["reason"] for p in response.json()["errors"]}
    assert reason in fields[field], fields


def test_a_timezone_the_provider_cannot_have_is_refused() -> None:
    body = _body()
    body["provider"]["timezone"] = "Mars/Olympus"
    with pytest.raises(ValueError, match="unknown timezone"):
        AppointmentRequest.model_validate(body)
