"""What an integrator reads in the API reference is what the API does, on a real dev server
and PostgreSQL: a query parameter a route does not take is refused, not ignored (a misspelt
filter must not answer the unfiltered list); an update's body is required exactly where the
document says so; the headers the API sends are the ones the document declares.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from promptly.api.appointments import LISTING
from promptly.api.auth import Caller
from promptly.api.case_updates import body_model, expected_version, update_argument
from promptly.api.idempotency import Fingerprint
from promptly.api.legal_holds import HoldRequest, ReleaseRequest
from promptly.api.webhooks import Redelivery
from promptly.config import ApiRole
from promptly.domain.appointments.models import AppointmentView
from promptly.domain.common import Actor, ActorKind, Model
from promptly.domain.examples import NEW_START
from promptly.services.case_kinds import APPOINTMENT, COMPLAINT, INQUIRY, CaseUpdate
from promptly.services.errors import ErrorBody, ServiceError
from promptly.services.staff_tasks import TaskCompletion
from tests.api_support import BACKOFFICE_KEY, eventually, key
from tests.helpers import appointment

ADMIN = key(ApiRole.ADMIN)
JSON = {"Content-Type": "application/json"}
# The headers an integrator reads (the rest are HTTP's own: content-type, content-length).
OURS = {
    "location",
    "idempotent-replayed",
    "retry-after",
    "x-request-id",
    "x-promptly-view-source",
    "x-promptly-view-as-of",
}
UPDATE = re.compile(r"^/(appointments|complaints|inquiries)/\{\w+\}/\w+$")
LIST_FILTERS = "needs_attention, status, provider_id, client_id, from, to, page_size, page_token"
SAMPLE = {
    "appointment_id": "A-contract",
    "complaint_id": "K-contract",
    "inquiry_id": "Q-contract",
    "task_id": "987654321",
    "case": "A-contract",
    "client_id": "C-contract",
    "hold_id": "987654321",
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


def _declared(spec: dict[str, Any], method: str, template: str, status: int) -> dict[str, Any]:
    operation = spec["paths"][template][method.lower()]
    response = operation["responses"][str(status)]
    return {name.lower(): value for name, value in response.get("headers", {}).items()}


def _as_documented(
    spec: dict[str, Any], template: str, answer: httpx.Response, *required: str
) -> None:
    """Every header of ours the answer carries is declared for its status, and `required`
    ones are declared as always sent."""
    declared = _declared(spec, answer.request.method, template, answer.status_code)
    sent = {name.lower() for name in answer.headers} & OURS
    assert sent <= set(declared), (template, answer.status_code, sent - set(declared))
    for name in required:
        assert name.lower() in sent, (template, name)
        assert declared[name.lower()]["required"] is True, (template, name)


async def test_an_update_body_is_required_exactly_when_the_update_needs_one(
    api: httpx.AsyncClient,
) -> None:
    spec = (await api.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    updates = [(path, item["post"]) for path, item in spec["paths"].items() if UPDATE.match(path)]
    assert len(updates) >= 20
    for template, operation in updates:
        document = operation["requestBody"]
        schema = document["content"]["application/json"]["schema"]
        # Optional: `{"anyOf": [{"$ref": …}, {"type": "null"}]}`; required: the `$ref`.
        name = schema.get("$ref") or schema["anyOf"][0]["$ref"]
        model = schemas[name.rsplit("/", 1)[-1]]
        needs_one = bool(model.get("required"))
        assert document.get("required", False) is needs_one, template
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template)
        bare = await api.post(path, headers=BACKOFFICE_KEY)
        if needs_one:  # refused before the case is looked up
            assert bare.status_code == 422, (template, bare.text)
            assert [e["field"] for e in bare.json()["errors"]] == ["body"], template
        else:
            assert bare.status_code == 404, (template, bare.text)

    body = appointment(datetime.now(UTC) + timedelta(days=10)).model_dump(mode="json")
    case = f"/appointments/{body['appointment_id']}"
    assert (await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)).status_code == 201
    reschedule = spec["paths"]["/appointments/{appointment_id}/reschedule"]["post"]
    assert reschedule["requestBody"]["required"] is True
    assert reschedule["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RescheduleBody"
    }
    refused = await api.post(f"{case}/reschedule", headers=BACKOFFICE_KEY)
    assert refused.status_code == 422, refused.text
    confirmed = await api.post(f"{case}/confirm", headers=BACKOFFICE_KEY)  # no body needed
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "Confirmed"


async def test_the_headers_the_api_sends_are_declared(
    api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    spec = (await api.get("/openapi.json")).json()
    body = appointment(datetime.now(UTC) + timedelta(days=10)).model_dump(mode="json")
    case = f"/appointments/{body['appointment_id']}"
    keyed = {**BACKOFFICE_KEY, "Idempotency-Key": str(uuid.uuid4())}

    booked = await api.post("/appointments", json=body, headers=keyed)
    assert booked.status_code == 201, booked.text
    _as_documented(spec, "/appointments", booked, "Location", "X-Request-Id")
    replayed = await api.post("/appointments", json=body, headers=keyed)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    _as_documented(spec, "/appointments", replayed, "Location", "X-Request-Id")
    read = await eventually(api, case, lambda r: r.status_code == 200, BACKOFFICE_KEY)
    _as_documented(spec, "/appointments/{appointment_id}", read, "X-Promptly-View-Source")
    again = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert again.status_code == 200, again.text
    _as_documented(spec, "/appointments", again, "X-Request-Id")
    confirm = "/appointments/{appointment_id}/confirm"
    confirmed = await api.post(f"{case}/confirm", headers=keyed)
    _as_documented(spec, confirm, confirmed, "X-Request-Id")
    # A repeat while the first request with its key still runs is asked to wait.
    waiting = {**BACKOFFICE_KEY, "Idempotency-Key": str(uuid.uuid4())}
    path, sent = f"{case}/cancel", b'{"reason": "ill"}'
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO api_idempotency (key_hash, fingerprint) VALUES (%s, %s)",
            (
                hashlib.sha256(f"key:crm\0{waiting['Idempotency-Key']}".encode()).hexdigest(),
                Fingerprint.of(path, b"", sent, "application/json").value,
            ),
        )
    running = await api.post(path, content=sent, headers=waiting | JSON)
    assert running.status_code == 409 and running.headers["Retry-After"] == "1", running.text
    _as_documented(spec, "/appointments/{appointment_id}/cancel", running, "X-Request-Id")
    unknown = await api.get("/appointments/A-none", headers=BACKOFFICE_KEY)
    _as_documented(spec, "/appointments/{appointment_id}", unknown, "X-Request-Id")

    # Every answer carries a request id; every keyed POST may be replayed, or asked to wait
    # while the first request with its key still runs.
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                assert response["headers"]["X-Request-Id"]["required"] is True, (path, status)
            if method == "post":
                assert "Retry-After" in operation["responses"]["409"]["headers"], path
                for status in ("200", "201"):
                    if status in operation["responses"]:
                        headers = operation["responses"][status]["headers"]
                        assert "Idempotent-Replayed" in headers, path


def _body_models() -> dict[str, type[BaseModel]]:
    """The model each request body of the document is parsed with, by its schema's name."""
    models: list[type[BaseModel]] = [TaskCompletion, HoldRequest, ReleaseRequest, Redelivery]
    for kind in (APPOINTMENT, COMPLAINT, INQUIRY):
        models.append(kind.request_model)
        models.extend(body_model(update) for update in kind.updates.values())
    return {model.__name__: model for model in models}


