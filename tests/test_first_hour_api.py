"""A newcomer's first requests: offline docs, an index, the dev outbox page, and errors that
say which field is wrong and what to send instead."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, eventually, serving, with_api_keys
from tests.helpers import appointment

WARSAW = ZoneInfo("Europe/Warsaw")
EXTERNAL_SCRIPT = re.compile(r"""<(?:script|link)[^>]+(?:src|href)=["']https?://""")


def _booking(days: int = 10, **changes: Any) -> dict[str, Any]:
    day = datetime.now(WARSAW).date() + timedelta(days=days)
    start = datetime(day.year, day.month, day.day, 10, tzinfo=WARSAW)
    data = appointment(start).model_dump(mode="json")
    data.update(changes)
    return data


def _fields(response: httpx.Response) -> dict[str, str]:
    return {problem["field"]: problem["reason"] for problem in response.json()["errors"]}


async def test_docs_and_redoc_load_every_file_from_the_api_itself(api: httpx.AsyncClient) -> None:
    for page, asset in [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]:
        html = await api.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        assert not EXTERNAL_SCRIPT.search(html.text), html.text  # nothing from a CDN
        assert "fonts.googleapis" not in html.text
        urls = re.findall(r"""(?:src|href)=["'](/docs-assets/[^"']+)["']""", html.text)
        assert any(url.endswith(asset) for url in urls), urls
        for url in urls:
            served = await api.get(url)
            assert served.status_code == 200, url
            assert len(served.content) > 1000, url
    assert "/openapi.json" in (await api.get("/docs")).text
    assert (await api.get("/openapi.json")).status_code == 200


async def test_the_root_is_an_index_of_docs_and_health(api: httpx.AsyncClient) -> None:
    index = await api.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    for link in ("/docs", "/redoc", "/openapi.json", "/health"):
        assert f'href="{link}"' in index.text
    assert "/dev/outbox" not in index.text  # dev stack only
    assert (await api.get("/dev/outbox")).status_code == 404


async def test_dev_outbox_page_shows_the_confirmation_with_clickable_links(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    body = _booking(client={**_booking()["client"], "email": "first-hour@example.com"})
    async with serving(dev_env.client, with_api_keys(settings), pool, dev_tools=True) as http:
        assert 'href="/dev/outbox"' in (await http.get("/")).text
        booked = await http.post("/appointments", json=body, headers=BACKOFFICE_KEY)
        assert booked.status_code == 201, booked.text
        page = await eventually(
            http,
            "/dev/outbox?to=first-hour@example.com",
            lambda r: "first-hour@example.com" in r.text and "/c/" in r.text,
            {},
        )
        assert page.status_code == 200
        assert re.search(r'<a href="http[^"]+/c/[^"]+">', page.text), page.text
        assert "Europe/Warsaw" in page.text  # when it was sent, zone named
        assert f"appointment-{body['appointment_id']}" in page.text
        nul = await http.get("/dev/outbox?to=%00")  # PostgreSQL cannot compare with a NUL
        assert nul.status_code == 422, nul.text


async def test_a_missing_email_is_reported_on_client_email_without_library_prefixes(
    api: httpx.AsyncClient,
) -> None:
    client = {key: value for key, value in _booking()["client"].items() if key != "email"}
    response = await api.post("/appointments", json=_booking(client=client), headers=BACKOFFICE_KEY)
    assert response.status_code == 422, response.text
    assert _fields(response) == {"client.email": "required when preferred_channel is email"}
    assert "Value error" not in response.text


async def test_a_body_without_json_content_type_gets_a_hint(api: httpx.AsyncClient) -> None:
    import json

    raw = json.dumps(_booking()).encode()
    for headers in ({}, {"content-type": "text/plain"}):
        response = await api.post(
            "/appointments", content=raw, headers={**BACKOFFICE_KEY, **headers}
        )
        assert response.status_code == 422, response.text
        assert "Content-Type: application/json" in _fields(response)["body"], response.text


async def test_an_unknown_action_lists_the_allowed_ones(api: httpx.AsyncClient) -> None:
    response = await api.post("/appointments/A-1/teleport", json={}, headers=STAFF_KEY)
    assert response.status_code == 404
    reason = response.json()["reason"]
    assert "teleport" in reason
    for action in ("confirm", "cancel", "reschedule", "check_in", "waive_fee"):
        assert action in reason
    complaint = await api.post("/complaints/K-1/teleport", json={}, headers=STAFF_KEY)
    assert complaint.status_code == 404 and "propose_resolution" in complaint.json()["reason"]


async def test_every_time_in_the_past_is_the_same_422_naming_its_field(
    api: httpx.AsyncClient,
) -> None:
    past = _booking(days=-1)
    booking = await api.post("/appointments", json=past, headers=BACKOFFICE_KEY)
    assert booking.status_code == 422
    assert "is not in the future" in _fields(booking)["start"]

    body = _booking()
    assert (await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)).status_code == 201
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    moved = await api.post(
        f"/appointments/{body['appointment_id']}/reschedule",
        json={"new_start": yesterday},
        headers=STAFF_KEY,
    )
    assert moved.status_code == 422, moved.text
    assert "is not in the future" in _fields(moved)["new_start"]
    view = await eventually(
        api, f"/appointments/{body['appointment_id']}", lambda r: r.status_code == 200, STAFF_KEY
    )
    assert view.json()["start"] == body["start"]  # nothing changed


async def test_api_times_are_iso_with_offset_and_no_microseconds(api: httpx.AsyncClient) -> None:
    body = _booking()
    assert (await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)).status_code == 201
    view = await eventually(
        api,
        f"/appointments/{body['appointment_id']}",
        lambda r: r.status_code == 200 and r.json()["timeline"],
        STAFF_KEY,
    )
    case = view.json()
    times = [case["booked_at"], case["response_deadline"], *(e["at"] for e in case["timeline"])]
    for shown in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", shown), shown
        assert datetime.fromisoformat(shown).tzinfo is not None


async def test_promptly_outbox_prints_the_message_as_the_client_reads_it(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    import asyncio

    from typer.testing import CliRunner

    from promptly.cli.main import app

    address = "outbox-reader@example.com"
    body = _booking(client={**_booking()["client"], "email": address})
    assert (await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)).status_code == 201
    env = {"PROMPTLY_DATABASE_URL": settings.database_url}
    for _ in range(100):
        shown = await asyncio.to_thread(
            lambda: CliRunner().invoke(app, ["outbox", "--to", address], env=env)
        )
        if "Subject:" in shown.stdout:
            break
        await asyncio.sleep(0.2)
    assert shown.exit_code == 0, shown.output
    assert f"email → {address}" in shown.stdout and "Europe/Warsaw" in shown.stdout
    assert f"appointment-{body['appointment_id']}, confirmation" in shown.stdout
    links = shown.stdout.split("Links:", 1)[1].split()
    # confirm, cancel, reschedule and "I'm running late"
    assert len(links) == 4 and all("/c/" in link for link in links)
    other = await asyncio.to_thread(
        lambda: CliRunner().invoke(app, ["outbox", "--to", "nobody@example.com"], env=env)
    )
    assert other.stdout.strip() == "the outbox is empty for nobody@example.com"
