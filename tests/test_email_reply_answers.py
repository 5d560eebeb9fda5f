"""What a client who answers our email by email hears back, end to end: the HTTP app and a
worker on the Temporal dev server and PostgreSQL (the `stack` of tests/test_sms_replies.py),
SendGrid's Inbound Parse post in, the answer out through the normal send path: the ledger and
the outbox (no SendGrid key), what the client's mailbox would receive."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from babel.dates import format_datetime
from psycopg.rows import dict_row
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from promptly.domain.common import Channel, RecipientRole
from promptly.domain.messages import NoticeRequest, Recipient, SendMessageRequest
from promptly.domain.reply_answers import EMAIL_TEMPLATE, message_id_of
from promptly.services.reply_answers import EMAIL_ANSWER_PREFIX
from tests.api_support import BACKOFFICE_KEY
from tests.helpers import appointment, sendgrid_checks, tasks, until
from tests.test_sms_replies import EMAIL_TOKEN, WARSAW, Stack, _handed_over, _kind, _multipart
from tests.test_sms_replies import stack as sms_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")
stack = sms_stack  # the same fixture: the app, a worker, PostgreSQL

PATH = f"/inbound/email/{EMAIL_TOKEN}"


async def _book(stack: Stack, locale: str) -> tuple[str, str, dict[str, Any]]:
    """An email client of their own in `locale`, a visit five days ahead (whatever the hour
    now); returns the case id, the address, and the confirmation as the ledger holds it."""
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    start = (
        (datetime.now(UTC) + timedelta(days=5)).astimezone(WARSAW).replace(second=0, microsecond=0)
    )
    request = appointment(start, channel="email", email=email, locale=locale)
    request = request.model_copy(
        update={"client": request.client.model_copy(update={"id": f"C-{uuid.uuid4().hex[:8]}"})}
    )
    response = await stack.http.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert response.status_code == 201, response.text
    case_id = f"appointment-{request.appointment_id}"
    stack.started.append(case_id)
    [confirmation] = await _handed_over(stack, case_id, "the confirmation", "confirmation")
    return case_id, email, confirmation


def _email(sender: str, subject: str, text: str, **more: str) -> dict[str, str]:
    """An Inbound Parse post of a client's reply, with its own Message-ID."""
    return (
        {
            "from": sender,
            "to": "reply@promptly.example",
            "subject": subject,
            "text": f"{text}\n\nOn Mon, 30 Nov 2026 at 10:00 Promptly wrote:\n> Hello\n",
            "headers": f"Message-ID: <{uuid.uuid4().hex}@mail.example>\nSubject: {subject}",
        }
        | sendgrid_checks(sender)
        | more
    )


def _message_id(post: dict[str, str]) -> str:
    return post["headers"].splitlines()[0].partition(":")[2].strip()


async def _answered(stack: Stack, post: dict[str, str]) -> None:
    """The answer's notice has run to its end (the message handed to its channel)."""
    handle = stack.client.get_workflow_handle(f"{EMAIL_ANSWER_PREFIX}{_message_id(post)}")
    await handle.result()


async def _received_by(stack: Stack, address: str) -> list[dict[str, Any]]:
    """Every email to `address` as the channel got it (the outbox keeps the live body)."""
    async with stack.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT m.template, m.subject, m.locale, m.status, m.recipient_role, o.body
                 FROM messages m JOIN outbox o ON o.message_id = m.id
                WHERE lower(m.recipient) = lower(%s) AND m.channel = 'email'
                ORDER BY m.id""",
            (address,),
        )
        return await cur.fetchall()


def _when(start: str, locale: str) -> str:
    """The visit's time as an email shows it to a reader in Warsaw (rendering.py `when`)."""
    moment = datetime.fromisoformat(start)
    return format_datetime(moment, "EEEE, d MMMM y, HH:mm", tzinfo=WARSAW, locale=locale)


async def test_a_yes_by_email_is_answered_once_by_email_with_the_visit_it_confirmed(
    stack: Stack,
) -> None:
    case_id, email, confirmation = await _book(stack, "pl")
    post = _email(f"Anna Nowak <{email.upper()}>", f"Re: {confirmation['subject']}", "Tak, będę")
    answer = await stack.http.post(PATH, files=_multipart(post))
    assert answer.json() == {"intent": "confirm", "action": "confirmed"}
    # SendGrid posting the same email again (a 5xx it saw, a retry of its own): acted on and
    # answered once.
    again = await stack.http.post(PATH, files=_multipart(post))
    assert again.status_code == 200, again.text
    await _answered(stack, post)

    [answered] = [m for m in await _received_by(stack, email) if m["template"] == EMAIL_TEMPLATE]
    assert answered["recipient_role"] == "client" and answered["locale"] == "pl"
    assert answered["status"] == "queued_in_outbox"  # on the ledger, for compliance to read
    assert answered["subject"] == f"Re: {confirmation['subject']}"
    # In the client's thread: the answer names the email it answers (the SendGrid channel
    # sends it as In-Reply-To and References, tests/test_sendgrid_channel.py).
    assert (await _answer_request(stack, post)).in_reply_to == _message_id(post)
    when = _when(await _start_of(stack, case_id), "pl")
    assert f"dziękujemy, wizyta została potwierdzona: {when}" in answered["body"]
    assert answered["body"].startswith("Dzień dobry Anna Nowak,")


