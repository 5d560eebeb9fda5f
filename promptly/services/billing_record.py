"""Reading the billing record (`billing_outcomes`, written by `record_billing`): a case's or a
client's fee outcomes for the compliance exports, with who decided and the API key (or `cli`)
the decision came through. After the retention purge a row keeps everything but its reason,
so it stays the one trace of who entered a fee decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from promptly.domain.common import Actor

_SELECT = (
    "SELECT case_id, outcome, decided_by_kind, decided_by_id, decided_via, decided_at, reason"
    " FROM billing_outcomes"
)


class BillingRow(BaseModel):
    """One billing outcome: `held`, `late_cancel`, `no_show`, `waived`, `cancelled_free`,
    `provider_cancelled`, or `fee_stands` (the charged outcome before it stands)."""

    model_config = ConfigDict(extra="forbid")

    case_id: str
    outcome: str
    decided_by: str  # "provider:P-3 via desk", as the timeline names actors
    via: str | None  # the API key (or `cli`) it came through; None: no key was involved
    decided_at: datetime
    reason: str  # blank once the case is purged

    @classmethod
    def of(cls, row: dict[str, Any], zone: ZoneInfo) -> BillingRow:
        by = Actor(kind=row["decided_by_kind"], id=row["decided_by_id"], via=row["decided_via"])
        return cls(
            case_id=row["case_id"],
            outcome=row["outcome"],
            decided_by=by.signature(),
            via=row["decided_via"],
            decided_at=row["decided_at"].astimezone(zone),
            reason=row["reason"],
        )


async def case_billing(
    conn: AsyncConnection[Any], case_id: str, zone: ZoneInfo
) -> list[BillingRow]:
    return await _rows(conn, f"{_SELECT} WHERE case_id = %s ORDER BY decided_at, id", case_id, zone)


async def client_billing(
    conn: AsyncConnection[Any], client_id: str, zone: ZoneInfo
) -> list[BillingRow]:
    """Every outcome of the client's visits, a purged case's too (its row outlives the case)."""
    query = f"{_SELECT} WHERE client_id = %s ORDER BY decided_at, id"
    return await _rows(conn, query, client_id, zone)


async def _rows(
    conn: AsyncConnection[Any], query: str, key: str, zone: ZoneInfo
) -> list[BillingRow]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (key,))
        return [BillingRow.of(row, zone) for row in await cur.fetchall()]
