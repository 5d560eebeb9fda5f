"""`GET /webhooks/deliveries`: the outbound webhook outbox, for admins.

Included by `create_app` with `app.include_router(api_webhooks.router)`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from promptly.config import ApiRole
from promptly.domain.models import WebhookDelivery, WebhookDeliveryStatus
from promptly.starter.api_auth import Caller, require
from promptly.starter.api_errors import AUTH_RESPONSES
from promptly.starter.webhooks import list_deliveries

# Admins only: URLs and failures show how the back office is wired.
WEBHOOK_ADMIN = frozenset({ApiRole.ADMIN})

router = APIRouter(tags=["webhooks"])


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDelivery]


@router.get("/webhooks/deliveries", response_model=WebhookDeliveryList, responses=AUTH_RESPONSES)
async def list_webhook_deliveries(
    request: Request,
    caller: Annotated[Caller, require(WEBHOOK_ADMIN)],
    status: WebhookDeliveryStatus | None = None,
    case_id: Annotated[
        str | None,
        Query(pattern=r"^[a-z]+-[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="a workflow id"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> WebhookDeliveryList:
    """Webhook deliveries from PostgreSQL, newest first: status (pending, delivered, failed),
    attempts, the last HTTP status and error, when next tried or when delivered."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        items = await list_deliveries(conn, status, case_id, limit)
    return WebhookDeliveryList(items=items)
