"""The promise ledger over HTTP for compliance: `GET /promises?from=&to=&kept=false`.

Every promise of the procedures that fell due in the period (local dates in the office
timezone, both inclusive), with the verdict its workflow reached, when it was due and met,
and the cause and actor when broken. `kept=false` lists the broken ones, `kept=true` the kept
ones; without it every verdict (pending, waived and not applicable too). A page at a time, as
every list (promptly/api/keyset.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from promptly.api.auth import Caller, require
from promptly.api.keyset import (
    Key,
    KeysetPaging,
    NextPageToken,
    bound_to,
    keyset_page,
    keyset_paging,
)
from promptly.config import ApiRole, Settings
from promptly.domain.qa_report import Period
from promptly.services.errors import AUTH_RESPONSES, invalid_input
from promptly.services.promise_ledger import MAX_ROWS, LedgerRow, promises_due

COMPLIANCE = frozenset({ApiRole.COMPLIANCE})
# A compliance read covers at most this many days (a year and a day: any calendar year).
MAX_DAYS = 366


def asked_period(request: Request, first: date, last: date) -> Period:
    """The office-time period from `first` to `last` (local dates, inclusive) a compliance
    read asked for; 422 on `to` when it ends before it starts or runs over `MAX_DAYS`."""
    if last < first:
        raise invalid_input([("to", f"{last} is before from ({first})")])
    if (last - first).days >= MAX_DAYS:
        raise invalid_input([("to", f"the period is longer than {MAX_DAYS} days")])
    settings: Settings = request.app.state.settings
    return Period(first, last, settings.office_timezone)


# As many rows as the answer held before it paged, so a caller that never pages gets as many.
PAGING = keyset_paging(default=MAX_ROWS, most=MAX_ROWS)

router = APIRouter(tags=["promises"])


class PromiseList(BaseModel):
    first: date
    last: date
    timezone: str
    kept: bool | None
    promises: list[LedgerRow]
    next_page_token: NextPageToken = None
    truncated: bool = Field(
        description="deprecated: there is a next page (next_page_token is not null)"
    )


def _key(row: LedgerRow) -> tuple[datetime, str, str]:
    """A row's place in the order; every promise listed has a due time (it fell due then)."""
    assert row.due_at is not None
    return row.due_at, row.case_id, row.promise


@router.get("/promises", response_model=PromiseList, responses=AUTH_RESPONSES)
async def list_promises(
    request: Request,
    caller: Annotated[Caller, require(COMPLIANCE)],
    first: Annotated[date, Query(alias="from", description="first local date, inclusive")],
    last: Annotated[date, Query(alias="to", description="last local date, inclusive")],
    kept: Annotated[
        bool | None, Query(description="false: the broken promises; true: the kept ones")
    ] = None,
    paging: KeysetPaging = PAGING,
) -> PromiseList:
    """The promises due in the period and their verdicts (times in UTC, ISO 8601), by due
    time, case and promise, a page at a time (`page_size`, then `page_token` from
    `next_page_token`)."""
    period = asked_period(request, first, last)
    pool: AsyncConnectionPool = request.app.state.pool

    async def fetch(after: Key | None, count: int) -> list[LedgerRow]:
        async with pool.connection() as conn:
            return await promises_due(
                conn, period.start, period.end, kept=kept, limit=count, after=after
            )

    rows, next_token = await keyset_page(
        request,
        bound_to("promises", first, last, kept),
        paging,
        (datetime.fromisoformat, str, str),
        fetch,
        _key,
    )
    return PromiseList(
        first=first,
        last=last,
        timezone=period.timezone,
        kept=kept,
        promises=rows,
        next_page_token=next_token,
        truncated=next_token is not None,
    )
