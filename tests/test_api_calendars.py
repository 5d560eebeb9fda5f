"""Calendars over HTTP: a provider subscribes to a signed feed (issued and revoked from the
CLI), a text-message client downloads their `.ics`. Dev server, real worker, PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from promptly.api.app import create_app
from promptly.cli.main import app as cli
from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentRequest
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, sign
from tests.helpers import appointment

WARSAW = ZoneInfo("Europe/Warsaw")
CLIENT_ACTOR = {"actor": {"kind": "client", "id": "C-17"}}


def _start(days: int, hour: int = 10) -> datetime:
    day = datetime.now(WARSAW).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=WARSAW)


def _for(provider_id: str, start: datetime, **options: Any) -> AppointmentRequest:
    request = appointment(start, **options)
    return request.model_copy(
        update={"provider": request.provider.model_copy(update={"id": provider_id})}
    )


async def _book(api: httpx.AsyncClient, request: AppointmentRequest) -> None:
    response = await api.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert response.status_code == 201, response.text


async def _act(api: httpx.AsyncClient, appointment_id: str, action: str, body: Any) -> None:
    # Only a key allowed to act as the client may name the client (actors from credentials).
    key = BACKOFFICE_KEY if body.get("actor", {}).get("kind") == "client" else STAFF_KEY
    response = await api.post(f"/appointments/{appointment_id}/{action}", json=body, headers=key)
    assert response.status_code == 200, response.text


async def _recorded(pool: AsyncConnectionPool, expected: dict[str, str]) -> None:
    """Wait until PostgreSQL has each case (workflow id → status) with its calendar facts."""
    for _ in range(300):
        async with pool.connection() as conn:
            cursor = await conn.execute(
                """SELECT case_id, status FROM cases
                    WHERE case_id = ANY(%s) AND details ? 'calendar'""",
                (list(expected),),
            )
            if dict(await cursor.fetchall()) == expected:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"cases never reached {expected}")


async def _promptly(settings: Settings, *args: str, **variables: str) -> Result:
    env = {
        "PROMPTLY_DATABASE_URL": settings.database_url,
        "PROMPTLY_PUBLIC_BASE_URL": "https://promptly.example",
        **variables,
    }
    return await asyncio.to_thread(lambda: CliRunner().invoke(cli, list(args), env=env))


async def _feed_url(settings: Settings, provider_id: str, **variables: str) -> str:
    result = await _promptly(settings, "calendar", "token", provider_id, **variables)
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith(f"https://promptly.example/calendars/providers/{provider_id}.ics?token=")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _events(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return {str(event["UID"]).split("@")[0]: event for event in calendar.walk("VEVENT")}


async def test_a_provider_feed_lists_the_upcoming_live_visits_and_polls_cheaply(
    api: httpx.AsyncClient, settings: Settings, pool: AsyncConnectionPool
) -> None:
    provider = f"P-{uuid.uuid4().hex[:8]}"
    other = f"P-{uuid.uuid4().hex[:8]}"
    tentative = _for(provider, _start(5))
    confirmed = _for(provider, _start(6, 15))
    cancelled = _for(provider, _start(7))
    someone_elses = _for(other, _start(5, 12))
    for request in (tentative, confirmed, cancelled, someone_elses):
        await _book(api, request)
    await _act(api, confirmed.appointment_id, "confirm", CLIENT_ACTOR)
    await _act(api, cancelled.appointment_id, "cancel", {"reason": "ill"})
    await _recorded(
        pool,
        {
            tentative.workflow_id: "Booked",
            confirmed.workflow_id: "Confirmed",
            cancelled.workflow_id: "Cancelled",
            someone_elses.workflow_id: "Booked",
        },
    )
    # A visit of this provider that is over (recorded as the workflow records it).
    past = _for(provider, _start(-2))
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id, provider_id,
                                  starts_at, details)
               VALUES (%s, 'appointment', %s, 'Booked', 'C-17', %s, %s, %s)""",
            (
                past.workflow_id,
                past.appointment_id,
                provider,
                past.start,
                Jsonb(
                    {
                        "calendar": {
                            "case_id": past.workflow_id,
                            "reference": past.appointment_id,
                            "service": past.service,
                            "location": past.location,
                            "start": past.start.isoformat(),
                            "end": past.end.isoformat(),
                            "timezone": "Europe/Warsaw",
                            "provider_name": "Jan Kowalski",
                            "client_first_name": "Anna",
                            "sequence": 0,
                            "status": "TENTATIVE",
                        }
                    }
                ),
            ),
        )
        await conn.commit()

    path = await _feed_url(settings, provider)
    response = await api.get(path)
    events = _events(response)
    assert set(events) == {tentative.workflow_id, confirmed.workflow_id}
    assert str(events[tentative.workflow_id]["STATUS"]) == "TENTATIVE"
    assert str(events[confirmed.workflow_id]["STATUS"]) == "CONFIRMED"
    event = events[confirmed.workflow_id]
    assert event.decoded("DTSTART").astimezone(UTC) == confirmed.start.astimezone(UTC)
    assert event["DTSTART"].params["TZID"] == settings.office_timezone
    assert str(event["SUMMARY"]) == f"{confirmed.service}: Anna"
    assert confirmed.appointment_id in str(event["DESCRIPTION"])
    for private in ("anna@example.com", "+48600100200", "Nowak"):
        assert private not in response.text
    assert response.headers["cache-control"] == "private, no-cache"
    etag = response.headers["etag"]
    assert response.headers["last-modified"].endswith("GMT")

    # Calendar apps poll: unchanged → 304 without a body; the same URL again is stable.
    unchanged = await api.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert (await api.get(path, headers={"If-None-Match": '"stale"'})).status_code == 200
    since = response.headers["last-modified"]
    assert (await api.get(path, headers={"If-Modified-Since": since})).status_code == 304
    earlier = "Mon, 01 Jan 2024 00:00:00 GMT"
    assert (await api.get(path, headers={"If-Modified-Since": earlier})).status_code == 200
    assert await _feed_url(settings, provider) == path

    # Something that does not move the visit (the provider acknowledges) leaves the feed as is.
    await _act(api, confirmed.appointment_id, "acknowledge", {})
    for _ in range(300):
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM timeline_events WHERE case_id = %s AND kind = 'action'",
                (confirmed.workflow_id,),
            )
            row = await cursor.fetchone()
        if row is not None and row[0] > 0:
            break
        await asyncio.sleep(0.1)
    assert (await api.get(path, headers={"If-None-Match": etag})).status_code == 304

    # A change in the workflow reaches the feed through PostgreSQL: a new ETag, the new time.
    new_start = _start(8, 9)
    await _act(api, tentative.appointment_id, "reschedule", {"new_start": new_start.isoformat()})
    for _ in range(300):
        changed = await api.get(path, headers={"If-None-Match": etag})
        if changed.status_code == 200:
            break
        await asyncio.sleep(0.1)
    moved = _events(changed)[tentative.workflow_id]
    assert moved.decoded("DTSTART").astimezone(UTC) == new_start.astimezone(UTC)
    assert moved.decoded("SEQUENCE") == 1
    assert changed.headers["etag"] != etag


