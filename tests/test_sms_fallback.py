"""An SMS Twilio will not take goes by email, in time and once.

A client who prefers SMS and has an email on file books while Twilio answers 503 (or 429) to
everything. Their confirmation is not retried by SMS for its whole 22h budget: after its
fallback wait (a quarter of the budget, at most 1h: domain/sms.py `email_fallback_after`)
the SMS is cancelled and the same message goes by email. Asserted on what the Twilio and
SendGrid fakes received: the email once, within the wait, and no SMS, even after Twilio is
back. The ledger and the timeline say which channel carried it and why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentStatus, CancelInput
from promptly.domain.common import Channel, TimelineEntry, TimelineKind
from promptly.domain.sms import email_fallback_after
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from tests.complaint_helpers import complaint, complaint_payload
from tests.helpers import CLIENT, appointment, close_to, end_workflows, messages, tasks, until
from tests.sendgrid_fake import SendGridFake
from tests.twilio_fake import TwilioFake

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SID = "AC" + "5" * 32
TOKEN = "twilio-auth-token-for-fallback-tests"
PHONE = "+48600100200"
EMAIL = "anna@example.com"


@pytest.fixture
def twilio() -> Iterator[TwilioFake]:
    with TwilioFake(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def sms_settings(settings: Settings, sendgrid: SendGridFake, twilio: TwilioFake) -> Settings:
    """Email through SendGrid's fake, SMS through Twilio's, no quiet hours."""
    return settings.model_copy(
        update={
            "sendgrid_api_key": SecretStr("SG.test"),
            "sendgrid_host": sendgrid.url,
            "twilio_account_sid": SID,
            "twilio_auth_token": SecretStr(TOKEN),
            "twilio_from": "+48500000000",
            "twilio_base_url": twilio.url,
            "quiet_hours_start": 0,
            "quiet_hours_end": 0,
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def sms_worker(
    env: WorkflowEnvironment, sms_settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[Worker]:
    async with create_worker(env.client, sms_settings, pool=pool) as running:
        yield running


def test_the_wait_is_a_quarter_of_the_budget_at_most_an_hour() -> None:
    wait = email_fallback_after
    assert wait(Channel.SMS, "confirmation", EMAIL, 22 * H) == H
    assert wait(Channel.SMS, "status_update", EMAIL, H) == 15 * MINUTE
    assert wait(Channel.SMS, "delay", EMAIL, 15 * MINUTE) == timedelta(seconds=225)
    # No fallback: no email, another channel, a consent notice, too little budget left.
    assert wait(Channel.SMS, "confirmation", None, 22 * H) is None
    assert wait(Channel.SMS, "confirmation", "", 22 * H) is None
    assert wait(Channel.EMAIL, "confirmation", EMAIL, 22 * H) is None
    assert wait(Channel.PHONE, "confirmation", EMAIL, 22 * H) is None
    assert wait(Channel.SMS, "sms_opted_out", EMAIL, 22 * H) is None
    assert wait(Channel.SMS, "delay", EMAIL, 3 * MINUTE) is None


@pytest.mark.parametrize("status", [503, 429])
async def test_an_sms_twilio_will_not_take_goes_by_email_once_within_the_hour(
    env: WorkflowEnvironment,
    sms_worker: Worker,
    sms_settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
    twilio: TwilioFake,
    status: int,
) -> None:
    twilio.outage(status)
    booked_at = await env.get_current_time()
    request = appointment(booked_at + 5 * 24 * H, channel="sms", email=EMAIL, locale="en")
    handle = await book(env.client, request, sms_settings, booked_at)
    case_id = request.workflow_id

    await env.sleep(90 * MINUTE)

    def confirmations() -> list[str]:
        return [
            r.idempotency_key
            for r in sendgrid.accepted
            if EMAIL in r.recipients and r.template == "confirmation"
        ]

    async def emailed() -> list[str]:
        return confirmations()

    [key] = await until(emailed, "the confirmation by email")
    assert key.endswith("/email")
    assert twilio.requests and twilio.messages == []  # Twilio was asked, and took nothing

    view, entry = await recorded(handle, AppointmentWorkflow.status, "confirmation")
    assert entry.data["channel"] == "email" and entry.data["instead_of"] == "sms"
    assert "had not gone out after 1h" in entry.detail
    # Within the wait, give or take an attempt.
    assert close_to(entry.at, booked_at + H, 2 * MINUTE)
    assert "confirmation not sent" not in view.needs_attention
    assert view.status is AppointmentStatus.BOOKED

    ledger = {
        m["idempotency_key"]: m
        for m in await messages(pool, case_id)
        if m["template"] == "confirmation"
    }
    [sms] = [m for m in ledger.values() if m["channel"] == "sms"]
    [email] = [m for m in ledger.values() if m["channel"] == "email"]
    assert sms["status"] == "abandoned"
    assert sms["last_error"].startswith("sent by email instead: the SMS had not gone out after 1h")
    assert f"last answer: Twilio answered {status}" in sms["last_error"]
    assert email["status"] == "sent" and email["idempotency_key"] == sms["idempotency_key"] + (
        "/email"
    )
    assert not [t for t in await tasks(pool, case_id) if t["kind"] == "send_confirmation_manually"]

    # Twilio comes back: the cancelled SMS never goes out late, the email never again.
    twilio.recover()
    await env.sleep(6 * H)
    assert not [r for r in twilio.sent_to(PHONE) if "confirm" in (r.body or "").lower()]
    assert twilio.messages == []
    assert confirmations() == [key]
    await end_workflows(env, request.workflow_id)


async def recorded(handle: Any, status: Any, template: str) -> tuple[Any, TimelineEntry]:
    """The case's status once its timeline records the message of `template` (the channel may
    have it a moment before the case has heard so)."""

    async def entries() -> list[tuple[Any, TimelineEntry]]:
        view = await handle.query(status)
        return [
            (view, e)
            for e in view.timeline
            if e.kind is TimelineKind.MESSAGE and e.data.get("template") == template
        ]

    [(view, entry)] = await until(entries, f"the {template} on the timeline")
    return view, entry


def emails(sendgrid: SendGridFake, template: str) -> list[str]:
    """The keys of the emails of `template` the client's mailbox got."""
    return [
        r.idempotency_key
        for r in sendgrid.accepted
        if EMAIL in r.recipients and r.template == template
    ]


