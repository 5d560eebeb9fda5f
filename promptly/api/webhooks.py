"""The outbound webhook outbox for admins: `GET /webhooks/deliveries` lists it, `POST
/webhooks/deliveries/redeliver` sends deliveries again (failed ones after an outage,
delivered ones to a receiver that lost its data)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from psycopg_pool import AsyncConnectionPool
from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from promptly.api.auth import ADMIN, Caller, require
from promptly.api.idempotency import IDEMPOTENCY_KEY
from promptly.api.keyset import (
    KEYSET_PAGING,
    Key,
    KeysetPaging,
    NextPageToken,
    bound_to,
    keyset_page,
)
from promptly.api.row_ids import RowIdField
from promptly.domain.common import CaseKind
from promptly.domain.text_patterns import WORKFLOW_ID
from promptly.domain.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    WebhookChange,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEvent,
    event_type,
)
from promptly.services.errors import ACTION_RESPONSES, AUTH_RESPONSES
from promptly.services.webhooks import list_deliveries, redeliver

router = APIRouter(tags=["webhooks"])


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDelivery]
    next_page_token: NextPageToken = None


@router.get("/webhooks/deliveries", response_model=WebhookDeliveryList, responses=AUTH_RESPONSES)
async def list_webhook_deliveries(
    request: Request,
    caller: Annotated[Caller, require(ADMIN)],
    status: WebhookDeliveryStatus | None = None,
    case_id: Annotated[
        str | None,
        Query(pattern=WORKFLOW_ID.regex, description="a workflow id"),
    ] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="only deliveries of events queued at or after this time"),
    ] = None,
    paging: KeysetPaging = KEYSET_PAGING,
) -> WebhookDeliveryList:
    """Webhook deliveries from PostgreSQL, newest first, a page at a time (as every list:
    `page_size`, then `page_token` from `next_page_token`): status (pending, delivered,
    failed), attempts, the last HTTP status and error, when next tried or when delivered."""
    pool: AsyncConnectionPool = request.app.state.pool

    async def fetch(after: Key | None, count: int) -> list[WebhookDelivery]:
        async with pool.connection() as conn:
            return await list_deliveries(conn, status, case_id, count, since, after)

    items, next_token = await keyset_page(
        request,
        bound_to("webhook_deliveries", status, case_id, since),
        paging,
        (datetime.fromisoformat, int),
        fetch,
        lambda row: (row.created_at, row.id),
    )
    return WebhookDeliveryList(items=items, next_page_token=next_token)


class Redelivery(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"ids": [41]},
                {"case_id": "appointment-A-1001"},
                {"status": "failed", "since": "2026-12-01T06:00:00Z"},
                {
                    "status": "delivered",
                    "since": "2026-12-01T06:00:00Z",
                    "url": "https://crm.example.com/promptly-events",
                },
            ]
        },
    )

    ids: list[RowIdField] = Field(
        default=[],
        max_length=1000,
        description="these deliveries (failed or delivered, unless status says which)",
    )
    case_id: Annotated[
        str | None, Field(pattern=WORKFLOW_ID.regex, description="this case's deliveries")
    ] = None
    since: AwareDatetime | None = Field(
        default=None, description="deliveries of events queued at or after this time"
    )
    status: Literal["failed", "delivered"] | None = Field(
        default=None,
        description="only deliveries in this status; without it: failed ones, or either "
        "for ids named",
    )
    url: AnyHttpUrl | None = Field(
        default=None,
        description="only deliveries to this receiver (its URL as in PROMPTLY_WEBHOOK_URLS)",
    )

    @model_validator(mode="after")
    def _names_some(self) -> Self:
        if (
            not self.ids
            and self.case_id is None
            and self.since is None
            and self.status is None
            and self.url is None
        ):
            raise ValueError(
                "name the deliveries to send again: ids, case_id, since, status or url"
            )
        return self


class Requeued(BaseModel):
    requeued: list[int] = Field(description="the deliveries now pending again")


@router.post(
    "/webhooks/deliveries/redeliver",
    response_model=Requeued,
    responses=ACTION_RESPONSES,
    dependencies=[IDEMPOTENCY_KEY],
)
async def redeliver_webhooks(
    request: Request, body: Redelivery, caller: Annotated[Caller, require(ADMIN)]
) -> Requeued:
    """Send deliveries again: tried at once, attempts from zero, a fresh day of retries.

    Chosen by `ids`, `case_id`, `since`, `status` and `url`, all given applying: every failed
    one since the outage began is `{"status": "failed", "since": "<when>"}`; every event
    again to the receiver that lost its data, `{"status": "delivered", "since": "<when>",
    "url": "<its URL>"}` (without `url`, every receiver gets them again). Named by
    id, a failed or a delivered one is sent again. Pending deliveries are left as they are.
    A redelivered event may reach the receiver after later events of its case."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        status = None if body.status is None else WebhookDeliveryStatus(body.status)
        url = None if body.url is None else str(body.url)
        requeued = await redeliver(conn, body.ids, body.case_id, body.since, status, url)
    return Requeued(requeued=requeued)


# --- the events, as OpenAPI 3.1 `webhooks` (what Promptly POSTs to the back office) -----------

EVENT_TYPES = (
    *(event_type(kind) for kind in CaseKind),
    event_type(CaseKind.APPOINTMENT, WebhookChange.PROVIDER_DELAY),
)

_EVENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "any 2xx: delivered"},
    410: {"description": "Gone: the delivery is given up at once (no retries)"},
    "default": {
        "description": "anything else (or no answer): tried again after 30s, 1m, 2m … at most "
        "hourly, for 24 hours or 30 attempts"
    },
}


def _describe(name: str) -> str:
    if name.endswith(".delayed"):
        return (
            "A visit runs late: `change` provider_delay (`minutes`, `expected_start`, "
            "`no_show_at`) or client_late (`minutes`, `no_show_at`); the status is unchanged."
        )
    return (
        f"A {name.split('.')[0]} changed status (`change` status), or, for an appointment, "
        "was moved to another time (`change` rescheduled, `start` and `previous_start`)."
    )


async def _event(
    body: WebhookEvent,
    signature: Annotated[
        str,
        Header(
            alias=SIGNATURE_HEADER,
            description="t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + raw body)>: "
            "verify it on the bytes received (docs/webhooks.md)",
        ),
    ],
    event: Annotated[
        str, Header(alias=EVENT_ID_HEADER, description="the body's `id` (not signed)")
    ],
) -> None:
    """Documentation only: the route of the back office's receiver, never served here."""


def declare_webhook_events(app: FastAPI) -> None:
    """Each event type Promptly POSTs, with its body (`WebhookEvent`) and headers, in the
    OpenAPI document's `webhooks` (shown in /docs)."""
    for name in EVENT_TYPES:
        app.webhooks.add_api_route(
            name,
            _event,
            methods=["POST"],
            name=name,
            summary=name,
            description=_describe(name),
            responses=_EVENT_RESPONSES,
            status_code=200,
            response_class=Response,
            tags=["webhooks"],
            generate_unique_id_function=lambda route: f"event_{route.name.replace('.', '_')}",
        )
