"""The sends that have not gone out, for admins during a channel outage:
`GET /messages?status=pending&channel=email` (promptly/db/pending_sends.py), oldest first, a
page at a time as every list (promptly/api/keyset.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from promptly.api.auth import ADMIN, Caller, require
from promptly.api.keyset import (
    KEYSET_PAGING,
    Key,
    KeysetPaging,
    NextPageToken,
    bound_to,
    keyset_page,
)
from promptly.db.pending_sends import PendingSend, pending_sends
from promptly.domain.common import Channel
from promptly.services.errors import AUTH_RESPONSES

router = APIRouter(tags=["messages"])


class PendingSendList(BaseModel):
    items: list[PendingSend]
    next_page_token: NextPageToken = None


@router.get("/messages", response_model=PendingSendList, responses=AUTH_RESPONSES)
async def list_messages(
    request: Request,
    caller: Annotated[Caller, require(ADMIN)],
    status: Annotated[
        Literal["pending"],
        Query(description="pending: not gone out yet (retrying, or its first attempt running)"),
    ],
    channel: Annotated[Channel | None, Query(description="only this channel's")] = None,
    paging: KeysetPaging = KEYSET_PAGING,
) -> PendingSendList:
    """Messages not gone out yet, oldest first: case, channel, template, attempts so far, the
    last error, since when pending. A message leaves the list once sent, queued in the outbox,
    refused for good, or given up by its case (its budget ran out, a change made it moot)."""
    pool: AsyncConnectionPool = request.app.state.pool
    wanted = channel.value if channel else None

    async def fetch(after: Key | None, count: int) -> list[PendingSend]:
        async with pool.connection() as conn:
            return await pending_sends(conn, wanted, count, after)

    items, next_token = await keyset_page(
        request,
        bound_to("messages", status, wanted),
        paging,
        (datetime.fromisoformat, int),
        fetch,
        lambda row: (row.pending_since, row.id),
    )
    return PendingSendList(items=items, next_page_token=next_token)
