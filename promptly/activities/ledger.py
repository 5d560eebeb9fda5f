"""The `messages` ledger: one row per message (its idempotency key), written by `send_message`
before and after each attempt. A row `sent` or `queued_in_outbox` is never sent again; a row
whose attempt took it to its channel and recorded no outcome, or recorded one that leaves it
unknown whether the provider took the message (a timeout, a dropped connection), says since
when (`in_flight_since`), so the next attempt can ask the provider first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from temporalio import activity
from temporalio.exceptions import ApplicationError

from promptly.domain import errors
from promptly.domain.messages import MessageStatus, Recipient, SendMessageRequest
from promptly.domain.rendering import RenderedMessage

# Ledger states after which a retry sends nothing again.
DONE = (MessageStatus.SENT, MessageStatus.QUEUED_IN_OUTBOX)


@dataclass(frozen=True)
class LedgerEntry:
    message_id: int
    status: MessageStatus
    provider_id: str | None
    subject: str
    body: str
    # An attempt before this one took the message to its channel then and its outcome is not
    # known: it recorded none, or only that the provider did not answer.
    unrecorded_since: datetime | None
    # When this attempt began taking the message to its channel.
    attempt_since: datetime | None = None


async def record_attempt(
    conn: AsyncConnection,
    request: SendMessageRequest,
    recipient: Recipient,
    address: str,
    rendered: RenderedMessage,
) -> LedgerEntry:
    """The ledger row for this key, created on first sight; counts the attempt."""
    await conn.execute(
        """INSERT INTO messages (idempotency_key, case_id, template, channel, recipient_role,
                                 recipient, locale, subject, body, status, requested_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s)
           ON CONFLICT (idempotency_key) DO NOTHING""",
        (
            request.idempotency_key,
            request.case_id,
            request.template,
            request.channel.value,
            recipient.role.value,
            address,
            recipient.locale.value,
            rendered.subject,
            rendered.body,
            activity.info().scheduled_time,
        ),
    )
    cursor = await conn.execute(
        # This attempt takes the message to its channel from now (`in_flight_since`, cleared
        # by `mark` unless the outcome stays unknown); the value it replaces says whether an
        # attempt before left it unknown whether the provider took the message.
        """UPDATE messages m
              SET attempts = m.attempts + (m.status <> ALL(%(done)s))::int,
                  in_flight_since = CASE WHEN m.status <> ALL(%(done)s) THEN now() END
             FROM (SELECT id, in_flight_since FROM messages WHERE idempotency_key = %(key)s
                   FOR UPDATE) earlier
            WHERE m.id = earlier.id
        RETURNING m.id, m.status, m.provider_id, m.subject, m.body, earlier.in_flight_since,
                  m.in_flight_since""",
        {"key": request.idempotency_key, "done": [status.value for status in DONE]},
    )
    row = await cursor.fetchone()
    if row is None:  # pragma: no cover - the row was inserted just above
        raise ApplicationError("message ledger row vanished", type=errors.DELIVERY_UNAVAILABLE)
    await conn.commit()
    return LedgerEntry(row[0], MessageStatus(row[1]), row[2], row[3], row[4], row[5], row[6])


async def mark(
    conn: AsyncConnection,
    message_id: int,
    status: MessageStatus,
    *,
    provider_id: str | None = None,
    error: str | None = None,
    unknown_since: datetime | None = None,
) -> None:
    """The attempt's outcome. `unknown_since`: the provider may hold the message from then on
    (an attempt got no answer), so the row keeps it in `in_flight_since` for the next attempt
    to ask the provider first; None clears it.

    A message its case gave up while this attempt still waited on the provider stays
    `abandoned` (nothing will retry it), unless the provider took it after all: then it was
    `sent`, and the record says so."""
    statement = """UPDATE messages
                      SET status = %(status)s, provider_id = COALESCE(%(provider)s, provider_id),
                          last_error = COALESCE(%(error)s, last_error),
                          in_flight_since = %(unknown_since)s,
                          sent_at = CASE WHEN %(status)s = 'sent' THEN now() ELSE sent_at END
                    WHERE id = %(id)s AND (status <> 'abandoned' OR %(status)s = 'sent')"""
    values = {
        "status": status.value,
        "provider": provider_id,
        "error": error,
        "unknown_since": unknown_since,
        "id": message_id,
    }
    if conn.info.transaction_status is not TransactionStatus.IDLE:
        # The channel wrote in this transaction (outbox, staff task): one commit for both.
        await conn.execute(statement, values)
        await conn.commit()
        return
    # One statement, one round trip (no BEGIN, no COMMIT): after the provider accepted, every
    # round trip saved narrows the window in which a crash means the message goes out twice.
    await conn.set_autocommit(True)
    try:
        await conn.execute(statement, values)
    finally:
        await conn.set_autocommit(False)