def _examples(spec: dict[str, Any], content: dict[str, Any]) -> tuple[str, list[Any]]:
    """A request body's schema name and every example the document gives for it: the media
    type's named `examples` and the schema's own `examples`."""
    schema = content["schema"]
    ref = schema.get("$ref") or schema["anyOf"][0]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    found = [named["value"] for named in content.get("examples", {}).values()]
    found += spec["components"]["schemas"][name].get("examples", [])
    return name, found


async def test_every_request_body_has_examples_valid_against_its_model(
    api: httpx.AsyncClient,
) -> None:
    spec = (await api.get("/openapi.json")).json()
    models = _body_models()
    bodies = [
        (f"{method.upper()} {path}", operation["requestBody"]["content"]["application/json"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(bodies) >= 27
    updates = {
        body_model(update).__name__: update.input
        for kind in (APPOINTMENT, COMPLAINT, INQUIRY)
        for update in kind.updates.values()
    }
    for route, content in bodies:
        name, examples = _examples(spec, content)
        assert examples, f"{route}: no example"
        model = models[name]  # a new body: add its model to _body_models
        for example in examples:
            model.model_validate(example)  # what the route accepts
            if name in updates:  # and what the workflow's update takes (DESIGN.md's contract),
                # the actor filled from the key when the body names none, as the route does
                updates[name].model_validate({"actor": {"kind": "system", "id": "crm"}} | example)

    # The main answers too: a case, a list page, an error with its code.
    schemas = spec["components"]["schemas"]
    answers: list[type[BaseModel]] = [AppointmentView, LISTING.page_model, ErrorBody]
    for answer in answers:
        assert schemas[answer.__name__]["examples"], answer.__name__
        for example in schemas[answer.__name__]["examples"]:
            answer.model_validate(example)
    case = spec["paths"]["/appointments/{appointment_id}"]["get"]["responses"]
    assert case["200"]["content"]["application/json"]["schema"]["$ref"].endswith("AppointmentView")

    reschedule = spec["paths"]["/appointments/{appointment_id}/reschedule"]["post"]
    _, examples = _examples(spec, reschedule["requestBody"]["content"]["application/json"])
    assert {"new_start": NEW_START, "actor": {"kind": "client", "id": "C-17"}} in examples
    if_match = next(p for p in reschedule["parameters"] if p["name"] == "If-Match")
    assert expected_version(if_match["schema"]["examples"][0]) == "4-1-3f9c0a1b2c3d"


class _Unversioned(Model):
    note: str = ""


def _jot(argument: _Unversioned) -> None:
    """An update whose input has no `expected_version`."""


def test_an_if_match_an_update_cannot_check_is_refused_not_ignored() -> None:
    caller = Caller(
        name="desk",
        role=ApiRole.STAFF,
        actor=Actor(kind=ActorKind.STAFF, id="desk", via="desk"),
        acts_as=frozenset({ActorKind.STAFF}),
    )
    unversioned = CaseUpdate(update=_jot, summary="Jot a note.")
    assert update_argument(unversioned, _Unversioned(note="hi"), caller) == _Unversioned(note="hi")
    try:
        update_argument(unversioned, _Unversioned(note="hi"), caller, "4-1-3f9c0a1b2c3d")
    except ServiceError as refused:
        assert refused.status == 422 and refused.body().code == "invalid"
        assert [field for field, _ in refused.fields] == ["If-Match"]
    else:
        raise AssertionError("an If-Match the update cannot check was ignored")
    # Every update the API serves checks it.
    for kind in (APPOINTMENT, COMPLAINT, INQUIRY):
        for update in kind.updates.values():
            assert "expected_version" in update.input.model_fields, update.action
