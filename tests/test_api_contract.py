"""What an integrator reads in the API reference is what the API does, on a real dev server
and PostgreSQL: a query parameter a route does not take is refused, not ignored (a misspelt
filter must not answer the unfiltered list).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from promptly.config import ApiRole
from tests.api_support import BACKOFFICE_KEY, eventually, key
from tests.helpers import appointment

ADMIN = key(ApiRole.ADMIN)
LIST_FILTERS = "status, provider_id, client_id, from, to, page_size, page_token"
SAMPLE = {
    "appointment_id": "A-contract",
    "complaint_id": "K-contract",
    "inquiry_id": "Q-contract",
    "task_id": "987654321",
    "case": "A-contract",
    "client_id": "C-contract",
}


async def test_a_misspelt_filter_is_refused_not_ignored(api: httpx.AsyncClient) -> None:
    client_id = f"C-{uuid.uuid4().hex[:8]}"
    body = appointment(datetime.now(UTC) + timedelta(days=10)).model_dump(mode="json")
    body["client"]["id"] = client_id
    booked = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert booked.status_code == 201, booked.text
    mine = f"/appointments?client_id={client_id}"
    listed = await eventually(api, mine, lambda r: r.json()["items"], BACKOFFICE_KEY)
    assert [item["status"] for item in listed.json()["items"]] == ["Booked"]

    typo = await api.get(f"{mine}&stauts=Confirmed", headers=BACKOFFICE_KEY)
    assert typo.status_code == 422, typo.text
    assert typo.json()["errors"] == [
        {"field": "stauts", "reason": f"unknown query parameter; known: {LIST_FILTERS}"}
    ]
    filtered = await api.get(f"{mine}&status=Confirmed", headers=BACKOFFICE_KEY)
    assert filtered.status_code == 200 and filtered.json()["items"] == []


async def test_every_back_office_route_refuses_a_parameter_it_does_not_take(
    api: httpx.AsyncClient,
) -> None:
    spec = (await api.get("/openapi.json")).json()
    keyed = [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]
    assert len(keyed) > 30
    for method, template, operation in keyed:
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template)
        known = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        # Nothing else is checked first: a start with an empty body changes nothing.
        answer = await api.request(method, f"{path}?fmt=md", json={}, headers=ADMIN)
        assert answer.status_code == 422, (method, template, answer.text)
        takes = f"known: {', '.join(known)}" if known else "this route takes none"
        assert answer.json()["errors"] == [
            {"field": "fmt", "reason": f"unknown query parameter; {takes}"}
        ], (method, template)
        # A caller without a key learns nothing about the route.
        assert (await api.request(method, f"{path}?fmt=md", json={})).status_code == 401

    # Links followed by mail clients and calendar apps keep ignoring what those add.
    assert (await api.get("/health?utm_source=mail")).status_code == 200
    feed = await api.get("/calendars/providers/P-3.ics?token=guess&utm_source=mail")
    assert feed.status_code == 403