@pytest.mark.parametrize(
    ("code", "phone"),
    [
        (21610, "+48600100987"),  # the number replied STOP to Twilio itself
        (21617, PHONE),  # this message refused (too long), not the number
    ],
)
async def test_an_sms_twilio_refuses_for_good_goes_by_email_at_once(
    env: WorkflowEnvironment,
    sms_worker: Worker,
    sms_settings: Settings,
    sendgrid: SendGridFake,
    twilio: TwilioFake,
    code: int,
    phone: str,
) -> None:
    twilio.script(400, code)
    booked_at = await env.get_current_time()
    request = appointment(booked_at + 5 * 24 * H, channel="sms", email=EMAIL, locale="en")
    # An opted-out number of its own: the opt-out is kept for good, and other tests text PHONE.
    request = request.model_copy(
        update={"client": request.client.model_copy(update={"phone": phone})}
    )
    handle = await book(env.client, request, sms_settings, booked_at)

    async def emailed() -> list[str]:
        return emails(sendgrid, "confirmation")

    [key] = await until(emailed, "the confirmation by email")
    assert key.endswith("/email") and twilio.messages == []
    view, entry = await recorded(handle, AppointmentWorkflow.status, "confirmation")
    assert entry.data["channel"] == "email" and close_to(entry.at, booked_at, MINUTE)
    await end_workflows(env, request.workflow_id)


async def test_a_change_before_the_fallback_sends_neither_the_sms_nor_the_email(
    env: WorkflowEnvironment,
    sms_worker: Worker,
    sms_settings: Settings,
    sendgrid: SendGridFake,
    twilio: TwilioFake,
) -> None:
    twilio.outage(503)
    booked_at = await env.get_current_time()
    request = appointment(booked_at + 5 * 24 * H, channel="sms", email=EMAIL, locale="en")
    handle = await book(env.client, request, sms_settings, booked_at)
    await env.sleep(30 * MINUTE)
    view = await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="moving away", actor=CLIENT)
    )
    assert view.status is AppointmentStatus.CANCELLED

    await env.sleep(2 * H)
    twilio.recover()
    await env.sleep(H)

    async def cancellation_emailed() -> list[str]:
        return emails(sendgrid, "cancellation")

    # The cancellation notice, itself stuck at Twilio, went by email after its own wait (a
    # quarter of its 1h budget); the moot confirmation went nowhere.
    [notice] = await until(cancellation_emailed, "the cancellation by email")
    assert notice.endswith("/email")
    assert emails(sendgrid, "confirmation") == []
    assert twilio.messages == []
    await end_workflows(env, request.workflow_id)


async def test_a_complaints_acknowledgement_stuck_at_twilio_goes_by_email(
    env: WorkflowEnvironment,
    sms_worker: Worker,
    sms_settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
    twilio: TwilioFake,
) -> None:
    """Complaints send through the same path: an SMS customer with an email hears that their
    complaint was received by email once Twilio has not taken the SMS in its wait."""
    twilio.outage(503)
    customer = complaint_payload()["customer"] | {"preferred_channel": "sms", "email": EMAIL}
    request = complaint(customer=customer)
    filed_at = await env.get_current_time()
    handle = await file_complaint(env.client, request, sms_settings)
    await env.sleep(2 * H)

    async def acknowledged() -> list[str]:
        return emails(sendgrid, "complaint_ack")

    [key] = await until(acknowledged, "the acknowledgement by email")
    assert key.endswith("/email") and twilio.messages == []
    [sms] = [
        m
        for m in await messages(pool, handle.id)
        if m["template"] == "complaint_ack" and m["channel"] == "sms"
    ]
    assert sms["status"] == "abandoned"
    assert sms["last_error"].startswith("sent by email instead: the SMS had not gone out")
    view, entry = await recorded(handle, ComplaintWorkflow.status, "complaint_ack")
    assert entry.data["channel"] == "email" and entry.at - filed_at <= 2 * H
    assert "acknowledgement not sent" not in view.needs_attention
    twilio.recover()
    await env.sleep(H)
    assert twilio.messages == []  # the SMS was given up, not sent late as well
    await end_workflows(env, handle.id)
