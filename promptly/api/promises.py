"""The promise ledger over HTTP for compliance: `GET /promises?from=&to=&kept=false`.

Every promise of the procedures that fell due in the period (local dates in the office
timezone, both inclusive), with the verdict its workflow reached, when it was due and met,
and the cause and actor when broken. `kept=false` lists the broken ones, `kept=true` the kept
ones; without it every verdict (pending, waived and not applicable too).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from promptly.api.auth import Caller, require
from promptly.config import ApiRole, Settings
from promptly.domain.qa_report import Period
from promptly.services.errors import AUTH_RESPONSES, invalid_input
from promptly.services.promise_ledger import LedgerRow, promises_due

COMPLIANCE = frozenset({ApiRole.COMPLIANCE})
# A compliance read covers at most this many days (a year and a day: any calendar year).
MAX_DAYS = 366

router = APIRouter(tags=["promises"])


class PromiseList(BaseModel):
    first: date
    last: date
    timezone: str
    kept: bool | None
    promises: list[LedgerRow]
    truncated: bool  # more rows than one answer holds: narrow the period


@router.get("/promises", response_model=PromiseList, responses=AUTH_RESPONSES)
async def list_promises(
    request: Request,
    caller: Annotated[Caller, require(COMPLIANCE)],
    first: Annotated[date, Query(alias="from", description="first local date, inclusive")],
    last: Annotated[date, Query(alias="to", description="last local date, inclusive")],
    kept: Annotated[
        bool | None, Query(description="false: the broken promises; true: the kept ones")
    ] = None,
) -> PromiseList:
    """The promises due in the period and their verdicts (times in UTC, ISO 8601)."""
    if last < first:
        raise invalid_input([("to", f"{last} is before from ({first})")])
    if (last - first).days >= MAX_DAYS:
        raise invalid_input([("to", f"the period is longer than {MAX_DAYS} days")])
    settings: Settings = request.app.state.settings
    pool: AsyncConnectionPool = request.app.state.pool
    period = Period(first, last, settings.office_timezone)
    async with pool.connection() as conn:
        due = await promises_due(conn, period.start, period.end, kept=kept)
    return PromiseList(
        first=first,
        last=last,
        timezone=period.timezone,
        kept=kept,
        promises=due.rows,
        truncated=due.truncated,
    )
