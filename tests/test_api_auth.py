"""Every back-office route × no key / unknown key / each role: 401, 401, 403 or admitted.

The expected roles are written out here, and every route the app serves must appear, so a
new route cannot ship without a decision about who may call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from promptly.api.app import create_app
from promptly.config import ApiRole, Settings
from promptly.services.case_kinds import APPOINTMENT, COMPLAINT
from tests.api_support import key

B, S, C, A = ApiRole.BACKOFFICE, ApiRole.STAFF, ApiRole.COMPLIANCE, ApiRole.ADMIN
EVERYONE = {B, S, C, A}
ACTING = {B, S, A}

EXPECTED: dict[tuple[str, str], set[ApiRole]] = {
    ("POST", "/appointments"): ACTING,
    ("GET", "/appointments"): EVERYONE,
    ("GET", "/appointments/{appointment_id}"): EVERYONE,
    **{
        ("POST", f"/appointments/{{appointment_id}}/{action}"): ACTING
        for action in APPOINTMENT.updates
    },
    ("POST", "/complaints"): ACTING,
    ("GET", "/complaints"): EVERYONE,
    ("GET", "/complaints/{complaint_id}"): EVERYONE,
    **{("POST", f"/complaints/{{complaint_id}}/{action}"): ACTING for action in COMPLAINT.updates},
    ("POST", "/inquiries"): ACTING,
    ("GET", "/inquiries"): EVERYONE,
    ("GET", "/inquiries/{inquiry_id}"): EVERYONE,
    ("POST", "/inquiries/{inquiry_id}/answer"): ACTING,
    ("POST", "/inquiries/{inquiry_id}/promote"): ACTING,
    ("GET", "/tasks"): ACTING,
    ("GET", "/tasks/{task_id}"): ACTING,
    ("POST", "/tasks/{task_id}/complete"): ACTING,
    ("GET", "/history/cases/{case}"): {C, A},
    ("GET", "/history/clients/{client_id}"): {C, A},
    ("GET", "/promises"): {C, A},
    ("GET", "/billing"): {C, A},
    ("GET", "/legal-holds"): {C, A},
    ("POST", "/legal-holds"): {C, A},
    ("POST", "/legal-holds/{hold_id}/release"): {C, A},
    ("GET", "/webhooks/deliveries"): {A},
    ("POST", "/webhooks/deliveries/redeliver"): {A},
    ("GET", "/messages"): {A},
}
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/c/{token}"),
    ("POST", "/c/{token}"),
    # Calendar apps send no API key: the signed token in the URL is the credential.
    ("GET", "/c/{token}/calendar.ics"),
    ("GET", "/calendars/providers/{provider_id}.ics"),
    # the index and the offline docs (api_docs.py)
    ("GET", "/"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    # an unknown action: 404 listing the allowed ones, which the OpenAPI document shows anyway
    ("POST", "/appointments/{appointment_id}/{action}"),
    ("POST", "/complaints/{complaint_id}/{action}"),
    # Provider webhooks: Twilio's signature or the secret path token instead of a key.
    ("POST", "/inbound/sms"),
    ("POST", "/inbound/sms/status"),
    ("POST", "/inbound/email/{token}"),
    ("POST", "/inquiries/{inquiry_id}/{action}"),
}
SAMPLE = {
    "appointment_id": "A-auth-matrix",
    "complaint_id": "K-auth-matrix",
    "inquiry_id": "Q-auth-matrix",
    "task_id": "987654321",
    "case": "A-auth-matrix",
    "client_id": "C-auth-matrix",
    "hold_id": "987654321",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The matrix presents an unknown key on every route from one address: more than the
    lockout allows (tests/test_rate_limits.py tests it)."""
    return settings.model_copy(update={"api_key_failures": 10_000})


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI ≥ 0.13x nests routers
        if included is not None:
            yield from _api_routes(included.routes)


def _routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    return {
        (method, route.path) for route in _api_routes(app.routes) for method in route.methods or ()
    }


def test_every_route_has_a_decision(settings: Settings) -> None:
    assert _routes(settings) == set(EXPECTED) | PUBLIC


async def test_auth_matrix(api: httpx.AsyncClient) -> None:
    for (method, template), allowed in EXPECTED.items():
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template)
        missing = await api.request(method, path, json={})
        assert missing.status_code == 401, (method, path, missing.text)
        assert "X-API-Key" in missing.json()["reason"]
        assert missing.headers["www-authenticate"] == "X-API-Key"
        unknown = await api.request(method, path, json={}, headers={"X-API-Key": "guess"})
        assert unknown.status_code == 401, (method, path)
        for role in ApiRole:
            response = await api.request(method, path, json={}, headers=key(role))
            if role in allowed:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert f"role {role.value} may not" in response.json()["reason"]


async def test_public_routes_need_no_key(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health")).status_code == 200
    assert (await api.get("/docs")).status_code == 200
    assert (await api.get("/openapi.json")).status_code == 200
    assert (await api.get("/c/not-a-token")).status_code == 400
    assert (await api.get("/c/not-a-token/calendar.ics")).status_code == 400
    assert (await api.get("/calendars/providers/P-3.ics?token=guess")).status_code == 403
