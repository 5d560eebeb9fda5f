"""`send_message` by SMS through the real `twilio` client against a local fake of Twilio's
Messages API (tests/twilio_fake.py), with the real PostgreSQL ledger and consent table."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from promptly.activities import ledger as message_ledger
from promptly.activities.channels import (
    DeliveryChannel,
    OutboxChannel,
    StaffCallChannel,
    TransientDeliveryError,
)
from promptly.activities.messaging import LinkSettings, StaffDirectory
from promptly.activities.sms import SmsRoutingMessaging, TwilioSmsChannel
from promptly.domain import errors, links
from promptly.domain.common import Channel, Locale, RecipientRole
from promptly.domain.keys import LINKS, Keyring
from promptly.domain.messages import (
    AbandonMessageRequest,
    MessageStatus,
    Recipient,
    SendMessageRequest,
    SendMessageResult,
)
from promptly.domain.sms import Encoding, segments
from tests.twilio_fake import INVALID_NUMBER, LANDLINE_NUMBER, TwilioFake

pytestmark = pytest.mark.asyncio(loop_scope="session")

SID = "AC" + "1" * 32
TOKEN = "twilio-test-token"
SENDER = "+48500000000"
BASE_URL = "https://promptly.example"
CALLBACK = f"{BASE_URL}/inbound/sms/status"
LINK_SECRET = "test-link-secret"
SCHEDULED = datetime(2031, 3, 1, 9, 30, tzinfo=UTC)


def a_number() -> str:
    return f"+48{random.randint(600_000_000, 799_999_999)}"


@pytest.fixture
def fake() -> Iterator[TwilioFake]:
    with TwilioFake(account_sid=SID, auth_token=TOKEN) as running:
        yield running


def activities(
    pool: AsyncConnectionPool,
    fake: TwilioFake | None,
    *,
    token: str = TOKEN,
    messaging_service: str | None = None,
    timeout: float = 10,
    email: DeliveryChannel | None = None,
) -> SmsRoutingMessaging:
    """Wired as promptly/worker.py does; email goes to the outbox unless `email` is given."""
    sms: DeliveryChannel = OutboxChannel()
    if fake is not None:
        sms = TwilioSmsChannel(
            SID,
            token,
            sender=None if messaging_service else SENDER,
            messaging_service_sid=messaging_service,
            base_url=fake.url,
            status_callback=CALLBACK,
            timeout=timeout,
        )
    channels: dict[Channel, DeliveryChannel] = {
        Channel.EMAIL: email or OutboxChannel(),
        Channel.SMS: sms,
        Channel.PHONE: StaffCallChannel(),
    }
    return SmsRoutingMessaging(
        pool,
        channels,
        StaffDirectory("supervisor@promptly.example", "front-desk@promptly.example"),
        LinkSettings(base_url=BASE_URL, secret=LINK_SECRET, ttl=timedelta(days=14)),
    )


def sms(
    phone: str,
    *,
    email: str | None = "anna@example.com",
    template: str = "confirmation",
    locale: Locale = Locale.PL,
) -> SendMessageRequest:
    case_id = f"appointment-A-{uuid.uuid4().hex[:10]}"
    return SendMessageRequest(
        idempotency_key=f"{case_id}/{template}/0",
        case_id=case_id,
        template=template,
        channel=Channel.SMS,
        to=Recipient(
            role=RecipientRole.CLIENT,
            name="Łucja Żółć",
            email=email,
            phone=phone,
            locale=locale,
            timezone="Europe/Warsaw",
        ),
        context={
            "client_id": f"C-{uuid.uuid4().hex[:6]}",
            "client_name": "Łucja Żółć",
            "service": "Konsultacja fizjoterapeutyczna",
            "start": "2031-03-12T10:00:00+01:00",
            "timezone": "Europe/Warsaw",
            "location": "ul. Prosta 1, Warszawa",
            "provider_name": "Jan Kowalski",
            "instructions": "",
            "confirmed": False,
            "reference": "A-1001",
            "price": None,
            "prepayment_required": False,
        },
        link_actions=["confirm", "cancel", "reschedule"],
    )


def environment() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(ActivityEnvironment.default_info(), scheduled_time=SCHEDULED)
    return env


async def send(acts: SmsRoutingMessaging, request: SendMessageRequest) -> SendMessageResult:
    return await environment().run(acts.send_message, request)


async def send_failing(acts: SmsRoutingMessaging, request: SendMessageRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await send(acts, request)
    return raised.value


async def ledger(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM messages WHERE case_id = %s ORDER BY id", (case_id,))
        return await cur.fetchall()


async def case_tasks(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM staff_tasks WHERE case_id = %s ORDER BY id", (case_id,))
        return await cur.fetchall()


async def test_an_sms_goes_to_twilio_short_with_a_status_callback(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    phone = a_number()
    request = sms(phone)

    result = await send(activities(pool, fake), request)

    [seen] = fake.requests
    assert seen.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert seen.account_sid == SID and seen.status == 201
    assert (seen.form["To"], seen.form["From"]) == (phone, SENDER)
    assert seen.form["StatusCallback"] == CALLBACK
    assert (result.status, result.outcome, result.channel) == (
        MessageStatus.SENT,
        MessageStatus.SENT,
        Channel.SMS,
    )
    assert result.provider_id == seen.sid
    [row] = await ledger(pool, request.case_id)
    assert (row["status"], row["provider_id"], row["channel"]) == ("sent", seen.sid, "sms")
    body = seen.form["Body"]
    # The ledger keeps the text with its link redacted to the token id; Twilio got it live.
    link = next(word for word in body.split() if "/c/" in word)
    token_id = links.token_id(link.rsplit("/c/", 1)[1])
    assert row["body"] == body.replace(link, f"[confirm link, token {token_id}]")
    # Polish text in GSM-7 letters, two segments at most, one compact signed link.
    count = segments(body)
    assert count.encoding is Encoding.GSM7 and count.segments <= 2, (count, body)
    assert "Lucja" not in body and "TAK" in body and "Konsultacja fizjoterapeutyczna" in body
    [link] = [word for word in body.split() if word.startswith(f"{BASE_URL}/c/")]
    token = link.removeprefix(f"{BASE_URL}/c/")
    assert len(token) <= 64  # case, action, expiry, the visit it is for (single use), MAC
    claims = links.verify(Keyring.of(LINKS, LINK_SECRET), token, datetime.now(UTC))
    assert (claims.case_id, claims.action) == (request.case_id, "confirm")


async def test_a_messaging_service_sends_instead_of_a_number(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    await send(activities(pool, fake, messaging_service="MG" + "2" * 32), sms(a_number()))

    [seen] = fake.messages
    assert seen.form["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in seen.form


async def test_an_invalid_number_falls_back_to_email_and_the_front_desk_checks_it(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    request = sms(INVALID_NUMBER)
    acts = activities(pool, fake)

    result = await send(acts, request)

    assert [r.status for r in fake.requests] == [400]  # 21211, never retried
    assert (result.channel, result.outcome) == (Channel.EMAIL, MessageStatus.QUEUED_IN_OUTBOX)
    failed, by_email = await ledger(pool, request.case_id)
    assert (failed["channel"], failed["status"]) == ("sms", "failed")
    assert "21211" in failed["last_error"]
    assert (by_email["channel"], by_email["recipient"]) == ("email", "anna@example.com")
    assert "Hello" in by_email["body"] or "Dzień dobry" in by_email["body"]  # the full email
    [task] = await case_tasks(pool, request.case_id)
    assert task["kind"] == "client_reply" and INVALID_NUMBER in task["details"]

    # The number is known to be bad now: the next message does not even try Twilio.
    again = sms(INVALID_NUMBER, template="reminder")
    assert (await send(acts, again)).channel is Channel.EMAIL
    assert len(fake.requests) == 1


async def test_a_landline_without_email_becomes_a_call_task(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    request = sms(LANDLINE_NUMBER, email=None)

    result = await send(activities(pool, fake), request)

    assert [r.status for r in fake.requests] == [400]  # 21614
    assert result.channel is Channel.PHONE
    kinds = sorted(t["kind"] for t in await case_tasks(pool, request.case_id))
    assert kinds == ["call_client", "client_reply"]


async def test_no_such_number_without_email_is_no_call_task_but_the_front_desks_to_reach(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    phone = a_number()
    request = sms(phone, email=None)
    fake.script(400, 21211)  # "The 'To' number is not a valid phone number"
    acts = activities(pool, fake)

    failed = await send_failing(acts, request)

    # No call task to a number that is none: the send fails for good, so the case passes the
    # confirmation to the front desk by hand (its own task), and says why.
    assert failed.non_retryable and failed.type == errors.DELIVERY_REJECTED, failed
    [task] = await case_tasks(pool, request.case_id)
    assert task["kind"] == "client_reply" and phone in task["details"]
    assert "could not go out (no email either)" in task["details"]
    [attempt] = await ledger(pool, request.case_id)
    assert (attempt["channel"], attempt["status"]) == ("sms", "failed")

    # Known now: the next message fails at once, without asking Twilio, and adds no task.
    reminder = sms(phone, email=None, template="reminder")
    again = await send_failing(acts, reminder)
    assert again.non_retryable and again.type == errors.INVALID_RECIPIENT, again
    assert len(fake.requests) == 1
    assert await case_tasks(pool, reminder.case_id) == []


async def test_a_number_opted_out_at_twilio_is_recorded_and_gets_email(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    phone = a_number()
    request = sms(phone)
    fake.script(400, 21610)  # "Attempt to send to unsubscribed recipient"

    result = await send(activities(pool, fake), request)

    assert result.channel is Channel.EMAIL
    assert await case_tasks(pool, request.case_id) == []  # nothing wrong with the number
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT opted_out FROM sms_numbers WHERE phone = %s", (phone,))
        ).fetchone()
    assert row == (True,)


async def test_refused_credentials_are_retried_loudly_until_fixed(
    pool: AsyncConnectionPool, fake: TwilioFake, caplog: pytest.LogCaptureFixture
) -> None:
    """Twilio refusing Promptly's account is not the number's fault: retried like SendGrid's
    401 (a minute first), an ERROR each attempt, and sent once the token is fixed."""
    request = sms(a_number())

    with caplog.at_level(logging.ERROR, logger="temporalio.activity"):
        error = await send_failing(activities(pool, fake, token="wrong-token"), request)

    assert [r.status for r in fake.requests] == [401]
    assert error.type == errors.DELIVERY_UNAVAILABLE and not error.non_retryable
    assert error.next_retry_delay == timedelta(minutes=1)
    assert "20003" in error.message and "credentials" in error.message
    [logged] = caplog.records
    assert logged.levelno == logging.ERROR and "Twilio" in logged.getMessage()
    assert "PROMPTLY_TWILIO_AUTH_TOKEN" in logged.getMessage()
    [row] = await ledger(pool, request.case_id)
    assert row["status"] == "pending"

    result = await send(activities(pool, fake), request)  # the token fixed, Temporal retries

    assert [r.status for r in fake.requests] == [401, 201]
    assert result.status is MessageStatus.SENT
    assert await case_tasks(pool, request.case_id) == []  # the number is fine


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, None), (503, None)])
async def test_busy_or_broken_twilio_is_retried_as_it_asks(
    pool: AsyncConnectionPool, fake: TwilioFake, status: int, code: int | None
) -> None:
    request = sms(a_number())
    acts = activities(pool, fake)
    fake.script(status, code, headers={"Retry-After": "7"})

    error = await send_failing(acts, request)

    assert error.type == errors.DELIVERY_UNAVAILABLE and not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=7)
    [row] = await ledger(pool, request.case_id)
    # A 429 took nothing; after a 5xx Twilio may have the message, so the retry asks first.
    assert (row["in_flight_since"] is not None) == (status >= 500)
    result = await send(acts, request)  # Temporal's retry
    assert [r.status for r in fake.requests] == [status, 201]
    [row] = await ledger(pool, request.case_id)
    assert (row["status"], row["attempts"], row["provider_id"]) == (
        "sent",
        2,
        result.provider_id,
    )
    await send(acts, request)  # a third attempt after success sends nothing
    assert len(fake.messages) == 1


@pytest.mark.parametrize("took", [True, False])
async def test_an_sms_given_up_for_an_email_is_asked_after_first(
    pool: AsyncConnectionPool, fake: TwilioFake, took: bool
) -> None:
    """Twilio answered 5xx to the SMS (it may have it) and could not be asked since; when the
    case gives the SMS up for an email, Twilio is asked first: an SMS it holds is recorded
    sent and returned (no email follows), else the row is given up as asked."""
    request = sms(a_number())
    acts = activities(pool, fake)
    fake.outage(503, takes=took)
    await send_failing(acts, request)
    [row] = await ledger(pool, request.case_id)
    assert row["in_flight_since"] is not None  # in doubt: Twilio may have it

    reason = "sent by email instead: the SMS had not gone out after 1h"
    giving_up = AbandonMessageRequest(
        idempotency_key=request.idempotency_key, reason=reason, keep_last_answer=True
    )
    taken = await environment().run(acts.abandon_message, giving_up)

    [row] = await ledger(pool, request.case_id)
    if took:
        [kept] = fake.kept
        assert taken is not None and taken.provider_id == kept["sid"]
        assert (row["status"], row["provider_id"]) == ("sent", kept["sid"])
    else:
        assert taken is None and fake.kept == []
        assert row["status"] == "abandoned" and row["last_error"].startswith(reason)


async def test_a_retry_that_cannot_list_twilios_messages_waits_and_sends_nothing(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    """After a 5xx the retry asks Twilio first; Twilio's list answering 503 as well is one
    more attempt to retry (no traceback, nothing sent), and once it answers, the SMS goes."""
    request = sms(a_number())
    acts = activities(pool, fake)
    fake.script(503)
    await send_failing(acts, request)
    fake.list_outage(503)

    error = await send_failing(acts, request)

    assert error.type == errors.DELIVERY_UNAVAILABLE and not error.non_retryable
    assert "could not list the messages" in str(error)
    assert [r.status for r in fake.requests] == [503]  # nothing sent while it cannot ask
    [row] = await ledger(pool, request.case_id)
    assert row["status"] == "pending" and row["in_flight_since"] is not None
    fake.recover()
    await send(acts, request)
    assert len(fake.messages) == 1


class WorkerKilled(Exception):
    """Stands for the worker process dying where it is raised."""


async def test_a_retry_after_an_attempt_that_died_unrecorded_does_not_text_twice(
    pool: AsyncConnectionPool, fake: TwilioFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio took the SMS, then the worker died before the ledger said `sent`: Twilio keeps
    no idempotency key, so the retry asks it what the number got before sending again."""
    phone = a_number()
    request = sms(phone)
    acts = activities(pool, fake)
    mark = message_ledger.mark

    async def dies_once_twilio_took_it(*args: Any, **kwargs: Any) -> None:
        if args[2] is MessageStatus.SENT:
            raise WorkerKilled
        await mark(*args, **kwargs)

    monkeypatch.setattr(message_ledger, "mark", dies_once_twilio_took_it)
    with pytest.raises(WorkerKilled):
        await send(acts, request)
    monkeypatch.undo()
    [texted] = fake.sent_to(phone)
    [row] = await ledger(pool, request.case_id)
    assert row["status"] == "pending"

    result = await send(acts, request)  # Temporal's retry of the attempt

    assert fake.sent_to(phone) == [texted]  # the client got it once
    assert result.provider_id == texted.sid and result.status is MessageStatus.SENT
    [row] = await ledger(pool, request.case_id)
    assert (row["status"], row["provider_id"], row["attempts"]) == ("sent", texted.sid, 2)