async def _answer_request(stack: Stack, post: dict[str, str]) -> SendMessageRequest:
    """The message the answer's notice handed to the send path."""
    handle = stack.client.get_workflow_handle(f"{EMAIL_ANSWER_PREFIX}{_message_id(post)}")
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    [request] = await stack.client.data_converter.decode(started.input.payloads, [NoticeRequest])
    assert isinstance(request, NoticeRequest) and request.message is not None
    return request.message


async def _start_of(stack: Stack, case_id: str) -> str:
    async with stack.pool.connection() as conn:
        row = await (
            await conn.execute("SELECT starts_at FROM cases WHERE case_id = %s", (case_id,))
        ).fetchone()
    assert row is not None
    return str(row[0].isoformat())


async def test_an_unclear_reply_by_email_is_answered_passed_to_the_front_desk(
    stack: Stack,
) -> None:
    case_id, email, confirmation = await _book(stack, "en")
    post = _email(email, f"Re: {confirmation['subject']}", "Can I bring my daughter?")
    answer = await stack.http.post(PATH, files=_multipart(post))
    assert answer.json() == {"intent": "other", "action": "task"}
    await _answered(stack, post)

    [task] = await until(lambda: _kind(tasks(stack.pool, case_id), "client_reply"), "the task")
    assert "Can I bring my daughter?" in task["details"]
    [answered] = [m for m in await _received_by(stack, email) if m["template"] == EMAIL_TEMPLATE]
    assert answered["locale"] == "en"
    assert answered["subject"] == f"Re: {confirmation['subject']}"
    assert "we passed your reply to our front desk; we will call you back" in answered["body"]


@pytest.mark.parametrize("sender", ["stranger", "forged", "unchecked"])
async def test_no_answer_goes_to_an_address_we_do_not_know_or_cannot_trust(
    stack: Stack, sender: str
) -> None:
    """The inbound address must not make us write to whoever is named in `From:`: an unknown
    address gets nothing, nor does a client's address on an email SPF and DKIM do not vouch
    for, or a post without their verdicts at all (the front desk's task says so, and a
    person answers)."""
    case_id, email, confirmation = await _book(stack, "en")
    if sender == "stranger":
        address = f"stranger-{uuid.uuid4().hex[:8]}@example.org"
        post = _email(address, f"Re: {confirmation['subject']}", "Yes")
    elif sender == "forged":
        address = email
        post = _email(email, f"Re: {confirmation['subject']}", "Yes", SPF="fail", dkim="none")
    else:
        address = email
        post = _email(email, f"Re: {confirmation['subject']}", "Yes")
        for field in ("SPF", "dkim", "envelope"):
            del post[field]
    answer = await stack.http.post(PATH, files=_multipart(post))
    assert answer.json() == {"intent": "confirm", "action": "task"}
    # The reply's own notice (its task) has run; no answer was started beside it.
    await stack.client.get_workflow_handle(f"reply-{_message_id(post)}").result()
    with pytest.raises(RPCError) as missing:
        await stack.client.get_workflow_handle(
            f"{EMAIL_ANSWER_PREFIX}{_message_id(post)}"
        ).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    await asyncio.sleep(0.5)
    received = await _received_by(stack, address)
    assert [m["template"] for m in received] == (["confirmation"] if address == email else [])


@pytest.mark.parametrize(
    ("reply_id", "threaded"),
    [
        ("<CAF3x9q+1@mail.example>", "<CAF3x9q+1@mail.example>"),
        ("email-3f2a9c", None),  # an email without a Message-ID: filed under a content hash
        ("<two words@mail.example>", None),  # nothing we would repeat in a header
        ("<a@b>\r\nBcc: x@y", None),
    ],
)
def test_an_answer_names_the_email_it_answers_only_by_a_real_message_id(
    reply_id: str, threaded: str | None
) -> None:
    assert message_id_of(reply_id) == threaded


@pytest.mark.parametrize(
    "reply_id",
    ["<café@mail.example>", "<ｃａｆ@mail.example>", "<a\u00a0b@mail.example>", "<a\x7fb@x>"],
)
def test_a_message_id_beyond_printable_ascii_is_never_repeated_in_a_header(
    reply_id: str,
) -> None:
    assert message_id_of(reply_id) is None  # the answer goes out, outside the thread
    with pytest.raises(ValidationError):
        SendMessageRequest(
            idempotency_key="reply/x/reply_answer",
            case_id="appointment-A-1",
            template=EMAIL_TEMPLATE,
            channel=Channel.EMAIL,
            to=Recipient(role=RecipientRole.CLIENT, email="anna@example.com"),
            in_reply_to=reply_id,
        )
    assert message_id_of("<a=b?c~!@mail.example>") == "<a=b?c~!@mail.example>"
