"""The back-office HTTP API on a real Temporal dev server and PostgreSQL.

Booking is idempotent, bad input is a 422 naming the field, unknown cases are 404, a
refusal by the case's rules is 409 with its reason, the acting key is the actor, lists
come from Temporal visibility, page by page.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.api.app import create_app
from promptly.config import ApiRole, Settings
from promptly.services.appointments import book
from promptly.services.case_kinds import APPOINTMENT, COMPLAINT
from tests.api_support import (
    BACKOFFICE_KEY,
    STAFF_KEY,
    eventually,
    key,
    serving,
    with_api_keys,
)
from tests.helpers import appointment

WARSAW = ZoneInfo("Europe/Warsaw")


def _start(days: int = 10, hour: int = 10) -> datetime:
    day = datetime.now(WARSAW).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=WARSAW)


def _booking(days: int = 10, **changes: Any) -> dict[str, Any]:
    data = appointment(_start(days)).model_dump(mode="json")
    data.update(changes)
    return data


def _soon() -> dict[str, Any]:
    """A booking starting in 90 minutes: check-in is open, so a delay may be reported."""
    return appointment(datetime.now(UTC) + timedelta(minutes=90)).model_dump(mode="json")


async def _book(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    response = await http.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert response.status_code == 201, response.text
    return response


async def _status(http: httpx.AsyncClient, appointment_id: str) -> dict[str, Any]:
    response = await eventually(
        http, f"/appointments/{appointment_id}", lambda r: r.status_code == 200, STAFF_KEY
    )
    body: dict[str, Any] = response.json()
    return body


def _fields(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert body["reason"], body
    return {problem["field"]: problem["reason"] for problem in body["errors"]}


async def test_booking_answers_201_with_the_workflow_and_status_url(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    body = _booking()
    response = await _book(api, body)
    answer = response.json()
    appointment_id = body["appointment_id"]
    assert answer["workflow_id"] == f"appointment-{appointment_id}"
    assert answer["created"] is True
    assert answer["status_url"] == f"/appointments/{appointment_id}"
    assert response.headers["location"] == answer["status_url"]

    view = await _status(api, appointment_id)
    assert view["status"] == "Booked"
    assert datetime.fromisoformat(view["start"]) == datetime.fromisoformat(body["start"])
    # Whose visit, with whom, what and where: a CRM told of the case by id alone can tell.
    booked = {name: view[name] for name in ("client_id", "provider_id", "service", "location")}
    assert booked == {
        "client_id": body["client"]["id"],
        "provider_id": body["provider"]["id"],
        "service": body["service"],
        "location": body["location"],
    }
    ends = datetime.fromisoformat(body["start"]) + timedelta(minutes=body["duration_minutes"])
    assert datetime.fromisoformat(view["end"]) == ends
    [booked, *_] = view["timeline"]
    assert booked["detail"].startswith("Booked")
    # Who booked it is on the record (the key's actor), and in the Temporal UI's details.
    assert booked["actor"] == {"kind": "system", "id": "crm", "via": "crm"}
    handle = dev_env.client.get_workflow_handle(answer["workflow_id"])
    details = await (await handle.describe()).static_details() or ""
    assert "- opened by: system:crm" in details


async def test_a_case_read_while_it_is_still_being_booked_says_when_to_read_it_again(
    api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    """While PostgreSQL is slow to answer the booking's read of the client's standing, the
    new case's status is a refusal a program can retry on, with `Retry-After`; a confirmation
    sent meanwhile waits for the booking and is applied once it is made."""
    body = _booking()
    path = f"/appointments/{body['appointment_id']}"
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
        await _book(api, body)
        early = await api.get(path, headers=STAFF_KEY)
        assert early.status_code == 409, early.text
        assert early.json()["code"] == "conflict.case_opening"
        assert early.json()["reason"].startswith("the appointment is still being booked; try")
        assert early.headers["retry-after"] == "1"
        confirming = asyncio.create_task(api.post(f"{path}/confirm", headers=BACKOFFICE_KEY))
        await asyncio.sleep(0.5)
        assert not confirming.done()
    confirmed = await confirming
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "Confirmed"
    assert (await _status(api, body["appointment_id"]))["status"] == "Confirmed"


async def test_same_booking_again_is_200_and_a_different_one_409(api: httpx.AsyncClient) -> None:
    body = _booking()
    await _book(api, body)
    await _status(api, body["appointment_id"])

    again = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert again.json()["case"]["status"] == "Booked"

    # The same instant written in another offset is the same booking.
    same_instant = {**body, "start": datetime.fromisoformat(body["start"]).astimezone(UTC)}
    same_instant["start"] = same_instant["start"].isoformat()
    assert (
        await api.post("/appointments", json=same_instant, headers=STAFF_KEY)
    ).status_code == 200

    # A repeat by another key changes nothing: the case is still the one the first key opened.
    view = await _status(api, body["appointment_id"])
    assert view["timeline"][0]["actor"]["id"] == "crm"

    different = await api.post(
        "/appointments", json={**body, "service": "Massage"}, headers=BACKOFFICE_KEY
    )
    assert different.status_code == 409, different.text
    assert "different details (service)" in different.json()["reason"]
    assert _fields(different) == {"service": "differs from the existing case"}
    view = await _status(api, body["appointment_id"])
    assert view["status"] == "Booked" and len(view["timeline"]) >= 1


@pytest.mark.parametrize(
    ("days", "reason"),
    [(-1, "not in the future"), (365 * 7000, "more than 3 years ahead")],
    ids=["past", "year-9000"],
)
async def test_booking_in_the_past_is_422_naming_start_and_starts_nothing(
    api: httpx.AsyncClient, days: int, reason: str
) -> None:
    body = _booking(days=days)
    response = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert response.status_code == 422, response.text
    assert reason in _fields(response)["start"]
    missing = await api.get(f"/appointments/{body['appointment_id']}", headers=STAFF_KEY)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"start": "2030-01-07T10:00:00"}, "start", "timezone"),
        ({"start": "next tuesday"}, "start", "datetime"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
        ({"duration_minutes": "long"}, "duration_minutes", "integer"),
        ({"duration_minutes": 1}, "duration_minutes", "greater than or equal to 5"),
        # What a pattern means, not the regular expression.
        ({"appointment_id": "no spaces please"}, "appointment_id", "must be 1 to 64 letters"),
        (
            {"client": {"id": "C-1", "name": "A", "phone": "600 100 200", "timezone": "UTC"}},
            "client.phone",
            "must be an international number: '+', the country code and the number",
        ),
        (
            {"client": {"id": "C-1", "name": "A", "timezone": "Europe/Warsaw"}},
            "client.email",
            "required when preferred_channel is email",
        ),
        ({"client": None}, "client", "valid dictionary"),
        # PostgreSQL cannot store a NUL: refused here, not a case whose saves all fail.
        ({"service": "Physio\u0000therapy"}, "service", "NUL character"),
    ],
)
async def test_invalid_booking_is_422_naming_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str, reason: str
) -> None:
    body = {**_booking(), **change}
    response = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert response.status_code == 422, response.text
    problems = _fields(response)
    assert field in problems, problems
    assert reason in problems[field], problems


async def test_missing_field_and_nested_field_errors_name_the_path(api: httpx.AsyncClient) -> None:
    body = _booking()
    del body["service"]
    body["client"]["email"] = "not-an-email"
    response = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert response.status_code == 422
    problems = _fields(response)
    assert problems["service"] == "Field required"
    assert "email" in problems["client.email"]


async def test_malformed_json_and_oversized_bodies_are_refused(api: httpx.AsyncClient) -> None:
    headers = {**BACKOFFICE_KEY, "content-type": "application/json"}
    broken = await api.post("/appointments", content=b'{"appointment_id": ', headers=headers)
    assert broken.status_code == 422
    assert "JSON" in _fields(broken)["body"]
    not_utf8 = await api.post("/appointments/A-1/confirm", content=b"\xff\xfe", headers=headers)
    assert not_utf8.status_code == 422 and "body" in _fields(not_utf8)
    nested = await api.post("/appointments", content=b"[" * 30_000, headers=headers)
    assert nested.status_code == 422 and "nested too deeply" in _fields(nested)["body"]

    body = _booking(instructions="x" * 1000)
    huge = json.dumps({**body, "padding": "x" * 70_000}).encode()
    too_big = await api.post("/appointments", content=huge, headers=headers)
    assert too_big.status_code == 413
    assert "65536 bytes" in too_big.json()["reason"]
    # Refused before any route, and still findable in the log by its id.
    assert too_big.json()["request_id"] == too_big.headers["X-Request-Id"]

    async def chunks() -> Any:  # no Content-Length: counted while streaming
        for _ in range(70):
            yield b"x" * 1024

    streamed = await api.post("/appointments", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    # An email reply may be larger (its attachments), to SendGrid's own cap, when declared.
    email = "/inbound/email/any-token"
    beyond_cap = {"content-length": str(31 * 1024 * 1024), "content-type": "text/plain"}
    refused = await api.post(email, content=b"", headers=beyond_cap)
    assert refused.status_code == 413 and f"over {30 * 1024 * 1024} bytes" in refused.text
    assert (await api.post(email, content=chunks())).status_code == 413  # undeclared: 64 KiB
    missing = await api.get(f"/appointments/{body['appointment_id']}", headers=STAFF_KEY)
    assert missing.status_code == 404
    # An id no PostgreSQL bigint can hold names no delivery: 422, not a database error.
    beyond = await api.post(
        "/webhooks/deliveries/redeliver", json={"ids": [2**63]}, headers=key(ApiRole.ADMIN)
    )
    assert beyond.status_code == 422 and "ids.0" in _fields(beyond), beyond.text


async def test_unknown_cases_and_routes_are_404_with_a_reason(api: httpx.AsyncClient) -> None:
    for response in [
        await api.get("/appointments/A-nope", headers=STAFF_KEY),
        await api.post("/appointments/A-nope/confirm", json={}, headers=STAFF_KEY),
        await api.post("/appointments/A-nope/cancel", json={"reason": "x"}, headers=STAFF_KEY),
        await api.post("/tasks/987654321/complete", json={"outcome": "sent"}, headers=STAFF_KEY),
        await api.post("/appointments/A-nope/teleport", json={}, headers=STAFF_KEY),
        await api.get("/nothing-here", headers=STAFF_KEY),
    ]:
        assert response.status_code == 404, response.text
        assert response.json()["reason"]
    assert "A-nope" in (await api.get("/appointments/A-nope", headers=STAFF_KEY)).json()["reason"]
    teleport = await api.post("/appointments/A-nope/teleport", json={}, headers=STAFF_KEY)
    assert teleport.json()["reason"].startswith("no action 'teleport' for appointments; allowed:")
    bad_id = await api.get("/appointments/bad id!", headers=STAFF_KEY)
    assert bad_id.status_code == 422
    assert "appointment_id" in _fields(bad_id)


async def test_refused_updates_are_409_with_the_reason_and_change_nothing(
    api: httpx.AsyncClient,
) -> None:
    body = _booking()
    await _book(api, body)
    base = f"/appointments/{body['appointment_id']}"
    before = await _status(api, body["appointment_id"])

    check_in = await api.post(f"{base}/check_in", headers=STAFF_KEY)  # no body: actor = key
    assert check_in.status_code == 409, check_in.text
    # When it opens, on the client's clock.
    opens = f"{_start() - timedelta(hours=2):%Y-%m-%d} 08:00 Europe/Warsaw"
    assert check_in.json()["reason"] == (
        f"check_in refused: check-in opens at {opens}, 2 h before the start"
    )
    call = await api.post(
        f"{base}/record_call_outcome", json={"outcome": "no_answer"}, headers=STAFF_KEY
    )
    assert call.status_code == 409
    assert call.json()["reason"] == (
        "record_call_outcome refused: no follow-up call has been requested yet"
    )
    # A reschedule agreed on a call without the time agreed is bad input, whatever the state.
    vague = await api.post(
        f"{base}/record_call_outcome", json={"outcome": "reached_rescheduled"}, headers=STAFF_KEY
    )
    assert vague.status_code == 422, vague.text
    assert list(_fields(vague)) == ["new_start"]
    complete = await api.post(f"{base}/complete", json={}, headers=STAFF_KEY)
    assert complete.status_code == 409
    assert "Booked" in complete.json()["reason"]
    # Ten days ahead a delay is a reschedule: no free change, no moved no-show, no email.
    for actor in ({"kind": "provider", "id": "P-3"}, {"kind": "client", "id": "C-17"}):
        delay = await api.post(
            f"{base}/report_delay",
            json={"minutes": 10, "reason": "previous visit ran over", "actor": actor},
            headers=key(ApiRole.ADMIN),
        )
        assert delay.status_code == 409, delay.text
        assert delay.json()["reason"] == (
            "report_delay refused: a delay can be reported on the day of the visit, from "
            f"{_start():%Y-%m-%d} 00:00 Europe/Warsaw; to move the visit to another time, "
            "reschedule it"
        )
    after = await _status(api, body["appointment_id"])

    def decisions(view: dict[str, Any]) -> list[dict[str, Any]]:  # messages may still go out
        return [e for e in view["timeline"] if e["kind"] in ("status", "action")]

    assert after["status"] == "Booked" and decisions(after) == decisions(before)
    assert not after["free_reschedule"] and after["no_show_at"] == before["no_show_at"]
    assert "delay_notice" not in [e["data"].get("template") for e in after["timeline"]]

    bad = await api.post(f"{base}/report_delay", json={"minutes": 0}, headers=STAFF_KEY)
    assert bad.status_code == 422
    assert set(_fields(bad)) == {"minutes", "reason"}
    nul = await api.post(f"{base}/cancel", json={"reason": "ill\u0000"}, headers=STAFF_KEY)
    assert nul.status_code == 422 and "NUL" in _fields(nul)["reason"]
    assert (await _status(api, body["appointment_id"]))["status"] == "Booked"


async def test_the_acting_key_is_the_actor_unless_the_body_names_one(
    api: httpx.AsyncClient,
) -> None:
    body = _booking()
    await _book(api, body)
    base = f"/appointments/{body['appointment_id']}"
    await _status(api, body["appointment_id"])

    acknowledged = await api.post(f"{base}/acknowledge", headers=STAFF_KEY)
    assert acknowledged.status_code == 200, acknowledged.text
    # (Messages that end meanwhile may be noted after it: the update waits for the provider's
    # notice, moot now, to be cancelled.)
    [entry] = [
        e
        for e in acknowledged.json()["timeline"]
        if e["detail"] == "Provider acknowledged the booking"
    ]
    assert entry["actor"] == {"kind": "staff", "id": "desk", "via": "desk"}

    # A delay is reported on the visit's day: one in 90 minutes.
    soon = _soon()
    await _book(api, soon)
    delays = f"/appointments/{soon['appointment_id']}/report_delay"
    await _status(api, soon["appointment_id"])
    provider = {"kind": "provider", "id": "P-3"}
    delay_body = {"minutes": 20, "reason": "traffic", "actor": provider}
    forged = await api.post(delays, json=delay_body, headers=BACKOFFICE_KEY)
    assert forged.status_code == 403, forged.text  # a back-office key is not the provider
    delay = await api.post(delays, json=delay_body, headers=key(ApiRole.ADMIN))
    assert delay.status_code == 200, delay.text
    assert delay.json()["delay_minutes"] == 20
    delayed = [e for e in delay.json()["timeline"] if e["detail"].startswith("Provider delayed")]
    assert delayed[-1]["actor"] == {**provider, "via": "root"}

    confirmed = await api.post(f"{base}/confirm", json={}, headers=BACKOFFICE_KEY)
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "Confirmed"
    crm = {"kind": "system", "id": "crm", "via": "crm"}
    [confirmation] = [e for e in confirmed.json()["timeline"] if e["detail"] == "Client confirmed"]
    assert confirmation["actor"] == crm

    cancelled = await api.post(
        f"{base}/cancel", json={"reason": "client called"}, headers=STAFF_KEY
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "Cancelled"
    assert cancelled.json()["billing"] == "cancelled_free"
    again = await api.post(f"{base}/cancel", json={"reason": "twice"}, headers=STAFF_KEY)
    assert again.status_code == 409
    assert again.json()["reason"] == "cancel refused: the appointment is already Cancelled"


async def test_reschedule_moves_the_visit(api: httpx.AsyncClient) -> None:
    body = _booking()
    await _book(api, body)
    booked = await _status(api, body["appointment_id"])
    assert booked["rescheduled_at"] is None
    new_start = _start(days=12, hour=15)
    moved = await api.post(
        f"/appointments/{body['appointment_id']}/reschedule",
        json={"new_start": new_start.isoformat()},
        headers=STAFF_KEY,
    )
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["start"]) == new_start
    assert moved.json()["reschedules"] == 1
    # Booked when it was booked; the new plan counts from the reschedule.
    assert moved.json()["booked_at"] == booked["booked_at"]
    when = datetime.fromisoformat
    assert when(moved.json()["rescheduled_at"]) >= when(booked["booked_at"])
    for refused, reason in [
        ("2030-01-01T10:00:00", "timezone"),
        ("9999-12-31T22:00:00Z", "more than 3 years ahead"),
    ]:
        bad = await api.post(
            f"/appointments/{body['appointment_id']}/reschedule",
            json={"new_start": refused},
            headers=STAFF_KEY,
        )
        assert bad.status_code == 422
        assert reason in _fields(bad)["new_start"]


async def test_list_filters_and_pages_through_visibility(api: httpx.AsyncClient) -> None:
    provider = f"P-{uuid.uuid4().hex[:8]}"
    bodies = []
    for days in (5, 6, 7):
        body = _booking(days)
        body["provider"]["id"] = provider
        await _book(api, body)
        bodies.append(body)
    listed = f"/appointments?provider_id={provider}"
    response = await eventually(
        api, listed, lambda r: r.status_code == 200 and len(r.json()["items"]) == 3, STAFF_KEY
    )
    items = response.json()["items"]
    assert {item["appointment_id"] for item in items} == {b["appointment_id"] for b in bodies}
    assert all(item["provider_id"] == provider and item["running"] for item in items)
    assert items[0]["status_url"] == f"/appointments/{items[0]['appointment_id']}"

    first = await api.get(f"{listed}&page_size=2", headers=STAFF_KEY)
    assert len(first.json()["items"]) == 2 and first.json()["next_page_token"]
    second = await api.get(
        f"{listed}&page_size=2&page_token={first.json()['next_page_token']}", headers=STAFF_KEY
    )
    assert len(second.json()["items"]) == 1
    seen = {i["appointment_id"] for i in first.json()["items"] + second.json()["items"]}
    assert len(seen) == 3

    window = await api.get(
        "/appointments",
        params={
            "provider_id": provider,
            "from": _start(6, 0).isoformat(),
            "to": _start(7, 0).isoformat(),
        },
        headers=STAFF_KEY,
    )
    assert [i["appointment_id"] for i in window.json()["items"]] == [bodies[1]["appointment_id"]]

    await api.post(f"/appointments/{bodies[2]['appointment_id']}/confirm", headers=STAFF_KEY)
    confirmed = await eventually(
        api,
        f"{listed}&status=Confirmed",
        lambda r: len(r.json()["items"]) == 1,
        STAFF_KEY,
    )
    assert confirmed.json()["items"][0]["appointment_id"] == bodies[2]["appointment_id"]
    assert confirmed.json()["items"][0]["status"] == "Confirmed"

    bad = await api.get("/appointments?status=Sleeping", headers=STAFF_KEY)
    assert bad.status_code == 422 and "status" in _fields(bad)
    naive = await api.get("/appointments?from=2030-01-01T00:00:00", headers=STAFF_KEY)
    assert naive.status_code == 422 and "from" in _fields(naive)
    for kind in ("appointments", "complaints"):  # a backwards range is bad input, not "none"
        backwards = f"/{kind}?from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"
        refused = await api.get(backwards, headers=STAFF_KEY)
        assert refused.status_code == 422 and "after from" in _fields(refused)["to"]
    other_list = f"/appointments?page_size=2&page_token={first.json()['next_page_token']}"
    for garbage in ("@@@", "AAAA", "A" * 40):
        token = await api.get(f"/appointments?page_token={garbage}", headers=STAFF_KEY)
        assert token.status_code == 422, token.text
        assert "page_token" in _fields(token)
    assert (await api.get(other_list, headers=STAFF_KEY)).status_code == 422


async def test_health_reports_temporal_and_postgres(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    healthy = await api.get("/health")
    assert healthy.status_code == 200
    assert healthy.json() == {
        "ok": True,
        "temporal": {"ok": True, "detail": "reachable"},
        "postgres": {"ok": True, "detail": "reachable"},
        "schema": "current",
        "search_attributes": "registered",
    }
    closed = AsyncConnectionPool(settings.database_url, open=False)
    app = create_app(settings, client=dev_env.client, pool=closed)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        sick = await http.get("/health")
    assert sick.status_code == 503
    assert sick.json()["postgres"] == {"ok": False, "detail": "unreachable"}
    assert sick.json()["schema"] == "unknown"
    assert sick.json()["temporal"]["ok"] is True


async def test_lifespan_connects_from_settings(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    address = dev_env.client.service_client.config.target_host
    app = create_app(with_api_keys(settings.model_copy(update={"temporal_address": address})))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert (await http.get("/health")).json()["ok"] is True
        missing = await http.get("/appointments/A-none", headers=STAFF_KEY)
        assert missing.status_code == 404


async def test_openapi_documents_every_route_and_action(api: httpx.AsyncClient) -> None:
    docs = await api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await api.get("/openapi.json")).json()
    for kind, actions in (("appointment", APPOINTMENT.updates), ("complaint", COMPLAINT.updates)):
        for action in actions:
            operation = spec["paths"][f"/{kind}s/{{{kind}_id}}/{action}"]["post"]
            assert operation["operationId"] == f"{action}_{kind}"
            assert {"401", "403", "404", "409", "422"} <= set(operation["responses"])
    assert spec["paths"]["/appointments"]["post"]["operationId"] == "book_appointment"
    assert "APIKeyHeader" in spec["components"]["securitySchemes"]
    schema = spec["components"]["schemas"]["RecordCallOutcomeBody"]
    assert "actor" not in schema.get("required", [])
    assert not any(path.startswith("/c/") for path in spec["paths"])


async def test_idempotency_and_links_survive_continue_as_new(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """After a reschedule starts a fresh run, the original booking still answers 200."""
    fresh_run_each_reschedule = settings.model_copy(update={"continue_after_reschedules": 1})
    async with serving(dev_env.client, with_api_keys(fresh_run_each_reschedule), pool) as http:
        body = _booking()
        await _book(http, body)
        base = f"/appointments/{body['appointment_id']}"
        await _status(http, body["appointment_id"])
        moved = await http.post(
            f"{base}/reschedule", json={"new_start": _start(days=11).isoformat()}, headers=STAFF_KEY
        )
        assert moved.status_code == 200, moved.text
        handle = dev_env.client.get_workflow_handle(f"appointment-{body['appointment_id']}")
        for _ in range(100):  # the new run starts once the update handler has finished
            first = (await handle.fetch_history()).events[0]
            if first.workflow_execution_started_event_attributes.continued_execution_run_id:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no continue-as-new")

        again = await http.post("/appointments", json=body, headers=BACKOFFICE_KEY)
        assert again.status_code == 200, again.text
        assert datetime.fromisoformat(again.json()["case"]["start"]) == _start(days=11)
        assert again.json()["case"]["reschedules"] == 1
        different = await http.post(
            "/appointments", json={**body, "location": "elsewhere"}, headers=BACKOFFICE_KEY
        )
        assert different.status_code == 409
        confirmed = await http.post(f"{base}/confirm", headers=STAFF_KEY)
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "Confirmed"


async def test_an_update_nobody_accepts_gives_up_with_504(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """A case whose worker is gone: the API answers 504 in time instead of waiting forever."""
    impatient = settings.model_copy(update={"api_update_timeout": timedelta(seconds=2)})
    orphan = appointment(_start())
    nobody = settings.model_copy(update={"task_queue": f"nobody-{uuid.uuid4().hex[:6]}"})
    handle = await book(dev_env.client, orphan, nobody, datetime.now(UTC))
    try:
        async with serving(dev_env.client, with_api_keys(impatient), pool) as http:
            started = asyncio.get_running_loop().time()
            response = await http.post(
                f"/appointments/{orphan.appointment_id}/confirm", headers=STAFF_KEY
            )
            assert response.status_code == 504, response.text
            assert response.json()["code"] == "timeout"
            assert "may still be applied" in response.json()["reason"]
            assert "check the status before repeating" in response.json()["reason"]
            assert asyncio.get_running_loop().time() - started < 10
            # With an Idempotency-Key the caller is told a repeat with it is safe.
            keyed = {**STAFF_KEY, "Idempotency-Key": str(uuid.uuid4())}
            response = await http.post(
                f"/appointments/{orphan.appointment_id}/confirm", headers=keyed
            )
            assert response.status_code == 504, response.text
            reason = response.json()["reason"]
            assert "repeating it with the same Idempotency-Key is safe" in reason
            assert "check the status" not in reason
    finally:
        await handle.terminate("test over")