ANSWER_TIMEOUT = 0.5  # the channel's timeout in these tests: Twilio answers after it


def no_answer(fake: TwilioFake, fault: str) -> None:
    """Twilio takes the next SMS, and its answer never reaches the client."""
    if fault == "late":
        fake.answer_late(ANSWER_TIMEOUT * 3)
    else:
        fake.hang_up()


@pytest.mark.parametrize("fault", ["late", "hang_up"])
async def test_an_sms_twilio_took_without_answering_in_time_is_not_texted_twice(
    pool: AsyncConnectionPool, fake: TwilioFake, fault: str
) -> None:
    """Twilio took the SMS, and its answer came after the client's timeout (or the connection
    dropped after the request went): the outcome is unknown, not a refusal, so the retry asks
    Twilio what the number got before texting again."""
    phone = a_number()
    request = sms(phone)
    acts = activities(pool, fake, timeout=ANSWER_TIMEOUT)
    no_answer(fake, fault)

    error = await send_failing(acts, request)

    assert error.type == errors.DELIVERY_UNAVAILABLE and not error.non_retryable
    [texted] = fake.sent_to(phone)
    [row] = await ledger(pool, request.case_id)
    assert row["status"] == "pending" and row["in_flight_since"] is not None
    assert "may have taken the SMS" in row["last_error"]

    result = await send(acts, request)  # Temporal's retry

    assert fake.sent_to(phone) == [texted]  # the client got it once
    assert (result.status, result.provider_id) == (MessageStatus.SENT, texted.sid)
    [row] = await ledger(pool, request.case_id)
    assert (row["status"], row["provider_id"], row["attempts"]) == ("sent", texted.sid, 2)
    assert row["in_flight_since"] is None


