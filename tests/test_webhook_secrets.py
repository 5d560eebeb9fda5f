"""Each webhook receiver has its own signing secret: one receiver (the billing system) cannot
forge events to another (the booking system). `promptly webhooks secret URL` prints a
receiver's secret; a shared PROMPTLY_WEBHOOK_SECRET still signs every URL as before.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from promptly.activities.records import RecordsActivities
from promptly.activities.webhooks import WebhookActivities
from promptly.cli.main import app
from promptly.config import Settings
from promptly.domain.common import CaseKind, CaseSnapshot, TimelineEntry, TimelineKind
from promptly.domain.webhooks import (
    WebhookDispatchRequest,
    WebhookSigning,
    sign,
    url_secret,
    verify_signature,
)
from tests.conftest import migrated_database
from tests.helpers import CLIENT
from tests.webhook_receiver import Received, WebhookReceiver

MASTER = "master-secret-for-webhook-tests-" + "x7Qp2Lm9Rt4Vz8Kc"
OLD_MASTER = "old-master-secret-for-webhook-tests-" + "b3Nw6Hy1Jd5Fg0Ua"
SHARED = "whsec-shared-0123456789abcdef"
DRAIN = WebhookDispatchRequest(run_for=timedelta(seconds=3), poll_every=timedelta(seconds=0.05))


@pytest.fixture(scope="module")
def secrets_db(database_url: str) -> Iterator[str]:
    with migrated_database(database_url, "promptly_webhook_secrets") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(secrets_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(secrets_db, min_size=1, max_size=4) as opened:
        yield opened


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


async def _booked_and_sent(
    pool: AsyncConnectionPool, settings: Settings, receiver: WebhookReceiver
) -> str:
    """A case booked, its event queued to every configured URL and delivered."""
    case_id = f"appointment-S{uuid.uuid4().hex[:8]}"
    urls = [str(url) for url in settings.webhook_urls]
    entry = TimelineEntry(
        at=datetime.now(UTC), kind=TimelineKind.STATUS, actor=CLIENT, detail="Booked",
        data={"status": "Booked"},
    )  # fmt: skip
    snapshot = CaseSnapshot(
        case_id=case_id,
        kind=CaseKind.APPOINTMENT,
        business_id=case_id.removeprefix("appointment-"),
        status="Booked",
        client_id="C-17",
        first_seq=0,
        entries=[entry],
    )
    env = ActivityEnvironment()
    await env.run(RecordsActivities(pool, urls).record_case, snapshot)
    dispatcher = WebhookActivities(pool, urls, settings.webhook_signing(), settings.webhook_timeout)
    await env.run(dispatcher.deliver_webhooks, DRAIN)
    return case_id


def _cli_secret(url: str, env: dict[str, str]) -> str:
    printed = CliRunner().invoke(app, ["webhooks", "secret", url], env=env)
    assert printed.exit_code == 0, printed.output
    return printed.stdout.strip()


def _one(received: list[Received], case_id: str) -> Received:
    [request] = [r for r in received if r.event["case_id"] == case_id]
    return request


async def test_each_receiver_verifies_its_own_events_and_cannot_forge_the_others(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    booking_url, billing_url = receiver.url("booking"), receiver.url("billing")
    env = {
        "PROMPTLY_WEBHOOK_URLS": json.dumps([booking_url, billing_url]),
        "PROMPTLY_LINK_SECRET": MASTER,  # no PROMPTLY_WEBHOOK_SECRET: one secret per URL
    }
    settings = Settings(webhook_urls=[booking_url, billing_url], link_secret=MASTER)
    booking_secret = await asyncio.to_thread(_cli_secret, booking_url, env)
    billing_secret = await asyncio.to_thread(_cli_secret, billing_url, env)
    assert booking_secret != billing_secret
    assert MASTER not in (booking_secret, billing_secret)

    case_id = await _booked_and_sent(pool, settings, receiver)

    now = datetime.now(UTC)
    at_booking = _one(receiver.received("booking"), case_id)
    at_billing = _one(receiver.received("billing"), case_id)
    booking_header = at_booking.header("Promptly-Signature") or ""
    billing_header = at_billing.header("Promptly-Signature") or ""
    assert verify_signature(booking_secret, booking_header, at_booking.body, now)
    assert verify_signature(billing_secret, billing_header, at_billing.body, now)
    # The billing system's secret does not check the booking system's events, and an event
    # the billing system signs (a forged cancellation) is refused by the booking system.
    assert not verify_signature(billing_secret, booking_header, at_booking.body, now)
    forged = at_booking.body.replace(b'"Booked"', b'"Cancelled"')
    assert not verify_signature(booking_secret, sign(billing_secret, forged, now), forged, now)
    assert verify_signature(billing_secret, sign(billing_secret, forged, now), forged, now)


async def test_a_shared_webhook_secret_still_signs_every_url(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    urls = [receiver.url("booking"), receiver.url("billing")]
    settings = Settings(webhook_urls=urls, link_secret=MASTER, webhook_secret=SHARED)

    case_id = await _booked_and_sent(pool, settings, receiver)

    now = datetime.now(UTC)
    for path in ("booking", "billing"):
        request = _one(receiver.received(path), case_id)
        signature = request.header("Promptly-Signature") or ""
        assert verify_signature(SHARED, signature, request.body, now)
        assert signature.count("v1=") == 1  # the header as before


def test_during_a_master_secret_rotation_the_old_and_new_secrets_both_verify() -> None:
    url, body = "https://booking.example.com/events", b'{"id": "appointment-A-1/0"}'
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    signing = WebhookSigning(
        master=MASTER, previous=OLD_MASTER, previous_until=now + timedelta(days=14)
    )
    secret, previous = signing.secrets(url, now)
    header = sign(secret, body, now, previous)
    assert verify_signature(url_secret(MASTER, url), header, body, now)
    assert verify_signature(url_secret(OLD_MASTER, url), header, body, now)

    later = now + timedelta(days=15)
    secret, previous = signing.secrets(url, later)
    assert previous is None
    header = sign(secret, body, later, previous)
    assert verify_signature(url_secret(MASTER, url), header, body, later)
    assert not verify_signature(url_secret(OLD_MASTER, url), header, body, later)
