"""The webhook outbox (`webhook_deliveries`) for operators, in the CLI and the API: reading
it, and sending failed deliveries again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from promptly.domain.webhooks import WebhookDelivery, WebhookDeliveryStatus

_COLUMNS = (
    "id, event_id, url, case_id, event_type, status, attempts, next_attempt_at, "
    "last_status_code, last_error, created_at, delivered_at, requeued_at"
)


async def list_deliveries(
    conn: AsyncConnection[Any],
    status: WebhookDeliveryStatus | None = None,
    case_id: str | None = None,
    limit: int = 50,
) -> list[WebhookDelivery]:
    """Deliveries, newest first; only those in `status` / of `case_id` when given."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            f"""SELECT {_COLUMNS} FROM webhook_deliveries
                 WHERE (%(status)s::text IS NULL OR status = %(status)s)
                   AND (%(case_id)s::text IS NULL OR case_id = %(case_id)s)
                 ORDER BY created_at DESC, id DESC
                 LIMIT %(limit)s""",
            {
                "status": status.value if status else None,
                "case_id": case_id,
                "limit": limit,
            },
        )
        return [WebhookDelivery.model_validate(row) for row in await cursor.fetchall()]


async def redeliver(
    conn: AsyncConnection[Any], ids: Sequence[int] = (), case_id: str | None = None
) -> list[int]:
    """Put failed deliveries back in the queue (those of `ids`, or of `case_id`; at least one
    must be given): tried at once, attempts from zero, the give-up clock from now. Returns the
    ids requeued. A redelivered event can arrive after later ones of its case, which went on
    while it was failed: receivers order a case's events by their id's `/<seq>`."""
    if not ids and case_id is None:
        raise ValueError("name the deliveries to send again: ids or a case")
    async with conn.cursor() as cursor:
        await cursor.execute(
            """UPDATE webhook_deliveries
                  SET status = 'pending', attempts = 0, next_attempt_at = now(),
                      requeued_at = now()
                WHERE status = 'failed'
                  AND (cardinality(%(ids)s::bigint[]) = 0 OR id = ANY(%(ids)s))
                  AND (%(case_id)s::text IS NULL OR case_id = %(case_id)s)
            RETURNING id""",
            {"ids": list(ids), "case_id": case_id},
        )
        requeued = sorted(row[0] for row in await cursor.fetchall())
    await conn.commit()
    return requeued
