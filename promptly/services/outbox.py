"""The dev outbox: messages kept by the outbox channel (no provider key), as clients see them.

Shared by `promptly outbox` and the dev-only `/dev/outbox` page.
"""

from __future__ import annotations

import re
from datetime import datetime

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

LINK = re.compile(r"https?://[^\s<>\"')]+")


class OutboxMessage(BaseModel):
    id: int
    case_id: str
    template: str
    channel: str
    recipient: str
    subject: str
    body: str
    created_at: datetime

    @property
    def links(self) -> list[str]:
        return LINK.findall(self.body)


async def read_outbox(
    pool: AsyncConnectionPool, *, to: str | None = None, after_id: int = 0, last: int = 20
) -> list[OutboxMessage]:
    """The newest `last` outbox messages after `after_id` (to `to` only, if given), oldest
    first."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT * FROM (
                   -- The ledger keeps bodies with links redacted; the outbox table keeps
                   -- the live body the client would have received (dev stack only).
                   SELECT m.id, m.case_id, m.template, m.channel, m.recipient, m.subject,
                          COALESCE(o.body, m.body) AS body, m.created_at
                     FROM messages m LEFT JOIN outbox o ON o.message_id = m.id
                    WHERE m.provider_id LIKE 'outbox:%%' AND m.id > %(after)s
                      AND (%(to)s::text IS NULL OR lower(m.recipient) = lower(%(to)s))
                    ORDER BY m.id DESC LIMIT %(last)s) newest
                ORDER BY id""",
            {"after": after_id, "to": to, "last": last},
        )
        return [OutboxMessage.model_validate(row) for row in await cur.fetchall()]
