"""What Promptly knows of each SMS number, and where an SMS its number must not get goes.

A number is opted out (the client replied STOP, to us or to Twilio) or undeliverable (Twilio
called it invalid or not a mobile); either way no SMS but the consent replies goes to it, and
the message goes by email, or as a call task when the client has no email.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from promptly.domain.common import Channel
from promptly.domain.messages import SendMessageRequest
from promptly.domain.sms import CONSENT_TEMPLATES


async def mark_opted_out(conn: AsyncConnection, phone: str) -> None:
    await conn.execute(
        """INSERT INTO sms_numbers (phone, opted_out, opted_out_at) VALUES (%s, true, now())
           ON CONFLICT (phone) DO UPDATE SET opted_out = true,
                  opted_out_at = COALESCE(sms_numbers.opted_out_at, now()), updated_at = now()""",
        (phone,),
    )
    await conn.commit()


async def mark_undeliverable(
    conn: AsyncConnection, phone: str, reason: str, no_such_number: bool
) -> None:
    await conn.execute(
        """INSERT INTO sms_numbers (phone, undeliverable, no_such_number) VALUES (%s, %s, %s)
           ON CONFLICT (phone) DO UPDATE SET undeliverable = EXCLUDED.undeliverable,
                                             no_such_number = EXCLUDED.no_such_number,
                                             updated_at = now()""",
        (phone, reason, no_such_number),
    )
    await conn.commit()


async def blocked_reason(conn: AsyncConnection, request: SendMessageRequest) -> str | None:
    """Why this SMS must not go to its number ('opted_out', 'no_such_number',
    'undeliverable'), or None."""
    if request.channel is not Channel.SMS or not request.to.phone:
        return None
    blocked = await number_state(conn, request.to.phone)
    if blocked == "opted_out" and request.template in CONSENT_TEMPLATES:
        return None
    return blocked


async def number_state(conn: AsyncConnection, phone: str) -> str | None:
    row = await (
        await conn.execute(
            "SELECT opted_out, undeliverable, no_such_number FROM sms_numbers WHERE phone = %s",
            (phone,),
        )
    ).fetchone()
    if row is None:
        return None
    if row[0]:
        return "opted_out"
    if row[1] is None:
        return None
    return "no_such_number" if row[2] else "undeliverable"


# The channels an SMS the number must not get goes by instead.
REROUTED_TO = (Channel.EMAIL, Channel.PHONE)


def rerouted_key(idempotency_key: str, channel: Channel) -> str:
    """The ledger key of a message rerouted to `channel`: its own, so the ledger keeps the SMS
    attempt and this one apart."""
    return f"{idempotency_key}/{channel.value}"


def rerouted(request: SendMessageRequest, blocked: str) -> SendMessageRequest | None:
    """The message by email, or as a call task when the recipient has no email (None when
    the number is no number at all), under `rerouted_key`."""
    if request.to.email:
        channel = Channel.EMAIL
    elif blocked == "no_such_number":
        return None
    else:
        channel = Channel.PHONE
    return request.model_copy(
        update={
            "channel": channel,
            "idempotency_key": rerouted_key(request.idempotency_key, channel),
        }
    )
