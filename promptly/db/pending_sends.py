"""Sends that have not gone out yet, from the `messages` ledger: each row still `pending` (not
sent, not queued in the outbox, not refused for good, not abandoned by its case) is a message
its workflow is still retrying or about to try. Read-only.

`GET /messages?status=pending` and `promptly messages --pending` list them, oldest first; the
worker's `promptly_pending_sends` and `promptly_oldest_pending_send_seconds` gauges count them
per channel (docs/ops.md, "A channel is down").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from promptly.domain.messages import MessageStatus

_PENDING = MessageStatus.PENDING.value


class PendingSend(BaseModel):
    """One message not gone out: what it is, how often it was tried and what failed last."""

    id: int
    case_id: str = Field(description="the case's workflow id")
    channel: str
    template: str
    recipient_role: str = Field(description="client, provider, staff …")
    attempts: int = Field(description="attempts made so far")
    last_error: str | None = Field(description="what the last failed attempt was told")
    pending_since: datetime = Field(description="when its first attempt was recorded")
    in_flight_since: datetime | None = Field(
        description="an attempt took it to its channel then and its outcome is not known yet"
    )


async def pending_sends(
    conn: AsyncConnection[Any],
    channel: str | None = None,
    limit: int = 100,
    after: tuple[datetime, int] | None = None,
) -> list[PendingSend]:
    """Pending sends, oldest first; only `channel`'s when given; `after` (a row's
    `pending_since` and `id`): only those listed after that row, the next page."""
    after_at, after_id = after if after is not None else (None, None)
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            """SELECT id, case_id, channel, template, recipient_role, attempts, last_error,
                      created_at AS pending_since, in_flight_since
                 FROM messages
                WHERE status = %(pending)s
                  AND (%(channel)s::text IS NULL OR channel = %(channel)s)
                  AND (%(after_at)s::timestamptz IS NULL
                       OR (created_at, id) > (%(after_at)s, %(after_id)s::bigint))
                ORDER BY created_at, id
                LIMIT %(limit)s""",
            {
                "pending": _PENDING,
                "channel": channel,
                "after_at": after_at,
                "after_id": after_id,
                "limit": limit,
            },
        )
        return [PendingSend.model_validate(row) for row in await cursor.fetchall()]


@dataclass(frozen=True)
class ChannelBacklog:
    """A channel's pending sends: how many, and how long the oldest has waited (seconds)."""

    count: int
    oldest_seconds: float


async def pending_by_channel(conn: AsyncConnection[Any]) -> dict[str, ChannelBacklog]:
    """Each channel with pending sends → its backlog (a channel with none is not in it)."""
    cursor = await conn.execute(
        """SELECT channel, count(*), EXTRACT(EPOCH FROM now() - min(created_at))::float8
             FROM messages WHERE status = %s GROUP BY channel""",
        (_PENDING,),
    )
    return {row[0]: ChannelBacklog(row[1], max(row[2], 0.0)) for row in await cursor.fetchall()}
