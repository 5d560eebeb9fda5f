"""Reading the webhook outbox (`webhook_deliveries`) for operators: the CLI and the API."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from promptly.domain.models import WebhookDelivery, WebhookDeliveryStatus

_COLUMNS = (
    "id, event_id, url, case_id, event_type, status, attempts, next_attempt_at, "
    "last_status_code, last_error, created_at, delivered_at"
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
