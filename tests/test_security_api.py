"""The HTTP API under attack: each attack from the security review, tried and refused.

Actors come from credentials (a back-office key cannot pass for the provider), stored messages
hold no live link (a compliance reader cannot cancel a client's visit), links are spent once
the visit changes, odd bytes in tokens and cookies get a clean 4xx, and error answers keep
internals out (they are logged under the answer's request id).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from promptly.api.app import create_app
from promptly.api.codec import SESSION_COOKIE
from promptly.config import Settings
from tests.api_support import BACKOFFICE_KEY, KEYS, STAFF_KEY, client_links, eventually, key
from tests.helpers import appointment

WARSAW = ZoneInfo("Europe/Warsaw")
ADMIN_KEY = key(next(role for role in KEYS if role.value == "admin"))
COMPLIANCE_KEY = key(next(role for role in KEYS if role.value == "compliance"))


def _start(days: int = 10, hour: int = 10) -> datetime:
    day = datetime.now(WARSAW).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=WARSAW)


def _soon() -> datetime:
    """20 hours ahead, whatever the hour now: inside the 24h of late changes (tomorrow
    10:00 is not, before 10:00 today)."""
    return datetime.now(WARSAW).replace(second=0, microsecond=0) + timedelta(hours=20)


async def _book(api: httpx.AsyncClient, days: int = 10, start: datetime | None = None) -> Any:
    request = appointment(start or _start(days))
    response = await api.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert response.status_code == 201, response.text
    return request


async def _status(api: httpx.AsyncClient, appointment_id: str) -> dict[str, Any]:
    response = await eventually(
        api, f"/appointments/{appointment_id}", lambda r: r.status_code == 200, STAFF_KEY
    )
    view: dict[str, Any] = response.json()
    return view


# --- actors from credentials ------------------------------------------------------------------


async def test_a_backoffice_key_cannot_cancel_late_as_the_provider(api: httpx.AsyncClient) -> None:
    request = await _book(api, start=_soon())  # inside 24h: only a provider cancels free
    provider = {"kind": "provider", "id": request.provider.id}
    for headers in (BACKOFFICE_KEY, STAFF_KEY):
        forged = await api.post(
            f"/appointments/{request.appointment_id}/cancel",
            json={"reason": "provider ill", "actor": provider},
            headers=headers,
        )
        assert forged.status_code == 403, forged.text
        assert "may not act as provider" in forged.json()["reason"]
    staff_as_client = await api.post(
        f"/appointments/{request.appointment_id}/confirm",
        json={"actor": {"kind": "client", "id": request.client.id}},
        headers=STAFF_KEY,
    )
    assert staff_as_client.status_code == 403, staff_as_client.text
    view = await _status(api, request.appointment_id)
    assert view["status"] == "Booked" and view["billing"] is None  # nothing changed

    # The key's own identity is recorded, with its name.
    own = await api.post(
        f"/appointments/{request.appointment_id}/acknowledge", json={}, headers=STAFF_KEY
    )
    assert own.status_code == 200, own.text
    acknowledged = [e for e in own.json()["timeline"] if "acknowledged" in e["detail"]]
    assert acknowledged[-1]["actor"] == {"kind": "staff", "id": "desk", "via": "desk"}

    # An admin key may name the provider; the record still says which key did it.
    allowed = await api.post(
        f"/appointments/{request.appointment_id}/cancel",
        json={"reason": "provider ill", "actor": provider},
        headers=ADMIN_KEY,
    )
    assert allowed.status_code == 200, allowed.text
    cancelled = [e for e in allowed.json()["timeline"] if e["data"].get("status")]
    assert cancelled[-1]["actor"] == {**provider, "via": "root"}


async def test_a_key_acting_for_clients_acts_for_this_cases_client_only(
    api: httpx.AsyncClient,
) -> None:
    """A portal key may relay what a client did, but only for the client whose case it is;
    an admin naming a provider, only the visit's: a mapping bug in the caller's system is a
    422 naming `actor.id`, and nothing changes."""
    request = await _book(api)
    base = f"/appointments/{request.appointment_id}"
    await _status(api, request.appointment_id)
    someone_else = {"kind": "client", "id": "C-999"}
    for action, body in (("confirm", {}), ("cancel", {"reason": "moving away"})):
        forged = await api.post(
            f"{base}/{action}", json={**body, "actor": someone_else}, headers=BACKOFFICE_KEY
        )
        assert forged.status_code == 422, forged.text
        assert forged.json()["errors"] == [
            {"field": "actor.id", "reason": "C-999 is not this appointment's client"}
        ]
    other_provider = {"kind": "provider", "id": "P-999"}
    forged = await api.post(
        f"{base}/acknowledge", json={"actor": other_provider}, headers=ADMIN_KEY
    )
    assert forged.status_code == 422, forged.text
    assert forged.json()["errors"][0]["reason"] == "P-999 is not this appointment's provider"
    view = await _status(api, request.appointment_id)
    assert view["status"] == "Booked" and not view["provider_acknowledged"]

    client = {"kind": "client", "id": request.client.id}
    confirmed = await api.post(f"{base}/confirm", json={"actor": client}, headers=BACKOFFICE_KEY)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "Confirmed"


async def test_only_someone_accountable_for_the_visit_reports_its_delay_or_lifts_its_fee(
    api: httpx.AsyncClient,
) -> None:
    """A provider's delay makes a late change free, a waiver lifts a fee: neither is open to a
    back-office system under its own name, nor to a client for their own fee."""
    request = await _book(api, start=_soon())  # inside 24h: a client's cancellation is charged
    base = f"/appointments/{request.appointment_id}"
    delay = await api.post(
        f"{base}/report_delay", json={"minutes": 1, "reason": "-"}, headers=BACKOFFICE_KEY
    )
    # Who acts may not: 403, as any role refusal (`forbidden`), not a rule's 409.
    assert delay.status_code == 403, delay.text
    assert delay.json()["code"] == "forbidden"
    assert "relays a provider's delay as the provider" in delay.json()["reason"]
    client = {"kind": "client", "id": request.client.id}
    cancelled = await api.post(
        f"{base}/cancel", json={"reason": "sick", "actor": client}, headers=BACKOFFICE_KEY
    )
    assert cancelled.status_code == 200 and cancelled.json()["billing"] == "late_cancel"

    for body in ({"reason": "I say so", "actor": client}, {"reason": "the CRM says so"}):
        refused = await api.post(f"{base}/waive_fee", json=body, headers=BACKOFFICE_KEY)
        assert refused.status_code == 403, refused.text
        assert "decided by the provider or by staff for them" in refused.json()["reason"]
    assert (await _status(api, request.appointment_id))["billing"] == "late_cancel"

    # The front desk passes on the provider's decision.
    waived = await api.post(f"{base}/waive_fee", json={"reason": "storm"}, headers=STAFF_KEY)
    assert waived.status_code == 200, waived.text
    assert waived.json()["billing"] == "waived"


# --- stored messages hold no live links; links are spent once the visit moves ----------------


async def test_compliance_reader_gets_no_usable_link_and_used_links_are_spent(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    request = await _book(api)
    tokens = await client_links(pool, settings, request.workflow_id)  # what the client got

    exported = await eventually(
        api,
        f"/history/cases/{request.appointment_id}",
        lambda r: (
            r.status_code == 200
            and any(e["message"] for e in r.json()["entries"] if e.get("message"))
        ),
        COMPLIANCE_KEY,
    )
    text = exported.text
    assert "/c/" not in text
    for token in tokens.values():
        assert token not in text and token.split(".")[1] not in text
    assert re.search(r"\[cancel link, token [A-Za-z0-9_-]{12}\]", text), text[:2000]
    # Whatever looks like a token in the export opens nothing.
    for candidate in re.findall(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}", text):
        assert (await api.get(f"/c/{candidate}")).status_code == 400

    # The client reschedules with the link; every earlier cancel/reschedule link is now spent.
    new_time = _start(days=12).replace(tzinfo=None).isoformat(timespec="minutes")
    moved = await api.post(f"/c/{tokens['reschedule']}", data={"new_start": new_time})
    assert moved.status_code == 200, moved.text
    for action in ("reschedule", "cancel", "confirm"):
        for method in ("GET", "POST"):
            spent = await api.request(
                method, f"/c/{tokens[action]}", data={"new_start": new_time, "reason": "x"}
            )
            assert spent.status_code == 409, (action, method, spent.text)
            assert "Ten link jest już nieaktualny" in spent.text
    view = await _status(api, request.appointment_id)
    assert view["status"] == "Booked" and view["reschedules"] == 1  # not cancelled, moved once

    # Moved back to the first time, the visit is still not the one those links were sent for.
    back = await api.post(
        f"/appointments/{request.appointment_id}/reschedule",
        json={"new_start": request.start.isoformat()},
        headers=STAFF_KEY,
    )
    assert back.status_code == 200, back.text
    for action in ("reschedule", "cancel"):
        spent = await api.get(f"/c/{tokens[action]}")
        assert spent.status_code == 409 and "Ten link jest już nieaktualny" in spent.text, action


# --- odd bytes: a clean 4xx, never a crash ------------------------------------------------------


def _offline_app(**overrides: Any) -> TestClient:
    """The app without Temporal: enough for routes that refuse before reaching it."""
    settings = Settings(link_secret=secrets.token_urlsafe(48), **overrides)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def test_non_ascii_link_token_is_a_400_page_not_a_crash() -> None:
    http = _offline_app()
    for path in ("/c/abc.%C3%A9", "/c/%C3%A9.%C3%A9", "/c/%F0%9F%98%80"):
        response = http.get(path)
        assert response.status_code == 400, (path, response.text)
        assert "Traceback" not in response.text


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=150))
def test_any_token_on_the_link_routes_is_refused_cleanly(token: str) -> None:
    http = _FUZZ_APP
    for method in ("GET", "POST"):
        response = http.request(method, f"/c/{quote(token, safe='')}")
        assert response.status_code in (400, 404, 405), (token, response.status_code)
        assert "Traceback" not in response.text


# Every example from one address: more than the link limits allow (tests/test_rate_limits.py).
_FUZZ_APP = _offline_app(link_actions_per_address=10**6, link_pages_per_address=10**6)


CODEC_KEY = base64.b64encode(os.urandom(32)).decode()


def test_odd_codec_cookie_is_a_401_not_a_crash() -> None:
    http = _offline_app(
        codec_keys={"secret-key-name-2031": SecretStr(CODEC_KEY)},
        codec_key_id="secret-key-name-2031",
    )
    body = b'{"payloads": []}'
    for cookie in ("abc.\u00e9", "\u00e9", "x" * 300, "a.b.c"):
        response = http.post(
            "/codec/decode",
            content=body,
            headers={"Cookie": f"{SESSION_COOKIE}={cookie}".encode()},
        )
        assert response.status_code == 401, (cookie, response.text)


def test_error_answers_carry_a_request_id_and_no_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.api_support import with_api_keys

    settings = with_api_keys(
        Settings(
            link_secret=secrets.token_urlsafe(48),
            codec_keys={"secret-key-name-2031": SecretStr(CODEC_KEY)},
            codec_key_id="secret-key-name-2031",
        )
    )
    http = TestClient(create_app(settings), raise_server_exceptions=False)
    unknown = {
        "payloads": [
            {
                "metadata": {
                    "encoding": base64.b64encode(b"binary/encrypted").decode(),
                    "encryption-key-id": base64.b64encode(b"attacker-guess").decode(),
                },
                "data": base64.b64encode(b"x" * 40).decode(),
            }
        ]
    }
    with caplog.at_level(logging.WARNING, logger="promptly.api"):
        refused = http.post("/codec/decode", json=unknown, headers=ADMIN_KEY)
        garbled = http.post("/codec/decode", content=b"{not json", headers=ADMIN_KEY)
        bad_page = http.get("/appointments?page_token=%C3%A9abc", headers=STAFF_KEY)
    assert refused.status_code == 422 and garbled.status_code == 400
    assert bad_page.status_code == 422
    for answer in (refused, garbled, bad_page):
        assert "secret-key-name-2031" not in answer.text
        assert "attacker-guess" not in answer.text
        assert "Expecting" not in answer.text and "ParseError" not in answer.text
        request_id = answer.headers["x-request-id"]
        assert answer.json()["request_id"] == request_id
    # The reason is in the log, under the id the caller was given.
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"(request {refused.headers['x-request-id']})" in logged
    assert "attacker-guess" in logged and "secret-key-name-2031" in logged
    assert f"(request {garbled.headers['x-request-id']})" in logged


def test_a_failing_request_on_a_secret_path_logs_the_route_not_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The inbound email URL and the client links carry their secret in the path: a 500 or
    an unreadable body is logged under the route's template, the token nowhere."""
    token = "inbound-email-token-" + secrets.token_hex(16)
    http = _offline_app(inbound_email_token=SecretStr(token))  # no Temporal, no database
    email = {"from": (None, "anna@example.com"), "text": (None, "Tak")}
    with caplog.at_level(logging.INFO):
        failed = http.post(f"/inbound/email/{token}", files=email)
        garbled = http.post(
            f"/inbound/email/{token}",
            content=b"--x\r\nnot a part",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
    assert failed.status_code == 500
    assert garbled.status_code == 422
    assert garbled.json()["errors"][0]["field"] == "body"
    # Promptly's lines, each with its traceback (the test client's own lines name the URL).
    ours = [r for r in caplog.records if r.name.startswith("promptly")]
    logged = "\n".join(caplog.handler.format(record) for record in ours)
    assert "Traceback" in logged and token not in logged
    for answer in (failed, garbled):
        assert "POST /inbound/email/{token}" in logged
        assert f"(request {answer.json()['request_id']})" in logged
