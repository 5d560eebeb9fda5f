"""`send_message` through the real SendGrid client against a local fake of SendGrid's v3 API.

The activity runs in Temporal's ActivityEnvironment and writes to the real PostgreSQL ledger;
only SendGrid's servers are replaced (tests/sendgrid_fake.py).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from promptly.activities.channels import DeliveryChannel, OutboxChannel, StaffCallChannel
from promptly.activities.messaging import LinkSettings, MessagingActivities, StaffDirectory
from promptly.activities.sendgrid_email import SendGridChannel, message_id_header
from promptly.domain import errors, links
from promptly.domain.common import Channel, Locale, RecipientRole
from promptly.domain.messages import (
    AbandonMessageRequest,
    MessageStatus,
    Recipient,
    SendMessageRequest,
    SendMessageResult,
)
from tests.sendgrid_fake import SendGridFake, error_body

pytestmark = pytest.mark.asyncio(loop_scope="session")

API_KEY = "SG.test-key"
SENDER = "no-reply@promptly.example"
BASE_URL = "https://promptly.example"
CLIENT_EMAIL = "anna@example.com"
START = "2031-03-12T10:00:00+01:00"


@pytest.fixture
def fake() -> Iterator[SendGridFake]:
    with SendGridFake(api_key=API_KEY) as running:
        yield running


def activities(
    pool: AsyncConnectionPool, fake: SendGridFake, api_key: str = API_KEY, timeout: float = 10
) -> MessagingActivities:
    """Wired as promptly/worker.py does, with email going to the fake."""
    channels: dict[Channel, DeliveryChannel] = {
        Channel.EMAIL: SendGridChannel(
            api_key=api_key, sender=SENDER, host=fake.url, timeout=timeout
        ),
        Channel.SMS: OutboxChannel(),
        Channel.PHONE: StaffCallChannel(),
    }
    return MessagingActivities(
        pool,
        channels,
        StaffDirectory(
            "supervisor@promptly.example", "front-desk@promptly.example", "Europe/Warsaw"
        ),
        LinkSettings(base_url=BASE_URL, secret="test-link-secret", ttl=timedelta(days=14)),
    )


def confirmation(
    *,
    key: str | None = None,
    email: str | None = CLIENT_EMAIL,
    phone: str | None = None,
    channel: Channel = Channel.EMAIL,
    template: str = "confirmation",
) -> SendMessageRequest:
    return SendMessageRequest(
        idempotency_key=key or f"test-{uuid.uuid4().hex}",
        case_id=f"appointment-A-{uuid.uuid4().hex[:10]}",
        template=template,
        channel=channel,
        to=Recipient(
            role=RecipientRole.CLIENT,
            name="Anna Nowak",
            email=email,
            phone=phone,
            locale=Locale.EN,
            timezone="Europe/Warsaw",
        ),
        context={
            "client_name": "Anna Nowak",
            "service": "Physiotherapy consultation",
            "start": START,
            "timezone": "Europe/Warsaw",
            "location": "ul. Prosta 1, Warszawa",
            "provider_name": "Jan Kowalski",
            "instructions": "Bring previous test results",
            # What every appointment message carries (the workflow's message context).
            "reference": "A-1001",
            "price": None,
            "prepayment_required": False,
        },
        link_actions=["confirm", "cancel", "reschedule"],
    )


SCHEDULED = datetime(2031, 3, 1, 9, 30, tzinfo=UTC)


def environment() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(ActivityEnvironment.default_info(), scheduled_time=SCHEDULED)
    return env


async def send(acts: MessagingActivities, request: SendMessageRequest) -> SendMessageResult:
    return await environment().run(acts.send_message, request)


async def send_failing(acts: MessagingActivities, request: SendMessageRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await send(acts, request)
    return raised.value


async def ledger_row(pool: AsyncConnectionPool, key: str) -> dict[str, Any] | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM messages WHERE idempotency_key = %s", (key,))
        return await cur.fetchone()


async def test_a_client_abroad_reads_every_time_with_their_zone_named(
    pool: AsyncConnectionPool, fake: SendGridFake
) -> None:
    at_home, abroad = confirmation(), confirmation()
    abroad.to.timezone = "America/New_York"
    acts = activities(pool, fake)

    await send(acts, at_home)
    await send(acts, abroad)

    home_mail, abroad_mail = (seen.body for seen in fake.requests)
    # In the office's zone: the subject's time stands alone, the When line names the zone.
    assert home_mail["subject"].endswith("10:00 is booked"), home_mail["subject"]
    assert (
        "When:     Wednesday, 12 March 2031, 10:00 (Central European Standard Time)"
        in (home_mail["content"][0]["value"])
    )
    # A New York client next to a Warsaw address: 05:00 their time, and it says so.
    assert abroad_mail["subject"].endswith("05:00 (Eastern Daylight Time) is booked")
    text = abroad_mail["content"][0]["value"]
    assert "When:     Wednesday, 12 March 2031, 05:00 (Eastern Daylight Time)" in text
    assert "10:00" not in text


async def test_accepted_mail_is_sent_with_the_rendered_message(
    pool: AsyncConnectionPool, fake: SendGridFake
) -> None:
    request = confirmation()

    result = await send(activities(pool, fake), request)

    [seen] = fake.requests
    assert (seen.method, seen.path) == ("POST", "/v3/mail/send")
    assert seen.header("Authorization") == f"Bearer {API_KEY}"
    assert seen.header("Content-Type") == "application/json"
    assert seen.response.status == 202
    assert result.status is MessageStatus.SENT
    assert result.channel is Channel.EMAIL
    assert seen.message_id and result.provider_id == seen.message_id

    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None
    assert result.message_id == row["id"]
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    assert row["provider_id"] == seen.message_id
    assert row["sent_at"] is not None
    assert row["requested_at"] == SCHEDULED
    assert (row["recipient"], row["channel"], row["template"]) == (
        CLIENT_EMAIL,
        "email",
        "confirmation",
    )

    body = seen.body
    assert body["from"] == {"email": SENDER}
    assert seen.recipients == [CLIENT_EMAIL]
    assert body["subject"] == result.subject == row["subject"]
    assert result.subject.startswith("Your appointment on ") and "10:00" in result.subject
    assert body["custom_args"] == {"idempotency_key": request.idempotency_key}
    [content] = body["content"]
    text = content["value"]
    assert "Hello Anna Nowak," in text and "Physiotherapy consultation" in text
    assert text.count(f"{BASE_URL}/c/") == 3  # signed confirm, cancel and reschedule links
    # The ledger (what the compliance export shows) holds no live link: each is swapped for
    # its action and token id, and is otherwise the message that went out.
    stored = row["body"]
    assert f"{BASE_URL}/c/" not in stored
    sent_links = re.findall(rf"{re.escape(BASE_URL)}/c/(\S+)", text)
    redacted = text
    for action, token in zip(("confirm", "cancel", "reschedule"), sent_links, strict=True):
        redacted = redacted.replace(
            f"{BASE_URL}/c/{token}", f"[{action} link, token {links.token_id(token)}]"
        )
    assert stored == redacted


async def test_refused_mail_fails_for_good(pool: AsyncConnectionPool, fake: SendGridFake) -> None:
    request = confirmation(email="bounce@example.com")

    error = await send_failing(activities(pool, fake), request)

    assert error.type == errors.DELIVERY_REJECTED
    assert error.non_retryable is True
    assert "400" in error.message
    [seen] = fake.requests
    assert seen.response.status == 400
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None
    assert (row["status"], row["attempts"], row["provider_id"], row["sent_at"]) == (
        "failed",
        1,
        None,
        None,
    )
    assert "SendGrid answered 400" in row["last_error"]
    assert "Does not contain a valid address." in row["last_error"]


@pytest.mark.parametrize(
    ("status", "provider_message"),
    [
        (401, "The provided authorization grant is invalid, expired, or revoked"),
        (403, "The from address does not match a verified Sender Identity"),
    ],
    ids=["401-revoked-key", "403-unverified-sender"],
)
async def test_refused_credentials_are_retried_slowly_and_loudly_until_fixed(
    pool: AsyncConnectionPool,
    fake: SendGridFake,
    caplog: pytest.LogCaptureFixture,
    status: int,
    provider_message: str,
) -> None:
    """A revoked key or an unverified sender is Promptly's account, not the message: the send
    is retried (a minute first), an ERROR each attempt names SendGrid and its answer, and
    once the account is fixed the message goes, once."""
    acts = activities(pool, fake)
    request = confirmation()
    fake.script(status, error_body(provider_message))

    with caplog.at_level(logging.INFO, logger="temporalio.activity"):
        error = await send_failing(acts, request)

    assert error.type == errors.DELIVERY_UNAVAILABLE and error.non_retryable is False
    assert error.category is ApplicationErrorCategory.BENIGN
    assert error.next_retry_delay == timedelta(minutes=1)
    assert f"SendGrid refused Promptly's credentials (answered {status})" in error.message
    [logged] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert logged.levelno == logging.ERROR
    assert request.idempotency_key in logged.getMessage()
    assert provider_message in logged.getMessage()
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None and (row["status"], row["in_flight_since"]) == ("pending", None)
    assert provider_message in row["last_error"]

    result = await send(acts, request)  # Temporal's retry, the key fixed meanwhile

    assert result.status is MessageStatus.SENT
    assert [r.response.status for r in fake.requests] == [status, 202]
    assert len(fake.accepted) == 1
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None and (row["status"], row["attempts"]) == ("sent", 2)


@pytest.mark.parametrize(
    ("status", "headers", "retry_delay"),
    [
        (429, {"Retry-After": "7"}, timedelta(seconds=7)),
        # The first channel error: the first step of the error backoff.
        (500, {}, timedelta(seconds=5)),
        (503, {}, timedelta(seconds=5)),
    ],
    ids=["429", "500", "503"],
)
async def test_unavailable_then_accepted_is_sent_on_the_retry(
    pool: AsyncConnectionPool,
    fake: SendGridFake,
    status: int,
    headers: dict[str, str],
    retry_delay: timedelta | None,
) -> None:
    acts = activities(pool, fake)
    request = confirmation()
    fake.script(status, headers=headers)

    error = await send_failing(acts, request)

    assert error.type == errors.DELIVERY_UNAVAILABLE
    assert error.non_retryable is False
    assert error.category is ApplicationErrorCategory.BENIGN  # no warning, no traceback
    assert error.next_retry_delay == retry_delay
    assert str(status) in error.message
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert f"SendGrid answered {status}" in row["last_error"]
    # A 429 took nothing; a 5xx leaves it unknown, and the row says since when.
    assert (row["in_flight_since"] is not None) == (status >= 500)

    # Temporal retries with the same request; the fake is back to answering 202.
    result = await send(acts, request)

    assert result.status is MessageStatus.SENT
    first, second = fake.requests
    assert [first.response.status, second.response.status] == [status, 202]
    assert second.body == first.body  # the retry sends what the ledger stored
    assert result.provider_id == second.message_id
    assert result.message_id == row["id"]
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None
    assert (row["status"], row["attempts"], row["provider_id"]) == ("sent", 2, second.message_id)


async def test_unreachable_sendgrid_is_retryable(pool: AsyncConnectionPool) -> None:
    with SendGridFake(api_key=API_KEY) as gone:
        acts = activities(pool, gone)
    request = confirmation()

    error = await send_failing(acts, request)

    assert error.type == errors.DELIVERY_UNAVAILABLE
    assert error.non_retryable is False
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "SendGrid unreachable" in row["last_error"]
    assert row["in_flight_since"] is None  # no connection: SendGrid has nothing


@pytest.mark.parametrize("fault", ["late", "hang_up"])
async def test_an_email_sendgrid_took_without_answering_goes_again_as_the_same_message(
    pool: AsyncConnectionPool, fake: SendGridFake, fault: str
) -> None:
    """SendGrid took the email and its answer never came back in time. SendGrid cannot be
    asked whether it has a message, so the retry sends it again: the limit of this channel,
    kept harmless by the one Message-ID both copies carry (mail clients drop the repeat)."""
    acts = activities(pool, fake, timeout=0.5)
    request = confirmation()
    if fault == "late":
        fake.answer_late(1.5)
    else:
        fake.hang_up()

    error = await send_failing(acts, request)

    assert error.type == errors.DELIVERY_UNAVAILABLE and not error.non_retryable
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None and row["status"] == "pending"
    assert row["in_flight_since"] is not None  # the ledger knows it may have gone
    assert "may have taken the email" in row["last_error"]

    result = await send(acts, request)

    first, second = fake.accepted
    assert first.body["headers"]["Message-ID"] == second.body["headers"]["Message-ID"]
    assert result.provider_id == second.message_id
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None and (row["status"], row["in_flight_since"]) == ("sent", None)


async def test_a_sent_message_is_not_sent_again_for_the_same_key(
    pool: AsyncConnectionPool, fake: SendGridFake
) -> None:
    acts = activities(pool, fake)
    request = confirmation()

    first = await send(acts, request)
    again = await send(acts, request)

    assert len(fake.requests) == 1
    assert again == first
    row = await ledger_row(pool, request.idempotency_key)
    assert row is not None
    assert (row["status"], row["attempts"]) == ("sent", 1)


@pytest.mark.parametrize(
    ("channel", "email", "phone"),
    [(Channel.EMAIL, None, "+48600100200"), (Channel.SMS, CLIENT_EMAIL, None)],
    ids=["email-without-address", "sms-without-phone"],
)
async def test_recipient_without_an_address_for_the_channel_is_invalid(
    pool: AsyncConnectionPool,
    fake: SendGridFake,
    channel: Channel,
    email: str | None,
    phone: str | None,
) -> None:
    request = confirmation(channel=channel, email=email, phone=phone)

    error = await send_failing(activities(pool, fake), request)

    assert error.type == errors.INVALID_RECIPIENT
    assert error.non_retryable is True
    assert fake.requests == []
    assert await ledger_row(pool, request.idempotency_key) is None


async def test_unknown_template_is_refused(pool: AsyncConnectionPool, fake: SendGridFake) -> None:
    request = confirmation(template="no_such_template")

    error = await send_failing(activities(pool, fake), request)

    assert error.type == errors.UNKNOWN_TEMPLATE
    assert error.non_retryable is True
    assert "no_such_template" in error.message
    assert fake.requests == []
    assert await ledger_row(pool, request.idempotency_key) is None


def retrying_environment(attempt: int, heartbeat_details: list[Any]) -> ActivityEnvironment:
    """An attempt after earlier ones, with what the last attempt heartbeated."""
    env = environment()
    env.info = dataclasses.replace(env.info, attempt=attempt, heartbeat_details=heartbeat_details)
    return env


async def fail_attempt(
    env: ActivityEnvironment, acts: MessagingActivities, request: SendMessageRequest
) -> tuple[ApplicationError, list[Any]]:
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details[0] if details else None)
    with pytest.raises(ApplicationError) as raised:
        await env.run(acts.send_message, request)
    return raised.value, beats


async def test_throttling_waits_retry_after_and_does_not_use_up_the_error_backoff(
    pool: AsyncConnectionPool, fake: SendGridFake
) -> None:
    acts = activities(pool, fake)
    request = confirmation()
    # Attempt 6 after two channel errors and three 429s: the count travels in the heartbeat.
    fake.script(429, headers={"Retry-After": "3"})
    throttled, beats = await fail_attempt(retrying_environment(6, [2]), acts, request)
    assert throttled.next_retry_delay == timedelta(seconds=3)
    assert beats[-1] == 2  # a 429 is not an error of the channel

    fake.script(503)
    failed, beats = await fail_attempt(retrying_environment(7, [2]), acts, request)
    # The third error: 5 s, 10 s, then 20 s — not the 160 s that seven attempts would give.
    assert failed.next_retry_delay == timedelta(seconds=20)
    assert beats[-1] == 3


async def test_without_heartbeat_details_the_attempt_number_counts_the_errors(
    pool: AsyncConnectionPool, fake: SendGridFake
) -> None:
    fake.script(503)
    failed, _ = await fail_attempt(
        retrying_environment(4, []), activities(pool, fake), confirmation()
    )
    assert failed.next_retry_delay == timedelta(seconds=40)


async def test_every_email_carries_a_message_id_derived_from_its_key(
    pool: AsyncConnectionPool, fake: SendGridFake
) -> None:
    acts = activities(pool, fake)
    request = confirmation()
    fake.script(503)
    await send_failing(acts, request)
    await send(acts, request)

    first, second = fake.requests
    header = first.body["headers"]["Message-ID"]
    assert header == second.body["headers"]["Message-ID"]
    assert header == message_id_header(request.idempotency_key, SENDER)
    assert header.startswith("<") and header.endswith("@promptly.example>")
    assert message_id_header("another key", SENDER) != header


async def test_an_answer_to_a_clients_email_goes_into_their_thread(
    pool: AsyncConnectionPool, fake: SendGridFake
) -> None:
    acts = activities(pool, fake)
    answer = confirmation().model_copy(update={"in_reply_to": "<CAF3x9q@mail.example>"})
    await send(acts, answer)
    await send(acts, confirmation())

    threaded, fresh = fake.requests
    assert threaded.body["headers"]["In-Reply-To"] == "<CAF3x9q@mail.example>"
    assert threaded.body["headers"]["References"] == "<CAF3x9q@mail.example>"
    assert "In-Reply-To" not in fresh.body["headers"]
    assert "References" not in fresh.body["headers"]


async def test_an_abandoned_message_says_why_in_the_ledger(
    pool: AsyncConnectionPool, fake: SendGridFake
) -> None:
    acts = activities(pool, fake)
    given_up, sent = confirmation(), confirmation()
    fake.script(503)
    await send_failing(acts, given_up)
    await send(acts, sent)

    for request in (given_up, sent):
        await ActivityEnvironment().run(
            acts.abandon_message,
            AbandonMessageRequest(
                idempotency_key=request.idempotency_key, reason="budget spent: 503"
            ),
        )

    row = await ledger_row(pool, given_up.idempotency_key)
    assert row is not None and (row["status"], row["last_error"]) == (
        "abandoned",
        "budget spent: 503",
    )
    row = await ledger_row(pool, sent.idempotency_key)
    assert row is not None and row["status"] == "sent"  # what went out stays sent
