"""Complaints over HTTP: filed idempotently, steered by their updates, listed by department."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, eventually
from tests.complaint_helpers import complaint_payload


async def _filed(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    body = complaint_payload(**changes)
    response = await api.post("/complaints", json=body, headers=BACKOFFICE_KEY)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/complaints/{body['complaint_id']}"
    return body


async def _status(api: httpx.AsyncClient, complaint_id: str) -> dict[str, Any]:
    response = await eventually(
        api, f"/complaints/{complaint_id}", lambda r: r.status_code == 200, STAFF_KEY
    )
    view: dict[str, Any] = response.json()
    return view


async def test_filing_is_idempotent_and_validated(api: httpx.AsyncClient) -> None:
    body = await _filed(api)
    view = await _status(api, body["complaint_id"])
    assert view["status"] == "Open" and view["department"]
    assert view["timeline"][0]["actor"] == {"kind": "system", "id": "crm", "via": "crm"}
    assert view["client_id"] == body["customer"]["id"]

    again = await api.post("/complaints", json=body, headers=BACKOFFICE_KEY)
    assert again.status_code == 200 and again.json()["case"]["status"] == "Open"
    different = await api.post(
        "/complaints", json={**body, "severity": "critical"}, headers=BACKOFFICE_KEY
    )
    assert different.status_code == 409
    assert different.json()["errors"] == [
        {"field": "severity", "reason": "differs from the existing case"}
    ]

    bad = await api.post(
        "/complaints", json={**complaint_payload(), "severity": "apocalyptic"}, headers=STAFF_KEY
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "severity"
    missing = await api.get("/complaints/K-nope", headers=STAFF_KEY)
    assert missing.status_code == 404 and "K-nope" in missing.json()["reason"]


async def test_complaint_actions_drive_the_workflow(api: httpx.AsyncClient) -> None:
    body = await _filed(api)
    base = f"/complaints/{body['complaint_id']}"
    await _status(api, body["complaint_id"])

    assigned = await api.post(
        f"{base}/assign",
        json={"assignee": {"id": "agent-7", "name": "Ewa Agent"}},
        headers=STAFF_KEY,
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee"]["id"] == "agent-7"
    desk = {"kind": "staff", "id": "desk", "via": "desk"}
    assert assigned.json()["timeline"][-1]["actor"] == desk

    held = await api.post(
        f"{base}/hold", json={"reason": "waiting for receipts"}, headers=STAFF_KEY
    )
    assert held.status_code == 200 and held.json()["status"] == "OnHold"
    twice = await api.post(f"{base}/hold", json={"reason": "again"}, headers=STAFF_KEY)
    assert twice.status_code == 409
    assert twice.json()["reason"] == "hold refused: the complaint is already on hold"
    resumed = await api.post(f"{base}/resume", headers=STAFF_KEY)
    assert resumed.status_code == 200 and resumed.json()["status"] == "Open"

    by_system = await api.post(f"{base}/close", json={"reason": "done"}, headers=BACKOFFICE_KEY)
    assert by_system.status_code == 403  # who acts, as the appointments refuse it
    assert by_system.json()["code"] == "forbidden"
    assert "only staff" in by_system.json()["reason"]
    # A root cause off the configured list is bad input: 422 naming the field, nothing closed.
    unknown = {"reason": "done", "root_cause": "aliens"}
    off_list = await api.post(f"{base}/close", json=unknown, headers=STAFF_KEY)
    assert off_list.status_code == 422, off_list.text
    [problem] = off_list.json()["errors"]
    assert problem["field"] == "root_cause"
    assert problem["reason"].startswith("unknown root_cause 'aliens' for close (known: ")

    proposed = await api.post(
        f"{base}/propose_resolution", json={"resolution": "Refund the visit"}, headers=STAFF_KEY
    )
    assert proposed.status_code == 200 and proposed.json()["status"] == "ResolutionProposed"
    verdict = await api.post(
        f"{base}/customer_verdict",
        json={"satisfied": True, "actor": {"kind": "client", "id": "C-17"}},
        headers=BACKOFFICE_KEY,
    )
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["status"] == "Closed"
    verdicts = [e for e in verdict.json()["timeline"] if e["actor"]["kind"] == "client"]
    assert verdicts[-1]["actor"] == {"kind": "client", "id": "C-17", "via": "crm"}
    late = await api.post(f"{base}/add_note", json={"text": "late"}, headers=STAFF_KEY)
    assert late.status_code == 409 and "already Closed" in late.json()["reason"]


async def test_complaints_are_listed_by_department_status_and_client(
    api: httpx.AsyncClient,
) -> None:
    first = await _filed(api, customer={**complaint_payload()["customer"], "id": "C-list-1"})
    view = await _status(api, first["complaint_id"])
    department = view["department"]
    listed = await eventually(
        api,
        f"/complaints?client_id=C-list-1&department={department}&status=Open",
        lambda r: any(i["complaint_id"] == first["complaint_id"] for i in r.json()["items"]),
        STAFF_KEY,
    )
    item = next(i for i in listed.json()["items"] if i["complaint_id"] == first["complaint_id"])
    assert item["department"] == department and item["status"] == "Open"
    assert item["sla_breached"] is False and item["status_url"].endswith(first["complaint_id"])
    breached = await api.get("/complaints?client_id=C-list-1&breached=true", headers=STAFF_KEY)
    assert breached.json()["items"] == []
    bad = await api.get("/complaints?department=Not Valid", headers=STAFF_KEY)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "department"
