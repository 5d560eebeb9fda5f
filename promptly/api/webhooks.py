"""The outbound webhook outbox for admins: `GET /webhooks/deliveries` lists it, `POST
/webhooks/deliveries/redeliver` sends failed deliveries again."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, Query, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from promptly.api.auth import Caller, require
from promptly.api.idempotency import IDEMPOTENCY_KEY
from promptly.api.row_ids import RowIdField
from promptly.config import ApiRole
from promptly.domain.text_patterns import WORKFLOW_ID
from promptly.domain.webhooks import WebhookDelivery, WebhookDeliveryStatus
from promptly.services.errors import ACTION_RESPONSES, AUTH_RESPONSES
from promptly.services.webhooks import list_deliveries, redeliver

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
        Query(pattern=WORKFLOW_ID.regex, description="a workflow id"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> WebhookDeliveryList:
    """Webhook deliveries from PostgreSQL, newest first: status (pending, delivered, failed),
    attempts, the last HTTP status and error, when next tried or when delivered."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        items = await list_deliveries(conn, status, case_id, limit)
    return WebhookDeliveryList(items=items)


class Redelivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[RowIdField] = Field(default=[], max_length=1000)
    case_id: Annotated[str | None, Field(pattern=WORKFLOW_ID.regex)] = None

    @model_validator(mode="after")
    def _names_some(self) -> Self:
        if not self.ids and self.case_id is None:
            raise ValueError("name the deliveries to send again: ids, or case_id")
        return self


class Requeued(BaseModel):
    requeued: list[int] = Field(description="the failed deliveries now pending again")


@router.post(
    "/webhooks/deliveries/redeliver",
    response_model=Requeued,
    responses=ACTION_RESPONSES,
    dependencies=[IDEMPOTENCY_KEY],
)
async def redeliver_webhooks(
    request: Request, body: Redelivery, caller: Annotated[Caller, require(WEBHOOK_ADMIN)]
) -> Requeued:
    """Send failed deliveries again (by id, or every failed one of a case): tried at once,
    attempts from zero, a fresh day of retries. Deliveries that are not failed are left as
    they are. A redelivered event may reach the receiver after later events of its case."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        return Requeued(requeued=await redeliver(conn, body.ids, body.case_id))