async def test_a_retry_that_cannot_ask_twilio_leaves_the_question_to_the_next(
    pool: AsyncConnectionPool, fake: TwilioFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No answer to the send, then Twilio's list fails too: nothing is known yet, so the
    retry after that still asks (from the first attempt on) instead of texting again."""
    phone = a_number()
    request = sms(phone)
    acts = activities(pool, fake, timeout=ANSWER_TIMEOUT)
    no_answer(fake, "late")
    await send_failing(acts, request)
    [texted] = fake.sent_to(phone)
    [row] = await ledger(pool, request.case_id)
    unknown_since = row["in_flight_since"]

    async def list_unavailable(*args: Any) -> str | None:
        raise TransientDeliveryError("Twilio answered 503 (error None): list unavailable")

    monkeypatch.setattr(TwilioSmsChannel, "accepted_since", list_unavailable)
    await send_failing(acts, request)
    monkeypatch.undo()
    [row] = await ledger(pool, request.case_id)
    assert (row["status"], row["in_flight_since"]) == ("pending", unknown_since)

    result = await send(acts, request)

    assert fake.sent_to(phone) == [texted]
    assert result.provider_id == texted.sid


async def test_a_message_given_up_while_twilio_has_not_answered_stays_given_up(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    """The case gave the SMS up (out of budget, or moot) while an attempt still waited on
    Twilio: when that attempt ends without an answer, the row stays `abandoned`, not `pending`
    for a retry nobody will make; a later look-up that finds it taken records it `sent`."""
    phone = a_number()
    request = sms(phone)
    acts = activities(pool, fake, timeout=ANSWER_TIMEOUT)
    no_answer(fake, "late")
    attempt = asyncio.create_task(send_failing(acts, request))
    for _ in range(250):  # Twilio has it; its answer is still to come
        if fake.sent_to(phone):
            break
        await asyncio.sleep(0.02)
    await environment().run(
        acts.abandon_message,
        AbandonMessageRequest(idempotency_key=request.idempotency_key, reason="out of budget"),
    )

    assert (await attempt).type == errors.DELIVERY_UNAVAILABLE

    [row] = await ledger(pool, request.case_id)
    assert (row["status"], row["last_error"]) == ("abandoned", "out of budget")
    assert row["in_flight_since"] is not None  # it may have gone: Twilio never answered

    result = await send(acts, request)  # what a look-up finds is the truth

    [texted] = fake.sent_to(phone)
    assert (result.status, result.provider_id) == (MessageStatus.SENT, texted.sid)
    [row] = await ledger(pool, request.case_id)
    assert (row["status"], row["provider_id"]) == ("sent", texted.sid)


async def test_twilio_unreachable_took_nothing_so_the_retry_just_sends(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    """No connection could be made: Twilio cannot have the SMS, nothing is left in doubt."""
    request = sms(a_number())
    with TwilioFake(account_sid=SID, auth_token=TOKEN) as gone:
        unreachable = activities(pool, gone)

    error = await send_failing(unreachable, request)

    assert error.type == errors.DELIVERY_UNAVAILABLE
    [row] = await ledger(pool, request.case_id)
    assert row["status"] == "pending" and row["in_flight_since"] is None
    assert "Twilio unreachable" in row["last_error"]
    await send(activities(pool, fake), request)
    assert len(fake.messages) == 1


async def test_an_attempt_that_died_before_twilio_took_it_is_sent_by_the_retry(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    """The other side of the look-up: Twilio has nothing, so the retry sends it."""
    phone = a_number()
    request = sms(phone)
    fake.script(500)  # the first attempt's request never became a message
    await send_failing(activities(pool, fake), request)
    async with pool.connection() as conn:  # as if that attempt had died before it heard back
        await conn.execute(
            "UPDATE messages SET in_flight_since = now() WHERE case_id = %s", (request.case_id,)
        )

    result = await send(activities(pool, fake), request)

    [texted] = fake.sent_to(phone)
    assert result.provider_id == texted.sid


async def test_twilio_asking_to_slow_down_does_not_use_up_the_error_backoff(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    """A 429 waits what Twilio asks and leaves the error count alone, as SendGrid's does;
    a 503 after it backs off from the errors the channel really had."""
    request = sms(a_number())
    acts = activities(pool, fake)
    beats: list[Any] = []
    env = environment()
    # Attempt 6, after two channel errors (the count travels in the heartbeat details).
    env.info = dataclasses.replace(env.info, attempt=6, heartbeat_details=[2])
    env.on_heartbeat = lambda *details: beats.append(details[0] if details else None)

    fake.script(429, 20429, headers={"Retry-After": "3"})
    with pytest.raises(ApplicationError) as throttled:
        await env.run(acts.send_message, request)
    assert throttled.value.next_retry_delay == timedelta(seconds=3)
    assert beats[-1] == 2

    fake.script(503, None)
    with pytest.raises(ApplicationError) as failed:
        await env.run(acts.send_message, request)
    # The third error: 5 s, 10 s, then 20 s.
    assert failed.value.next_retry_delay == timedelta(seconds=20)
    assert beats[-1] == 3
    assert fake.messages == []


async def test_an_opted_out_number_gets_email_but_its_opt_out_confirmation_by_sms(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    phone = a_number()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO sms_numbers (phone, opted_out, opted_out_at) VALUES (%s, true, now())",
            (phone,),
        )
    acts = activities(pool, fake)

    reminder = await send(acts, sms(phone, template="reminder"))
    notice = await send(acts, sms(phone, template="sms_opted_out"))

    assert reminder.channel is Channel.EMAIL
    assert notice.channel is Channel.SMS
    [only] = fake.sent_to(phone)
    assert "START" in (only.body or "")


class EmailDown:
    """SendGrid answering 503 to everything."""

    async def deliver(self, conn: Any, message: Any) -> str:
        raise TransientDeliveryError("SendGrid answered 503")


async def test_a_rerouted_message_given_up_is_abandoned_under_its_own_key_too(
    pool: AsyncConnectionPool, fake: TwilioFake
) -> None:
    """The number opted out, so the SMS goes by email under `…/email`; email is down and the
    case gives the message up (cancelled, or out of budget) under the key it knows, the SMS's.
    The email's row is abandoned with it: never `pending` with a timeline that moved on."""
    phone = a_number()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO sms_numbers (phone, opted_out, opted_out_at) VALUES (%s, true, now())",
            (phone,),
        )
    request = sms(phone)
    given_up = request.model_copy(update={"idempotency_key": f"{request.case_id}/reminder/1"})
    # Another message of the case whose key starts like it: not given up.
    other = request.model_copy(update={"idempotency_key": f"{request.case_id}/reminder/10"})
    acts = activities(pool, fake, email=EmailDown())
    for each in (given_up, other):
        assert (await send_failing(acts, each)).type == errors.DELIVERY_UNAVAILABLE

    await environment().run(
        acts.abandon_message,
        AbandonMessageRequest(
            idempotency_key=given_up.idempotency_key,
            reason="reminder cancelled: the case changed",
        ),
    )

    rows = {r["idempotency_key"]: r for r in await ledger(pool, request.case_id)}
    assert set(rows) == {f"{given_up.idempotency_key}/email", f"{other.idempotency_key}/email"}
    abandoned = rows[f"{given_up.idempotency_key}/email"]
    assert (abandoned["channel"], abandoned["status"], abandoned["last_error"]) == (
        "email",
        "abandoned",
        "reminder cancelled: the case changed",
    )
    assert rows[f"{other.idempotency_key}/email"]["status"] == "pending"
    assert fake.requests == []


async def test_without_twilio_an_sms_is_queued_in_the_outbox_not_sent(
    pool: AsyncConnectionPool,
) -> None:
    request = sms(a_number())

    result = await send(activities(pool, None), request)

    assert (result.status, result.outcome) == (
        MessageStatus.QUEUED_IN_OUTBOX,
        MessageStatus.QUEUED_IN_OUTBOX,
    )
    [row] = await ledger(pool, request.case_id)
    assert (row["status"], row["sent_at"]) == ("queued_in_outbox", None)
    again = await send(activities(pool, None), request)
    assert again.outcome is MessageStatus.QUEUED_IN_OUTBOX
    assert (await ledger(pool, request.case_id))[0]["attempts"] == 1
