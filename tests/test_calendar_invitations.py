"""What a client's calendar receives as the appointment changes: the SendGrid fake's emails,
their iTIP attachments parsed with `icalendar` (time-skipping server, real activities)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any

import pytest
import pytest_asyncio
from icalendar import Calendar
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain import keys, links
from promptly.domain.appointments.models import CancelInput, ConfirmInput, RescheduleInput
from promptly.services.appointments import book, handle_for
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import (
    CLIENT,
    STAFF,
    appointment,
    end_workflows,
    messages,
    next_local,
    settled,
    sleep_until,
)
from tests.sendgrid_fake import SendGridFake

DOMAIN = "calendar.promptly.example"


def email_worker_for(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool, sendgrid: SendGridFake
) -> Worker:
    """A worker whose email goes through the SendGrid fake."""
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    settings.calendar_domain = DOMAIN
    return create_worker(env.client, settings, pool=pool)


@pytest_asyncio.fixture(loop_scope="session")
async def email_worker(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> AsyncIterator[Worker]:
    async with email_worker_for(env, settings, pool, sendgrid) as running:
        yield running


def _invitations(fake: SendGridFake, address: str) -> list[tuple[dict[str, Any], Any]]:
    """Every email to `address` with its calendar attachment, in the order SendGrid got them."""
    found = []
    for sent in fake.requests:
        if address not in sent.recipients or sent.response.status != 202:
            continue
        for attachment in sent.body.get("attachments", []):
            found.append((attachment, Calendar.from_ical(base64.b64decode(attachment["content"]))))
    return found


@pytest.mark.parametrize("continue_after", [10, 1], ids=["one-run", "continued-as-new"])
async def test_booking_two_reschedules_and_a_cancellation_update_one_calendar_event(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
    continue_after: int,
) -> None:
    # With 1, the case continues as new after each reschedule: the count must carry over.
    settings.continue_after_reschedules = continue_after
    async with email_worker_for(env, settings, pool, sendgrid):
        await _booking_two_reschedules_and_a_cancellation(
            env, settings, sendgrid, continued=continue_after == 1
        )


async def _booking_two_reschedules_and_a_cancellation(
    env: WorkflowEnvironment, settings: Settings, sendgrid: SendGridFake, *, continued: bool
) -> None:
    booked_at = await env.get_current_time()
    first = next_local(booked_at + timedelta(days=6), 1, 10, "Europe/Warsaw")
    starts = [first, first + timedelta(days=1, hours=2), first + timedelta(days=2, hours=4)]
    request = appointment(first)
    first_run = (await book(env.client, request, settings, booked_at)).first_execution_run_id
    # Always the latest run: with continue-as-new the case moves on to new runs.
    handle = handle_for(env.client, request.appointment_id)
    await env.sleep(timedelta(minutes=10))
    for new_start, actor in ((starts[1], CLIENT), (starts[2], STAFF)):
        # Each change waits for the sends of the one before: it cancels what they make moot,
        # and must not cross their completion (docs/testing.md).
        await settled(env.client, handle.id)
        await handle.execute_update(
            AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=actor)
        )
        await env.sleep(timedelta(minutes=10))
    await settled(env.client, handle.id)
    await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="moving abroad", actor=CLIENT)
    )

    if continued:
        assert (await handle.describe()).run_id != first_run

    # The cancellation goes out beside the plan, after the update has answered.
    await settled(env.client, handle.id)
    received = _invitations(sendgrid, "anna@example.com")
    assert [calendar["METHOD"] for _, calendar in received] == [
        "REQUEST",
        "REQUEST",
        "REQUEST",
        "CANCEL",
    ]
    assert [a["type"] for a, _ in received] == [
        "text/calendar; method=REQUEST",
        "text/calendar; method=REQUEST",
        "text/calendar; method=REQUEST",
        "text/calendar; method=CANCEL",
    ]
    assert all(a["filename"] == "invite.ics" for a, _ in received)
    events = [calendar.walk("VEVENT")[0] for _, calendar in received]
    assert {str(e["UID"]) for e in events} == {f"{request.workflow_id}@{DOMAIN}"}
    assert [e.decoded("SEQUENCE") for e in events] == [0, 1, 2, 3]
    assert [str(e["STATUS"]) for e in events] == [
        "TENTATIVE",
        "TENTATIVE",
        "TENTATIVE",
        "CANCELLED",
    ]
    # Each invitation holds the time current when it went out, in the client's zone.
    assert [e.decoded("DTSTART") for e in events] == [starts[0], starts[1], starts[2], starts[2]]
    assert all(e["DTSTART"].params["TZID"] == "Europe/Warsaw" for e in events)
    assert events[0].decoded("DTEND") == starts[0] + timedelta(minutes=50)
    assert str(events[0]["ORGANIZER"]) == "mailto:jan@example.com"
    assert str(events[0]["ATTENDEE"]) == "mailto:anna@example.com"
    # The confirm / cancel / reschedule links in the description are the email's own.
    first_email = next(r for r in sendgrid.requests if "anna@example.com" in r.recipients)
    body = first_email.body["content"][0]["value"]
    description = str(events[0]["DESCRIPTION"])
    assert f"Numer wizyty: {request.appointment_id}" in description
    link = description.split("Potwierdź: ")[1].split("\n")[0]
    assert link.startswith(f"{settings.public_base_url}/c/") and link in body
    # The provider's booking notices carry no invitation: the provider has the feed.
    assert _invitations(sendgrid, "jan@example.com") == []
    await end_workflows(env, request.workflow_id)


async def test_the_links_of_a_confirmation_for_a_visit_40_days_ahead_work_until_after_it(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    """The email's links and its invitation's live until the day after the visit, not
    PROMPTLY_LINK_TTL (14 days) after sending: the client who cancels on day 20 can."""
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(days=40), 1, 10, "Europe/Warsaw")
    request = appointment(start)
    await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=10))
    await settled(env.client, request.workflow_id)
    [(_, calendar)] = _invitations(sendgrid, "anna@example.com")
    email = next(r for r in sendgrid.requests if "anna@example.com" in r.recipients)
    body = email.body["content"][0]["value"] + str(calendar.walk("VEVENT")[0]["DESCRIPTION"])
    tokens = set(re.findall(rf"{re.escape(settings.public_base_url)}/c/([A-Za-z0-9_.~-]+)", body))
    keyring = settings.keyring(keys.LINKS)
    day_20 = booked_at + timedelta(days=20)
    actions = {links.verify(keyring, token, day_20).action for token in tokens}
    assert {"confirm", "cancel", "reschedule", "late"} <= actions
    for token in tokens:
        links.verify(keyring, token, start + timedelta(hours=12))  # still on the day
        with pytest.raises(links.ExpiredLink):
            links.verify(keyring, token, start + timedelta(days=1, minutes=1))
    await end_workflows(env, request.workflow_id)


async def test_the_reminder_after_the_client_confirmed_says_confirmed(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(days=4), 2, 11, "Europe/Warsaw")
    request = appointment(start)
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=10))
    await settled(env.client, handle.id)
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    # The reminder goes out 24–48h before the visit.
    await sleep_until(env, start - timedelta(hours=23))
    await settled(env.client, handle.id)  # the reminder's send has ended

    templates = [m["template"] for m in await messages(pool, request.workflow_id)]
    assert "reminder" in templates
    received = _invitations(sendgrid, "anna@example.com")
    assert len(received) == 2
    (_, booking), (attachment, reminder) = received
    assert str(booking.walk("VEVENT")[0]["STATUS"]) == "TENTATIVE"
    event = reminder.walk("VEVENT")[0]
    assert attachment["type"] == "text/calendar; method=REQUEST"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    # Same event, same version: the newer DTSTAMP carries the confirmation (RFC 5546 §2.1.5).
    assert event.decoded("SEQUENCE") == 0
    assert str(event["UID"]) == str(booking.walk("VEVENT")[0]["UID"])
    assert event.decoded("DTSTAMP") > booking.walk("VEVENT")[0].decoded("DTSTAMP")
    assert event.decoded("DTSTART").astimezone(UTC) == start.astimezone(UTC)
    await end_workflows(env, request.workflow_id)


async def test_a_text_message_carries_one_link_whose_page_offers_the_ics(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5), channel="sms", locale="en")
    await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(days=3, hours=13))

    [reminder] = [
        m for m in await messages(pool, request.workflow_id) if m["template"] == "reminder"
    ]
    assert reminder["channel"] == "sms"
    # No room for two links in two segments: the visit's page offers the calendar
    # (tests/test_api_links.py), and nothing is attached.
    assert links.redacted_actions(reminder["stored_body"]) == ["confirm"]
    assert _invitations(sendgrid, "anna@example.com") == []
    await end_workflows(env, request.workflow_id)
