"""Inquiries over HTTP: recorded idempotently, answered or promoted, listed, refused clearly."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, eventually
from tests.complaint_helpers import inquiry


def _payload(**changes: Any) -> dict[str, Any]:
    return inquiry(**changes).model_dump(mode="json")


async def _status(api: httpx.AsyncClient, inquiry_id: str) -> dict[str, Any]:
    response = await eventually(
        api, f"/inquiries/{inquiry_id}", lambda r: r.status_code == 200, STAFF_KEY
    )
    view: dict[str, Any] = response.json()
    return view


async def test_inquiries_are_recorded_answered_and_promoted_over_http(
    api: httpx.AsyncClient,
) -> None:
    body = _payload()
    created = await api.post("/inquiries", json=body, headers=BACKOFFICE_KEY)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/inquiries/{body['inquiry_id']}"
    view = await _status(api, body["inquiry_id"])
    assert view["status"] == "Open" and view["answer_deadline"]
    assert view["client_id"] == view["customer_id"] == body["customer"]["id"]
    again = await api.post("/inquiries", json=body, headers=BACKOFFICE_KEY)
    assert again.status_code == 200 and again.json()["case"]["status"] == "Open"
    bad = await api.post("/inquiries", json={**body, "subject": ""}, headers=BACKOFFICE_KEY)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "subject"

    base = f"/inquiries/{body['inquiry_id']}"
    answered = await api.post(f"{base}/answer", json={"text": "Yes, 9–13."}, headers=STAFF_KEY)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "Answered" and answered.json()["answer"] == "Yes, 9–13."
    late = await api.post(
        f"{base}/promote", json={"category": "billing", "severity": "high"}, headers=STAFF_KEY
    )
    assert late.status_code == 409 and "already answered" in late.json()["reason"]

    # Taken at the desk: the inquiry's first entry names the desk's key.
    other = _payload(subject="Charged twice", question="Two charges for one visit.")
    await api.post("/inquiries", json=other, headers=STAFF_KEY)
    received = (await _status(api, other["inquiry_id"]))["timeline"][0]
    assert received["detail"].startswith("Inquiry received")
    assert received["actor"] == {"kind": "staff", "id": "desk", "via": "desk"}
    promoted = await api.post(
        f"/inquiries/{other['inquiry_id']}/promote",
        json={"category": "billing", "severity": "high"},
        headers=STAFF_KEY,
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["complaint_id"] == other["inquiry_id"]
    complaint = await eventually(
        api,
        f"/complaints/{other['inquiry_id']}",
        lambda r: r.status_code == 200,
        STAFF_KEY,
    )
    assert complaint.json()["status"] == "Open" and complaint.json()["category"] == "billing"
    # The desk promoted it: the complaint's first entry names the desk, not the system.
    opened = complaint.json()["timeline"][0]
    assert opened["detail"].startswith("Complaint received")
    assert opened["actor"] == {"kind": "staff", "id": "desk", "via": "desk"}
    listed = await eventually(
        api,
        "/inquiries?status=Promoted",
        lambda r: any(i["inquiry_id"] == other["inquiry_id"] for i in r.json()["items"]),
        STAFF_KEY,
    )
    assert listed.status_code == 200


async def test_an_answer_not_by_staff_is_refused_for_who_acts_403_not_a_conflict(
    api: httpx.AsyncClient,
) -> None:
    body = _payload()
    assert (await api.post("/inquiries", json=body, headers=BACKOFFICE_KEY)).status_code == 201
    await _status(api, body["inquiry_id"])
    base = f"/inquiries/{body['inquiry_id']}"
    refused = await api.post(f"{base}/answer", json={"text": "Yes."}, headers=BACKOFFICE_KEY)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "forbidden"
    assert refused.json()["reason"] == "answer refused: only staff may answer an inquiry"
    assert (await _status(api, body["inquiry_id"]))["status"] == "Open"
