"""Where a client's reply is stored and what it is matched by: the `inbound_messages` row
that makes a webhook delivered twice act once, the clients its sender is, the case an email's
subject names. Used by promptly/services/inbound.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from promptly.domain.common import Channel
from promptly.domain.retention import ENDED_STATUSES
from promptly.domain.sms import ReplyIntent

_REFERENCE = re.compile(r"\b(?:appointment-)?([A-Za-z][A-Za-z0-9._-]*-[A-Za-z0-9._-]+)\b")


@dataclass(frozen=True)
class InboundReply:
    provider_id: str  # Twilio MessageSid or the email's Message-ID
    channel: Channel  # sms or email
    sender: str  # E.164 number or email address
    text: str
    subject: str = ""
    # Why the sender may be someone else (an email whose From no check vouches for): such a
    # reply never acts as the client, it becomes a task that says so.
    unverified: str = ""


@dataclass(frozen=True)
class ReplyOutcome:
    intent: ReplyIntent
    # confirmed, opted_out, opted_in, reschedule_link, task, duplicate, verdict_satisfied,
    # verdict_not_satisfied
    action: str
    case_id: str | None = None
    client_id: str | None = None
    # For a duplicate, what the first delivery did (its answer is given again).
    first_action: str | None = None


async def case_named_by_subject(cur: Any, reply: InboundReply) -> str | None:
    """The case a reply's subject names (`A-1001`) or answers ("Re: <our subject>")."""
    subject = re.sub(r"^\s*((re|odp|aw|fwd?)\s*:\s*)+", "", reply.subject, flags=re.IGNORECASE)
    await cur.execute(
        """SELECT case_id FROM messages WHERE lower(recipient) = lower(%s) AND subject = %s
            ORDER BY id DESC LIMIT 1""",
        (reply.sender, subject.strip()),
    )
    row = await cur.fetchone()
    if row:
        return str(row["case_id"])
    match = _REFERENCE.search(subject)
    return match.group(1) if match else None


async def record_inbound(
    conn: AsyncConnection[Any], reply: InboundReply, text: str, intent: ReplyIntent
) -> ReplyOutcome | dict[str, Any] | None:
    """Stores the reply once. For one already acted on, what was done then; for one received
    before but not finished, the case it was confirming (`case_id`, `client_id`); else None."""
    inserted = await (
        await conn.execute(
            """INSERT INTO inbound_messages (provider_id, channel, sender, body, intent)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT (provider_id) DO NOTHING
            RETURNING provider_id""",
            (reply.provider_id, reply.channel.value, reply.sender, reply.text, intent.value),
        )
    ).fetchone()
    await conn.commit()
    if inserted is not None:
        return None
    row = await (
        await conn.execute(
            "SELECT intent, outcome, case_id, client_id FROM inbound_messages"
            " WHERE provider_id = %s",
            (reply.provider_id,),
        )
    ).fetchone()
    if row is None:
        return None
    if row[1] is None:  # received before but not finished: act again (every effect is keyed)
        return {"case_id": row[2], "client_id": row[3]} if row[2] else None
    return ReplyOutcome(ReplyIntent(row[0]), "duplicate", row[2], row[3], first_action=row[1])


async def clients_of(conn: AsyncConnection[Any], reply: InboundReply) -> list[dict[str, Any]]:
    column = "phone" if reply.channel is Channel.SMS else "lower(email)"
    sender = reply.sender if reply.channel is Channel.SMS else reply.sender.lower()
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT client_id, name, email, phone, locale, timezone FROM clients"  # noqa: S608
            f" WHERE {column} = %s ORDER BY client_id",
            (sender,),
        )
        return await cur.fetchall()


async def case_quoted_in_text(cur: Any, client_ids: list[str], text: str) -> dict[str, Any] | None:
    """The client's case whose reference the text quotes (`K-2001`, `complaint-K-2001`), the
    newest when one reference names several; a word that only looks like one names nothing."""
    quoted = sorted({match.group(1) for match in _REFERENCE.finditer(text)})
    if not quoted or not client_ids:
        return None
    await cur.execute(
        """SELECT case_id, kind, status, client_id FROM cases
            WHERE client_id = ANY(%s) AND kind <> 'survey'
              AND (business_id = ANY(%s) OR case_id = ANY(%s))
            ORDER BY created_at DESC LIMIT 1""",
        (client_ids, quoted, quoted),
    )
    row: dict[str, Any] | None = await cur.fetchone()
    return row


async def case_to_file_under(
    cur: Any, client_ids: list[str], sender: str, about: str | None
) -> dict[str, Any] | None:
    """Where a reply that quotes no reference is filed: the client's open complaint (the one
    last messaged to the sender, else the newest), else `about` (the case the reply seems to
    answer, when it is still open), else the open case the sender was last messaged about,
    else the newest open case. None when the client has no open case."""
    messaged = """(SELECT max(m.id) FROM messages m
                    WHERE m.case_id = c.case_id AND m.recipient_role = 'client'
                      AND lower(m.recipient) = lower(%(sender)s)) DESC NULLS LAST"""
    await cur.execute(
        f"""SELECT c.case_id, c.kind, c.business_id FROM cases c
             WHERE c.client_id = ANY(%(clients)s) AND NOT (c.status = ANY(%(ended)s))
             ORDER BY c.kind = 'complaint' DESC, c.case_id = %(about)s DESC, {messaged},
                      c.created_at DESC
             LIMIT 1""",
        {"clients": client_ids, "ended": ENDED_STATUSES, "sender": sender, "about": about},
    )
    row: dict[str, Any] | None = await cur.fetchone()
    return row
