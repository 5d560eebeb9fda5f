"""The fee events of a period over HTTP, for a billing system to reconcile:
`GET /billing?from=&to=`.

One row per fee event decided in the period (local dates in the office timezone, both
inclusive): a fee charged (no-show, late cancellation, late reschedule), lifted (`waived`) or
kept after the client's plea (`stands`), with the case, client, provider, amount and currency,
who decided and when. A page at a time, as every list (promptly/api/keyset.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from promptly.api.auth import Caller, require
from promptly.api.keyset import (
    Key,
    KeysetPaging,
    NextPageToken,
    bound_to,
    keyset_page,
    keyset_paging,
)
from promptly.api.promises import COMPLIANCE, asked_period
from promptly.services.billing_record import MAX_ROWS, FeeRow, fees_decided
from promptly.services.errors import AUTH_RESPONSES

PAGING = keyset_paging(default=MAX_ROWS, most=MAX_ROWS)

router = APIRouter(tags=["billing"])


class FeeList(BaseModel):
    first: date
    last: date
    timezone: str
    fees: list[FeeRow]
    next_page_token: NextPageToken = None


def _key(row: FeeRow) -> tuple[datetime, int]:
    return row.decided_at, row.id


@router.get("/billing", response_model=FeeList, responses=AUTH_RESPONSES)
async def list_fees(
    request: Request,
    caller: Annotated[Caller, require(COMPLIANCE)],
    first: Annotated[date, Query(alias="from", description="first local date, inclusive")],
    last: Annotated[date, Query(alias="to", description="last local date, inclusive")],
    paging: KeysetPaging = PAGING,
) -> FeeList:
    """The fee events decided in the period (times in UTC, ISO 8601), by decision time, a
    page at a time (`page_size`, then `page_token` from `next_page_token`)."""
    period = asked_period(request, first, last)
    pool: AsyncConnectionPool = request.app.state.pool

    async def fetch(after: Key | None, count: int) -> list[FeeRow]:
        async with pool.connection() as conn:
            return await fees_decided(conn, period.start, period.end, limit=count, after=after)

    rows, next_token = await keyset_page(
        request,
        bound_to("billing", first, last),
        paging,
        (datetime.fromisoformat, int),
        fetch,
        _key,
    )
    return FeeList(
        first=first,
        last=last,
        timezone=period.timezone,
        fees=rows,
        next_page_token=next_token,
    )
