"""What a client is answered with when they reply (domain/reply_answers.py decides, from what
was done with the reply): by SMS at once, the text of the TwiML <Message> of the inbound
webhook, written to the case's message ledger as sent (Twilio sends it as the webhook's answer:
no send of ours, no message id); by email, the `reply_answer` email, sent through the normal
send path (the ledger, the channel) in a `ClientNoticeWorkflow` whose id holds the email's id,
so a re-posted email is answered once. Both in the client's language. A duplicate SMS delivery
gets the first one's answer again; a number that opted out gets none. An email is answered only
to a sender we know as a client, at the address on their record, and only when SPF or DKIM
vouch for the sender: the inbound address must not make us write to anyone who puts an address
into `From:`."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from promptly.config import Settings
from promptly.domain.common import Channel, Locale, RecipientRole
from promptly.domain.messages import NoticeRequest, Recipient, SendMessageRequest
from promptly.domain.rendering import when_short
from promptly.domain.reply_answers import (
    EMAIL_TEMPLATE,
    ReplyAnswer,
    answer_for,
    answer_text,
    message_id_of,
    reply_subject,
)
from promptly.services.inbound_store import InboundReply, ReplyOutcome
from promptly.services.notices import start_notice

# The answer's ClientNoticeWorkflow id is this + the email's id (its Message-ID); the reply's
# own notice (a task, the reschedule link) runs as `reply-{id}`.
EMAIL_ANSWER_PREFIX = "reply-answer-"


async def sms_answer(
    pool: AsyncConnectionPool, settings: Settings, reply: InboundReply, outcome: ReplyOutcome
) -> str | None:
    """What the client reads back (None: nothing)."""
    answer = answer_for(outcome.action, outcome.first_action)
    if answer is None:
        return None
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT opted_out FROM sms_numbers WHERE phone = %s", (reply.sender,))
        number = await cur.fetchone()
        if number is not None and number["opted_out"]:
            return None
        await cur.execute(
            """SELECT locale, timezone FROM clients WHERE client_id = %s OR phone = %s
                ORDER BY client_id = %s DESC, client_id LIMIT 1""",
            (outcome.client_id, reply.sender, outcome.client_id),
        )
        known = await cur.fetchone() or {}
        starts_at = None
        if answer is ReplyAnswer.CONFIRMED and outcome.case_id:
            await cur.execute("SELECT starts_at FROM cases WHERE case_id = %s", (outcome.case_id,))
            row = await cur.fetchone()
            starts_at = row["starts_at"] if row else None
        locale = Locale(known["locale"]) if known.get("locale") in set(Locale) else Locale.EN
        timezone = known.get("timezone") or settings.office_timezone
        when = (
            when_short(starts_at, locale, timezone, settings.office_timezone) if starts_at else ""
        )
        text = answer_text(answer, locale, when)
        if outcome.case_id:
            # What we told the client is on their case's record, as every message is; once
            # for a webhook Twilio delivers twice (it gets the same answer).
            await cur.execute(
                """INSERT INTO messages (idempotency_key, case_id, template, channel,
                                         recipient_role, recipient, locale, subject, body,
                                         status, attempts, requested_at, sent_at)
                   VALUES (%s, %s, %s, 'sms', 'client', %s, %s, '', %s, 'sent', 1, now(), now())
                   ON CONFLICT (idempotency_key) DO NOTHING""",
                (
                    f"reply/{reply.provider_id}/{EMAIL_TEMPLATE}",
                    outcome.case_id,
                    EMAIL_TEMPLATE,
                    reply.sender,
                    locale.value,
                    text,
                ),
            )
    return text


async def email_answer(
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    reply: InboundReply,
    outcome: ReplyOutcome,
) -> ReplyAnswer | None:
    """Answer an email reply by email, once per email (a re-post starts the same notice, which
    Temporal refuses as started already). Returns the answer started, None for none: nothing
    was done with the reply that the client needs to hear, the sender is no client of ours,
    or no check vouches for the sender."""
    answer = answer_for(outcome.action, outcome.first_action)
    if answer is None or reply.unverified or not outcome.case_id:
        return None
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT client_id, name, email, locale, timezone FROM clients
                WHERE lower(email) = lower(%s)
                ORDER BY client_id = %s DESC, client_id LIMIT 1""",
            (reply.sender, outcome.client_id),
        )
        known: dict[str, Any] | None = await cur.fetchone()
        if known is None:
            return None
        await cur.execute(
            """SELECT business_id, starts_at, view->>'service' AS service,
                      view->>'location' AS location
                 FROM cases WHERE case_id = %s""",
            (outcome.case_id,),
        )
        case: dict[str, Any] = await cur.fetchone() or {}
    context: dict[str, Any] = {
        "answer": answer.value,
        "reply_subject": reply_subject(reply.subject),
        "client_name": known["name"],
        "client_id": known["client_id"],
        "reference": case.get("business_id") or "",
    }
    if answer is ReplyAnswer.CONFIRMED and case.get("starts_at") is not None:
        context |= {
            "start": case["starts_at"].isoformat(),
            "service": case.get("service") or "",
            "location": case.get("location") or "",
        }
    message = SendMessageRequest(
        idempotency_key=f"reply/{reply.provider_id}/{EMAIL_TEMPLATE}",
        case_id=outcome.case_id,
        template=EMAIL_TEMPLATE,
        channel=Channel.EMAIL,
        to=Recipient(
            role=RecipientRole.CLIENT,
            name=known["name"],
            email=known["email"],  # the address on record, not the one the email gave
            locale=Locale(known["locale"]) if known["locale"] in set(Locale) else Locale.EN,
            timezone=known["timezone"] or settings.office_timezone,
        ),
        context=context,
        in_reply_to=message_id_of(reply.provider_id),
    )
    await start_notice(
        client,
        settings,
        f"{EMAIL_ANSWER_PREFIX}{reply.provider_id}",
        NoticeRequest(message=message),
    )
    return answer
