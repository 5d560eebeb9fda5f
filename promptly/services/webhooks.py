"""The webhook outbox (`webhook_deliveries`) for operators, in the CLI and the API: reading
it a page at a time, and sending deliveries again (failed ones after an outage, delivered
ones to a receiver that lost its data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
    since: datetime | None = None,
    before: tuple[datetime, int] | None = None,
) -> list[WebhookDelivery]:
    """Deliveries, newest first; only those in `status` / of `case_id` / queued at or after
    `since` when given; `before` (a row's `created_at` and `id`): only those listed after
    that row, the next page."""
    before_at, before_id = before if before is not None else (None, None)
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            f"""SELECT {_COLUMNS} FROM webhook_deliveries
                 WHERE (%(status)s::text IS NULL OR status = %(status)s)
                   AND (%(case_id)s::text IS NULL OR case_id = %(case_id)s)
                   AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
                   AND (%(before_at)s::timestamptz IS NULL
                        OR (created_at, id) < (%(before_at)s, %(before_id)s::bigint))
                 ORDER BY created_at DESC, id DESC
                 LIMIT %(limit)s""",
            {
                "status": status.value if status else None,
                "case_id": case_id,
                "since": since,
                "before_at": before_at,
                "before_id": before_id,
                "limit": limit,
            },
        )
        return [WebhookDelivery.model_validate(row) for row in await cursor.fetchall()]


# What a redelivery may send again: a pending delivery is on its way already.
SENDABLE_AGAIN = (WebhookDeliveryStatus.FAILED, WebhookDeliveryStatus.DELIVERED)


async def redeliver(
    conn: AsyncConnection[Any],
    ids: Sequence[int] = (),
    case_id: str | None = None,
    since: datetime | None = None,
    status: WebhookDeliveryStatus | None = None,
    url: str | None = None,
) -> list[int]:
    """Put deliveries back in the queue: tried at once, attempts from zero, the give-up clock
    from now. Returns the ids requeued.

    Chosen by `ids`, `case_id`, `since` (queued at or after it), `status` and `url` (one
    receiver's, as in the settings), at least one given, all that are given applying.
    `status` is failed or delivered (a receiver that lost its data has delivered events sent
    again: give its `url`, or every receiver gets them again); without it, deliveries named by
    id are sent again whether failed or delivered, the others only when failed. Pending
    deliveries are left as they are: they are on their way. A redelivered event can arrive
    after later ones of its case, which went on while it was failed: receivers order a case's
    events by their id's `/<seq>`, and drop an id they already have."""
    if not ids and case_id is None and since is None and status is None and url is None:
        raise ValueError("name the deliveries to send again: ids or a case, since, status or url")
    if status is not None and status not in SENDABLE_AGAIN:
        raise ValueError("only failed or delivered deliveries can be sent again")
    if status is not None:
        statuses = [status.value]
    elif ids:
        statuses = [sendable.value for sendable in SENDABLE_AGAIN]
    else:
        statuses = [WebhookDeliveryStatus.FAILED.value]
    async with conn.cursor() as cursor:
        await cursor.execute(
            """UPDATE webhook_deliveries
                  SET status = 'pending', attempts = 0, next_attempt_at = now(),
                      requeued_at = now(), delivered_at = NULL
                WHERE status = ANY(%(statuses)s::text[])
                  AND (cardinality(%(ids)s::bigint[]) = 0 OR id = ANY(%(ids)s))
                  AND (%(case_id)s::text IS NULL OR case_id = %(case_id)s)
                  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
                  AND (%(url)s::text IS NULL OR url = %(url)s)
            RETURNING id""",
            {
                "statuses": statuses,
                "ids": list(ids),
                "case_id": case_id,
                "since": since,
                "url": url,
            },
        )
        requeued = sorted(row[0] for row in await cursor.fetchall())
    await conn.commit()
    return requeued