async def test_a_wrong_or_revoked_feed_token_is_refused(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    provider = f"P-{uuid.uuid4().hex[:8]}"
    other = f"P-{uuid.uuid4().hex[:8]}"
    path = await _feed_url(settings, provider)
    other_path = await _feed_url(settings, other)
    assert (await api.get(path)).status_code == 200

    token = path.split("token=")[1]
    other_token = other_path.split("token=")[1]
    refused = [
        f"/calendars/providers/{provider}.ics?token={other_token}",  # another provider's
        f"/calendars/providers/{provider}.ics?token={token[:-2]}xx",  # tampered
        f"/calendars/providers/P-never-issued.ics?token={token}",
    ]
    for wrong in refused:
        response = await api.get(wrong)
        assert response.status_code == 403, wrong
        assert "not valid" in response.json()["reason"]
    assert (await api.get(f"/calendars/providers/{provider}.ics")).status_code == 422

    revoked = await _promptly(settings, "calendar", "revoke", provider)
    assert revoked.exit_code == 0, revoked.output
    assert (await api.get(path)).status_code == 403
    assert (await api.get(other_path)).status_code == 200  # revocation is per provider
    renewed = await _feed_url(settings, provider)
    assert renewed != path
    assert (await api.get(renewed)).status_code == 200
    assert (await api.get(path)).status_code == 403  # the old URL stays dead
    unknown = await _promptly(settings, "calendar", "revoke", "P-never-issued")
    assert unknown.exit_code == 1


async def test_a_feed_token_with_any_bytes_is_refused_not_a_crash(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A calendar app (or a typo) can send anything as the token: a 403, never a 500."""
    provider = f"P-{uuid.uuid4().hex[:8]}"
    path = await _feed_url(settings, provider)  # an issued feed: its token is compared
    token = path.split("token=")[1]
    for odd in ("%C3%A9", f"{token[:-1]}%C3%A9", "%F0%9F%93%85" * 10):
        response = await api.get(f"/calendars/providers/{provider}.ics?token={odd}")
        assert response.status_code == 403, (odd, response.text)
        assert "not valid" in response.json()["reason"]
    assert (await api.get(path)).status_code == 200


async def test_a_feed_url_keeps_working_through_a_secret_rotations_grace_period(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """docs/security.md: after a rotation, URLs signed with the previous secret verify until
    the grace period ends; providers are sent new URLs meanwhile, not cut off at once."""
    provider = f"P-{uuid.uuid4().hex[:8]}"
    old_path = await _feed_url(settings, provider)  # subscribed before the rotation
    assert settings.link_secret is not None
    new_secret = secrets.token_urlsafe(48)
    new_path = await _feed_url(settings, provider, PROMPTLY_LINK_SECRET=new_secret)
    assert new_path != old_path

    def rotated(until: datetime) -> Settings:
        return settings.model_copy(
            update={
                "link_secret": SecretStr(new_secret),
                "link_secret_previous": settings.link_secret,
                "link_secret_previous_until": until,
            }
        )

    now = datetime.now(UTC)
    async with _feed_app(dev_env, rotated(now + timedelta(days=14)), pool) as during:
        assert (await during.get(old_path)).status_code == 200
        assert (await during.get(new_path)).status_code == 200
    async with _feed_app(dev_env, rotated(now - timedelta(seconds=1)), pool) as after:
        assert (await after.get(old_path)).status_code == 403
        assert (await after.get(new_path)).status_code == 200


@asynccontextmanager
async def _feed_app(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[httpx.AsyncClient]:
    """The app alone (feeds read PostgreSQL only): no second worker on the tests' queue."""
    app = create_app(settings, client=dev_env.client, pool=pool)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


async def test_a_text_message_client_downloads_the_current_ics(
    api: httpx.AsyncClient, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request = _for("P-3", _start(9), channel="sms", locale="en")
    await _book(api, request)
    # The page behind a text message's link offers this link (tests/test_api_links.py); it
    # is signed like every client link, for the visit as it stands.
    token = sign(settings, request.workflow_id, "calendar", timedelta(days=1), request.start, 0)
    path = f"/c/{token}/calendar.ics"
    for _ in range(200):
        if (await api.get(path)).status_code == 200:
            break
        await asyncio.sleep(0.1)

    response = await api.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["METHOD"]) == "PUBLISH"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"{request.workflow_id}@{settings.calendar_domain}"
    assert event.decoded("SEQUENCE") == 0 and str(event["STATUS"]) == "TENTATIVE"
    assert event.decoded("DTSTART") == request.start

    await _act(api, request.appointment_id, "confirm", CLIENT_ACTOR)
    for _ in range(300):
        event = Calendar.from_ical((await api.get(path)).content).walk("VEVENT")[0]
        if str(event["STATUS"]) == "CONFIRMED":
            break
        await asyncio.sleep(0.1)
    assert str(event["STATUS"]) == "CONFIRMED"

    confirm_token = sign(settings, request.workflow_id, "confirm", timedelta(days=1))
    assert (await api.get(f"/c/{confirm_token}/calendar.ics")).status_code == 400
    assert (await api.get(f"/c/{token[:-2]}xx/calendar.ics")).status_code == 400
    expired = sign(settings, request.workflow_id, "calendar", timedelta(seconds=-1))
    assert (await api.get(f"/c/{expired}/calendar.ics")).status_code == 410


async def test_a_calendar_link_is_out_of_date_once_the_visit_moves_or_is_cancelled(
    api: httpx.AsyncClient, settings: Settings, pool: AsyncConnectionPool
) -> None:
    """A calendar link names the visit (start and moves) like every link of the visit: after
    two moves and a cancellation an old one shows neither the new time nor the visit's
    details; a link without a visit (signed before links named one) neither."""
    request = _for("P-3", _start(9), channel="sms", locale="en")
    await _book(api, request)
    day = timedelta(days=1)
    old = f"/c/{sign(settings, request.workflow_id, 'calendar', day, request.start, 0)}"
    unbound = f"/c/{sign(settings, request.workflow_id, 'calendar', day)}"
    for _ in range(200):
        if (await api.get(old)).status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert (await api.get(f"{old}/calendar.ics")).status_code == 200

    new_start = _start(11, hour=15)
    for moved_to in (_start(10, hour=12), new_start):
        body = {"new_start": moved_to.isoformat(), **CLIENT_ACTOR}
        await _act(api, request.appointment_id, "reschedule", body)
    current = f"/c/{sign(settings, request.workflow_id, 'calendar', day, new_start, 2)}"
    ics = await api.get(f"{current}/calendar.ics")
    assert ics.status_code == 200, ics.text
    assert Calendar.from_ical(ics.content).walk("VEVENT")[0].decoded("DTSTART") == new_start
    await _act(api, request.appointment_id, "cancel", {"reason": "moved away", **CLIENT_ACTOR})

    for stale in (old, unbound):
        answer = await api.get(f"{stale}/calendar.ics")
        assert answer.status_code == 409, answer.text
        assert "out of date" in answer.text
        assert "BEGIN:VCALENDAR" not in answer.text and "Bring previous" not in answer.text
        assert "jan@example.com" not in answer.text
    # The link for the visit as it stands tells the calendar the visit is off.
    event = Calendar.from_ical((await api.get(f"{current}/calendar.ics")).content)
    assert str(event.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
