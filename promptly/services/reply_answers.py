"""The text a client's SMS is answered with at once (the TwiML <Message> of the inbound
webhook): in the client's language, from what was done with the reply (domain/reply_answers.py).
A duplicate delivery gets the first one's answer again; a number that opted out gets none."""

from __future__ import annotations

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from promptly.config import Settings
from promptly.domain.common import Locale
from promptly.domain.rendering import when_short
from promptly.domain.reply_answers import ReplyAnswer, answer_for, answer_text
from promptly.services.inbound_store import InboundReply, ReplyOutcome


async def sms_answer(
    pool: AsyncConnectionPool, settings: Settings, reply: InboundReply, outcome: ReplyOutcome
) -> str | None:
    """What the client reads back (None: nothing)."""
    answer = answer_for(outcome.first_action or outcome.action)
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
    when = when_short(starts_at, locale, timezone, settings.office_timezone) if starts_at else ""
    return answer_text(answer, locale, when)
