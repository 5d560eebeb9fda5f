"""Reading the billing record (`billing_outcomes`, written by `record_billing`): a case's or a
client's fee outcomes for the compliance exports, with who decided and the API key (or `cli`)
the decision came through; and the fee events of a period for billing (`GET /billing`,
`promptly billing`). After the retention purge a row keeps everything but its reason, so it
stays the one trace of who entered a fee decision and what it charged."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from promptly.domain.common import Actor
from promptly.domain.demo import DEMO_CASE_ID_LIKE

_SELECT = (
    "SELECT case_id, outcome, decided_by_kind, decided_by_id, decided_via, decided_at, reason,"
    " fee, amount, currency FROM billing_outcomes"
)
# Most rows `promptly billing` lists, and one page of `GET /billing` (its default).
MAX_ROWS = 1000


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
    # The fee charged, lifted (waived) or kept (fee_stands), and its amount; None when the
    # outcome charges none, or the row is from before they were recorded.
    fee: str | None = None
    amount: Decimal | None = None
    currency: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any], zone: ZoneInfo) -> BillingRow:
        return cls(
            case_id=row["case_id"],
            outcome=row["outcome"],
            decided_by=_decided_by(row),
            via=row["decided_via"],
            decided_at=row["decided_at"].astimezone(zone),
            reason=row["reason"],
            fee=row["fee"],
            amount=row["amount"],
            currency=row["currency"],
        )


def _decided_by(row: dict[str, Any]) -> str:
    """Who decided a billing row, as the timeline names actors ("provider:P-3 via desk")."""
    by = Actor(kind=row["decided_by_kind"], id=row["decided_by_id"], via=row["decided_via"])
    return by.signature()


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


class FeeRow(BaseModel):
    """One fee event: a fee charged (a no-show, a late cancellation, a late reschedule), lifted
    (`waived`) or kept after the client's plea (`stands`: it confirms the charge before it, it
    is not a new charge)."""

    model_config = ConfigDict(extra="forbid")

    id: int  # the billing record's row id: a stable reference for reconciling
    case_id: str
    appointment_id: str
    client_id: str
    provider_id: str | None  # None: a row from before it was recorded, its case purged
    fee: str | None  # no_show | late_cancellation | late_reschedule; None: an old waiver's
    amount: Decimal | None  # None: booked without a price, or a row from before amounts
    currency: str | None
    outcome: str  # charged | waived | stands
    decided_by: str  # "provider:P-3 via desk", as the timeline names actors
    decided_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> FeeRow:
        return cls(
            id=row["id"],
            case_id=row["case_id"],
            appointment_id=row["appointment_id"],
            client_id=row["client_id"],
            provider_id=row["provider_id"],
            fee=row["fee"],
            amount=row["amount"],
            currency=row["currency"],
            outcome=_FEE_OUTCOMES.get(row["outcome"], "charged"),
            decided_by=_decided_by(row),
            decided_at=row["decided_at"],
        )


_FEE_OUTCOMES = {"waived": "waived", "fee_stands": "stands"}

# A row from before fees were recorded: its fee read from its outcome (a late reschedule was
# recorded as a late cancellation with that reason, while the case was not purged).
_FEE = """COALESCE(b.fee, CASE b.outcome
                        WHEN 'no_show' THEN 'no_show'
                        WHEN 'late_cancel' THEN CASE WHEN b.reason = 'late reschedule'
                                                     THEN 'late_reschedule'
                                                     ELSE 'late_cancellation' END
                      END)"""


async def fees_decided(
    conn: AsyncConnection[Any],
    start: datetime,
    end: datetime,
    *,
    limit: int = MAX_ROWS,
    after: tuple[datetime, int] | None = None,
) -> list[FeeRow]:
    """The fee events decided in [start, end), by decision time and row: every row that
    charges, lifts or keeps a fee (a held visit or a free cancellation charges none). Demo
    cases are left out, as every list leaves them. At most `limit`; `after` (a row's
    `decided_at` and `id`): only those after that row, the next page."""
    after_at, after_id = after if after is not None else (None, None)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT b.id, b.case_id, b.appointment_id, b.client_id,
                       COALESCE(b.provider_id, c.provider_id) AS provider_id,
                       {_FEE} AS fee, b.amount, b.currency, b.outcome,
                       b.decided_by_kind, b.decided_by_id, b.decided_via, b.decided_at
                  FROM billing_outcomes b LEFT JOIN cases c ON c.case_id = b.case_id
                 WHERE b.decided_at >= %(start)s AND b.decided_at < %(end)s
                   AND (b.fee IS NOT NULL
                        OR b.outcome IN ('no_show', 'late_cancel', 'waived', 'fee_stands'))
                   AND b.case_id NOT LIKE %(demo)s
                   AND (%(after_at)s::timestamptz IS NULL
                        OR (b.decided_at, b.id) > (%(after_at)s, %(after_id)s::bigint))
                 ORDER BY b.decided_at, b.id
                 LIMIT %(limit)s""",
            {
                "start": start,
                "end": end,
                "demo": DEMO_CASE_ID_LIKE,
                "limit": limit,
                "after_at": after_at,
                "after_id": after_id,
            },
        )
        return [FeeRow.of(row) for row in await cur.fetchall()]
